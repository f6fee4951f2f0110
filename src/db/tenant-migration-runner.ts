import type { EntityManager } from '@mikro-orm/postgresql';

import type { Logger } from '../logger.js';
import { TenantTypeRegistry, tenantTypesOf } from '../services/tenant-types.js';
import { tenantMigrations } from './migrations/tenant/index.js';
import type { Migration } from './migrations/types.js';
import { quoteIdent, runSql } from './sql.js';

/**
 * Migrates tenant schemas. A run reads every tenant's ledger in a few statements, so schemas
 * with nothing pending cost no transaction. Each schema with pending migrations is then
 * migrated in its own transaction under its own advisory lock, several schemas at a time. A
 * schema whose transaction did not commit (a failure, a killed process) is pending next time.
 *
 * NOTE: a tenant provisioned after a run has read the catalog is not part of that run. Its
 * schema gets the migrations known to the process that provisions it.
 */

/**
 * Key of the advisory lock that `public` migrations hold exclusively and tenant schema
 * migrations hold shared, so tenant schemas never migrate while `public` does.
 */
export const MIGRATION_LOCK_KEY = 7_420_105_331;

/**
 * First key of the per-schema advisory lock `pg_advisory_xact_lock(class, hashtext(schema))`,
 * which keeps two processes from migrating one schema at once. A hash collision between two
 * schema names only serialises those two schemas.
 */
export const SCHEMA_LOCK_CLASS = 742_010_533;

/** Ledger table in every tenant schema: one row per applied migration. */
export const TENANT_LEDGER = 'tenant_migrations';

/** Tenant schemas migrated at the same time when the caller names no number. */
export const DEFAULT_MIGRATION_CONCURRENCY = 4;

// Each ledger read by a statement takes a relation lock. PostgreSQL's shared lock table has room
// for max_locks_per_transaction (64 by default) times max_connections (100 by default) locks,
// so a batch of 500 leaves most of it to other sessions.
const LEDGER_READ_BATCH = 500;

// Tenants in these states may not have their schema yet. Provisioning creates it fully migrated.
const UNPROVISIONED_STATUSES = new Set(['PROVISIONING', 'FAILED']);

/** Migrations to apply: per tenant type from a registry, or one list for every schema. */
export type MigrationSource = TenantTypeRegistry | readonly Migration[];

/**
 * Result of one tenant schema in a run:
 * - `migrated`: the pending migrations were applied and committed.
 * - `current`: nothing was pending.
 * - `pending`: pending migrations were left as they are, in check mode or after an abort.
 * - `failed`: nothing of this run was committed to the schema.
 * - `skipped`: the schema does not exist yet, because the tenant is still provisioning or its
 *   provisioning failed.
 */
export type SchemaOutcome = 'migrated' | 'current' | 'pending' | 'failed' | 'skipped';

export interface TenantMigrationReport {
  schemaName: string;
  tenantType: string;
  /** Slug of the tenant that owns the schema. */
  slug: string;
  /** False for a soft-deleted tenant, whose schema is migrated like any other. */
  isActive: boolean;
  outcome: SchemaOutcome;
  /** Migrations applied and committed by this run, in order. */
  applied: string[];
  /** Migrations that the schema still lacks after this run. */
  pending: string[];
  /** Error that made the schema fail, for the `failed` outcome only. */
  error?: unknown;
  /** Reason the schema was skipped, for the `skipped` outcome only. */
  reason?: string;
}

export interface TenantMigrationRun {
  /** One report per tenant row, soft-deleted tenants included, in order of creation. */
  reports: TenantMigrationReport[];
  /**
   * Schemas that no tenant row names, other than `public`, `information_schema` and `pg_*`.
   * They are reported and never changed.
   */
  orphanSchemas: string[];
  /** Schemas migrated at the same time, after capping the requested number at the pool size. */
  concurrency: number;
}

export interface RunProgress {
  /** Tenant schemas whose outcome is known. */
  done: number;
  total: number;
}

