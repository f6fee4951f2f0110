import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';

import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { publicMigrations } from '../src/db/migrations/public/index.js';
import { createLogger } from '../src/logger.js';
import { MAX_OPERATION_NAMES } from '../src/http/metrics.js';
import { prettyLogsEnabled, REQUEST_ID_HEADER } from '../src/http/request-log.js';
import {
  ADMIN_EMAIL,
  PASSWORD,
  PUBLIC_DOMAIN,
  errorCode,
  rawRequest,
  startTestApp,
  type TestApp,
} from './support/app.js';
import { createScratchDatabase } from './support/database.js';
import { CREATE_USER, PROVISION_TENANT } from './support/fixtures.js';

type LogLine = Record<string, unknown>;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const DELETE_TENANT =
  'mutation DeleteTenant($tenant: String) { deleteTenant(tenant: $tenant) { slug isActive } }';

describe('operations', () => {
  let t: TestApp;
  let adminToken: string;
  let adminId: string;
  const logLines: LogLine[] = [];

  beforeAll(async () => {
    t = await startTestApp({ logLevel: 'info' }, [], {
      logDestination: { write: (line: string) => void logLines.push(JSON.parse(line)) },
    });
    adminToken = await t.login(ADMIN_EMAIL);
    const [admin] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      ADMIN_EMAIL,
    ]);
    adminId = admin.id;
  });
  afterAll(() => t?.close());

  const get = (path: string, headers: Record<string, string> = {}) =>
    rawRequest(new URL(t.app.url), {
      method: 'GET',
      path,
      headers: { host: PUBLIC_DOMAIN, ...headers },
    });

  const readyz = async () => {
    const response = await get('/readyz');

    return { status: response.status, body: JSON.parse(response.text) as Record<string, unknown> };
  };

  const scrape = async (): Promise<Sample[]> => {
    const response = await get('/metrics');
    expect(response.status).toBe(200);
    expect(String(response.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);

    return parsePrometheusText(response.text);
  };

  it('healthz reports the process up', async () => {
    const response = await get('/healthz');

    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual({ status: 'ok' });
  });

  it('readyz reports ready when migrated', async () => {
    const response = await readyz();

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ready', unknownMigrations: [] });
  });

  it('readyz reports pending public migrations', async () => {
    const last = publicMigrations[publicMigrations.length - 1].name;
    const [row] = await t.sql<{ applied_at: Date }>(
      'delete from public.platform_migrations where name = $1 returning applied_at',
      [last],
    );
    expect(row).toBeDefined();
    try {
      const response = await readyz();

      expect(response.status).toBe(503);
      expect(response.body.reason).toBe('MIGRATIONS_PENDING');
      expect(response.body.pendingMigrations).toEqual([last]);
    } finally {
      await t.sql('insert into public.platform_migrations (name, applied_at) values ($1, $2)', [
        last,
        row.applied_at,
      ]);
    }

    expect((await readyz()).status).toBe(200);
  });

  it('readyz reports missing migration ledger', async () => {
    await t.sql('alter table public.platform_migrations rename to platform_migrations_hidden');
    try {
      const response = await readyz();

      expect(response.status).toBe(503);
      expect(response.body.reason).toBe('MIGRATIONS_PENDING');
      expect(response.body.pendingMigrations).toEqual(publicMigrations.map((m) => m.name));
    } finally {
      await t.sql('alter table public.platform_migrations_hidden rename to platform_migrations');
    }

    expect((await readyz()).status).toBe(200);
  });

  it('readyz tolerates migrations of newer code', async () => {
    await t.sql(
      "insert into public.platform_migrations (name) values ('9999-from-a-newer-release')",
    );
    try {
      const response = await readyz();

      expect(response.status).toBe(200);
      expect(response.body.unknownMigrations).toEqual(['9999-from-a-newer-release']);
    } finally {
      await t.sql(
        "delete from public.platform_migrations where name = '9999-from-a-newer-release'",
      );
    }
  });

  it('readyz reports unreachable database', async () => {
    const databaseName = new URL(t.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: inject('databaseUrl') });
    await admin.connect();
    const allowConnections = (allow: boolean) =>
      admin.query(
        `alter database ${admin.escapeIdentifier(databaseName)} with allow_connections ${allow}`,
      );
    try {
      await allowConnections(false);
      await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1',
        [databaseName],
      );

      const response = await readyz();

      expect(response.status).toBe(503);
      expect(response.body).toEqual({ status: 'unavailable', reason: 'DATABASE_UNREACHABLE' });
    } finally {
      await allowConnections(true);
      await admin.end();
    }

    expect(await waitForReady(readyz)).toBe(200);
  });

  it('metrics count operations and error codes', async () => {
    await t.gql('query Me { me { email } }', {}, { token: adminToken });
    await t.gql('query Me { me { email } }', {}, { token: adminToken });
    await t.gql('{ me { email } }', {}, { token: adminToken });
    await t.gql('query Me { me { email } }', {}, { token: 'not-a-valid-token' });
    const provisioned = await t.gql(
      `mutation Provision($input: ProvisionTenantInput!) { provisionTenant(input: $input) { slug } }`,
      { input: { name: 'Metered', slug: 'metered', ownerEmail: ADMIN_EMAIL } },
      { token: adminToken },
    );
    expect(provisioned.body.errors).toBeUndefined();
    const rejected = await t.gql(
      `mutation Provision($input: ProvisionTenantInput!) { provisionTenant(input: $input) { slug } }`,
      { input: { name: 'Bad', slug: 'Not A Slug', ownerEmail: ADMIN_EMAIL } },
      { token: adminToken },
    );
    expect(errorCode(rejected)).toBe('BAD_USER_INPUT');
    expect(await t.sql("select id from public.tenants where name = 'Bad'")).toEqual([]);

    const samples = await scrape();
    const count = (name: string, labels: Record<string, string>) => valueOf(samples, name, labels);

    const operations = 'tenant_users_graphql_operation_duration_seconds';
    expect(count(`${operations}_count`, { operation_name: 'Me', operation_type: 'query' })).toBe(2);
    expect(
      count(`${operations}_count`, { operation_name: '(anonymous)', operation_type: 'query' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      count(`${operations}_count`, { operation_name: 'Provision', operation_type: 'mutation' }),
    ).toBe(2);
    const meSum = count(`${operations}_sum`, { operation_name: 'Me', operation_type: 'query' });
    expect(meSum).toBeGreaterThan(0);
    expect(meSum).toBeLessThan(30);
    expect(
      count(`${operations}_bucket`, { operation_name: 'Me', operation_type: 'query', le: '+Inf' }),
    ).toBe(2);

    const errors = 'tenant_users_graphql_errors_total';
    expect(count(errors, { code: 'BAD_USER_INPUT', operation_name: 'Provision' })).toBe(1);
    expect(count(errors, { code: 'UNAUTHENTICATED', operation_name: '(none)' })).toBe(1);

    const provisioning = 'tenant_users_tenant_provisioning_duration_seconds';
    expect(count(`${provisioning}_count`, { outcome: 'success' })).toBe(1);
    expect(count(`${provisioning}_count`, { outcome: 'error' })).toBe(1);
    expect(count(`${provisioning}_sum`, { outcome: 'success' })).toBeGreaterThan(0);

    // The start of the server migrated public once.
    const migrations = 'tenant_users_migration_duration_seconds_count';
    expect(count(migrations, { scope: 'public', outcome: 'success' })).toBe(1);
    expect(samples.some((s) => s.name === 'tenant_users_process_resident_memory_bytes')).toBe(true);
  });

  it('metrics count requests rejected before execution', async () => {
    const before = valueOf(await scrape(), 'tenant_users_graphql_errors_total', {
      code: 'TENANT_NOT_FOUND',
      operation_name: '(none)',
    });
    const response = await t.gql('{ me { email } }', {}, { host: 'nowhere.app.test' });
    expect(errorCode(response)).toBe('TENANT_NOT_FOUND');

    const samples = await scrape();

    expect(
      valueOf(samples, 'tenant_users_graphql_errors_total', {
        code: 'TENANT_NOT_FOUND',
        operation_name: '(none)',
      }),
    ).toBe((before ?? 0) + 1);
    expect(
      valueOf(samples, 'tenant_users_http_request_duration_seconds_count', {
        route: '/graphql',
        method: 'POST',
        status_code: '404',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      valueOf(samples, 'tenant_users_http_request_duration_seconds_count', {
        route: '/readyz',
        method: 'GET',
        status_code: '503',
      }),
    ).toBeGreaterThanOrEqual(3);
  });

  it('metrics report database pool gauges', async () => {
    const samples = await scrape();

    const used = valueOf(samples, 'tenant_users_db_pool_connections', { state: 'used' });
    const free = valueOf(samples, 'tenant_users_db_pool_connections', { state: 'free' });
    expect(used).toBeGreaterThanOrEqual(0);
    expect(free).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'tenant_users_db_pool_pending_acquires', {})).toBe(0);
    expect(valueOf(samples, 'tenant_users_db_pool_max_connections', {})).toBe(10);
  });

  it('metrics bound distinct operation names', async () => {
    for (let batch = 0; batch < MAX_OPERATION_NAMES; batch += 25) {
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          t.gql(`query Name${batch + i} { __typename }`, {}, { token: adminToken }),
        ),
      );
    }

    const samples = await scrape();
    const names = new Set(
      samples
        .filter((s) => s.name === 'tenant_users_graphql_operation_duration_seconds_count')
        .map((s) => s.labels.operation_name),
    );

    expect(names.size).toBe(MAX_OPERATION_NAMES + 1);
    expect(names.has('(other)')).toBe(true);
  });

  it('request log carries request context', async () => {
    logLines.length = 0;
    const response = await rawRequest(new URL(t.app.url), {
      headers: {
        host: PUBLIC_DOMAIN,
        'content-type': 'application/json',
        authorization: `Bearer ${adminToken}`,
      },
      body: JSON.stringify({ query: 'query WhoAmI { me { email } }' }),
    });
    expect(response.status).toBe(200);
    const requestId = response.headers[REQUEST_ID_HEADER];
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);

    const lines = logLines.filter((line) => line.msg === 'operation finished');

    expect(lines).toHaveLength(1);
    expect(lines[0].requestId).toBe(requestId);
    expect(lines[0].tenant).toBe('public');
    expect(lines[0].userId).toBe(adminId);
    expect(lines[0].operationName).toBe('WhoAmI');
    expect(lines[0].operationType).toBe('query');
    expect(lines[0].durationMs).toEqual(expect.any(Number));
    expect(lines[0].durationMs).toBeGreaterThan(0);
    expect(lines[0].errorCode).toBeUndefined();
    expect(lines[0].level).toBe(30);
  });

  it('request log carries error code', async () => {
    await t.gql(
      CREATE_USER,
      { input: { email: 'logged@x.test', password: PASSWORD } },
      {
        token: adminToken,
      },
    );
    const userToken = await t.login('logged@x.test');
    logLines.length = 0;

    const response = await t.gql(
      'mutation Remove { removeUserFromTenant(tenant: "metered", userEmail: "logged@x.test") }',
      {},
      { host: 'metered.app.test', token: userToken },
    );
    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(
      await t.sql(
        "select 1 from public.memberships m join public.users u on u.id = m.user_id join public.tenants t2 on t2.id = m.tenant_id where u.email = 'logged@x.test' and t2.slug = 'metered'",
      ),
    ).toEqual([]);

    const [line] = logLines.filter((l) => l.msg === 'operation finished');
    const [user] = await t.sql<{ id: string }>(
      "select id from public.users where email = 'logged@x.test'",
    );

    expect(line.tenant).toBe('metered');
    expect(line.userId).toBe(user.id);
    expect(line.operationName).toBe('Remove');
    expect(line.operationType).toBe('mutation');
    expect(line.errorCode).toBe('FORBIDDEN');
    expect(line.durationMs).toEqual(expect.any(Number));
    expect(line.requestId).toEqual(expect.any(String));
  });

  it('request log omits passwords', async () => {
    logLines.length = 0;

    await t.login('logged@x.test');
    const rejected = await t.gql(
      'mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token } }',
      { email: 'logged@x.test', password: 'Wrong-password-1' },
    );
    expect(errorCode(rejected)).toBe('UNAUTHENTICATED');

    expect(logLines.length).toBeGreaterThanOrEqual(2);
    const text = JSON.stringify(logLines);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('Wrong-password-1');
  });

  it('pretty logs never enabled under vitest', () => {
    expect(prettyLogsEnabled(process.env)).toBe(false);
    expect(prettyLogsEnabled({ VITEST: 'true', LOG_PRETTY: '1' })).toBe(false);
    expect(prettyLogsEnabled({ NODE_ENV: 'test', LOG_PRETTY: '1' })).toBe(false);
    expect(prettyLogsEnabled({ LOG_PRETTY: '1' })).toBe(true);
    expect(prettyLogsEnabled({ NODE_ENV: 'development' })).toBe(true);
    expect(prettyLogsEnabled({ NODE_ENV: 'development', LOG_PRETTY: 'false' })).toBe(false);
    expect(prettyLogsEnabled({ NODE_ENV: 'production' })).toBe(false);
  });

  describe('server process', () => {
    let databaseUrl: string;
    let dropDatabase: () => Promise<void>;
    beforeAll(async () => {
      const database = await createScratchDatabase(inject('databaseUrl'));
      databaseUrl = database.url;
      dropDatabase = database.drop;
    });
    afterAll(() => dropDatabase?.());

    it('concurrent first starts all succeed', async () => {
      const database = await createScratchDatabase(inject('databaseUrl'));
      const config = loadConfig(
        {},
        {
          databaseUrl: database.url,
          publicDomain: PUBLIC_DOMAIN,
          adminEmail: ADMIN_EMAIL,
          adminPassword: PASSWORD,
          bcryptCost: 4,
          logLevel: 'silent',
        },
      );
      const starts = await Promise.allSettled(
        [1, 2, 3].map(() => createApp({ config, logger: createLogger('silent') })),
      );
      try {
        expect(starts.map((start) => start.status)).toEqual([
          'fulfilled',
          'fulfilled',
          'fulfilled',
        ]);
        const db = new pg.Client({ connectionString: database.url });
        await db.connect();
        const tenants = (await db.query('select slug from public.tenants')).rows;
        await db.end();
        expect(tenants).toEqual([{ slug: 'public' }]);
      } finally {
        for (const start of starts) {
          if (start.status === 'fulfilled') {
            await start.value.close();
          }
        }
        await database.drop();
      }
    });

    it('killed server leaves no half-made tenant', async () => {
      const server = await startServerProcess(databaseUrl);
      const login = (await server.gql(
        'mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { token } }',
        { email: ADMIN_EMAIL, password: PASSWORD },
      )) as { body: { data: { login: { token: string } } } };
      const token = login.body.data.login.token;
      const lock = new pg.Client({ connectionString: databaseUrl });
      lock.on('error', () => undefined);
      await lock.connect();
      try {
        // The provision then waits on its owner membership insert, after the tenant row, the
        // domain and the schema exist in its open transaction.
        await lock.query('begin');
        await lock.query('lock table public.memberships in exclusive mode');
        const pending = server
          .gql(
            PROVISION_TENANT,
            { input: { name: 'Killed', slug: 'killed', ownerEmail: ADMIN_EMAIL } },
            token,
          )
          .catch(() => undefined);
        await waitForLockWait(lock);

        server.child.kill('SIGKILL');
        await server.exited;
        await lock.query('commit');
        await pending;
        await waitForNoOtherBackends(lock);

        const tenants = await lock.query(`select 1 from public.tenants where slug = 'killed'`);
        const domains = await lock.query(
          `select 1 from public.domains where domain like 'killed.%'`,
        );
        const schemas = await lock.query(
          `select 1 from pg_namespace where nspname like 'killed\\_%'`,
        );
        expect(tenants.rows).toEqual([]);
        expect(domains.rows).toEqual([]);
        expect(schemas.rows).toEqual([]);
      } finally {
        server.child.kill('SIGKILL');
        await lock.end();
      }
    });

    it('drains in-flight request on SIGTERM', async () => {
      const server = await startServerProcess(databaseUrl);
      const lock = await lockTenantRow(databaseUrl, server, 'drained');
      try {
        const pending = server.gql(DELETE_TENANT, { tenant: 'drained' }, lock.token);
        await waitForLockWait(lock.client);

        server.child.kill('SIGTERM');
        await delay(300);
        await expect(server.gql('{ __typename }', {})).rejects.toThrow(/ECONNREFUSED/);
        expect(server.child.exitCode).toBeNull();
        await lock.client.query('commit');

        const response = await pending;
        expect(response.status).toBe(200);
        expect(response.body.errors).toBeUndefined();
        expect(response.body.data).toEqual({ deleteTenant: { slug: 'drained', isActive: false } });
      } finally {
        await lock.client.end();
      }

      expect(await server.exited).toBe(0);
      const messages = server.logLines().map((line) => line.msg);
      expect(messages).toContain('shutting down: waiting for in-flight requests');
      expect(messages).toContain('stopped');
      expect(messages).not.toContain(
        'second signal: exiting without waiting for in-flight requests',
      );
    });

    it('exits on second signal', async () => {
      const server = await startServerProcess(databaseUrl);
      const lock = await lockTenantRow(databaseUrl, server, 'forced');
      try {
        const pending = server.gql(DELETE_TENANT, { tenant: 'forced' }, lock.token);
        pending.catch(() => undefined);
        await waitForLockWait(lock.client);

        server.child.kill('SIGTERM');
        await delay(300);
        server.child.kill('SIGTERM');

        expect(await server.exited).toBe(1);
        await expect(pending).rejects.toThrow();
      } finally {
        await lock.client.query('rollback');
        await lock.client.end();
      }

      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      const rows = (await db.query("select is_active from public.tenants where slug = 'forced'"))
        .rows;
      await db.end();
      expect(rows).toEqual([{ is_active: true }]);
      expect(server.logLines().map((line) => line.msg)).toContain(
        'second signal: exiting without waiting for in-flight requests',
      );
    });
  });

  // Closes the application, so it runs last.
  it('close lets in-flight request finish', async () => {
    const provisioned = await t.gql(
      PROVISION_TENANT,
      {
        input: { name: 'Closing', slug: 'closing', ownerEmail: ADMIN_EMAIL },
      },
      { token: adminToken },
    );
    expect(provisioned.body.errors).toBeUndefined();
    const client = await t.db.connect();
    let closed = false;
    try {
      await client.query('begin');
      await client.query("select 1 from public.tenants where slug = 'closing' for update");
      const pending = t.gql(DELETE_TENANT, { tenant: 'closing' }, { token: adminToken });
      await waitForLockWait(client);

      const closing = t.app.close().then(() => (closed = true));
      await delay(300);
      expect(closed).toBe(false);
      await expect(get('/healthz')).rejects.toThrow(/ECONNREFUSED/);
      await client.query('commit');

      const response = await pending;
      expect(response.status).toBe(200);
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data).toEqual({ deleteTenant: { slug: 'closing', isActive: false } });
      await closing;
    } finally {
      client.release();
    }

    expect(closed).toBe(true);
    expect(await t.sql("select is_active from public.tenants where slug = 'closing'")).toEqual([
      { is_active: false },
    ]);
  });
});

