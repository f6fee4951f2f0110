/**
 * Measures the tenant migration runner on a fresh database with many tenant schemas.
 *
 * Setup creates the public tables with `migratePublic`, then the tenant rows and schemas
 * directly with the tenant DDL from `tenantSchemaSql`, several schemas per transaction. Then:
 * - no-op runs: `runTenantMigrations` with nothing pending, and the whole migrate command
 *   in-process (ORM start, public schema, tenant schemas, JSON report);
 * - one pending migration per run across every schema, at each concurrency, in rounds whose
 *   order alternates, so that machine noise and the growing catalog hit every concurrency.
 *
 * Usage: npx tsx bench/migrations.ts [--tenants 1000] [--concurrency 1,2,4,8] [--rounds 4]
 *   [--noop-runs 5]
 * The database server is TEST_DATABASE_URL, else DATABASE_URL, else an embedded PostgreSQL in a
 * temporary directory. The bench database is dropped at the end.
 */
import 'reflect-metadata';
import os from 'node:os';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';

import { runMigrateCommandWith } from '../src/cli/migrate.js';
import { loadConfig } from '../src/config.js';
import { tenantMigrations } from '../src/db/migrations/tenant/index.js';
import type { Migration } from '../src/db/migrations/types.js';
import { migratePublic, tenantSchemaSql } from '../src/db/migrator.js';
import { createOrm } from '../src/db/orm.js';
import { quoteIdent } from '../src/db/sql.js';
import { runTenantMigrations } from '../src/db/tenant-migration-runner.js';
import { createLogger } from '../src/logger.js';
import {
  createBenchDatabase,
  databaseServerUrl,
  runCleanups,
  type Cleanup,
} from './support/database.js';
import {
  describeMachine,
  formatLoadAverage,
  median,
  positiveInteger,
  runBenchmark,
  saveReport,
  timed,
} from './support/report.js';

const silent = createLogger('silent');

// Schemas created per setup transaction. Each schema takes dozens of relation locks, which must
// fit in PostgreSQL's shared lock table.
const SETUP_BATCH = 20;

interface Options {
  tenants: number;
  concurrencies: number[];
  rounds: number;
  noopRuns: number;
}

interface PendingRun {
  round: number;
  concurrency: number;
  totalMs: number;
  perTenantMs: number;
}

interface NoopRun {
  runnerMs: number;
  /** Statements the runner sent, counted with knex's `query` event. */
  statements: number;
  transactions: number;
  commandMs: number;
}

async function main(): Promise<void> {
  const options = readOptions();
  const loadAtStart = os.loadavg()[0];
  const cleanups: Cleanup[] = [];
  try {
    const serverUrl = await databaseServerUrl(cleanups);
    const databaseUrl = await createBenchDatabase(serverUrl, cleanups);
    const orm = await createOrm({
      databaseUrl,
      logger: silent,
      poolMax: Math.max(...options.concurrencies),
    });
    cleanups.push(() => orm.close());
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    cleanups.push(() => pool.end());

    await migratePublic(orm.em.fork(), silent);
    const setupMs = await timed(() => createTenantSchemas(pool, options.tenants));

    const noop = [];
    for (let run = 0; run < options.noopRuns; run += 1) {
      noop.push(await measureNoop(orm, databaseUrl, options.tenants));
    }
    const pending = await measurePending(orm, options);

    const report = {
      options,
      machine: describeMachine(await readSettings(pool), loadAtStart),
      setupMs,
      noop,
      pending,
    };
    printReport(report);
    await saveReport('migrations', 'runs', report);
  } finally {
    await runCleanups(cleanups);
  }
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '1,2,4,8' },
      rounds: { type: 'string', default: '4' },
      'noop-runs': { type: 'string', default: '5' },
    },
  });

  return {
    tenants: positiveInteger('tenants', values.tenants),
    concurrencies: values.concurrency
      .split(',')
      .map((item) => positiveInteger('concurrency', item)),
    rounds: positiveInteger('rounds', values.rounds),
    noopRuns: positiveInteger('noop-runs', values['noop-runs']),
  };
}

/** Inserts `count` tenant rows and creates their schemas with the current tenant DDL. */
async function createTenantSchemas(pool: pg.Pool, count: number): Promise<void> {
  const owner = await pool.query<{ id: string }>(
    "insert into public.users (email) values ('owner@bench.test') returning id",
  );
  const ownerId = owner.rows[0].id;

  for (let start = 0; start < count; start += SETUP_BATCH) {
    const indexes = Array.from(
      { length: Math.min(SETUP_BATCH, count - start) },
      (_, offset) => start + offset,
    );
    const statements = indexes.map((index) => {
      const schema = `bench_${String(index).padStart(5, '0')}`;
      return (
        `insert into public.tenants (name, slug, schema_name, tenant_type, owner_id) ` +
        `values ('${schema}', '${schema.replace('_', '-')}', '${schema}', 'default', '${ownerId}');\n` +
        `create schema ${quoteIdent(schema)};\n${tenantSchemaSql(schema)}`
      );
    });
    await pool.query(`begin;\n${statements.join('\n')}\ncommit;`);
  }
}

