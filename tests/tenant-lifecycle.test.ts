import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSuperuser } from '../src/services/user-lifecycle.service.js';
import { ADMIN_EMAIL, errorCode, PASSWORD, startTestApp, type TestApp } from './support/app.js';
import { expectRejected } from './support/assertions.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  DELETE_USER,
  mustSucceed,
  provision,
  PROVISION_TENANT,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const DELETE_TENANT = `
  mutation ($tenant: String) { deleteTenant(tenant: $tenant) { slug isActive } }`;

const RESTORE_TENANT = `
  mutation ($tenant: String!, $owner: String!) {
    restoreTenant(tenant: $tenant, ownerEmail: $owner) { slug isActive deletedAt }
  }`;

const PURGE_TENANT = `
  mutation ($tenant: String!, $confirm: String!) {
    purgeTenant(tenant: $tenant, confirmSlug: $confirm)
  }`;

const RESTORE_USER = `
  mutation ($email: String!) { restoreUser(email: $email) { email isActive deletedAt } }`;

const CREATE_SUPERUSER = `
  mutation ($email: String!, $password: String) {
    createSuperuser(email: $email, password: $password) { email isActive isVerified }
  }`;

const MY_TENANTS = '{ me { tenants { edges { node { slug } } } } }';

interface PermissionsRow {
  is_staff: boolean;
  is_superuser: boolean;
}

interface TenantRow {
  id: string;
  schema_name: string;
  is_active: boolean;
  deleted_at: Date | null;
  owner_email: string;
}

