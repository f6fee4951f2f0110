/**
 * Measures `provisionTenant` over HTTP against the same work done directly with the pg driver.
 *
 * Both paths create one tenant per call on a fresh database. The HTTP path posts the GraphQL
 * mutation to a server started in this process. The direct path runs, in one transaction,
 * CREATE SCHEMA, the tenant tables from `tenantSchemaSql` and the rows the service inserts
 * (tenant, domain, membership, owner permissions, audit event). The two paths alternate which
 * goes first in each round, so that noise and the growing catalog hit both alike.
 *
 * Usage: npm run bench:provision -- [--iterations 200] [--warmup 10]
 * The database server is TEST_DATABASE_URL, else DATABASE_URL, else an embedded PostgreSQL in a
 * temporary directory. The bench database is dropped at the end.
 */
import 'reflect-metadata';
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';

import { GraphqlClient } from '../examples/walkthrough/graphql-client.js';
import { tenantSchemaSql } from '../src/db/migrator.js';
import { quoteIdent } from '../src/db/sql.js';
import { deriveSchemaName } from '../src/services/tenants.service.js';
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
import {
  ADMIN_EMAIL,
  DOMAIN,
  OWNER_EMAIL,
  createOwner,
  login,
  startServer,
} from './support/server.js';

const PROVISION_TENANT = `mutation ($input: ProvisionTenantInput!) {
  provisionTenant(input: $input) { id }
}`;

interface Summary {
  median: number;
  p90: number;
  mean: number;
  min: number;
  max: number;
}

async function main(): Promise<void> {
  const { iterations, warmup } = readOptions();
  const loadAtStart = os.loadavg()[0];
  const cleanups: Cleanup[] = [];
  try {
    const serverUrl = await databaseServerUrl(cleanups);
    const databaseUrl = await createBenchDatabase(serverUrl, cleanups);
    const app = await startServer(databaseUrl, cleanups);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    cleanups.push(() => pool.end());

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => agent.destroy());
    const client = new GraphqlClient(app.url, agent);
    const token = await prepareOwner(client);
    const ownerId = await queryValue<string>(pool, 'select id from public.users where email = $1', [
      OWNER_EMAIL,
    ]);

    const samples = await runRounds(warmup + iterations, warmup, {
      http: (round) => provisionOverHttp(client, token, `http-${round}`),
      direct: (round) => provisionDirectly(pool, ownerId, `sql-${round}`),
    });

    const run: RunReport = {
      iterations,
      warmup,
      machine: describeMachine(await queryValue<string>(pool, 'show server_version'), loadAtStart),
      http: summarize(samples.httpMs),
      direct: summarize(samples.directMs),
      ...samples,
    };
    printReport(run);
    await saveReport('provision', 'samples', run);
  } finally {
    await runCleanups(cleanups);
  }
}

/**
 * Runs both paths once per round, alternating which goes first, and returns the durations in
 * milliseconds of the rounds after the first `warmup` ones.
 */
async function runRounds(
  rounds: number,
  warmup: number,
  paths: { http: (round: number) => Promise<void>; direct: (round: number) => Promise<void> },
): Promise<{ httpMs: number[]; directMs: number[] }> {
  const httpMs: number[] = [];
  const directMs: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    let httpDuration: number;
    let directDuration: number;
    if (round % 2 === 0) {
      httpDuration = await timed(() => paths.http(round));
      directDuration = await timed(() => paths.direct(round));
    } else {
      directDuration = await timed(() => paths.direct(round));
      httpDuration = await timed(() => paths.http(round));
    }

    if (round >= warmup) {
      httpMs.push(httpDuration);
      directMs.push(directDuration);
    }
  }

  return { httpMs, directMs };
}

function readOptions(): { iterations: number; warmup: number } {
  const { values } = parseArgs({
    options: {
      iterations: { type: 'string', default: '200' },
      warmup: { type: 'string', default: '10' },
    },
  });
  const iterations = positiveInteger('iterations', values.iterations);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error(`--warmup must be zero or a positive integer, got "${values.warmup}"`);
  }

  return { iterations, warmup };
}

