/**
 * Compares two ways to create a tenant schema as the number of schemas grows:
 *
 * - snapshot: `CREATE SCHEMA` and the default type's install steps (the core module's snapshot)
 *   as one text in one round trip, which is what `provisionTenant` sends;
 * - clone: a PL/pgSQL function that reads a template schema's tables, foreign keys and views from
 *   the catalog and recreates them, which is how a template schema is cloned.
 *
 * At each checkpoint (500, 1,000, 2,500 and 5,000 tenants by default) both ways create
 * `--rounds` schemas, alternating which goes first, each in its own transaction. The catalog of
 * one schema of each way is then compared. The schemas created at a checkpoint count towards the
 * next ones.
 *
 * Usage: npm run bench:schema-copy -- [--checkpoints 500,1000,2500,5000] [--rounds 20]
 */
import 'reflect-metadata';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';

import { tenantSchemaSql } from '../src/db/migrator.js';
import { quoteIdent, quoteLiteral } from '../src/db/sql.js';
import { describeSchema, type QueryRows } from '../tests/support/catalog.js';
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
  serverVersion,
  timed,
} from './support/report.js';
import { SETUP_CONNECTIONS, createTenants, migrateAndCreateOwner } from './support/server.js';

const TEMPLATE_SCHEMA = 'template_tenant';

/**
 * Copies the tables (with their columns, defaults, checks, indexes and identity columns), the
 * foreign keys, the views and the migration ledger of `source` into a new schema `target`.
 */
const CLONE_FUNCTION = `
create or replace function public.bench_clone_schema(source text, target text)
returns void language plpgsql as $clone$
declare
  item record;
begin
  execute format('create schema %I', target);

  for item in
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = source and c.relkind = 'r' order by c.oid
  loop
    execute format('create table %I.%I (like %I.%I including all)',
                   target, item.relname, source, item.relname);
  end loop;

  for item in
    select cl.relname, co.conname, pg_get_constraintdef(co.oid) as definition
    from pg_constraint co
    join pg_class cl on cl.oid = co.conrelid
    join pg_namespace n on n.oid = co.connamespace
    where n.nspname = source and co.contype = 'f' order by co.oid
  loop
    execute format('alter table %I.%I add constraint %I %s', target, item.relname, item.conname,
                   replace(item.definition, source || '.', quote_ident(target) || '.'));
  end loop;

  for item in
    select c.relname, pg_get_viewdef(c.oid) as definition
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = source and c.relkind = 'v' order by c.oid
  loop
    execute format('create view %I.%I as %s', target, item.relname,
                   replace(item.definition, source || '.', quote_ident(target) || '.'));
  end loop;

  execute format('insert into %I.tenant_migrations select * from %I.tenant_migrations',
                 target, source);
end
$clone$;`;

interface Checkpoint {
  tenants: number;
  snapshotMs: number[];
  cloneMs: number[];
  snapshotMedian: number;
  cloneMedian: number;
  /** Catalog sections in which the cloned schema differs from the one built by the snapshot. */
  differences: string[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      checkpoints: { type: 'string', default: '500,1000,2500,5000' },
      rounds: { type: 'string', default: '20' },
    },
  });
  const checkpoints = values.checkpoints
    .split(',')
    .map((raw) => positiveInteger('checkpoints', raw.trim()));
  const rounds = positiveInteger('rounds', values.rounds);
  const loadAtStart = os.loadavg()[0];
  const cleanups: Cleanup[] = [];
  try {
    const serverUrl = await databaseServerUrl(cleanups);
    const databaseUrl = await createBenchDatabase(serverUrl, cleanups);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: SETUP_CONNECTIONS });
    cleanups.push(() => pool.end());
    const query: QueryRows = async (text, params = []) => (await pool.query(text, params)).rows;

    await migrateAndCreateOwner(databaseUrl);
    await pool.query(CLONE_FUNCTION);
    await createFromSnapshot(pool, TEMPLATE_SCHEMA);

    const results: Checkpoint[] = [];
    let created = 0;
    for (const tenants of [...checkpoints].sort((a, b) => a - b)) {
      await createTenants(pool, tenants - created, created);
      created = tenants;
      results.push(await measure(pool, query, tenants, rounds));
      printCheckpoint(results[results.length - 1]);
    }

    const report = {
      rounds,
      machine: describeMachine(await serverVersion(pool), loadAtStart),
      checkpoints: results,
    };
    process.stdout.write(`${formatLoadAverage(report.machine.loadAverage)}\n`);
    await saveReport('schema-copy', 'samples', report);
  } finally {
    await runCleanups(cleanups);
  }
}

/** Creates `rounds` schemas each way, alternating which goes first, and compares one of each. */
async function measure(
  pool: pg.Pool,
  query: QueryRows,
  tenants: number,
  rounds: number,
): Promise<Checkpoint> {
  const snapshotMs: number[] = [];
  const cloneMs: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const snapshotSchema = `snapshot_${tenants}_${round}`;
    const cloned = `clone_${tenants}_${round}`;
    const snapshotRun = () => timed(() => createFromSnapshot(pool, snapshotSchema));
    const cloneRun = () => timed(() => clone(pool, cloned));
    if (round % 2 === 0) {
      snapshotMs.push(await snapshotRun());
      cloneMs.push(await cloneRun());
    } else {
      cloneMs.push(await cloneRun());
      snapshotMs.push(await snapshotRun());
    }
  }

  const snapshotCatalog = await describeSchema(query, `snapshot_${tenants}_0`);
  const cloneCatalog = await describeSchema(query, `clone_${tenants}_0`);
  const differences = Object.keys(snapshotCatalog).filter(
    (section) =>
      JSON.stringify(snapshotCatalog[section as keyof typeof snapshotCatalog]) !==
      JSON.stringify(cloneCatalog[section as keyof typeof cloneCatalog]),
  );

  return {
    tenants,
    snapshotMs,
    cloneMs,
    snapshotMedian: median(snapshotMs),
    cloneMedian: median(cloneMs),
    differences,
  };
}

/** Creates the schema from the default type's install steps in one round trip. */
async function createFromSnapshot(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(
    `begin;\ncreate schema ${quoteIdent(schema)};\n${tenantSchemaSql(schema)}\ncommit;`,
  );
}

/** Clones the template in one round trip, as the snapshot is sent. */
async function clone(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(
    `begin;\nselect public.bench_clone_schema(${quoteLiteral(TEMPLATE_SCHEMA)}, ` +
      `${quoteLiteral(schema)});\ncommit;`,
  );
}

function printCheckpoint(checkpoint: Checkpoint): void {
  process.stdout.write(
    `${checkpoint.tenants} tenants: snapshot median ${checkpoint.snapshotMedian.toFixed(1)} ms, ` +
      `clone median ${checkpoint.cloneMedian.toFixed(1)} ms, ` +
      `clone / snapshot ${(checkpoint.cloneMedian / checkpoint.snapshotMedian).toFixed(2)}, ` +
      `catalog differences: ${checkpoint.differences.join(', ') || 'none'}\n`,
  );
}

runBenchmark(main);
