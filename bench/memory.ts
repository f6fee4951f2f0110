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
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';

import { GraphqlClient } from '../examples/walkthrough/graphql-client.js';
import { DEFAULT_POOL_MAX_AGE_SECONDS, DEFAULT_POOL_MAX_USES } from '../src/db/orm.js';
import { applyPoolRecycling, recycledConnectionCount } from '../src/db/pool-recycling.js';
import {
  createBenchDatabase,
  databaseServerUrl,
  runCleanups,
  type Cleanup,
} from './support/database.js';
import {
  describeMachine,
  formatLoadAverage,
  positiveInteger,
  runBenchmark,
  saveReport,
  serverVersion,
} from './support/report.js';
import {
  DOMAIN,
  OWNER_EMAIL,
  SETUP_CONNECTIONS,
  createTenants,
  login,
  migrateAndCreateOwner,
  startServer,
  tenantSlug,
} from './support/server.js';

const CLIENTS = 8;
const NARROW_TENANTS = 10;
const TENANT_QUERY = '{ currentTenant { slug members(first: 5) { totalCount } } }';

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

  const tenants = positiveInteger('tenants', values.tenants);
  const requests = positiveInteger('requests', values.requests);
  const loadAtStart = os.loadavg()[0];
  const cleanups: Cleanup[] = [];
  try {
    const serverUrl = await databaseServerUrl(cleanups);
    const databaseUrl = await createBenchDatabase(serverUrl, cleanups);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: SETUP_CONNECTIONS });
    cleanups.push(() => pool.end());

    const setupStart = performance.now();
    await migrateAndCreateOwner(databaseUrl);
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
      machine: describeMachine(await serverVersion(pool), loadAtStart),
      runs,
    };
    printReport(report);
    await saveReport('memory', 'runs', report);
  } finally {
    await runCleanups(cleanups);
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

function printReport(report: {
  tenants: number;
  requests: number;
  setupMs: number;
  machine: ReturnType<typeof describeMachine<string>>;
  runs: RunResult[];
}): void {
  const { machine, runs } = report;
  const mib = (value: number) => value.toFixed(0).padStart(6);
  const lines = [
    `tenants: ${report.tenants}, created in ${(report.setupMs / 1000).toFixed(0)} s; ` +
      `${report.requests} requests per run, ${CLIENTS} clients`,
    `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ` +
      `Node ${machine.node}, PostgreSQL ${machine.postgres}`,
    formatLoadAverage(machine.loadAverage),
    '',
    '| recycling | tenants reached | req/s | failures | server RSS (MiB) | heap used (MiB) | backends peak RssAnon (MiB) | largest backend RssAnon (MiB) | backends end RssAnon (MiB) | backends end VmRSS (MiB) | recycled |',
    '| --------- | --------------: | ----: | -------: | ---------------: | --------------: | --------------------------: | ----------------------------: | -------------------------: | -----------------------: | -------: |',
  ];
  for (const run of runs) {
    lines.push(
      `| ${run.recycling ? 'on ' : 'off'}       | ${String(run.spread).padStart(15)} | ` +
        `${((run.requests / run.durationMs) * 1000).toFixed(0).padStart(5)} | ` +
        `${String(run.failures).padStart(8)} | ${mib(run.serverRssMiB)} | ` +
        `${run.serverHeapUsedMiB.toFixed(1).padStart(6)} | ` +
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

runBenchmark(main);