/** Logs in as the platform admin, creates the owner of every tenant and returns the token. */
async function prepareOwner(client: GraphqlClient): Promise<string> {
  const token = await login(client, ADMIN_EMAIL);
  await createOwner(client, token);

  return token;
}

async function provisionOverHttp(client: GraphqlClient, token: string, slug: string) {
  const response = await client.request({
    query: PROVISION_TENANT,
    variables: { input: { name: slug, slug, ownerEmail: OWNER_EMAIL } },
    host: DOMAIN,
    token,
  });
  if (response.errors) {
    throw new Error(`provisionTenant of ${slug} failed: ${JSON.stringify(response.errors)}`);
  }
}

/** Inserts the rows and creates the schema that `provisionTenant` does, in one transaction. */
async function provisionDirectly(pool: pg.Pool, ownerId: string, slug: string): Promise<void> {
  const schemaName = deriveSchemaName(slug);
  const connection = await pool.connect();
  try {
    await connection.query('begin');
    const tenantId = await queryValue<string>(
      connection,
      `insert into public.tenants (name, slug, schema_name, tenant_type, owner_id)
       values ($1, $2, $3, 'default', $4) returning id`,
      [slug, slug, schemaName, ownerId],
    );
    await connection.query(
      'insert into public.domains (domain, tenant_id, is_primary) values ($1, $2, true)',
      [`${slug}.${DOMAIN}`, tenantId],
    );
    await connection.query(
      `create schema ${quoteIdent(schemaName)};\n${tenantSchemaSql(schemaName)}`,
    );
    await connection.query('insert into public.memberships (tenant_id, user_id) values ($1, $2)', [
      tenantId,
      ownerId,
    ]);
    await connection.query(
      `insert into ${quoteIdent(schemaName)}.user_tenant_permissions
       (user_id, is_staff, is_superuser) values ($1, false, true)`,
      [ownerId],
    );
    await connection.query(
      `insert into public.audit_events (type, tenant_id, user_id, payload)
       values ('tenantProvisioned', $1, $2, $3)`,
      [tenantId, ownerId, { slug, schemaName }],
    );
    await connection.query('commit');
  } catch (error) {
    await connection.query('rollback');
    throw error;
  } finally {
    connection.release();
  }
}

async function queryValue<T>(
  queryable: pg.Pool | pg.PoolClient,
  text: string,
  params: unknown[] = [],
): Promise<T> {
  const result = await queryable.query(text, params);
  const row = result.rows[0] as Record<string, T> | undefined;
  if (!row) {
    throw new Error(`The query returned no row: ${text}`);
  }

  return Object.values(row)[0];
}

function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);

  return {
    median: median(sorted),
    // Nearest-rank percentile.
    p90: sorted[Math.ceil(0.9 * sorted.length) - 1],
    mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

interface RunReport {
  iterations: number;
  warmup: number;
  machine: ReturnType<typeof describeMachine<string>>;
  http: Summary;
  direct: Summary;
  httpMs: number[];
  directMs: number[];
}

function printReport(run: RunReport): void {
  const { machine, http: httpSummary, direct: directSummary } = run;
  const format = (value: number) => value.toFixed(1).padStart(8);
  const row = (label: string, s: Summary) =>
    `| ${label.padEnd(26)} | ${format(s.median)} | ${format(s.p90)} | ${format(s.mean)} | ` +
    `${format(s.min)} | ${format(s.max)} |`;

  process.stdout.write(
    [
      `provisionTenant: ${run.iterations} measured calls per path after ${run.warmup} warm-up calls`,
      `machine: ${machine.cpus} CPUs (${machine.cpuModel}), Node ${machine.node}, ` +
        `PostgreSQL ${machine.postgres}`,
      formatLoadAverage(machine.loadAverage),
      '',
      `| path (ms)                  |   median |      p90 |     mean |      min |      max |`,
      `|----------------------------|---------:|---------:|---------:|---------:|---------:|`,
      row('GraphQL over HTTP', httpSummary),
      row('pg driver, one transaction', directSummary),
      '',
      `ratio HTTP / direct: median ${(httpSummary.median / directSummary.median).toFixed(2)}, ` +
        `p90 ${(httpSummary.p90 / directSummary.p90).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

runBenchmark(main);