export interface TenantMigrationOptions {
  /** Migrations to apply, by default from the tenant types of the ORM behind `em`. */
  source?: MigrationSource;
  /**
   * Schemas migrated at the same time, `DEFAULT_MIGRATION_CONCURRENCY` by default. Each uses
   * one pooled connection for its transaction, so the number is capped at the pool size.
   */
  concurrency?: number;
  /** Only computes the pending migrations of every schema and changes nothing. */
  checkOnly?: boolean;
  /** Once aborted, no new schema is started, and the schemas not started are `pending`. */
  signal?: AbortSignal;
  /** Receives each report as soon as the schema's outcome is known. */
  onReport?: (report: TenantMigrationReport, progress: RunProgress) => void;
}

interface TenantSchemaRow {
  schema_name: string;
  tenant_type: string;
  slug: string;
  is_active: boolean;
  status: string;
  schema_exists: boolean;
  has_ledger: boolean;
}

interface SchemaPlan {
  report: TenantMigrationReport;
  /** Whether the schema had a ledger table when the run read the catalog. */
  ledgerExists: boolean;
  /** Pending migrations, in order, or none when the schema needs no transaction. */
  pending: Migration[];
  /** Every migration of the schema's type, which the transaction checks again under lock. */
  migrations: readonly Migration[];
}

/**
 * Applies pending migrations to every tenant schema, or with `checkOnly` only reports them.
 * A failing schema is reported and does not stop the others. Schemas that no tenant owns are
 * listed in `orphanSchemas` and left unchanged.
 */
export async function runTenantMigrations(
  em: EntityManager,
  logger: Logger,
  options: TenantMigrationOptions = {},
): Promise<TenantMigrationRun> {
  const source = options.source ?? tenantTypesOf(em);
  const concurrency = boundConcurrency(em, options.concurrency);

  const rows = await runSql<TenantSchemaRow>(em, TENANT_SCHEMAS_SQL);
  const orphanSchemas = (await runSql<{ schema_name: string }>(em, ORPHAN_SCHEMAS_SQL)).map(
    (row) => row.schema_name,
  );
  const ledgers = await readLedgers(
    em,
    rows.filter((row) => row.has_ledger).map((row) => row.schema_name),
  );
  const plans = rows.map((row) => planSchema(row, source, ledgers.get(row.schema_name)));

  const work = plans.filter((plan) => plan.pending.length > 0);
  logger.info(
    { schemas: plans.length, pending: work.length, orphans: orphanSchemas.length, concurrency },
    options.checkOnly ? 'checking tenant schemas' : 'migrating tenant schemas',
  );
  if (orphanSchemas.length > 0) {
    logger.warn({ schemas: orphanSchemas }, 'schemas that no tenant owns were left unchanged');
  }

  const progress: RunProgress = { done: 0, total: plans.length };
  const finish = (report: TenantMigrationReport) => {
    progress.done += 1;
    options.onReport?.(report, { ...progress });
  };
  for (const plan of plans.filter((item) => item.pending.length === 0)) {
    finish(plan.report);
  }

  await forEachConcurrently(work, concurrency, async (plan) => {
    if (!options.checkOnly && !options.signal?.aborted) {
      await migratePlannedSchema(em, plan, logger);
    }
    finish(plan.report);
  });

  return { reports: plans.map((plan) => plan.report), orphanSchemas, concurrency };
}

/**
 * Applies the migrations that `schemaName` has not recorded yet, in one transaction under the
 * schema's advisory lock. When the ledger already lists every migration, no transaction is
 * opened. Returns the names applied.
 */
export async function migrateTenantSchema(
  em: EntityManager,
  schemaName: string,
  logger: Logger,
  migrations: readonly Migration[] = tenantMigrations,
): Promise<string[]> {
  const applied = await readLedger(em, schemaName);
  if (applied && migrations.every((migration) => applied.has(migration.name))) {
    return [];
  }

  return applyInTransaction(em, schemaName, migrations, logger, applied !== null);
}

/**
 * Applies the migrations of `migrations` that `ledger` does not list, in order, inside the
 * transaction of `tx`, recording each one. Returns the names applied.
 */
