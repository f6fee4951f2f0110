import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DomainEvent } from '../src/services/events.js';
import { ADMIN_EMAIL, errorCode, PASSWORD, startTestApp, type TestApp } from './support/app.js';
import { expectRejected } from './support/assertions.js';
import {
  CREATE_USER,
  DELETE_USER,
  mustSucceed,
  provision,
  REMOVE_USER_FROM_TENANT,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const TRANSFER = `
  mutation ($tenant: String, $email: String!, $keep: Boolean! = false) {
    transferTenantOwnership(tenant: $tenant, newOwnerEmail: $email, keepPreviousOwner: $keep) {
      slug
    }
  }`;

const DELETE_TENANT = `mutation ($tenant: String) { deleteTenant(tenant: $tenant) { slug } }`;

const CREATE_GROUP = `
  mutation ($tenant: String, $name: String!) { createGroup(tenant: $tenant, name: $name) { name } }`;

const ADD_MEMBER_TO_GROUP = `
  mutation ($tenant: String, $email: String!, $group: String!) {
    addMemberToGroup(tenant: $tenant, userEmail: $email, group: $group) { groups }
  }`;

interface PermissionsRow {
  is_staff: boolean;
  is_superuser: boolean;
}

describe('transferTenantOwnership', () => {
  let t: TestApp;
  let f: CaseFixture;
  const events: DomainEvent[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    f = await seedCaseFixture(t);
    t.app.events.subscribe('tenantOwnershipTransferred', (event) => {
      events.push(event);
    });
  });
  afterAll(() => t?.close());

  async function userId(email: string): Promise<string> {
    const [row] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      email,
    ]);

    return row.id;
  }

  async function ownerEmail(slug: string): Promise<string> {
    const [row] = await t.sql<{ email: string }>(
      `select u.email from public.tenants t join public.users u on u.id = t.owner_id
       where t.slug = $1`,
      [slug],
    );

    return row.email;
  }

  async function isMember(slug: string, email: string): Promise<boolean> {
    const rows = await t.sql(
      `select 1 from public.memberships m
       join public.tenants t on t.id = m.tenant_id
       join public.users u on u.id = m.user_id
       where t.slug = $1 and u.email = $2`,
      [slug, email],
    );

    return rows.length > 0;
  }

  /** Reads the user's permissions row in a tenant schema directly; null when there is none. */
  async function permissions(slug: string, email: string): Promise<PermissionsRow | null> {
    const [tenant] = await t.sql<{ schema_name: string }>(
      'select schema_name from public.tenants where slug = $1',
      [slug],
    );
    const schema = `"${tenant.schema_name.replaceAll('"', '""')}"`;
    const rows = await t.sql<PermissionsRow>(
      `select is_staff, is_superuser from ${schema}.user_tenant_permissions where user_id = $1`,
      [await userId(email)],
    );

    return rows[0] ?? null;
  }

  async function groupsOf(slug: string, email: string): Promise<string[]> {
    const [tenant] = await t.sql<{ schema_name: string }>(
      'select schema_name from public.tenants where slug = $1',
      [slug],
    );
    const schema = `"${tenant.schema_name.replaceAll('"', '""')}"`;
    const rows = await t.sql<{ name: string }>(
      `select g.name from ${schema}.user_tenant_permissions p
       join ${schema}.user_tenant_permissions_groups ug on ug.user_permissions_id = p.id
       join ${schema}.groups g on g.id = ug.group_id
       where p.user_id = $1 order by g.name`,
      [await userId(email)],
    );

    return rows.map((row) => row.name);
  }

  async function transferAs(
    token: string,
    tenant: string | null,
    email: string,
    keep = false,
    host?: string,
  ): Promise<void> {
    await mustSucceed(t, TRANSFER, { tenant, email, keep }, token, host);
  }

  it('rejects callers other than owner', async () => {
    const bob = await t.login('bob@x.test');
    const carol = await t.login('carol@x.test');

    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'carol@x.test' },
      { token: bob },
      'FORBIDDEN',
    );
    await expectRejected(
      t,
      TRANSFER,
      { email: 'bob@x.test' },
      { token: bob, host: 'acme.app.test' },
      'FORBIDDEN',
    );
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'carol@x.test' },
      { token: carol },
      'FORBIDDEN',
    );
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'carol@x.test' },
      {},
      'UNAUTHENTICATED',
    );
  });

  it('moves ownership and superuser together', async () => {
    const alice = await t.login('alice@x.test');
    const aliceInGlobex = await permissions('globex', 'alice@x.test');
    events.length = 0;

    const data = await mustSucceed<{ transferTenantOwnership: { slug: string } }>(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'bob@x.test' },
      alice,
    );

    expect(data.transferTenantOwnership.slug).toBe('acme');
    expect(await ownerEmail('acme')).toBe('bob@x.test');
    expect(await permissions('acme', 'bob@x.test')).toEqual({ is_staff: true, is_superuser: true });
    expect(await isMember('acme', 'alice@x.test')).toBe(false);
    expect(await permissions('acme', 'alice@x.test')).toBeNull();
    expect(await isMember('globex', 'alice@x.test')).toBe(true);
    expect(await permissions('globex', 'alice@x.test')).toEqual(aliceInGlobex);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'tenantOwnershipTransferred',
      tenantId: f.acme.id,
      userId: await userId('bob@x.test'),
      actorId: await userId('alice@x.test'),
      payload: { previousOwner: 'alice@x.test', newOwner: 'bob@x.test', previousOwnerKept: false },
    });
    const audit = await t.sql<{ type: string }>(
      'select type from public.audit_events where tenant_id = $1 order by id desc limit 2',
      [f.acme.id],
    );
    expect(audit.map((row) => row.type)).toEqual([
      'tenantOwnershipTransferred',
      'userRemovedFromTenant',
    ]);
  });

  it('previous owner loses owner rights', async () => {
    const alice = await t.login('alice@x.test');

    await expectRejected(t, DELETE_TENANT, { tenant: 'acme' }, { token: alice }, 'FORBIDDEN');
    await expectRejected(
      t,
      DELETE_TENANT,
      {},
      { token: alice, host: 'acme.app.test' },
      'FORBIDDEN',
    );
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'alice@x.test' },
      { token: alice },
      'FORBIDDEN',
    );
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'carol@x.test' },
      { token: alice },
      'FORBIDDEN',
    );
  });

  it('new owner cannot be removed', async () => {
    const bob = await t.login('bob@x.test');

    await expectRejected(
      t,
      REMOVE_USER_FROM_TENANT,
      { tenant: 'acme', email: 'bob@x.test' },
      { token: bob },
      'OWNER_CANNOT_BE_REMOVED',
    );
    await expectRejected(
      t,
      REMOVE_USER_FROM_TENANT,
      { tenant: 'acme', email: 'bob@x.test' },
      { token: f.adminToken },
      'OWNER_CANNOT_BE_REMOVED',
    );
  });

  it('adds non-member as superuser owner', async () => {
    const bob = await t.login('bob@x.test');
    expect(await isMember('acme', 'carol@x.test')).toBe(false);

    await transferAs(bob, 'acme', 'carol@x.test');

    expect(await ownerEmail('acme')).toBe('carol@x.test');
    expect(await isMember('acme', 'carol@x.test')).toBe(true);
    expect(await permissions('acme', 'carol@x.test')).toEqual({
      is_staff: false,
      is_superuser: true,
    });
    expect(await isMember('acme', 'bob@x.test')).toBe(false);
    expect(await permissions('acme', 'bob@x.test')).toBeNull();
    expect(await isMember('globex', 'bob@x.test')).toBe(true);
    expect(await permissions('globex', 'bob@x.test')).toEqual({
      is_staff: false,
      is_superuser: true,
    });
  });

  it('rejects deleted user as owner', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'dave@x.test', password: PASSWORD } },
      f.adminToken,
    );
    await mustSucceed(t, DELETE_USER, { email: 'dave@x.test' }, f.adminToken);
    const carol = await t.login('carol@x.test');

    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'dave@x.test' },
      { token: carol },
      'INACTIVE_USER',
    );
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'dave@x.test' },
      { token: f.adminToken },
      'INACTIVE_USER',
    );
  });

  it('rejects current owner as owner', async () => {
    const carol = await t.login('carol@x.test');

    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'carol@x.test' },
      { token: carol },
      'BAD_USER_INPUT',
      'newOwnerEmail',
    );
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'Carol@X.TEST' },
      { token: f.adminToken },
      'BAD_USER_INPUT',
      'newOwnerEmail',
    );
  });

  it('rejects unknown tenant or user', async () => {
    const carol = await t.login('carol@x.test');

    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'nosuch', email: 'bob@x.test' },
      { token: carol },
      'NOT_FOUND',
    );
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'nobody@x.test' },
      { token: carol },
      'NOT_FOUND',
      'newOwnerEmail',
    );
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'not an email' },
      { token: carol },
      'BAD_USER_INPUT',
      'newOwnerEmail',
    );
  });

  it('rejects transfer of deleted tenant', async () => {
    await provision(t, f.adminToken, {
      name: 'Cyberdyne',
      slug: 'cyberdyne',
      ownerEmail: 'carol@x.test',
    });
    const carol = await t.login('carol@x.test');
    await mustSucceed(t, DELETE_TENANT, { tenant: 'cyberdyne' }, carol);

    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'cyberdyne', email: 'bob@x.test' },
      { token: f.adminToken },
      'NOT_FOUND',
    );
  });

  it('keeps previous owner in a group', async () => {
    await provision(t, f.adminToken, {
      name: 'Initech',
      slug: 'initech',
      ownerEmail: 'alice@x.test',
    });
    const alice = await t.login('alice@x.test');
    await mustSucceed(t, CREATE_GROUP, { tenant: 'initech', name: 'editors' }, alice);
    await mustSucceed(
      t,
      ADD_MEMBER_TO_GROUP,
      { tenant: 'initech', email: 'alice@x.test', group: 'editors' },
      alice,
    );

    await transferAs(alice, 'initech', 'carol@x.test');

    expect(await ownerEmail('initech')).toBe('carol@x.test');
    expect(await isMember('initech', 'alice@x.test')).toBe(true);
    expect(await permissions('initech', 'alice@x.test')).toEqual({
      is_staff: false,
      is_superuser: false,
    });
    expect(await groupsOf('initech', 'alice@x.test')).toEqual(['editors']);
    const response = await t.gql<{ myPermissions: { groups: string[]; isSuperuser: boolean } }>(
      '{ myPermissions(tenant: "initech") { groups isSuperuser } }',
      {},
      { token: alice },
    );
    expect(response.body.data?.myPermissions).toEqual({ groups: ['editors'], isSuperuser: false });
  });

  it('keepPreviousOwner keeps member without superuser', async () => {
    await provision(t, f.adminToken, {
      name: 'Umbrella',
      slug: 'umbrella',
      ownerEmail: 'alice@x.test',
    });
    const alice = await t.login('alice@x.test');

    await transferAs(alice, 'umbrella', 'bob@x.test', true);

    expect(await ownerEmail('umbrella')).toBe('bob@x.test');
    expect(await permissions('umbrella', 'bob@x.test')).toEqual({
      is_staff: false,
      is_superuser: true,
    });
    expect(await isMember('umbrella', 'alice@x.test')).toBe(true);
    expect(await permissions('umbrella', 'alice@x.test')).toEqual({
      is_staff: false,
      is_superuser: false,
    });
  });

  it('platform admin may transfer', async () => {
    await transferAs(f.adminToken, 'umbrella', 'carol@x.test');

    expect(await ownerEmail('umbrella')).toBe('carol@x.test');
    expect(await permissions('umbrella', 'carol@x.test')).toEqual({
      is_staff: false,
      is_superuser: true,
    });
    expect(await isMember('umbrella', 'bob@x.test')).toBe(false);
    expect(await isMember('umbrella', 'alice@x.test')).toBe(true);
  });

  it('defaults to routed tenant', async () => {
    const carol = await t.login('carol@x.test');

    await transferAs(carol, null, 'alice@x.test', false, 'umbrella.app.test');

    expect(await ownerEmail('umbrella')).toBe('alice@x.test');
    expect(await permissions('umbrella', 'alice@x.test')).toEqual({
      is_staff: false,
      is_superuser: true,
    });
    expect(await isMember('umbrella', 'carol@x.test')).toBe(false);
  });

  it('concurrent transfers leave one owner', async () => {
    await provision(t, f.adminToken, { name: 'Hooli', slug: 'hooli', ownerEmail: 'alice@x.test' });
    const alice = await t.login('alice@x.test');

    const responses = await Promise.all(
      ['bob@x.test', 'carol@x.test'].map((email) =>
        t.gql(TRANSFER, { tenant: 'hooli', email }, { token: alice }),
      ),
    );

    const codes = responses.map((response) => errorCode(response) ?? 'OK').sort();
    expect(codes).toEqual(['FORBIDDEN', 'OK']);
    const owner = await ownerEmail('hooli');
    expect(['bob@x.test', 'carol@x.test']).toContain(owner);
    expect(await permissions('hooli', owner)).toEqual({ is_staff: false, is_superuser: true });
    const members = await t.sql<{ email: string }>(
      `select u.email from public.memberships m
       join public.tenants t on t.id = m.tenant_id join public.users u on u.id = m.user_id
       where t.slug = 'hooli'`,
    );
    expect(members.map((row) => row.email)).toEqual([owner]);
  });

  it('new owner deleted concurrently', async () => {
    for (const round of [1, 2, 3, 4, 5]) {
      const slug = `race-${round}`;
      const email = `race-${round}@x.test`;
      await mustSucceed(t, CREATE_USER, { input: { email, password: PASSWORD } }, f.adminToken);
      await provision(t, f.adminToken, { name: slug, slug, ownerEmail: 'alice@x.test' });

      const [transfer, deletion] = await Promise.all([
        t.gql(TRANSFER, { tenant: slug, email }, { token: f.adminToken }),
        t.gql(DELETE_USER, { email }, { token: f.adminToken }),
      ]);

      expect(errorCode(deletion)).toBeUndefined();
      expect([undefined, 'INACTIVE_USER']).toContain(errorCode(transfer));
      const [tenant] = await t.sql<{ is_active: boolean; owner_active: boolean }>(
        `select t.is_active, u.is_active as owner_active
         from public.tenants t join public.users u on u.id = t.owner_id where t.slug = $1`,
        [slug],
      );
      // An active tenant never ends up owned by an inactive user.
      if (tenant.is_active) {
        expect(tenant.owner_active).toBe(true);
      }
      const inactiveMembers = await t.sql(
        `select 1 from public.memberships m join public.users u on u.id = m.user_id
         where u.email = $1`,
        [email],
      );
      expect(inactiveMembers).toEqual([]);
    }
  });

  it('public tenant keeps previous owner', async () => {
    await transferAs(f.adminToken, 'public', 'carol@x.test');

    expect(await ownerEmail('public')).toBe('carol@x.test');
    expect(await permissions('public', 'carol@x.test')).toEqual({
      is_staff: false,
      is_superuser: true,
    });
    expect(await isMember('public', ADMIN_EMAIL)).toBe(true);
    expect(await permissions('public', ADMIN_EMAIL)).toEqual({
      is_staff: true,
      is_superuser: false,
    });
    const carol = await t.login('carol@x.test');
    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'acme', email: 'bob@x.test' },
      { token: f.adminToken },
      'FORBIDDEN',
    );

    await transferAs(carol, 'public', ADMIN_EMAIL);

    expect(await ownerEmail('public')).toBe(ADMIN_EMAIL);
    expect(await permissions('public', ADMIN_EMAIL)).toEqual({
      is_staff: true,
      is_superuser: true,
    });
    expect(await isMember('public', 'carol@x.test')).toBe(true);
    expect(await permissions('public', 'carol@x.test')).toEqual({
      is_staff: false,
      is_superuser: false,
    });
  });

  it('member of another tenant cannot borrow rights', async () => {
    const bob = await t.login('bob@x.test');

    await expectRejected(
      t,
      TRANSFER,
      { tenant: 'initech', email: 'bob@x.test' },
      { token: bob, host: 'globex.app.test' },
      'FORBIDDEN',
    );
  });
});
