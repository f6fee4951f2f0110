/**
 * Measures the read path: SQL statements per request, throughput of a member listing against
 * `{ __typename }`, and how long a routing change takes to reach another server process.
 *
 * The server runs in this process on a fresh database, with a tenant of 20 members. The listing
 * is `members(first: 20)` with flags, groups and emails, sent to the tenant's host with a
 * member's token. `{ __typename }` goes to the same host with the same token, so both pay for
 * routing and authentication. autocannon runs each operation for the same duration with the same
 * connections, in this process and as a child process, alternating which goes first per round.
 *
 * Usage: npx tsx bench/reads.ts [--connections 10] [--duration 10] [--rounds 2]
 *   [--mode both|in-process|child]
 * The database server is TEST_DATABASE_URL, else DATABASE_URL, else an embedded PostgreSQL in a
 * temporary directory. The bench database is dropped at the end.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';

import { GraphqlClient } from '../examples/walkthrough/graphql-client.js';
import type { App } from '../src/app.js';
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
import { ADMIN_EMAIL, DOMAIN, PASSWORD, login, startServer } from './support/server.js';

const SLUG = 'reads';
const TENANT_HOST = `${SLUG}.${DOMAIN}`;
const MEMBER_COUNT = 20;

const MEMBERS_QUERY =
  '{ currentTenant { members(first: 20) { edges { node { isStaff isSuperuser groups user { email } } } } } }';
const TYPENAME_QUERY = '{ __typename }';

type Mode = 'in-process' | 'child';

interface Options {
  connections: number;
  duration: number;
  rounds: number;
  modes: Mode[];
}

interface Throughput {
  mode: Mode;
  /** Requests per second of each operation, summed over the rounds. */
  members: Load;
  typename: Load;
  /** Listing requests per second divided by `{ __typename }` requests per second. */
  ratio: number;
}

interface Load {
  requests: number;
  seconds: number;
  perSecond: number;
  /** Median and 99th percentile latency of the last round, in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  /** Responses that were not 200 or whose body differed from the expected one. */
  failures: number;
}

async function main(): Promise<void> {
  const options = readOptions();
  const loadAtStart = os.loadavg()[0];
  const cleanups: Cleanup[] = [];
  try {
    const serverUrl = await databaseServerUrl(cleanups);
    const databaseUrl = await createBenchDatabase(serverUrl, cleanups);
    // The provisioning worker stays off, so that its polling adds no statements to the counts.
    const app = await startServer(databaseUrl, cleanups, { worker: false });
    const token = await seedTenant(new GraphqlClient(app.url));

    const statements = await countStatements(app, token);
    const notification = await measureNotificationDelay(databaseUrl);
    const throughput: Throughput[] = [];
    for (const mode of options.modes) {
      throughput.push(await measureThroughput(app, token, mode, options));
    }

    const report = {
      options,
      machine: describeMachine(await readServerVersion(databaseUrl), loadAtStart),
      statements,
      notification,
      throughput,
    };
    printReport(report);
    await saveReport('reads', 'report', report);
  } finally {
    await runCleanups(cleanups);
  }
}

/** Creates the tenant with its owner and 19 more members, and returns a plain member's token. */
async function seedTenant(client: GraphqlClient): Promise<string> {
  const adminToken = await login(client, ADMIN_EMAIL);
  const emails = Array.from({ length: MEMBER_COUNT }, (_, index) => `member${index}@bench.test`);
  for (const email of emails) {
    await mustSucceed(client, adminToken, DOMAIN, {
      query: 'mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }',
      variables: { input: { email, password: PASSWORD } },
    });
  }

  await mustSucceed(client, adminToken, DOMAIN, {
    query: 'mutation ($input: ProvisionTenantInput!) { provisionTenant(input: $input) { id } }',
    variables: { input: { name: 'Reads', slug: SLUG, ownerEmail: emails[0] } },
  });
  for (const [index, email] of emails.slice(1).entries()) {
    await mustSucceed(client, adminToken, DOMAIN, {
      query: `mutation ($input: AddUserToTenantInput!) {
        addUserToTenant(input: $input) { isStaff }
      }`,
      variables: { input: { tenant: SLUG, userEmail: email, isStaff: index % 2 === 0 } },
    });
  }

  return login(client, emails[1]);
}

async function mustSucceed<T>(
  client: GraphqlClient,
  token: string | undefined,
  host: string,
  operation: { query: string; variables?: Record<string, unknown> },
): Promise<T> {
  const response = await client.request<T>({ ...operation, host, token });
  if (response.errors || !response.data) {
    throw new Error(`The operation failed: ${JSON.stringify(response.errors)}`);
  }

  return response.data;
}

/**
 * Counts the statements each request sends: through MikroORM's knex (its 'query' event) and
 * through every pg client of the process (a wrapper on `pg.Client.prototype.query`), which also
 * counts the routing listener's connection. The first listing request runs with a cold routing
 * cache; the later ones show the steady state.
 */