/** Parses the Prometheus text format into samples; comment lines are skipped. */
function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) {
      continue;
    }
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1]] = label[2].replace(/\\(.)/g, (_all, char: string) =>
        char === 'n' ? '\n' : char,
      );
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }

  return samples;
}

/** Returns the value of the sample with exactly these labels, or undefined. */
function valueOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const expected = Object.entries(labels);
  const sample = samples.find(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === expected.length &&
      expected.every(([key, value]) => s.labels[key] === value),
  );

  return sample?.value;
}

async function waitForReady(
  readyz: () => Promise<{ status: number }>,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let status = 0;
  while (Date.now() < deadline) {
    status = (await readyz()).status;
    if (status === 200) {
      break;
    }
    await delay(100);
  }

  return status;
}

/** Waits until no backend but the client's own is connected to its database. */
async function waitForNoOtherBackends(client: pg.ClientBase, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await client.query(
      `select count(*)::int as others from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid()`,
    );
    if (rows[0].others === 0) {
      return;
    }
    await delay(20);
  }
  throw new Error(`Other backends stayed connected for ${timeoutMs} ms.`);
}

/** Waits until a backend of the client's database waits for a lock. */
async function waitForLockWait(client: pg.ClientBase, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await client.query(
      `select count(*)::int as waiting from pg_stat_activity
       where datname = current_database() and wait_event_type = 'Lock'`,
    );
    if (rows[0].waiting > 0) {
      return;
    }
    await delay(20);
  }
  throw new Error(`No backend waited for a lock within ${timeoutMs} ms.`);
}