export async function applyPending(
  tx: EntityManager,
  ledger: string,
  migrations: readonly Migration[],
  schemaName: string,
  logger: Logger,
): Promise<string[]> {
  const schema = quoteIdent(schemaName);
  const rows = await runSql<{ name: string }>(tx, `select name from ${ledger}`);
  const applied = new Set(rows.map((row) => row.name));
  const pending = migrations.filter((migration) => !applied.has(migration.name));

  for (const migration of pending) {
    logger.info({ schema: schemaName, migration: migration.name }, 'applying migration');
    // One round trip with no placeholders, so a `?` in the migration's SQL stays as written.
    await runSql(
      tx,
      `${migration.up(schema)};\ninsert into ${ledger} (name) values (${quoteLiteral(migration.name)});`,
    );
  }

  return pending.map((migration) => migration.name);
}

/** Builds the DDL of a ledger table. `table` is an already quoted, schema-qualified name. */
export function ledgerSql(table: string): string {
  return `create table if not exists ${table} (
    name text primary key,
    applied_at timestamptz not null default now()
  );`;
}

/** Returns whether `public.tenants` exists, which it does once the first public migration ran. */
export async function hasTenantTable(em: EntityManager): Promise<boolean> {
  const rows = await runSql<{ found: boolean }>(
    em,
    "select to_regclass('public.tenants') is not null as found",
  );

  return rows[0]?.found === true;
}

const TENANT_SCHEMAS_SQL = `
  select t.schema_name, t.tenant_type, t.slug, t.is_active, t.status,
    n.oid is not null as schema_exists,
    exists (
      select 1 from pg_class c
      where c.relnamespace = n.oid and c.relname = '${TENANT_LEDGER}' and c.relkind in ('r', 'p')
    ) as has_ledger
  from public.tenants t
  left join pg_namespace n on n.nspname = t.schema_name
  order by t.created_at, t.id`;

const ORPHAN_SCHEMAS_SQL = `
  select n.nspname as schema_name
  from pg_namespace n
  where n.nspname not in ('public', 'information_schema')
    and n.nspname not like 'pg\\_%'
    and not exists (select 1 from public.tenants t where t.schema_name = n.nspname)
  order by n.nspname`;

function boundConcurrency(em: EntityManager, requested = DEFAULT_MIGRATION_CONCURRENCY): number {
  if (!Number.isInteger(requested) || requested < 1) {
    throw new RangeError(`Migration concurrency must be a positive integer, got ${requested}.`);
  }
  const poolMax = em.config.get('pool')?.max;

  return poolMax ? Math.min(requested, poolMax) : requested;
}

function planSchema(
  row: TenantSchemaRow,
  source: MigrationSource,
  ledger: Set<string> | Error | undefined,
): SchemaPlan {
  const report: TenantMigrationReport = {
    schemaName: row.schema_name,
    tenantType: row.tenant_type,
    slug: row.slug,
    isActive: row.is_active,
    outcome: 'current',
    applied: [],
    pending: [],
  };
  const fail = (error: unknown): SchemaPlan => {
    Object.assign(report, { outcome: 'failed', error });
    return { report, ledgerExists: row.has_ledger, pending: [], migrations: [] };
  };

  let migrations: readonly Migration[];
  try {
    migrations =
      source instanceof TenantTypeRegistry ? source.migrationsOf(row.tenant_type) : source;
  } catch (error) {
    return fail(error);
  }
  if (!row.schema_exists) {
    if (UNPROVISIONED_STATUSES.has(row.status)) {
      Object.assign(report, { outcome: 'skipped', reason: `tenant status is ${row.status}` });
      return { report, ledgerExists: false, pending: [], migrations };
    }
    return fail(new Error(`The schema "${row.schema_name}" does not exist.`));
  }
  if (ledger instanceof Error) {
    return fail(ledger);
  }

  const pending = migrations.filter((migration) => !ledger?.has(migration.name));
  report.pending = pending.map((migration) => migration.name);
  report.outcome = pending.length > 0 ? 'pending' : 'current';

  return { report, ledgerExists: row.has_ledger, pending, migrations };
}

