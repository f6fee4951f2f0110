import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  errorCode,
  PASSWORD,
  PUBLIC_DOMAIN,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import { PROVISION_TENANT, seedCaseFixture, type CaseFixture } from './support/fixtures.js';
import { blockOwnerPermissionInserts } from './support/faults.js';

const LAUNCHER = fileURLToPath(new URL('../bin/tenant-users.js', import.meta.url));
const TENANT_STATUS = `query ($slug: String!) { tenant(slug: $slug) { status provisioningError } }`;
const CURRENT_TENANT = '{ currentTenant { slug status } }';

interface QueuedTenant {
  id: string;
  slug: string;
  schemaName: string;
  status: string;
}

type ProvisionResponse = GraphqlResponse<{ provisionTenant: QueuedTenant }>;

/** Polls `check` every 50 ms until it returns true; fails after `timeoutMs`. */
async function waitFor(
  description: string,
  check: () => Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('provisionTenant with wait false', () => {
  let t: TestApp;
  let f: CaseFixture;

  beforeAll(async () => {
    t = await startTestApp();
    f = await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  function provision(input: Record<string, unknown>): Promise<ProvisionResponse> {
    return t.gql<{ provisionTenant: QueuedTenant }>(
      PROVISION_TENANT,
      { input: { wait: false, ...input } },
      { token: f.adminToken },
    );
  }

  async function tenantStatus(slug: string): Promise<{ status: string; error: string | null }> {
    const [row] = await t.sql<{ status: string; provisioning_error: string | null }>(
      'select status, provisioning_error from public.tenants where slug = $1',
      [slug],
    );

    return { status: row.status, error: row.provisioning_error };
  }

  async function schemaExists(schemaName: string): Promise<boolean> {
    const rows = await t.sql('select 1 from pg_namespace where nspname = $1', [schemaName]);

    return rows.length > 0;
  }

  async function count(sql: string, params: unknown[]): Promise<number> {
    const [row] = await t.sql<{ count: string }>(sql, params);

    return Number(row.count);
  }

  async function jobCount(tenantId: string): Promise<number> {
    return count('select count(*) from public.provisioning_jobs where tenant_id = $1', [tenantId]);
  }

  async function membershipCount(tenantId: string): Promise<number> {
    return count('select count(*) from public.memberships where tenant_id = $1', [tenantId]);
  }

  async function provisionedEventCount(tenantId: string): Promise<number> {
    return count(
      `select count(*) from public.audit_events where type = 'tenantProvisioned' and tenant_id = $1`,
      [tenantId],
    );
  }

  /** Polls `tenant(slug)` as the platform admin until the status is not PROVISIONING. */
  async function waitForSettledStatus(slug: string): Promise<string> {
    let status = 'PROVISIONING';
    await waitFor(`${slug} to leave PROVISIONING`, async () => {
      const response = await t.gql<{ tenant: { status: string } }>(
        TENANT_STATUS,
        { slug },
        { token: f.adminToken },
      );
      expect(response.body.errors).toBeUndefined();
      status = response.body.data?.tenant.status ?? 'missing';
      return status !== 'PROVISIONING';
    });

    return status;
  }

  it('returns PROVISIONING then turns ACTIVE', async () => {
    await t.app.worker.stop();
    let tenant: QueuedTenant;
    try {
      const response = await provision({
        name: 'Queued',
        slug: 'queued',
        ownerEmail: 'carol@x.test',
      });
      expect(response.body.errors).toBeUndefined();
      tenant = response.body.data!.provisionTenant;
      expect(tenant.status).toBe('PROVISIONING');
      expect(await schemaExists(tenant.schemaName)).toBe(false);
      expect(await jobCount(tenant.id)).toBe(1);
      expect(await membershipCount(tenant.id)).toBe(0);
      expect(await provisionedEventCount(tenant.id)).toBe(0);

      const routed = await t.gql(CURRENT_TENANT, {}, { host: `queued.${PUBLIC_DOMAIN}` });
      expect(errorCode(routed)).toBe('TENANT_NOT_READY');
    } finally {
      await t.app.worker.start();
    }

    expect(await waitForSettledStatus('queued')).toBe('ACTIVE');
    expect(await schemaExists(tenant.schemaName)).toBe(true);
    expect(await jobCount(tenant.id)).toBe(0);
    expect(await membershipCount(tenant.id)).toBe(1);
    expect(await provisionedEventCount(tenant.id)).toBe(1);
    const permissions = await t.sql<{ is_superuser: boolean; is_staff: boolean }>(
      `select p.is_superuser, p.is_staff from "${tenant.schemaName}".user_tenant_permissions p
       join public.users u on u.id = p.user_id where u.email = 'carol@x.test'`,
    );
    expect(permissions).toEqual([{ is_superuser: true, is_staff: false }]);

    const ownerToken = await t.login('carol@x.test', PASSWORD);
    const routed = await t.gql<{ currentTenant: { slug: string; status: string } }>(
      CURRENT_TENANT,
      {},
      { host: `queued.${PUBLIC_DOMAIN}`, token: ownerToken },
    );
    expect(routed.body.errors).toBeUndefined();
    expect(routed.body.data?.currentTenant).toEqual({ slug: 'queued', status: 'ACTIVE' });
  });

  it('rejects taken schema before queueing', async () => {
    const response = await provision({
      name: 'Clash',
      slug: 'clash',
      ownerEmail: 'carol@x.test',
      schemaName: f.acme.schemaName,
    });

    expect(errorCode(response)).toBe('ALREADY_EXISTS');
    expect(await count('select count(*) from public.tenants where slug = $1', ['clash'])).toBe(0);
    expect(
      await count(`select count(*) from public.domains where domain = 'clash.app.test'`, []),
    ).toBe(0);
    // A job row needs its tenant row (foreign key), so no job was queued either.
  });

  it('marks tenant FAILED without schema', async () => {
    const fault = 'owner permission insert blocked for the queued failure test';
    // Every user_tenant_permissions table created from now on rejects inserts, so each attempt
    // fails after the schema and its tables were created in the job's transaction.
    const removeFault = await blockOwnerPermissionInserts(t, fault);

    let tenant: QueuedTenant;
    let status: string;
    try {
      const response = await provision({
        name: 'Doomed',
        slug: 'doomed',
        ownerEmail: 'carol@x.test',
        schemaName: 'doomed_data',
      });
      expect(response.body.errors).toBeUndefined();
      tenant = response.body.data!.provisionTenant;
      expect(tenant.status).toBe('PROVISIONING');
      status = await waitForSettledStatus('doomed');
    } finally {
      await removeFault();
    }

    expect(status).toBe('FAILED');
    const stored = await tenantStatus('doomed');
    expect(stored.error).toBeTruthy();
    expect(stored.error).not.toContain(fault);
    const read = await t.gql<{ tenant: { provisioningError: string | null } }>(
      TENANT_STATUS,
      { slug: 'doomed' },
      { token: f.adminToken },
    );
    expect(read.body.data?.tenant.provisioningError).toBe(stored.error);
    expect(await schemaExists('doomed_data')).toBe(false);
    expect(await jobCount(tenant.id)).toBe(0);
    expect(await membershipCount(tenant.id)).toBe(0);
    expect(await provisionedEventCount(tenant.id)).toBe(0);

    const routed = await t.gql(CURRENT_TENANT, {}, { host: `doomed.${PUBLIC_DOMAIN}` });
    expect(errorCode(routed)).toBe('TENANT_NOT_READY');
  });

  it('runs duplicate job without harm', async () => {
    const response = await provision({ name: 'Twice', slug: 'twice', ownerEmail: 'carol@x.test' });
    expect(response.body.errors).toBeUndefined();
    const tenant = response.body.data!.provisionTenant;
    expect(await waitForSettledStatus('twice')).toBe('ACTIVE');
    const [owner] = await t.sql<{ id: string }>(
      `select id from public.users where email = 'carol@x.test'`,
    );

    // A second delivery of the same job, as a queue that delivers at least once may produce.
    const plan = { ownerId: owner.id, isStaff: true, isSuperuser: false, actorId: null };
    await t.sql(
      `insert into public.provisioning_jobs (tenant_id, plan, max_attempts) values ($1, $2, 3)`,
      [tenant.id, JSON.stringify(plan)],
    );
    await waitFor(
      'the duplicate job to be consumed',
      async () => (await jobCount(tenant.id)) === 0,
    );

    expect(await tenantStatus('twice')).toEqual({ status: 'ACTIVE', error: null });
    expect(await membershipCount(tenant.id)).toBe(1);
    expect(await provisionedEventCount(tenant.id)).toBe(1);
    const permissions = await t.sql<{ is_superuser: boolean; is_staff: boolean }>(
      `select is_superuser, is_staff from "${tenant.schemaName}".user_tenant_permissions`,
    );
    expect(permissions).toEqual([{ is_superuser: true, is_staff: false }]);
  });

  describe('separate worker process', () => {
    const children: ChildProcess[] = [];

    afterAll(async () => {
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
        }
      }
      await t.app.worker.start();
    });

    function startWorkerProcess(): { child: ChildProcess; exit: Promise<number | null> } {
      const child = spawn(process.execPath, [LAUNCHER, 'worker'], {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: t.databaseUrl,
          LOG_LEVEL: 'silent',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));

      return { child, exit };
    }

    async function lockWaiters(): Promise<number> {
      return count(
        `select count(*) from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock'`,
        [],
      );
    }

    it('finishes job after worker is killed', async () => {
      await t.app.worker.stop();
      const response = await provision({
        name: 'Killed',
        slug: 'killed',
        ownerEmail: 'carol@x.test',
      });
      expect(response.body.errors).toBeUndefined();
      const tenant = response.body.data!.provisionTenant;

      // The job needs the tenant row (the membership's foreign key locks it), so holding that row
      // stops the worker mid-job, after it created the schema in its transaction.
      const blocker = new pg.Client({ connectionString: t.databaseUrl });
      await blocker.connect();
      try {
        await blocker.query('begin');
        await blocker.query('select 1 from public.tenants where id = $1 for update', [tenant.id]);

        const first = startWorkerProcess();
        await waitFor(
          'the worker to block on the tenant row',
          async () => (await lockWaiters()) > 0,
        );
        first.child.kill('SIGKILL');
        expect(await first.exit).toBeNull();

        expect(await tenantStatus('killed')).toEqual({ status: 'PROVISIONING', error: null });
        expect(await jobCount(tenant.id)).toBe(1);
        await blocker.query('rollback');
      } finally {
        await blocker.end();
      }

      // The killed worker's backend ends once it gets the lock, because its client is gone.
      await waitFor('the killed worker session to end', async () => (await lockWaiters()) === 0);
      expect(await schemaExists(tenant.schemaName)).toBe(false);
      expect(await membershipCount(tenant.id)).toBe(0);

      const second = startWorkerProcess();
      expect(await waitForSettledStatus('killed')).toBe('ACTIVE');
      expect(await schemaExists(tenant.schemaName)).toBe(true);
      expect(await membershipCount(tenant.id)).toBe(1);
      expect(await jobCount(tenant.id)).toBe(0);
      expect(await provisionedEventCount(tenant.id)).toBe(1);

      second.child.kill('SIGTERM');
      expect(await second.exit).toBe(0);
    });
  });
});

describe('provisioning retry settings', () => {
  let t: TestApp;
  let f: CaseFixture;

  beforeAll(async () => {
    t = await startTestApp({ provisioningMaxAttempts: 2, provisioningRetryDelayMs: 20 });
    f = await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  it('gives up after configured attempts', async () => {
    const removeFault = await blockOwnerPermissionInserts(t, 'blocked for the retry test');
    const settled = async () =>
      (
        await t.sql<{ status: string; provisioning_error: string | null }>(
          "select status, provisioning_error from public.tenants where slug = 'retry'",
        )
      )[0];
    let stored: Awaited<ReturnType<typeof settled>>;
    try {
      const response = await t.gql(
        PROVISION_TENANT,
        { input: { wait: false, name: 'Retry', slug: 'retry', ownerEmail: 'carol@x.test' } },
        { token: f.adminToken },
      );
      expect(response.body.errors).toBeUndefined();
      await waitFor('retry to leave PROVISIONING', async () => {
        return (await settled()).status !== 'PROVISIONING';
      });
      stored = await settled();
    } finally {
      await removeFault();
    }

    expect(stored.status).toBe('FAILED');
    expect(stored.provisioning_error).toContain('after 2 attempts');
  });
});