async function countStatements(app: App, token: string) {
  const client = new GraphqlClient(app.url);
  const knex = app.orm.em.getConnection().getKnex();
  const originalQuery = pg.Client.prototype.query;
  let orm = 0;
  let driver = 0;
  const onQuery = () => {
    orm += 1;
  };
  knex.on('query', onQuery);
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    driver += 1;
    return (originalQuery as (...values: unknown[]) => unknown).apply(this, args);
  } as typeof originalQuery;

  const measure = async (query: string, withToken: boolean) => {
    orm = 0;
    driver = 0;
    const response = await client.request({
      query,
      host: TENANT_HOST,
      token: withToken ? token : undefined,
    });
    if (response.errors) {
      throw new Error(`${query} failed: ${JSON.stringify(response.errors)}`);
    }

    return { orm, driver };
  };
  try {
    return {
      membersColdRouting: await measure(MEMBERS_QUERY, true),
      members: await measure(MEMBERS_QUERY, true),
      membersAgain: await measure(MEMBERS_QUERY, true),
      typenameWithToken: await measure(TYPENAME_QUERY, true),
      typenameAnonymous: await measure(TYPENAME_QUERY, false),
    };
  } finally {
    knex.removeListener('query', onQuery);
    pg.Client.prototype.query = originalQuery;
  }
}

/**
 * Measures how long after a committed change to `public.tenants` a listening connection
 * receives its notification: the window in which another process may still route by the old
 * entry. A negative delay means the notification arrived before the commit's own reply.
 */
async function measureNotificationDelay(databaseUrl: string, samples = 200) {
  const listener = new pg.Client({ connectionString: databaseUrl });
  const writer = new pg.Client({ connectionString: databaseUrl });
  await Promise.all([listener.connect(), writer.connect()]);
  try {
    await listener.query('LISTEN tenant_users_routing');
    let arrived: (() => void) | undefined;
    let arrivedAt = 0;
    listener.on('notification', () => {
      arrivedAt = performance.now();
      arrived?.();
    });

    const delays: number[] = [];
    for (let index = 0; index < samples; index += 1) {
      const notified = new Promise<void>((resolve, reject) => {
        arrived = resolve;
        setTimeout(
          () =>
            reject(
              new Error('No routing notification arrived within 5 s. Is migration 0005 applied?'),
            ),
          5_000,
        ).unref();
      });
      await writer.query('update public.tenants set updated_at = now() where slug = $1', [SLUG]);
      const committedAt = performance.now();
      await notified;
      delays.push(arrivedAt - committedAt);
    }

    return percentiles(delays);
  } finally {
    await Promise.all([listener.end(), writer.end()]);
  }
}

async function measureThroughput(
  app: App,
  token: string,
  mode: Mode,
  options: Options,
): Promise<Throughput> {
  const client = new GraphqlClient(app.url);
  const expected = async (query: string) =>
    JSON.stringify(await mustSucceed(client, token, TENANT_HOST, { query }));
  const targets = {
    members: { query: MEMBERS_QUERY, body: `{"data":${await expected(MEMBERS_QUERY)}}\n` },
    typename: { query: TYPENAME_QUERY, body: `{"data":${await expected(TYPENAME_QUERY)}}\n` },
  };
  const run = (target: { query: string; body: string }, duration: number) =>
    (mode === 'child' ? runChild : runInProcess)(app.url, token, target, {
      connections: options.connections,
      duration,
    });

  // A short run of each warms the JIT, the pools and the caches. Its numbers are dropped.
  await run(targets.members, 2);
  await run(targets.typename, 2);
  const results = { members: [] as autocannon.Result[], typename: [] as autocannon.Result[] };
  for (let round = 0; round < options.rounds; round += 1) {
    const order =
      round % 2 === 0 ? (['typename', 'members'] as const) : (['members', 'typename'] as const);
    for (const name of order) {
      results[name].push(await run(targets[name], options.duration));
    }
  }

  const members = summarizeLoad(results.members);
  const typename = summarizeLoad(results.typename);

  return { mode, members, typename, ratio: members.perSecond / typename.perSecond };
}

interface LoadSettings {
  connections: number;
  duration: number;
}

function requestOptions(url: string, token: string, target: { query: string; body: string }) {
  return {
    url: `${url}/graphql`,
    method: 'POST' as const,
    headers: {
      host: TENANT_HOST,
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: target.query }),
    expectBody: target.body,
  };
}

function runInProcess(
  url: string,
  token: string,
  target: { query: string; body: string },
  settings: LoadSettings,
): Promise<autocannon.Result> {
  return autocannon({ ...requestOptions(url, token, target), ...settings });
}

const execFileAsync = promisify(execFile);