async function measureNoop(orm: MikroORM, databaseUrl: string, tenants: number): Promise<NoopRun> {
  const knex = orm.em.getConnection().getKnex();
  const statements: string[] = [];
  const listener = (query: { sql: string }) => statements.push(query.sql);

  knex.on('query', listener);
  let runnerMs: number;
  try {
    runnerMs = await timed(async () => {
      const run = await runTenantMigrations(orm.em.fork(), silent);
      requireOutcome(run.reports, 'current', tenants);
    });
  } finally {
    knex.off('query', listener);
  }

  const config = loadConfig({}, { databaseUrl, logLevel: 'silent' });
  const commandMs = await timed(async () => {
    const exitCode = await runMigrateCommandWith(['--json'], discardIo(), { config });
    if (exitCode !== 0) {
      throw new Error(`The no-op migrate command exited with ${exitCode}.`);
    }
  });

  return {
    runnerMs,
    statements: statements.length,
    transactions: statements.filter((sql) => /^\s*begin/i.test(sql)).length,
    commandMs,
  };
}

/**
 * Applies one new migration to every schema per run. Rounds alternate between ascending and
 * descending concurrency.
 */
async function measurePending(orm: MikroORM, options: Options): Promise<PendingRun[]> {
  const runs: PendingRun[] = [];
  for (let round = 0; round < options.rounds; round += 1) {
    const order = round % 2 === 0 ? options.concurrencies : [...options.concurrencies].reverse();
    for (const concurrency of order) {
      const migration = addColumnMigration(`r${round}_c${concurrency}`);
      const totalMs = await timed(async () => {
        const run = await runTenantMigrations(orm.em.fork(), silent, {
          source: [...tenantMigrations, migration],
          concurrency,
        });
        requireOutcome(run.reports, 'migrated', options.tenants);
      });
      runs.push({ round, concurrency, totalMs, perTenantMs: totalMs / options.tenants });
      process.stderr.write(
        `round ${round + 1}, concurrency ${concurrency}: ${totalMs.toFixed(0)} ms\n`,
      );
    }
  }

  return runs;
}

/** Builds a typical tenant migration, which adds a nullable column and an index on it. */
function addColumnMigration(suffix: string): Migration {
  return {
    name: `bench-${suffix}`,
    up: (schema) =>
      `alter table ${schema}.groups add column note_${suffix} text;
       create index groups_note_${suffix}_idx on ${schema}.groups (note_${suffix});`,
  };
}

function requireOutcome(
  reports: readonly { outcome: string; schemaName: string }[],
  outcome: string,
  tenants: number,
): void {
  const other = reports.filter((report) => report.outcome !== outcome);
  if (reports.length !== tenants || other.length > 0) {
    throw new Error(
      `Expected ${tenants} schemas ${outcome}, got ${reports.length} with ${other.length} ` +
        `others, such as ${other[0]?.schemaName}: ${other[0]?.outcome}.`,
    );
  }
}

function discardIo() {
  const sink = () => new Writable({ write: (_chunk, _encoding, callback) => callback() });

  return { stdout: sink(), stderr: sink() };
}

function printReport(report: {
  options: Options;
  machine: ReturnType<typeof describeMachine<Record<string, string>>>;
  setupMs: number;
  noop: NoopRun[];
  pending: PendingRun[];
}): void {
  const { options, machine, noop, pending } = report;
  const tenants = options.tenants;
  const lines = [
    `tenant schemas: ${tenants}, created in ${(report.setupMs / 1000).toFixed(1)} s`,
    `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ` +
      `Node ${machine.node}, PostgreSQL ${machine.postgres.server_version}`,
    formatLoadAverage(machine.loadAverage),
    '',
    `Nothing pending, ${noop.length} runs (median, min, max):`,
    `- runner: ${summary(
      noop.map((run) => run.runnerMs),
      tenants,
    )}; ` + `${noop[0].statements} statements, ${noop[0].transactions} transactions`,
    `- whole command: ${summary(
      noop.map((run) => run.commandMs),
      tenants,
    )}`,
    '',
    'One pending migration in every schema (median over rounds):',
    '',
    '| concurrency | total (s) | per tenant (ms) | speed-up |',
    '| ----------: | --------: | --------------: | -------: |',
  ];
  const medianOf = (concurrency: number) =>
    median(pending.filter((run) => run.concurrency === concurrency).map((run) => run.totalMs));
  const baseline = medianOf(options.concurrencies[0]);
  for (const concurrency of options.concurrencies) {
    const total = medianOf(concurrency);
    lines.push(
      `| ${String(concurrency).padStart(11)} | ${(total / 1000).toFixed(2).padStart(9)} | ` +
        `${(total / tenants).toFixed(2).padStart(15)} | ${(baseline / total).toFixed(2).padStart(8)} |`,
    );
  }

  process.stdout.write(`${lines.join('\n')}\n`);
}

function summary(values: readonly number[], tenants: number): string {
  const med = median(values);
  return (
    `${med.toFixed(0)} ms (${((med / tenants) * 1000).toFixed(0)} µs per tenant), ` +
    `min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)}`
  );
}

/** Reads the server settings that change how fast DDL commits. */
async function readSettings(pool: pg.Pool): Promise<Record<string, string>> {
  const settings = await pool.query<{ name: string; setting: string }>(
    `select name, setting from pg_settings
     where name in ('server_version', 'shared_buffers', 'synchronous_commit', 'fsync')`,
  );

  return Object.fromEntries(settings.rows.map((row) => [row.name, row.setting]));
}

runBenchmark(main);
