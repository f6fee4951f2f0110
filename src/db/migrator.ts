import type { EntityManager } from '@mikro-orm/postgresql';

import type { Logger } from '../logger.js';
import { PUBLIC_TENANT_TYPE, TenantTypeRegistry, tenantTypesOf } from '../services/tenant-types.js';
import { publicMigrations } from './migrations/public/index.js';
import { tenantMigrations } from './migrations/tenant/index.js';
import type { Migration } from './migrations/types.js';
import { quoteIdent, runSql } from './sql.js';

/** Key of the advisory lock that serialises migration runs of several server processes. */
const MIGRATION_LOCK_KEY = 7_420_105_331;

const PUBLIC_LEDGER = 'public.platform_migrations';
const TENANT_LEDGER = 'tenant_migrations';

/**
 * Builds the SQL that creates a tenant's tables in `schemaName` and records each migration in
 * the schema's own ledger table. The schema itself must exist.
 */
export function tenantSchemaSql(schemaName: string, migrations = tenantMigrations): string {
  const schema = quoteIdent(schemaName);
  const names = migrations.map((migration) => `('${migration.name.replaceAll("'", "''")}')`);

  return [
    ledgerSql(`${schema}.${TENANT_LEDGER}`),
    ...migrations.map((migration) => migration.up(schema)),
    names.length > 0
      ? `insert into ${schema}.${TENANT_LEDGER} (name) values ${names.join(', ')};`
      : '',
  ].join('\n');
}

/**
 * Applies pending `public` migrations, then the pending migrations of the `public` tenant type
 * to the public tenant's schema, with the tenant types of the ORM behind `em`.
 */
export async function migratePublic(em: EntityManager, logger: Logger): Promise<void> {
  await em.transactional(async (tx) => {
    await runSql(tx, 'select pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
    await runSql(tx, ledgerSql(PUBLIC_LEDGER));
    await applyPending(tx, PUBLIC_LEDGER, publicMigrations, 'public', logger);
  });
  const migrations = tenantTypesOf(em).migrationsOf(PUBLIC_TENANT_TYPE);
  await migrateTenantSchema(em, 'public', logger, migrations);
}

/** Applies the tenant migrations that `schemaName` has not recorded yet, in one transaction. */
export async function migrateTenantSchema(
  em: EntityManager,
  schemaName: string,
  logger: Logger,
  migrations = tenantMigrations,
): Promise<string[]> {
  const schema = quoteIdent(schemaName);

  return em.transactional(async (tx) => {
    await runSql(tx, 'select pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
    await runSql(tx, ledgerSql(`${schema}.${TENANT_LEDGER}`));

    return applyPending(tx, `${schema}.${TENANT_LEDGER}`, migrations, schemaName, logger);
  });
}

async function applyPending(
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
    await runSql(tx, migration.up(schema));
    await runSql(tx, `insert into ${ledger} (name) values (?)`, [migration.name]);
  }

  return pending.map((migration) => migration.name);
}

function ledgerSql(table: string): string {
  return `create table if not exists ${table} (
    name text primary key,
    applied_at timestamptz not null default now()
  );`;
}

export interface TenantMigrationReport {
  schemaName: string;
  tenantType: string;
  applied: string[];
  error?: unknown;
}

/**
 * Applies pending migrations to the public schema and to every tenant schema, deleted tenants
 * included, one schema at a time. Each schema gets the migrations of its tenant's type only,
 * from `source`, which defaults to the tenant types of the ORM behind `em`. A plain list instead
 * applies that same list to every schema, whatever its type. A failing schema, or one whose type
 * is not configured, is reported and does not stop the others.
 */
export async function migrateAllTenants(
  em: EntityManager,
  logger: Logger,
  source: TenantTypeRegistry | readonly Migration[] = tenantTypesOf(em),
): Promise<TenantMigrationReport[]> {
  const rows = await runSql<{ schema_name: string; tenant_type: string }>(
    em,
    'select schema_name, tenant_type from public.tenants order by created_at, id',
  );
  const reports: TenantMigrationReport[] = [];

  for (const { schema_name: schemaName, tenant_type: tenantType } of rows) {
    try {
      const migrations =
        source instanceof TenantTypeRegistry ? source.migrationsOf(tenantType) : source;
      const applied = await migrateTenantSchema(em, schemaName, logger, migrations);
      reports.push({ schemaName, tenantType, applied });
    } catch (error) {
      logger.error({ err: error, schema: schemaName, tenantType }, 'tenant migration failed');
      reports.push({ schemaName, tenantType, applied: [], error });
    }
  }

  return reports;
}