/** Runs the autocannon command line in a child process and parses its JSON output. */
async function runChild(
  url: string,
  token: string,
  target: { query: string; body: string },
  settings: LoadSettings,
): Promise<autocannon.Result> {
  const request = requestOptions(url, token, target);
  const cli = createRequire(import.meta.url).resolve('autocannon');
  const headers = Object.entries(request.headers).flatMap(([key, value]) => [
    '-H',
    `${key}=${value}`,
  ]);
  const { stdout } = await execFileAsync(
    process.execPath,
    [
      cli,
      '--json',
      ...['-c', String(settings.connections), '-d', String(settings.duration)],
      ...['-m', request.method, '-b', request.body, '-E', request.expectBody],
      ...headers,
      request.url,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );

  return JSON.parse(stdout) as autocannon.Result;
}

function summarizeLoad(results: autocannon.Result[]): Load {
  const requests = results.reduce((sum, result) => sum + result.requests.total, 0);
  const seconds = results.reduce((sum, result) => sum + result.duration, 0);
  const last = results[results.length - 1];

  return {
    requests,
    seconds,
    perSecond: requests / seconds,
    p50Ms: last.latency.p50,
    p99Ms: last.latency.p99,
    failures: results.reduce(
      (sum, result) => sum + result.non2xx + result.errors + result.mismatches,
      0,
    ),
  };
}

function percentiles(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  // Nearest-rank percentile.
  const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];

  return {
    samples: sorted.length,
    p50Ms: rank(0.5),
    p90Ms: rank(0.9),
    p99Ms: rank(0.99),
    maxMs: sorted[sorted.length - 1],
  };
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '10' },
      duration: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '2' },
      mode: { type: 'string', default: 'both' },
    },
  });
  const numbers = {
    connections: positiveInteger('connections', values.connections),
    duration: positiveInteger('duration', values.duration),
    rounds: positiveInteger('rounds', values.rounds),
  };
  const modes: Record<string, Mode[]> = {
    both: ['in-process', 'child'],
    'in-process': ['in-process'],
    child: ['child'],
  };
  if (!modes[values.mode]) {
    throw new Error(`--mode must be both, in-process or child, got "${values.mode}"`);
  }

  return { ...numbers, modes: modes[values.mode] };
}

type Report = {
  options: Options;
  machine: ReturnType<typeof describeMachine<string>>;
  statements: Awaited<ReturnType<typeof countStatements>>;
  notification: ReturnType<typeof percentiles>;
  throughput: Throughput[];
};

function printReport(report: Report): void {
  const { machine, statements, notification, options } = report;
  const statementRow = (label: string, count: { orm: number; driver: number }) =>
    `| ${label.padEnd(44)} | ${String(count.orm).padStart(7)} | ${String(count.driver).padStart(10)} |`;
  const loadRow = (mode: Mode, name: string, load: Load) =>
    `| ${mode.padEnd(10)} | ${name.padEnd(8)} | ${load.perSecond.toFixed(0).padStart(8)} | ` +
    `${load.p50Ms.toFixed(1).padStart(7)} | ${load.p99Ms.toFixed(1).padStart(7)} | ` +
    `${String(load.failures).padStart(8)} |`;

  process.stdout.write(
    [
      `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ` +
        `Node ${machine.node}, PostgreSQL ${machine.postgres}`,
      formatLoadAverage(machine.loadAverage),
      '',
      '| request                                      | via ORM | pg driver  |',
      '| -------------------------------------------- | ------: | ---------: |',
      statementRow('members(first: 20), cold routing cache', statements.membersColdRouting),
      statementRow('members(first: 20)', statements.members),
      statementRow('members(first: 20), again', statements.membersAgain),
      statementRow('{ __typename } with the token', statements.typenameWithToken),
      statementRow('{ __typename } without a token', statements.typenameAnonymous),
      '',
      `notification delay after commit (ms, ${notification.samples} samples): ` +
        `p50 ${notification.p50Ms.toFixed(3)}, p90 ${notification.p90Ms.toFixed(3)}, ` +
        `p99 ${notification.p99Ms.toFixed(3)}, max ${notification.maxMs.toFixed(3)}`,
      '',
      `autocannon: ${options.connections} connections, ${options.rounds} rounds of ` +
        `${options.duration} s per operation`,
      '',
      '| generator  | query    |    req/s | p50 ms  | p99 ms  | failures |',
      '| ---------- | -------- | -------: | ------: | ------: | -------: |',
      ...report.throughput.flatMap((result) => [
        loadRow(result.mode, 'members', result.members),
        loadRow(result.mode, 'typename', result.typename),
      ]),
      '',
      ...report.throughput.map(
        (result) => `ratio members / typename (${result.mode}): ${result.ratio.toFixed(3)}`,
      ),
      '',
    ].join('\n'),
  );
}

/** Reads the server version on a connection of its own, closed before returning. */
async function readServerVersion(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await serverVersion(client);
  } finally {
    await client.end();
  }
}

runBenchmark(main);