interface ServerProcess {
  child: ChildProcess;
  url: URL;
  exited: Promise<number | null>;
  logLines(): LogLine[];
  gql(
    query: string,
    variables: Record<string, unknown>,
    token?: string,
  ): Promise<{ status: number; body: { data?: unknown; errors?: unknown[] } }>;
}

/** Starts `src/main.ts` in a child process on `databaseUrl`, as `npm start` would. */
async function startServerProcess(databaseUrl: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      TENANT_USERS_DOMAIN: PUBLIC_DOMAIN,
      TENANT_USERS_PUBLIC_DOMAIN: PUBLIC_DOMAIN,
      TENANT_USERS_ADMIN_EMAIL: ADMIN_EMAIL,
      TENANT_USERS_ADMIN_PASSWORD: PASSWORD,
      TENANT_USERS_BCRYPT_COST: '4',
      LOG_LEVEL: 'info',
      // vitest sets NODE_ENV=test, under which libraries such as Apollo Server leave out their
      // own signal handlers. The server must behave as it does in production.
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  const deadline = Date.now() + 30_000;
  let match: RegExpExecArray | null = null;
  while (!match) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`The server process did not start.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    }
    await delay(50);
    match = /GraphiQL: http:\/\/localhost:(\d+)\/graphql/.exec(stdout);
  }
  const url = new URL(`http://127.0.0.1:${match[1]}`);

  return {
    child,
    url,
    exited,
    logLines: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as LogLine),
    gql: async (query, variables, token) => {
      const response = await rawRequest(url, {
        headers: {
          host: PUBLIC_DOMAIN,
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });

      return { status: response.status, body: JSON.parse(response.text) };
    },
  };
}

/**
 * Provisions tenant `slug` on the server process as the admin, then opens a transaction that
 * holds the lock on its tenants row. Returns the admin's token and the locking client.
 */
async function lockTenantRow(
  databaseUrl: string,
  server: ServerProcess,
  slug: string,
): Promise<{ token: string; client: pg.Client }> {
  const login = (await server.gql(
    'mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { token } }',
    { email: ADMIN_EMAIL, password: PASSWORD },
  )) as { body: { data: { login: { token: string } } } };
  const token = login.body.data.login.token;
  const provisioned = await server.gql(
    PROVISION_TENANT,
    { input: { name: slug, slug, ownerEmail: ADMIN_EMAIL } },
    token,
  );
  expect(provisioned.body.errors).toBeUndefined();

  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('begin');
  await client.query('select 1 from public.tenants where slug = $1 for update', [slug]);

  return { token, client };
}
