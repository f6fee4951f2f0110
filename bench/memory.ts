/**
 * Measures the memory of the server process and of its PostgreSQL backends when requests reach
 * a few tenants against when they reach many, with pooled-connection recycling off and on.
 *
 * Setup creates a fresh database, starts the server once to migrate `public` and create the
 * tenants' owner, then inserts the tenant rows (tenant, domain, membership) and creates the
 * schemas directly with the tenant DDL of `tenantSchemaSql`, 20 tenants per transaction. Each
 * run is a child process (`node --expose-gc`) that starts the server on that database, sends
 * the same number of requests, `currentTenant { members { totalCount } }` as the owner, with 8
 * clients in parallel, to either 10 tenants or every tenant. It then reports:
 * - the server's resident set size (`process.memoryUsage().rss`) after a full garbage
 *   collection;
 * - `VmRSS` and `RssAnon` from /proc/<pid>/status of every backend connected to the bench
 *   database, sampled every second. `RssAnon` leaves out shared buffers, so it is the private
 *   memory where the catalog cache lives. /proc works because the bench and PostgreSQL run on
 *   the same machine; on another host the backend figures are missing.
 *
 * Usage: node --import tsx bench/memory.ts [--tenants 10000] [--requests 10000]
 * The database server is TEST_DATABASE_URL, else DATABASE_URL, else an embedded PostgreSQL in a
 * temporary directory. The bench database is dropped at the end.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';

import { GraphqlClient } from '../examples/walkthrough/graphql-client.js';
import { createApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { tenantSchemaSql } from '../src/db/migrator.js';
import { DEFAULT_POOL_MAX_AGE_SECONDS, DEFAULT_POOL_MAX_USES } from '../src/db/orm.js';
import { applyPoolRecycling, recycledConnectionCount } from '../src/db/pool-recycling.js';
import { quoteIdent } from '../src/db/sql.js';
import { createLogger } from '../src/logger.js';

const DOMAIN = 'bench.test';
const ADMIN_EMAIL = 'admin@bench.test';
const OWNER_EMAIL = 'owner@bench.test';
// Used only on the throwaway bench database.
const PASSWORD = 'bench-password-1';
const SETUP_BATCH = 20;
const CLIENTS = 8;
const NARROW_TENANTS = 10;
const TENANT_QUERY = '{ currentTenant { slug members(first: 5) { totalCount } } }';

type Cleanup = () => Promise<void>;

interface RunRequest {
  databaseUrl: string;
  tenants: number;
  spread: number;
  requests: number;
  recycling: boolean;
}

interface BackendMemory {
  backends: number;
  vmRssMiB: number;
  rssAnonMiB: number;
}

interface RunResult extends RunRequest {
  durationMs: number;
  failures: number;
  serverRssMiB: number;
  serverHeapUsedMiB: number;
  /** Sum over the backends at the sample where the sum of `RssAnon` was highest. */
  backendPeak: BackendMemory;
  backendEnd: BackendMemory;
  /** Largest `RssAnon` of a single backend over every sample. */
  largestBackendRssAnonMiB: number;
  recycledConnections: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '10000' },
      requests: { type: 'string', default: '10000' },
      child: { type: 'string' },
    },
  });
  if (values.child) {
    const result = await runChild(JSON.parse(values.child) as RunRequest);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }

  const tenants = positive('tenants', values.tenants);
  const requests = positive('requests', values.requests);
  const loadAtStart = os.loadavg()[0];
  const cleanups: Cleanup[] = [];
  try {
    const serverUrl = await databaseServerUrl(cleanups);
    const databaseUrl = await createBenchDatabase(serverUrl, cleanups);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    cleanups.push(() => pool.end());

    const setupStart = performance.now();
    await prepareOwner(databaseUrl);
    await createTenants(pool, tenants);
    const setupMs = performance.now() - setupStart;
    process.stderr.write(`${tenants} tenants created in ${(setupMs / 1000).toFixed(0)} s\n`);

    const runs: RunResult[] = [];
    for (const recycling of [false, true]) {
      for (const spread of [NARROW_TENANTS, tenants]) {
        const run = await spawnRun({ databaseUrl, tenants, spread, requests, recycling });
        process.stderr.write(`${JSON.stringify(run)}\n`);
        runs.push(run);
      }
    }

    const report = {
      tenants,
      requests,
      clients: CLIENTS,
      recyclingLimits: {
        maxUses: DEFAULT_POOL_MAX_USES,
        maxAgeSeconds: DEFAULT_POOL_MAX_AGE_SECONDS,
      },
      setupMs,
      machine: await describeMachine(pool, loadAtStart),
      runs,
    };
    printReport(report);
    await saveReport(report);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => {
        process.stderr.write(`Cleanup failed: ${(error as Error).message}\n`);
      });
    }
  }
}

/** Runs one measurement in a child process, so that each run starts with a fresh heap. */
async function spawnRun(request: RunRequest): Promise<RunResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', import.meta.filename, '--child', JSON.stringify(request)],
    { maxBuffer: 16 * 2 ** 20 },
  );
  const lastLine = stdout.trim().split('\n').at(-1) ?? '';

  return JSON.parse(lastLine) as RunResult;
}