describe('tenant and user lifecycle', () => {
  let t: TestApp;
  let f: CaseFixture;

  beforeAll(async () => {
    t = await startTestApp();
    f = await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  async function userId(email: string): Promise<string> {
    const [row] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      email,
    ]);

    return row.id;
  }

  async function tenantRow(slug: string): Promise<TenantRow | undefined> {
    const [row] = await t.sql<TenantRow>(
      `select t.id, t.schema_name, t.is_active, t.deleted_at, u.email as owner_email
       from public.tenants t join public.users u on u.id = t.owner_id where t.slug = $1`,
      [slug],
    );

    return row;
  }

  async function memberEmails(slug: string): Promise<string[]> {
    const rows = await t.sql<{ email: string }>(
      `select u.email from public.memberships m
       join public.tenants t on t.id = m.tenant_id join public.users u on u.id = m.user_id
       where t.slug = $1 order by u.email`,
      [slug],
    );

    return rows.map((row) => row.email);
  }

  async function permissionsIn(schemaName: string, email: string): Promise<PermissionsRow | null> {
    const schema = `"${schemaName.replaceAll('"', '""')}"`;
    const rows = await t.sql<PermissionsRow>(
      `select is_staff, is_superuser from ${schema}.user_tenant_permissions where user_id = $1`,
      [await userId(email)],
    );

    return rows[0] ?? null;
  }

  async function schemaExists(schemaName: string): Promise<boolean> {
    const rows = await t.sql('select 1 from pg_namespace where nspname = $1', [schemaName]);

    return rows.length > 0;
  }

  async function activeTenantsOf(email: string): Promise<string[]> {
    const response = await t.gql<{ me: { tenants: { edges: { node: { slug: string } }[] } } }>(
      MY_TENANTS,
      {},
      { token: await t.login(email) },
    );
    expect(response.body.errors).toBeUndefined();

    return response.body.data!.me.tenants.edges.map((edge) => edge.node.slug).sort();
  }

  async function auditTypes(tenantId: string): Promise<string[]> {
    const rows = await t.sql<{ type: string }>(
      'select type from public.audit_events where tenant_id = $1 order by id',
      [tenantId],
    );

    return rows.map((row) => row.type);
  }

  async function createUser(email: string, extra: Record<string, unknown> = {}): Promise<void> {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email, password: PASSWORD, ...extra } },
      f.adminToken,
    );
  }

  /** Provisions a tenant owned by `owner` and soft-deletes it as that owner. */
  async function deletedTenant(slug: string, owner: string): Promise<TenantRow> {
    await provision(t, f.adminToken, { name: slug, slug, ownerEmail: owner });
    await mustSucceed(t, DELETE_TENANT, { tenant: slug }, await t.login(owner));

    return (await tenantRow(slug))!;
  }

  describe('deleteTenant', () => {
    it('rejects delete by non-owner member', async () => {
      const alice = await t.login('alice@x.test');
      const bob = await t.login('bob@x.test');

      await expectRejected(t, DELETE_TENANT, { tenant: 'globex' }, { token: alice }, 'FORBIDDEN');
      await expectRejected(
        t,
        DELETE_TENANT,
        {},
        { token: alice, host: 'globex.app.test' },
        'FORBIDDEN',
      );
      await expectRejected(
        t,
        DELETE_TENANT,
        { tenant: 'acme' },
        { token: bob, host: 'acme.app.test' },
        'FORBIDDEN',
      );
      await expectRejected(t, DELETE_TENANT, { tenant: 'globex' }, {}, 'UNAUTHENTICATED');
    });

    it('public tenant cannot be deleted', async () => {
      await expectRejected(
        t,
        DELETE_TENANT,
        { tenant: 'public' },
        { token: f.adminToken },
        'PUBLIC_TENANT_PROTECTED',
      );
      await expectRejected(
        t,
        DELETE_TENANT,
        {},
        { token: f.adminToken },
        'PUBLIC_TENANT_PROTECTED',
      );
    });

    it('deleted tenant stops routing, keeps data', async () => {
      const bob = await t.login('bob@x.test');
      const catalogBefore = await t.sql(
        `select * from "${f.globex.schemaName}".permissions order by id`,
      );

      const data = await mustSucceed<{ deleteTenant: { slug: string; isActive: boolean } }>(
        t,
        DELETE_TENANT,
        { tenant: 'globex' },
        bob,
      );

      expect(data.deleteTenant).toEqual({ slug: 'globex', isActive: false });
      for (const token of [bob, undefined]) {
        const routed = await t.gql(
          '{ currentTenant { slug } }',
          {},
          {
            token,
            host: 'globex.app.test',
          },
        );
        expect(routed.status).toBe(404);
        expect(errorCode(routed)).toBe('TENANT_NOT_FOUND');
      }
      expect(await activeTenantsOf('alice@x.test')).toEqual(['acme', 'public']);
      expect(await activeTenantsOf('bob@x.test')).toEqual(['acme', 'public']);
      expect(await activeTenantsOf(ADMIN_EMAIL)).toEqual(['public']);
      expect(await schemaExists(f.globex.schemaName)).toBe(true);
      expect(await t.sql(`select * from "${f.globex.schemaName}".permissions order by id`)).toEqual(
        catalogBefore,
      );
      expect(await memberEmails('globex')).toEqual([ADMIN_EMAIL]);
      expect(await permissionsIn(f.globex.schemaName, 'alice@x.test')).toBeNull();
      expect(await permissionsIn(f.globex.schemaName, 'bob@x.test')).toBeNull();
      expect(await permissionsIn(f.globex.schemaName, ADMIN_EMAIL)).toEqual({
        is_staff: false,
        is_superuser: true,
      });
      const globex = await tenantRow('globex');
      expect(globex?.is_active).toBe(false);
      expect(globex?.deleted_at).not.toBeNull();
      expect(globex?.owner_email).toBe(ADMIN_EMAIL);
      const domains = await t.sql<{ is_active: boolean }>(
        'select is_active from public.domains where tenant_id = $1',
        [f.globex.id],
      );
      expect(domains).toEqual([{ is_active: false }]);
      expect(await auditTypes(f.globex.id)).toContain('tenantDeleted');
    });

    it('public owner becomes superuser owner', async () => {
      await provision(t, f.adminToken, {
        name: 'Vandelay',
        slug: 'vandelay',
        ownerEmail: 'carol@x.test',
      });
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: 'vandelay', userEmail: ADMIN_EMAIL } },
        f.adminToken,
      );

      await mustSucceed(t, DELETE_TENANT, { tenant: 'vandelay' }, await t.login('carol@x.test'));

      const vandelay = (await tenantRow('vandelay'))!;
      expect(vandelay.owner_email).toBe(ADMIN_EMAIL);
      expect(await memberEmails('vandelay')).toEqual([ADMIN_EMAIL]);
      expect(await permissionsIn(vandelay.schema_name, ADMIN_EMAIL)).toEqual({
        is_staff: false,
        is_superuser: true,
      });
    });
  });

  describe('restoreTenant', () => {
    it('restore requires platform admin', async () => {
      const bob = await t.login('bob@x.test');

      await expectRejected(
        t,
        RESTORE_TENANT,
        { tenant: 'globex', owner: 'bob@x.test' },
        { token: bob },
        'FORBIDDEN',
      );
      await expectRejected(
        t,
        RESTORE_TENANT,
        { tenant: 'globex', owner: 'bob@x.test' },
        {},
        'UNAUTHENTICATED',
      );
    });

    it('rejects restore of active tenant', async () => {
      await expectRejected(
        t,
        RESTORE_TENANT,
        { tenant: 'acme', owner: 'alice@x.test' },
        { token: f.adminToken },
        'BAD_USER_INPUT',
        'tenant',
      );
      await expectRejected(
        t,
        RESTORE_TENANT,
        { tenant: 'public', owner: ADMIN_EMAIL },
        { token: f.adminToken },
        'BAD_USER_INPUT',
        'tenant',
      );
    });

    it('rejects unknown tenant or unusable owner', async () => {
      await createUser('dave@x.test');
      await mustSucceed(t, DELETE_USER, { email: 'dave@x.test' }, f.adminToken);

      await expectRejected(
        t,
        RESTORE_TENANT,
        { tenant: 'globex', owner: 'dave@x.test' },
        { token: f.adminToken },
        'INACTIVE_USER',
      );
      await expectRejected(
        t,
        RESTORE_TENANT,
        { tenant: 'globex', owner: 'nobody@x.test' },
        { token: f.adminToken },
        'NOT_FOUND',
        'ownerEmail',
      );
      await expectRejected(
        t,
        RESTORE_TENANT,
        { tenant: 'nosuch', owner: 'bob@x.test' },
        { token: f.adminToken },
        'NOT_FOUND',
      );
    });

    it('deleted tenant keeps its domain', async () => {
      await expectRejected(
        t,
        PROVISION_TENANT,
        { input: { name: 'Globex again', slug: 'globex', ownerEmail: 'carol@x.test' } },
        { token: f.adminToken },
        'ALREADY_EXISTS',
      );
    });

    it('rejects restore when domain held elsewhere', async () => {
      // The unique index on domains compares exact text, so only a row that differs in case can
      // name the same host. The API never writes such a row, so the test inserts it directly.
      await t.sql(
        `insert into public.domains (domain, tenant_id, is_primary) values ('GLOBEX.app.test', $1, false)`,
        [f.acme.id],
      );

      await expectRejected(
        t,
        RESTORE_TENANT,
        { tenant: 'globex', owner: 'bob@x.test' },
        { token: f.adminToken },
        'ALREADY_EXISTS',
      );

      await t.sql(`delete from public.domains where domain = 'GLOBEX.app.test'`);
    });

    it('restores tenant with new owner', async () => {
      const data = await mustSucceed<{
        restoreTenant: { slug: string; isActive: boolean; deletedAt: string | null };
      }>(t, RESTORE_TENANT, { tenant: 'globex', owner: 'alice@x.test' }, f.adminToken);

      expect(data.restoreTenant).toEqual({ slug: 'globex', isActive: true, deletedAt: null });
      const globex = await tenantRow('globex');
      expect(globex?.is_active).toBe(true);
      expect(globex?.deleted_at).toBeNull();
      expect(globex?.owner_email).toBe('alice@x.test');
      expect(await memberEmails('globex')).toEqual(['alice@x.test']);
      expect(await permissionsIn(f.globex.schemaName, 'alice@x.test')).toEqual({
        is_staff: false,
        is_superuser: true,
      });
      expect(await permissionsIn(f.globex.schemaName, ADMIN_EMAIL)).toBeNull();
      const domains = await t.sql<{ domain: string; is_active: boolean }>(
        'select domain, is_active from public.domains where tenant_id = $1',
        [f.globex.id],
      );
      expect(domains).toEqual([{ domain: 'globex.app.test', is_active: true }]);
      const routed = await t.gql<{ currentTenant: { slug: string } }>(
        '{ currentTenant { slug } }',
        {},
        { token: await t.login('alice@x.test'), host: 'globex.app.test' },
      );
      expect(routed.body.data?.currentTenant.slug).toBe('globex');
      expect(await activeTenantsOf('alice@x.test')).toEqual(['acme', 'globex', 'public']);
      expect(await auditTypes(f.globex.id)).toContain('tenantRestored');
    });

    it('restores to public owner as superuser', async () => {
      const stark = await deletedTenant('stark', 'carol@x.test');

      await mustSucceed(t, RESTORE_TENANT, { tenant: 'stark', owner: ADMIN_EMAIL }, f.adminToken);

      expect((await tenantRow('stark'))?.owner_email).toBe(ADMIN_EMAIL);
      expect(await memberEmails('stark')).toEqual([ADMIN_EMAIL]);
      expect(await permissionsIn(stark.schema_name, ADMIN_EMAIL)).toEqual({
        is_staff: false,
        is_superuser: true,
      });
    });
  });

  describe('purgeTenant', () => {
    let wayne: TenantRow;

    beforeAll(async () => {
      wayne = await deletedTenant('wayne', 'carol@x.test');
    });

    it('purge requires platform admin', async () => {
      const carol = await t.login('carol@x.test');

      await expectRejected(
        t,
        PURGE_TENANT,
        { tenant: 'wayne', confirm: 'wayne' },
        { token: carol },
        'FORBIDDEN',
      );
      await expectRejected(
        t,
        PURGE_TENANT,
        { tenant: 'wayne', confirm: 'wayne' },
        {},
        'UNAUTHENTICATED',
      );
    });

    it('rejects purge of active tenant', async () => {
      await expectRejected(
        t,
        PURGE_TENANT,
        { tenant: 'acme', confirm: 'acme' },
        { token: f.adminToken },
        'BAD_USER_INPUT',
        'tenant',
      );
      expect(await schemaExists(f.acme.schemaName)).toBe(true);
    });

    it('rejects purge without matching confirmSlug', async () => {
      for (const confirm of ['acme', 'WAYNE', ' wayne', '']) {
        await expectRejected(
          t,
          PURGE_TENANT,
          { tenant: 'wayne', confirm },
          { token: f.adminToken },
          'BAD_USER_INPUT',
          'confirmSlug',
        );
      }
      expect(await schemaExists(wayne.schema_name)).toBe(true);
    });

    it('public tenant cannot be purged', async () => {
      await expectRejected(
        t,
        PURGE_TENANT,
        { tenant: 'public', confirm: 'public' },
        { token: f.adminToken },
        'PUBLIC_TENANT_PROTECTED',
      );
      await expectRejected(
        t,
        PURGE_TENANT,
        { tenant: 'nosuch', confirm: 'nosuch' },
        { token: f.adminToken },
        'NOT_FOUND',
      );
    });

    it('purge drops schema and rows', async () => {
      const acmeRows = await t.sql(`select * from "${f.acme.schemaName}".user_tenant_permissions`);

      const response = await t.gql(
        PURGE_TENANT,
        { tenant: 'wayne', confirm: 'wayne' },
        { token: f.adminToken },
      );

      expect(response.body).toEqual({ data: { purgeTenant: true } });
      expect(await schemaExists(wayne.schema_name)).toBe(false);
      expect(await tenantRow('wayne')).toBeUndefined();
      expect(await t.sql('select 1 from public.domains where tenant_id = $1', [wayne.id])).toEqual(
        [],
      );
      expect(
        await t.sql('select 1 from public.memberships where tenant_id = $1', [wayne.id]),
      ).toEqual([]);
      expect(await t.sql(`select * from "${f.acme.schemaName}".user_tenant_permissions`)).toEqual(
        acmeRows,
      );
      expect(await auditTypes(wayne.id)).toContain('tenantPurged');
      await expectRejected(
        t,
        PURGE_TENANT,
        { tenant: 'wayne', confirm: 'wayne' },
        { token: f.adminToken },
        'NOT_FOUND',
      );
    });

    it('purged slug can be provisioned again', async () => {
      await provision(t, f.adminToken, { name: 'Wayne', slug: 'wayne', ownerEmail: 'bob@x.test' });

      const routed = await t.gql<{ currentTenant: { slug: string } }>(
        '{ currentTenant { slug } }',
        {},
        { token: await t.login('bob@x.test'), host: 'wayne.app.test' },
      );
      expect(routed.body.data?.currentTenant.slug).toBe('wayne');
    });
  });

  describe('restoreUser', () => {
    it('restores user without old access', async () => {
      await createUser('erin@x.test', { isStaff: true, isSuperuser: true });
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: 'acme', userEmail: 'erin@x.test', isStaff: true } },
        f.adminToken,
      );
      const oldToken = await t.login('erin@x.test');
      await mustSucceed(t, DELETE_USER, { email: 'erin@x.test' }, f.adminToken);

      const data = await mustSucceed<{ restoreUser: Record<string, unknown> }>(
        t,
        RESTORE_USER,
        { email: 'Erin@X.test' },
        f.adminToken,
      );

      expect(data.restoreUser).toEqual({ email: 'erin@x.test', isActive: true, deletedAt: null });
      const [user] = await t.sql<{ is_active: boolean; password_hash: string | null }>(
        'select is_active, deleted_at, password_hash from public.users where email = $1',
        ['erin@x.test'],
      );
      expect(user).toEqual({ is_active: true, deleted_at: null, password_hash: null });
      const memberships = await t.sql<{ slug: string }>(
        `select t.slug from public.memberships m join public.tenants t on t.id = m.tenant_id
         where m.user_id = $1`,
        [await userId('erin@x.test')],
      );
      expect(memberships).toEqual([{ slug: 'public' }]);
      expect(await permissionsIn('public', 'erin@x.test')).toEqual({
        is_staff: false,
        is_superuser: false,
      });
      expect(await permissionsIn(f.acme.schemaName, 'erin@x.test')).toBeNull();
      const live = await t.sql(
        'select 1 from public.sessions where user_id = $1 and revoked_at is null',
        [await userId('erin@x.test')],
      );
      expect(live).toEqual([]);
      expect(errorCode(await t.gql('{ me { email } }', {}, { token: oldToken }))).toBe(
        'UNAUTHENTICATED',
      );
      const login = await t.gql(
        'mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
        { e: 'erin@x.test', p: PASSWORD },
      );
      expect(errorCode(login)).toBe('UNAUTHENTICATED');
      const audit = await t.sql<{ type: string }>(
        'select type from public.audit_events where user_id = $1 order by id desc limit 1',
        [await userId('erin@x.test')],
      );
      expect(audit).toEqual([{ type: 'userRestored' }]);
    });

    it('restoreUser requires platform admin', async () => {
      await createUser('fay@x.test');
      await mustSucceed(t, DELETE_USER, { email: 'fay@x.test' }, f.adminToken);

      await expectRejected(
        t,
        RESTORE_USER,
        { email: 'fay@x.test' },
        { token: await t.login('bob@x.test') },
        'FORBIDDEN',
      );
      await expectRejected(t, RESTORE_USER, { email: 'fay@x.test' }, {}, 'UNAUTHENTICATED');
    });

    it('rejects restore of active or unknown user', async () => {
      await expectRejected(
        t,
        RESTORE_USER,
        { email: 'bob@x.test' },
        { token: f.adminToken },
        'BAD_USER_INPUT',
        'email',
      );
      await expectRejected(
        t,
        RESTORE_USER,
        { email: 'nobody@x.test' },
        { token: f.adminToken },
        'NOT_FOUND',
        'email',
      );
    });

    it('restored email stays taken', async () => {
      await expectRejected(
        t,
        CREATE_USER,
        { input: { email: 'erin@x.test', password: PASSWORD } },
        { token: f.adminToken },
        'ALREADY_EXISTS',
        'email',
      );
    });
  });

  describe('createSuperuser', () => {
    it('creates verified platform admin', async () => {
      const data = await mustSucceed<{ createSuperuser: Record<string, unknown> }>(
        t,
        CREATE_SUPERUSER,
        { email: 'gus@x.test', password: PASSWORD },
        f.adminToken,
      );

      expect(data.createSuperuser).toEqual({
        email: 'gus@x.test',
        isActive: true,
        isVerified: true,
      });
      expect(await permissionsIn('public', 'gus@x.test')).toEqual({
        is_staff: true,
        is_superuser: true,
      });
      await mustSucceed(t, RESTORE_USER, { email: 'fay@x.test' }, await t.login('gus@x.test'));
    });

    it('createSuperuser requires platform admin', async () => {
      await expectRejected(
        t,
        CREATE_SUPERUSER,
        { email: 'hal@x.test', password: PASSWORD },
        { token: await t.login('bob@x.test') },
        'FORBIDDEN',
      );
      await expectRejected(
        t,
        CREATE_SUPERUSER,
        { email: 'hal@x.test', password: PASSWORD },
        {},
        'UNAUTHENTICATED',
      );
    });

    it('rejects taken email or weak password', async () => {
      await expectRejected(
        t,
        CREATE_SUPERUSER,
        { email: 'BOB@x.test', password: PASSWORD },
        { token: f.adminToken },
        'ALREADY_EXISTS',
        'email',
      );
      await expectRejected(
        t,
        CREATE_SUPERUSER,
        { email: 'hal@x.test', password: 'short' },
        { token: f.adminToken },
        'BAD_USER_INPUT',
        'password',
      );
    });

    it('system actor creates superuser', async () => {
      await createSuperuser(t.app.systemContext(), 'ida@x.test', PASSWORD);

      expect(await permissionsIn('public', 'ida@x.test')).toEqual({
        is_staff: true,
        is_superuser: true,
      });
      await mustSucceed(
        t,
        CREATE_USER,
        { input: { email: 'jon@x.test', password: PASSWORD } },
        await t.login('ida@x.test'),
      );
    });
  });
});
