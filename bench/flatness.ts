/**
 * Measures whether `provisionTenant` slows down as tenants accumulate: the median time of 100
 * calls over HTTP on a nearly empty database against 100 calls once many tenants exist.
 *
 * The server runs in this process on a fresh database, with bcrypt cost 4. The platform admin
 * posts the mutation on one keep-alive connection, one call at a time. Each call alternates
 * with the same rows and DDL sent directly through pg, as in bench/provision.ts, so that the
 * direct path shows how much of a change comes from PostgreSQL and the machine. After 5 warm-up
 * rounds, the first 100 rounds are measured. Then the bench inserts the tenant rows (tenant,
 * domain, membership) and creates the schemas directly with the tenant DDL of `tenantSchemaSql`,
 * and measures the last 100 rounds through the same server.
 *
 * Usage: npx tsx bench/flatness.ts [--tenants 10000] [--calls 100]
 * The database server is TEST_DATABASE_URL, else DATABASE_URL, else an embedded PostgreSQL in a
 * temporary directory. The bench database is dropped at the end.
 */
import 'reflect-metadata';
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';

import { GraphqlClient } from '../examples/walkthrough/graphql-client.js';
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
} from './support/report.js';
import { preparePaths, runRounds } from './support/provisioning.js';
import { SETUP_CONNECTIONS, createTenants, startServer } from './support/server.js';

const WARMUP_CALLS = 5;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '10000' },
      calls: { type: 'string', default: '100' },
    },
  });
  const tenants = positiveInteger('tenants', values.tenants);
  const calls = positiveInteger('calls', values.calls);
  const loadAtStart = os.loadavg()[0];
  const cleanups: Cleanup[] = [];
  try {
    const serverUrl = await databaseServerUrl(cleanups);
    const databaseUrl = await createBenchDatabase(serverUrl, cleanups);
    const app = await startServer(databaseUrl, cleanups);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: SETUP_CONNECTIONS });
    cleanups.push(() => pool.end());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => agent.destroy());
    const client = new GraphqlClient(app.url, agent);
    const paths = await preparePaths(client, pool);

    const first = await runRounds(paths, 'first', WARMUP_CALLS + calls, WARMUP_CALLS);
    const setupStart = performance.now();
    await createTenants(pool, tenants);
    const setupMs = performance.now() - setupStart;
    process.stderr.write(`${tenants} tenants created in ${(setupMs / 1000).toFixed(0)} s\n`);
    const last = await runRounds(paths, 'last', calls);

    const report = {
      tenants,
      calls,
      setupMs,
      machine: describeMachine(await serverVersion(pool), loadAtStart),
      first: { httpMedian: median(first.httpMs), directMedian: median(first.directMs), ...first },
      last: { httpMedian: median(last.httpMs), directMedian: median(last.directMs), ...last },
    };
    const ratio = (later: number, earlier: number) => (later / earlier).toFixed(2);
    process.stdout.write(
      [
        `bulk tenants: ${tenants}, created in ${(setupMs / 1000).toFixed(0)} s; ${calls} calls per series`,
        `machine: ${report.machine.cpus} CPUs (${report.machine.cpuModel}), ` +
          `Node ${report.machine.node}, PostgreSQL ${report.machine.postgres}`,
        formatLoadAverage(report.machine.loadAverage),
        `median provisionTenant over HTTP: first ${report.first.httpMedian.toFixed(1)} ms, ` +
          `last ${report.last.httpMedian.toFixed(1)} ms, ` +
          `last / first ${ratio(report.last.httpMedian, report.first.httpMedian)}`,
        `median direct SQL: first ${report.first.directMedian.toFixed(1)} ms, ` +
          `last ${report.last.directMedian.toFixed(1)} ms, ` +
          `last / first ${ratio(report.last.directMedian, report.first.directMedian)}`,
        '',
      ].join('\n'),
    );
    await saveReport('flatness', 'samples', report);
  } finally {
    await runCleanups(cleanups);
  }
}

runBenchmark(main);
