/**
 * Measures whether `provisionTenant` slows down as tenants accumulate: the median time of 100
 * calls over HTTP on a nearly empty database against 100 calls once many tenants exist.
 *
 * The server runs in this process on a fresh database, with bcrypt cost 4. The platform admin
 * posts the mutation on one keep-alive connection, one call at a time. After 5 warm-up calls,
 * the first 100 calls are measured. Then the bench inserts the tenant rows (tenant, domain,
 * membership) and creates the schemas directly with the tenant DDL of `tenantSchemaSql`, 20
 * tenants per transaction, and measures the last 100 calls through the same server.
 *
 * Usage: npx tsx bench/flatness.ts [--tenants 10000] [--calls 100]
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

const DOMAIN = 'bench.test';
const ADMIN_EMAIL = 'admin@bench.test';
const OWNER_EMAIL = 'owner@bench.test';
// Used only on the throwaway bench database.
const PASSWORD = 'bench-password-1';
const SETUP_BATCH = 20;
const WARMUP_CALLS = 5;

const PROVISION_TENANT = `mutation ($input: ProvisionTenantInput!) {
  provisionTenant(input: $input) { id }
}`;

type Cleanup = () => Promise<void>;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '10000' },
      calls: { type: 'string', default: '100' },
    },
  });
  const tenants = positive('tenants', values.tenants);
  const calls = positive('calls', values.calls);
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

    await provisionSeries(client, token, 'warm', WARMUP_CALLS);
    const firstMs = await provisionSeries(client, token, 'first', calls);
    const setupStart = performance.now();
    await createTenants(pool, tenants);
    const setupMs = performance.now() - setupStart;
    process.stderr.write(`${tenants} tenants created in ${(setupMs / 1000).toFixed(0)} s\n`);
    const lastMs = await provisionSeries(client, token, 'last', calls);

    const report = {
      tenants,
      calls,
      setupMs,
      machine: await describeMachine(pool, loadAtStart),
      first: { median: median(firstMs), samples: firstMs },
      last: { median: median(lastMs), samples: lastMs },
      ratio: median(lastMs) / median(firstMs),
    };
    process.stdout.write(
      [
        `bulk tenants: ${tenants}, created in ${(setupMs / 1000).toFixed(0)} s; ${calls} calls per series`,
        `machine: ${report.machine.cpus} CPUs (${report.machine.cpuModel}), ` +
          `Node ${report.machine.node}, PostgreSQL ${report.machine.postgres}`,
        `one-minute load average: ${report.machine.loadAverage.start.toFixed(2)} at start, ` +
          `${report.machine.loadAverage.end.toFixed(2)} at end`,
        `median provisionTenant: first ${report.first.median.toFixed(1)} ms, ` +
          `last ${report.last.median.toFixed(1)} ms, ratio ${report.ratio.toFixed(2)}`,
        '',
      ].join('\n'),
    );
    await saveReport(report);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => {
        process.stderr.write(`Cleanup failed: ${(error as Error).message}\n`);
      });
    }
  }
}

/** Provisions `count` tenants over HTTP one after another and returns each duration in ms. */
async function provisionSeries(
  client: GraphqlClient,
  token: string,
  prefix: string,
  count: number,
): Promise<number[]> {
  const durations: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const slug = `${prefix}-${index}`;
    const start = performance.now();
    const response = await client.request({
      query: PROVISION_TENANT,
      variables: { input: { name: slug, slug, ownerEmail: OWNER_EMAIL } },
      host: DOMAIN,
      token,
    });
    durations.push(performance.now() - start);
    if (response.errors) {
      throw new Error(`provisionTenant of ${slug} failed: ${JSON.stringify(response.errors)}`);
    }
  }

  return durations;
}

/** Logs in as the platform admin, creates the owner of every tenant and returns the token. */
async function prepareOwner(client: GraphqlClient): Promise<string> {
  const token = await login(client, ADMIN_EMAIL);
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

/**
 * Inserts `count` tenants owned by the owner, each with its domain, membership, schema and
 * owner permissions, several tenants per transaction.
 */
async function createTenants(pool: pg.Pool, count: number): Promise<void> {
  const owner = await pool.query<{ id: string }>('select id from public.users where email = $1', [
    OWNER_EMAIL,
  ]);
  const ownerId = owner.rows[0].id;

  for (let start = 0; start < count; start += SETUP_BATCH) {
    const statements: string[] = [];
    for (let index = start; index < Math.min(start + SETUP_BATCH, count); index += 1) {
      const slug = tenantSlug(index);
      const schema = slug.replace('-', '_');
      statements.push(
        `with tenant as (
           insert into public.tenants (name, slug, schema_name, tenant_type, owner_id)
           values ('${slug}', '${slug}', '${schema}', 'default', '${ownerId}') returning id
         ), domain as (
           insert into public.domains (domain, tenant_id, is_primary)
           select '${slug}.${DOMAIN}', id, true from tenant
         )
         insert into public.memberships (tenant_id, user_id) select id, '${ownerId}' from tenant;
         create schema ${quoteIdent(schema)};
         ${tenantSchemaSql(schema)}
         insert into ${quoteIdent(schema)}.user_tenant_permissions (user_id, is_staff, is_superuser)
         values ('${ownerId}', false, true);`,
      );
    }
    await pool.query(`begin;\n${statements.join('\n')}\ncommit;`);
    if ((start / SETUP_BATCH) % 50 === 0) {
      process.stderr.write(`created ${start} tenants\n`);
    }
  }
}

async function login(client: GraphqlClient, email: string): Promise<string> {
  const response = await client.request<{ login: { token: string } }>({
    query: `mutation ($email: String!, $password: String!) {
      login(email: $email, password: $password) { token }
    }`,
    variables: { email, password: PASSWORD },
    host: DOMAIN,
  });
  const token = response.data?.login.token;
  if (!token) {
    throw new Error(`Login of ${email} failed: ${JSON.stringify(response.errors)}`);
  }

  return token;
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

/** URL of a superuser connection to the database server, starting an embedded one if needed. */
async function databaseServerUrl(cleanups: Cleanup[]): Promise<string> {
  const configured = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (configured) {
    return configured;
  }

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

function positive(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  }

  return value;
}

async function describeMachine(pool: pg.Pool, loadAtStart: number) {
  const version = await pool.query<{ server_version: string }>('show server_version');

  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    postgres: version.rows[0].server_version,
    /** One-minute load averages. Other processes on the machine add noise. */
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] },
  };
}

function tenantSlug(index: number): string {
  return `bench-${String(index).padStart(5, '0')}`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);

  return sorted.length % 2 === 0 ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle];
}

/** Writes the options, the machine facts and every sample to bench/results/, which git ignores. */
async function saveReport(report: object): Promise<void> {
  const resultsDir = path.join(import.meta.dirname, 'results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(':', '-');
  const file = path.join(resultsDir, `flatness-${stamp}.json`);
  await writeFile(file, JSON.stringify(report, null, 2));

  process.stdout.write(`samples: ${path.relative(process.cwd(), file)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `The benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exitCode = 1;
});