async function runChild(request: RunRequest): Promise<RunResult> {
  const cleanups: Cleanup[] = [];
  try {
    const app = await startServer(request.databaseUrl, cleanups);
    if (!request.recycling) {
      applyPoolRecycling(app.orm, { maxUses: 0, maxAgeSeconds: 0 });
    }
    const observer = new pg.Client({ connectionString: request.databaseUrl });
    await observer.connect();
    cleanups.push(() => observer.end());

    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    cleanups.push(async () => agent.destroy());
    const client = new GraphqlClient(app.url, agent);
    const token = await login(client, OWNER_EMAIL);

    const samples: BackendMemory[] = [];
    let largest = 0;
    const sample = async () => {
      const memory = await backendMemory(observer);
      samples.push(memory.total);
      largest = Math.max(largest, memory.largestRssAnonMiB);
    };
    const timer = setInterval(() => void sample(), 1_000);

    let next = 0;
    let failures = 0;
    const start = performance.now();
    const worker = async () => {
      while (next < request.requests) {
        const index = next;
        next += 1;
        const slug = tenantSlug(index % request.spread);
        const response = await client.request({
          query: TENANT_QUERY,
          host: `${slug}.${DOMAIN}`,
          token,
        });
        if (response.errors) {
          failures += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, worker));
    const durationMs = performance.now() - start;
    clearInterval(timer);
    await sample();

    globalThis.gc?.();
    const memory = process.memoryUsage();
    const peak = samples.reduce((best, item) => (item.rssAnonMiB > best.rssAnonMiB ? item : best));

    return {
      ...request,
      durationMs,
      failures,
      serverRssMiB: memory.rss / 2 ** 20,
      serverHeapUsedMiB: memory.heapUsed / 2 ** 20,
      backendPeak: peak,
      backendEnd: samples.at(-1) ?? peak,
      largestBackendRssAnonMiB: largest,
      recycledConnections: recycledConnectionCount(app.orm),
    };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup();
    }
  }
}

/** Sums /proc/<pid>/status of the backends connected to the current database, but this one. */
async function backendMemory(
  observer: pg.Client,
): Promise<{ total: BackendMemory; largestRssAnonMiB: number }> {
  const { rows } = await observer.query<{ pid: number }>(
    `select pid from pg_stat_activity
     where datname = current_database() and pid <> pg_backend_pid()`,
  );
  const total: BackendMemory = { backends: 0, vmRssMiB: 0, rssAnonMiB: 0 };
  let largestRssAnonMiB = 0;
  for (const { pid } of rows) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    if (status === undefined) {
      continue;
    }
    const rssAnon = statusKiB(status, 'RssAnon') / 1024;
    total.backends += 1;
    total.vmRssMiB += statusKiB(status, 'VmRSS') / 1024;
    total.rssAnonMiB += rssAnon;
    largestRssAnonMiB = Math.max(largestRssAnonMiB, rssAnon);
  }

  return { total, largestRssAnonMiB };
}

function statusKiB(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);

  return match ? Number(match[1]) : 0;
}

function tenantSlug(index: number): string {
  return `bench-${String(index).padStart(5, '0')}`;
}

/** Starts the server once, which migrates `public`, and creates the owner of every tenant. */
async function prepareOwner(databaseUrl: string): Promise<void> {
  const cleanups: Cleanup[] = [];
  try {
    const app = await startServer(databaseUrl, cleanups);
    const client = new GraphqlClient(app.url);
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
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup();
    }
  }
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

function printReport(report: {
  tenants: number;
  requests: number;
  setupMs: number;
  machine: Awaited<ReturnType<typeof describeMachine>>;
  runs: RunResult[];
}): void {
  const { machine, runs } = report;
  const mib = (value: number) => value.toFixed(0).padStart(6);
  const lines = [
    `tenants: ${report.tenants}, created in ${(report.setupMs / 1000).toFixed(0)} s; ` +
      `${report.requests} requests per run, ${CLIENTS} clients`,
    `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ` +
      `Node ${machine.node}, PostgreSQL ${machine.postgres}`,
    `one-minute load average: ${machine.loadAverage.start.toFixed(2)} at start, ` +
      `${machine.loadAverage.end.toFixed(2)} at end`,
    '',
    '| recycling | tenants reached | req/s | failures | server RSS (MiB) | backends peak RssAnon (MiB) | largest backend RssAnon (MiB) | backends end RssAnon (MiB) | backends end VmRSS (MiB) | recycled |',
    '| --------- | --------------: | ----: | -------: | ---------------: | --------------------------: | ----------------------------: | -------------------------: | -----------------------: | -------: |',
  ];
  for (const run of runs) {
    lines.push(
      `| ${run.recycling ? 'on ' : 'off'}       | ${String(run.spread).padStart(15)} | ` +
        `${((run.requests / run.durationMs) * 1000).toFixed(0).padStart(5)} | ` +
        `${String(run.failures).padStart(8)} | ${mib(run.serverRssMiB)} | ` +
        `${mib(run.backendPeak.rssAnonMiB)} | ${mib(run.largestBackendRssAnonMiB)} | ` +
        `${mib(run.backendEnd.rssAnonMiB)} | ${mib(run.backendEnd.vmRssMiB)} | ` +
        `${String(run.recycledConnections).padStart(8)} |`,
    );
  }
  lines.push('');
  for (const recycling of [false, true]) {
    const [narrow, wide] = runs.filter((run) => run.recycling === recycling);
    lines.push(
      `recycling ${recycling ? 'on' : 'off'}: server RSS ratio ${report.tenants} / ` +
        `${NARROW_TENANTS} tenants = ${(wide.serverRssMiB / narrow.serverRssMiB).toFixed(2)}`,
    );
  }

  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Writes the options, the machine facts and every run to bench/results/, which git ignores. */
async function saveReport(report: object): Promise<void> {
  const resultsDir = path.join(import.meta.dirname, 'results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(':', '-');
  const file = path.join(resultsDir, `memory-${stamp}.json`);
  await writeFile(file, JSON.stringify(report, null, 2));

  process.stdout.write(`runs: ${path.relative(process.cwd(), file)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `The benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exitCode = 1;
});
