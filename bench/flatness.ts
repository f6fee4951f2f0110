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
import {
  ADMIN_EMAIL,
  DOMAIN,
  OWNER_EMAIL,
  createOwner,
  SETUP_CONNECTIONS,
  createTenants,
  login,
  startServer,
} from './support/server.js';

const WARMUP_CALLS = 5;

const PROVISION_TENANT = `mutation ($input: ProvisionTenantInput!) {
  provisionTenant(input: $input) { id }
}`;

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
      machine: describeMachine(await serverVersion(pool), loadAtStart),
      first: { median: median(firstMs), samples: firstMs },
      last: { median: median(lastMs), samples: lastMs },
      ratio: median(lastMs) / median(firstMs),
    };
    process.stdout.write(
      [
        `bulk tenants: ${tenants}, created in ${(setupMs / 1000).toFixed(0)} s; ${calls} calls per series`,
        `machine: ${report.machine.cpus} CPUs (${report.machine.cpuModel}), ` +
          `Node ${report.machine.node}, PostgreSQL ${report.machine.postgres}`,
        formatLoadAverage(report.machine.loadAverage),
        `median provisionTenant: first ${report.first.median.toFixed(1)} ms, ` +
          `last ${report.last.median.toFixed(1)} ms, ratio ${report.ratio.toFixed(2)}`,
        '',
      ].join('\n'),
    );
    await saveReport('flatness', 'samples', report);
  } finally {
    await runCleanups(cleanups);
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
  await createOwner(client, token);

  return token;
}

runBenchmark(main);
