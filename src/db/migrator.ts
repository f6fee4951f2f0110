import type { EntityManager } from '@mikro-orm/postgresql';

import type { Logger } from '../logger.js';
import {
  PUBLIC_TENANT_TYPE,
  coreModule,
  installStepsOf,
  tenantTypesOf,
} from '../services/tenant-types.js';
import { publicMigrations } from './migrations/public/index.js';
import { ledgerNamesOf, type InstallStep } from './migrations/types.js';
import { quoteIdent, quoteLiteral, runSql } from './sql.js';
import {
  MIGRATION_LOCK_KEY,
  TENANT_LEDGER,
  applyPending,
  ledgerSql,
  migrateTenantSchema,
  runTenantMigrations,
  type MigrationSource,
  type TenantMigrationReport,
} from './tenant-migration-runner.js';

export {
  DEFAULT_MIGRATION_CONCURRENCY,
  migrateTenantSchema,
  runTenantMigrations,
  type MigrationSource,
  type SchemaOutcome,
  type TenantMigrationOptions,
  type TenantMigrationReport,
  type TenantMigrationRun,
} from './tenant-migration-runner.js';

const PUBLIC_LEDGER = 'public.platform_migrations';

/**
 * Builds the SQL that creates a tenant's tables in `schemaName` with `steps`, and records the
 * migrations they stand for in the schema's own ledger table. The schema itself must exist. The
 * default is the `core` module's steps, as the built-in `default` type provisions them.
 */
export function tenantSchemaSql(
  schemaName: string,
  steps: readonly InstallStep[] = installStepsOf(coreModule),
): string {
  const schema = quoteIdent(schemaName);
  const names = steps.flatMap(ledgerNamesOf).map((name) => `(${quoteLiteral(name)})`);

  return [
    ledgerSql(`${schema}.${TENANT_LEDGER}`),
    ...steps.map((step) => step.up(schema)),
    names.length > 0
      ? `insert into ${schema}.${TENANT_LEDGER} (name) values ${names.join(', ')};`
      : '',
  ].join('\n');
}

/**
 * Applies pending `public` migrations under the exclusive migration lock, then the pending
 * migrations of the `public` tenant type to the public tenant's schema, with the tenant types
 * of the ORM behind `em`. Returns the names applied, `public` ones first.
 */
export async function migratePublic(em: EntityManager, logger: Logger): Promise<string[]> {
  const applied = await em.transactional(async (tx) => {
    await runSql(tx, 'select pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
    await runSql(tx, ledgerSql(PUBLIC_LEDGER));
    return applyPending(tx, PUBLIC_LEDGER, publicMigrations, 'public', logger);
  });
  const migrations = tenantTypesOf(em).migrationsOf(PUBLIC_TENANT_TYPE);

  return [...applied, ...(await migrateTenantSchema(em, 'public', logger, migrations))];
}

/**
 * Returns the `public` migrations that the platform ledger does not list, without changing
 * anything. The public tenant's own schema is checked with the tenant schemas.
 */
export async function pendingPublicMigrations(em: EntityManager): Promise<string[]> {
  const [{ found }] = await runSql<{ found: boolean }>(
    em,
    `select to_regclass('${PUBLIC_LEDGER}') is not null as found`,
  );
  const rows = found ? await runSql<{ name: string }>(em, `select name from ${PUBLIC_LEDGER}`) : [];
  const applied = new Set(rows.map((row) => row.name));

  return publicMigrations
    .filter((migration) => !applied.has(migration.name))
    .map((migration) => migration.name);
}

/**
 * Applies pending migrations to the public schema and to every tenant schema, deleted tenants
 * included, `concurrency` schemas at a time (`DEFAULT_MIGRATION_CONCURRENCY`, capped at the
 * ORM's pool size). Each schema gets the migrations of its tenant's type only, from `source`,
 * which defaults to the tenant types of the ORM behind `em`. A plain list instead applies that
 * same list to every schema, whatever its type. A failing schema, or one whose type is not
 * configured, is reported and does not stop the others. `runTenantMigrations` also returns the
 * schemas that no tenant owns.
 */
export async function migrateAllTenants(
  em: EntityManager,
  logger: Logger,
  source: MigrationSource = tenantTypesOf(em),
  options: { concurrency?: number } = {},
): Promise<TenantMigrationReport[]> {
  const run = await runTenantMigrations(em, logger, { ...options, source });

  return run.reports;
}
