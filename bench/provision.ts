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
import {
  createBenchDatabase,
  databaseServerUrl,
  runCleanups,
  type Cleanup,
} from './support/database.js';
import { preparePaths, runRounds } from './support/provisioning.js';
import {
  describeMachine,
  formatLoadAverage,
  median,
  positiveInteger,
  runBenchmark,
  saveReport,
  serverVersion,
} from './support/report.js';
import { startServer } from './support/server.js';

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
    const paths = await preparePaths(client, pool);

    const samples = await runRounds(paths, 'bench', warmup + iterations, warmup);

    const run: RunReport = {
      iterations,
      warmup,
      machine: describeMachine(await serverVersion(pool), loadAtStart),
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