async function migratePlannedSchema(
  em: EntityManager,
  plan: SchemaPlan,
  logger: Logger,
): Promise<void> {
  const { report } = plan;
  try {
    report.applied = await applyInTransaction(
      em,
      report.schemaName,
      plan.migrations,
      logger,
      plan.ledgerExists,
    );
    report.pending = [];
    report.outcome = report.applied.length > 0 ? 'migrated' : 'current';
  } catch (error) {
    logger.error(
      { err: error, schema: report.schemaName, tenantType: report.tenantType },
      'tenant migration failed',
    );
    report.outcome = 'failed';
    report.error = error;
  }
}

async function applyInTransaction(
  em: EntityManager,
  schemaName: string,
  migrations: readonly Migration[],
  logger: Logger,
  ledgerExists: boolean,
): Promise<string[]> {
  const ledger = `${quoteIdent(schemaName)}.${TENANT_LEDGER}`;

  return em.fork().transactional(async (tx) => {
    await runSql(
      tx,
      'select pg_advisory_xact_lock_shared(?), pg_advisory_xact_lock(?, hashtext(?))',
      [MIGRATION_LOCK_KEY, SCHEMA_LOCK_CLASS, schemaName],
    );
    // The runner never drops a ledger, so one seen before the lock still exists.
    if (!ledgerExists) {
      await runSql(tx, ledgerSql(ledger));
    }

    // Read again under the lock, because another process may have migrated the schema meanwhile.
    return applyPending(tx, ledger, migrations, schemaName, logger);
  });
}

/** Returns the migration names of a schema's ledger, or null when it has no ledger table. */
async function readLedger(em: EntityManager, schemaName: string): Promise<Set<string> | null> {
  try {
    const rows = await runSql<{ name: string }>(
      em,
      `select name from ${quoteIdent(schemaName)}.${TENANT_LEDGER}`,
    );
    return new Set(rows.map((row) => row.name));
  } catch (error) {
    if ((error as { code?: unknown }).code === UNDEFINED_TABLE) {
      return null;
    }
    throw error;
  }
}

const UNDEFINED_TABLE = '42P01';

/**
 * Reads the ledgers of `schemaNames` in batches, one statement per batch. A ledger that cannot
 * be read fails its whole statement, so that batch is read again one schema at a time, and the
 * schema maps to its error.
 */
async function readLedgers(
  em: EntityManager,
  schemaNames: readonly string[],
): Promise<Map<string, Set<string> | Error>> {
  const ledgers = new Map<string, Set<string> | Error>();
  const readBatch = async (batch: readonly string[]) => {
    const sql = batch
      .map(
        (schemaName) =>
          `select ${quoteLiteral(schemaName)}::text as schema_name, ` +
          `coalesce(array_agg(name), '{}') as names ` +
          `from ${quoteIdent(schemaName)}.${TENANT_LEDGER}`,
      )
      .join('\nunion all\n');
    const rows = await runSql<{ schema_name: string; names: string[] }>(em, sql);
    for (const row of rows) {
      ledgers.set(row.schema_name, new Set(row.names));
    }
  };

  for (let start = 0; start < schemaNames.length; start += LEDGER_READ_BATCH) {
    const batch = schemaNames.slice(start, start + LEDGER_READ_BATCH);
    try {
      await readBatch(batch);
    } catch {
      for (const schemaName of batch) {
        await readBatch([schemaName]).catch((error: unknown) => {
          ledgers.set(schemaName, error instanceof Error ? error : new Error(String(error)));
        });
      }
    }
  }

  return ledgers;
}

/**
 * Quotes a string literal. With `standard_conforming_strings` on, the default since PostgreSQL
 * 9.1, only quotes need doubling.
 */
function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Runs `work` on every item with at most `limit` calls in flight. `work` must not throw. */
async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      await work(item);
    }
  };

  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
