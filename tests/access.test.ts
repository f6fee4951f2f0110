import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_EMAIL, PASSWORD, errorCode, startTestApp, type TestApp } from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  DELETE_USER,
  PROVISION_TENANT,
  REMOVE_USER_FROM_TENANT,
  databaseSnapshot,
  mustSucceed,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const ACME = 'acme.app.test';
const GLOBEX = 'globex.app.test';
const PUBLIC = 'app.test';

const ACME_MEMBERS = `{
  currentTenant { slug members { totalCount edges { node { user { email } isSuperuser } } } }
}`;
const TENANT_MEMBERS = `query ($slug: String!) {
  tenant(slug: $slug) { slug members { totalCount edges { node { user { email } } } } }
}`;

interface Operation {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
}

/** One call of every root field that the host access rule closes to non-members. */
const GUARDED_OPERATIONS: Operation[] = [
  { name: 'tenant', query: '{ tenant(slug: "acme") { slug } }' },
  {
    name: 'createUser',
    query: CREATE_USER,
    variables: { input: { email: 'intruder@x.test', password: PASSWORD } },
  },
  { name: 'deleteUser', query: DELETE_USER, variables: { email: 'carol@x.test' } },
  {
    name: 'provisionTenant',
    query: PROVISION_TENANT,
    variables: { input: { name: 'Intruder', slug: 'intruder', ownerEmail: 'carol@x.test' } },
  },
  { name: 'deleteTenant', query: 'mutation { deleteTenant { slug } }' },
  {
    name: 'addUserToTenant',
    query: ADD_USER_TO_TENANT,
    variables: { input: { userEmail: 'carol@x.test', isSuperuser: true } },
  },
  {
    name: 'removeUserFromTenant',
    query: REMOVE_USER_FROM_TENANT,
    variables: { email: 'bob@x.test' },
  },
];

/** Root fields open to non-members but closed to anonymous callers. */
const NON_MEMBER_OPERATIONS: Operation[] = [
  { name: 'me', query: '{ me { email } }' },
  { name: 'logout', query: 'mutation { logout }' },
];

/** Names of the root fields of a response that carry a value. */
function nonNullFields(data: Record<string, unknown> | null | undefined): string[] {
  return Object.entries(data ?? {})
    .filter(([, value]) => value !== null)
    .map(([name]) => name);
}

describe('access rules', () => {
  let t: TestApp;
  let fixture: CaseFixture;
  let alice: string;
  let bob: string;
  let carol: string;
  let staff: string;

  beforeAll(async () => {
    t = await startTestApp();
    fixture = await seedCaseFixture(t);
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'staff@app.test', password: PASSWORD, isStaff: true } },
      fixture.adminToken,
    );
    for (const email of ['dave@x.test', 'erin@x.test']) {
      await mustSucceed(
        t,
        CREATE_USER,
        { input: { email, password: PASSWORD } },
        fixture.adminToken,
      );
    }
    alice = await t.login('alice@x.test');
    bob = await t.login('bob@x.test');
    carol = await t.login('carol@x.test');
    staff = await t.login('staff@app.test');
  });
  afterAll(() => t?.close());

  async function permissionsRow(schema: string, email: string) {
    return t.sql<{ is_staff: boolean; is_superuser: boolean }>(
      `select p.is_staff, p.is_superuser from "${schema}".user_tenant_permissions p
       join public.users u on u.id = p.user_id where u.email = $1`,
      [email],
    );
  }

  async function membershipCount(slug: string, email: string): Promise<number> {
    const rows = await t.sql<{ count: string }>(
      `select count(*) from public.memberships m
       join public.tenants t on t.id = m.tenant_id join public.users u on u.id = m.user_id
       where t.slug = $1 and u.email = $2`,
      [slug, email],
    );

    return Number(rows[0].count);
  }

  describe('anonymous caller', () => {
    it('reads the current tenant', async () => {
      const response = await t.gql('{ currentTenant { slug } }', {}, { host: ACME });

      expect(response.body.errors).toBeUndefined();
      expect(response.body.data).toEqual({ currentTenant: { slug: 'acme' } });
    });

    it('logs in on a tenant host', async () => {
      const response = await t.gql(
        'mutation { login(email: "carol@x.test", password: "Pw-123456789") { token } }',
        {},
        { host: ACME },
      );

      expect(response.body.errors).toBeUndefined();
    });

    it.each(['acme', 'public'])('gets nothing else on %s host', async (slug) => {
      const host = slug === 'public' ? PUBLIC : `${slug}.app.test`;
      const before = await databaseSnapshot(t);

      for (const operation of [...GUARDED_OPERATIONS, ...NON_MEMBER_OPERATIONS]) {
        const response = await t.gql(operation.query, operation.variables, { host });
        expect(errorCode(response), operation.name).toBe('UNAUTHENTICATED');
        expect(nonNullFields(response.body.data), operation.name).toEqual([]);
      }

      expect(await databaseSnapshot(t)).toEqual(before);
    });

    it('reads no tenant details', async () => {
      for (const field of ['members { totalCount }', 'owner { email }', 'domains { domain }']) {
        const response = await t.gql(`{ currentTenant { slug ${field} } }`, {}, { host: ACME });
        expect(errorCode(response), field).toBe('UNAUTHENTICATED');
      }
    });
  });

  describe('authenticated non-member', () => {
    it('gets forbidden on tenant host', async () => {
      const before = await databaseSnapshot(t);

      for (const operation of GUARDED_OPERATIONS) {
        const response = await t.gql(operation.query, operation.variables, {
          host: ACME,
          token: carol,
        });
        expect(errorCode(response), operation.name).toBe('FORBIDDEN');
        expect(nonNullFields(response.body.data), operation.name).toEqual([]);
      }

      expect(await databaseSnapshot(t)).toEqual(before);
    });

    it('still reaches me and current tenant', async () => {
      const response = await t.gql<{ me: { email: string }; currentTenant: { slug: string } }>(
        '{ me { email } currentTenant { slug } }',
        {},
        { host: ACME, token: carol },
      );

      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.me.email).toBe('carol@x.test');
      expect(response.body.data?.currentTenant.slug).toBe('acme');
    });

    it('reads no tenant details', async () => {
      for (const field of ['members { totalCount }', 'owner { email }', 'domains { domain }']) {
        const response = await t.gql(
          `{ currentTenant { slug ${field} } }`,
          {},
          {
            host: ACME,
            token: carol,
          },
        );
        expect(errorCode(response), field).toBe('FORBIDDEN');
      }
    });

    it('logs in and out on tenant host', async () => {
      const login = await t.gql<{ login: { token: string } }>(
        'mutation { login(email: "carol@x.test", password: "Pw-123456789") { token } }',
        {},
        { host: ACME, token: carol },
      );
      expect(login.body.errors).toBeUndefined();
      const token = login.body.data!.login.token;

      const logout = await t.gql('mutation { logout }', {}, { host: ACME, token });

      expect(logout.body.errors).toBeUndefined();
      expect(logout.body.data).toEqual({ logout: true });
    });

    it('reads other tenant only as member', async () => {
      const asCarol = await t.gql(TENANT_MEMBERS, { slug: 'acme' }, { host: PUBLIC, token: carol });
      expect(errorCode(asCarol)).toBe('FORBIDDEN');

      const asAlice = await t.gql(TENANT_MEMBERS, { slug: 'acme' }, { host: GLOBEX, token: alice });
      expect(asAlice.body.errors).toBeUndefined();
    });
  });

  describe('platform staff', () => {
    it('reads members on any host', async () => {
      const response = await t.gql<{ currentTenant: { members: { totalCount: number } } }>(
        ACME_MEMBERS,
        {},
        { host: ACME, token: staff },
      );

      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.currentTenant.members.totalCount).toBe(2);
    });

    it('may not manage tenant members', async () => {
      const before = await databaseSnapshot(t);

      const add = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { userEmail: 'dave@x.test', isSuperuser: true } },
        { host: ACME, token: staff },
      );
      const remove = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { email: 'bob@x.test' },
        {
          host: ACME,
          token: staff,
        },
      );

      expect(errorCode(add)).toBe('FORBIDDEN');
      expect(errorCode(remove)).toBe('FORBIDDEN');
      expect(await databaseSnapshot(t)).toEqual(before);
    });
  });

  describe('platform admin', () => {
    it('calls every mutation on tenant hosts', async () => {
      const admin = { host: ACME, token: fixture.adminToken };
      const adminOnGlobex = { host: GLOBEX, token: fixture.adminToken };

      const created = await t.gql(
        CREATE_USER,
        { input: { email: 'frank@x.test', password: PASSWORD } },
        admin,
      );
      expect(created.body.errors).toBeUndefined();

      const provisioned = await t.gql<{ provisionTenant: { schemaName: string } }>(
        PROVISION_TENANT,
        { input: { name: 'Hooli', slug: 'hooli', ownerEmail: 'frank@x.test' } },
        adminOnGlobex,
      );
      expect(provisioned.body.errors).toBeUndefined();
      const hooliSchema = provisioned.body.data!.provisionTenant.schemaName;

      const added = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { tenant: 'hooli', userEmail: 'erin@x.test', isSuperuser: true } },
        admin,
      );
      expect(added.body.errors).toBeUndefined();
      expect(await permissionsRow(hooliSchema, 'erin@x.test')).toEqual([
        { is_staff: false, is_superuser: true },
      ]);

      const removed = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { tenant: 'hooli', email: 'erin@x.test' },
        adminOnGlobex,
      );
      expect(removed.body.errors).toBeUndefined();
      expect(await permissionsRow(hooliSchema, 'erin@x.test')).toEqual([]);

      const deletedTenant = await t.gql(
        'mutation { deleteTenant(tenant: "hooli") { isActive } }',
        {},
        admin,
      );
      expect(deletedTenant.body.errors).toBeUndefined();
      expect(deletedTenant.body.data).toEqual({ deleteTenant: { isActive: false } });

      const deletedUser = await t.gql(DELETE_USER, { email: 'frank@x.test' }, adminOnGlobex);
      expect(deletedUser.body.errors).toBeUndefined();
      expect(deletedUser.body.data).toEqual({
        deleteUser: { email: 'frank@x.test', isActive: false },
      });
    });

    it('manages members of the routed tenant', async () => {
      const added = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { userEmail: 'erin@x.test' } },
        { host: GLOBEX, token: fixture.adminToken },
      );
      expect(added.body.errors).toBeUndefined();
      expect(await membershipCount('globex', 'erin@x.test')).toBe(1);

      const removed = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { email: 'erin@x.test' },
        {
          host: GLOBEX,
          token: fixture.adminToken,
        },
      );
      expect(removed.body.errors).toBeUndefined();
      expect(await membershipCount('globex', 'erin@x.test')).toBe(0);
    });
  });

  describe('tenant superuser', () => {
    it('adds and removes members', async () => {
      const added = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { userEmail: 'dave@x.test', isStaff: true } },
        { host: ACME, token: alice },
      );
      expect(added.body.errors).toBeUndefined();
      expect(await permissionsRow(fixture.acme.schemaName, 'dave@x.test')).toEqual([
        { is_staff: true, is_superuser: false },
      ]);
      expect(await membershipCount('acme', 'dave@x.test')).toBe(1);

      const removed = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { email: 'dave@x.test' },
        {
          host: ACME,
          token: alice,
        },
      );
      expect(removed.body.errors).toBeUndefined();
      expect(await permissionsRow(fixture.acme.schemaName, 'dave@x.test')).toEqual([]);
      expect(await membershipCount('acme', 'dave@x.test')).toBe(0);
    });

    it('grants superuser', async () => {
      const added = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { tenant: 'acme', userEmail: 'erin@x.test', isSuperuser: true } },
        { host: ACME, token: alice },
      );

      expect(added.body.errors).toBeUndefined();
      expect(await permissionsRow(fixture.acme.schemaName, 'erin@x.test')).toEqual([
        { is_staff: false, is_superuser: true },
      ]);

      await mustSucceed(
        t,
        REMOVE_USER_FROM_TENANT,
        { tenant: 'acme', email: 'erin@x.test' },
        fixture.adminToken,
      );
    });

    it('manages no other tenant', async () => {
      const before = await databaseSnapshot(t);

      const add = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { tenant: 'globex', userEmail: 'dave@x.test' } },
        { host: ACME, token: alice },
      );
      const remove = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { tenant: 'globex', email: 'alice@x.test' },
        {
          host: GLOBEX,
          token: alice,
        },
      );
      const removeFromPublic = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { tenant: 'public', email: 'carol@x.test' },
        { host: PUBLIC, token: alice },
      );

      expect(errorCode(add)).toBe('FORBIDDEN');
      expect(errorCode(remove)).toBe('FORBIDDEN');
      expect(errorCode(removeFromPublic)).toBe('FORBIDDEN');
      expect(await databaseSnapshot(t)).toEqual(before);
    });
  });

  describe('tenant staff without superuser', () => {
    it('may not add or remove members', async () => {
      const before = await databaseSnapshot(t);

      const plain = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { userEmail: 'dave@x.test' } },
        { host: ACME, token: bob },
      );
      const asSuperuser = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { userEmail: 'dave@x.test', isSuperuser: true } },
        { host: ACME, token: bob },
      );
      const remove = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { email: 'alice@x.test' },
        {
          host: ACME,
          token: bob,
        },
      );

      expect(errorCode(plain)).toBe('FORBIDDEN');
      expect(errorCode(asSuperuser)).toBe('FORBIDDEN');
      expect(errorCode(remove)).toBe('FORBIDDEN');
      expect(await databaseSnapshot(t)).toEqual(before);
    });

    it('may not delete the tenant', async () => {
      const before = await databaseSnapshot(t);

      const response = await t.gql(
        'mutation { deleteTenant { slug } }',
        {},
        {
          host: ACME,
          token: bob,
        },
      );

      expect(errorCode(response)).toBe('FORBIDDEN');
      expect(await databaseSnapshot(t)).toEqual(before);
    });
  });

  describe('member holding a member permission', () => {
    it('adds members with add_member only', async () => {
      for (const email of ['holder@x.test', 'joiner@x.test']) {
        await mustSucceed(
          t,
          CREATE_USER,
          { input: { email, password: PASSWORD } },
          fixture.adminToken,
        );
      }
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: 'globex', userEmail: 'holder@x.test' } },
        fixture.adminToken,
      );
      await mustSucceed(
        t,
        `mutation { grantPermission(tenant: "globex", userEmail: "holder@x.test",
          permission: "tenant_users.add_member") { isSuperuser } }`,
        {},
        fixture.adminToken,
      );
      const holder = await t.login('holder@x.test');

      const asSuperuser = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { userEmail: 'joiner@x.test', isSuperuser: true } },
        { host: GLOBEX, token: holder },
      );
      const plain = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { userEmail: 'joiner@x.test' } },
        { host: GLOBEX, token: holder },
      );
      const remove = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { email: 'joiner@x.test' },
        { host: GLOBEX, token: holder },
      );

      expect(errorCode(asSuperuser)).toBe('FORBIDDEN');
      expect(plain.body.errors).toBeUndefined();
      expect(errorCode(remove)).toBe('FORBIDDEN');
      expect(await membershipCount('globex', 'joiner@x.test')).toBe(1);
    });
  });

  describe('tenant named in an argument', () => {
    it('is checked in that tenant', async () => {
      const before = await databaseSnapshot(t);

      const add = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { tenant: 'acme', userEmail: 'dave@x.test' } },
        { host: GLOBEX, token: bob },
      );
      const remove = await t.gql(
        REMOVE_USER_FROM_TENANT,
        { tenant: 'acme', email: 'alice@x.test' },
        {
          host: GLOBEX,
          token: bob,
        },
      );
      const deleteTenant = await t.gql(
        'mutation { deleteTenant(tenant: "acme") { slug } }',
        {},
        {
          host: GLOBEX,
          token: bob,
        },
      );

      expect(errorCode(add)).toBe('FORBIDDEN');
      expect(errorCode(remove)).toBe('FORBIDDEN');
      expect(errorCode(deleteTenant)).toBe('FORBIDDEN');
      expect(await databaseSnapshot(t)).toEqual(before);
    });

    it('never borrows routed tenant rights', async () => {
      const before = await databaseSnapshot(t);

      const response = await t.gql(
        `mutation {
          own: addUserToTenant(input: { userEmail: "dave@x.test" }) { isSuperuser }
          other: addUserToTenant(input: { tenant: "acme", userEmail: "dave@x.test", isSuperuser: true }) {
            isSuperuser
          }
        }`,
        {},
        { host: GLOBEX, token: bob },
      );

      const otherError = response.body.errors?.find((error) => error.path?.[0] === 'other');
      expect(otherError?.extensions?.code).toBe('FORBIDDEN');
      expect(await membershipCount('globex', 'dave@x.test')).toBe(1);
      expect(await membershipCount('acme', 'dave@x.test')).toBe(0);
      expect(await permissionsRow(fixture.acme.schemaName, 'dave@x.test')).toEqual([]);

      await mustSucceed(
        t,
        REMOVE_USER_FROM_TENANT,
        { tenant: 'globex', email: 'dave@x.test' },
        bob,
      );
      expect(await databaseSnapshot(t)).toEqual(before);
    });
  });

  describe('member of one tenant in another', () => {
    it('changes nothing in the other tenant', async () => {
      const before = await databaseSnapshot(t);

      const carolReadsCurrent = await t.gql(ACME_MEMBERS, {}, { host: ACME, token: carol });
      const carolReadsBySlug = await t.gql(
        TENANT_MEMBERS,
        { slug: 'acme' },
        {
          host: ACME,
          token: carol,
        },
      );
      const carolAddsHerself = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { userEmail: 'carol@x.test', isSuperuser: true } },
        { host: ACME, token: carol },
      );
      const carolAddsHerselfBySlug = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { tenant: 'acme', userEmail: 'carol@x.test', isSuperuser: true } },
        { host: PUBLIC, token: carol },
      );
      const bobAddsCarol = await t.gql(
        ADD_USER_TO_TENANT,
        { input: { tenant: 'acme', userEmail: 'carol@x.test', isSuperuser: true } },
        { host: GLOBEX, token: bob },
      );
      const anonymousReads = await t.gql(ACME_MEMBERS, {}, { host: ACME });
      const anonymousReadsBySlug = await t.gql(TENANT_MEMBERS, { slug: 'acme' }, { host: ACME });

      expect(errorCode(carolReadsCurrent)).toBe('FORBIDDEN');
      expect(errorCode(carolReadsBySlug)).toBe('FORBIDDEN');
      expect(errorCode(carolAddsHerself)).toBe('FORBIDDEN');
      expect(errorCode(carolAddsHerselfBySlug)).toBe('FORBIDDEN');
      expect(errorCode(bobAddsCarol)).toBe('FORBIDDEN');
      expect(errorCode(anonymousReads)).toBe('UNAUTHENTICATED');
      expect(errorCode(anonymousReadsBySlug)).toBe('UNAUTHENTICATED');
      for (const response of [carolReadsCurrent, anonymousReads]) {
        expect(JSON.stringify(response.body)).not.toContain('alice@x.test');
      }
      expect(await membershipCount('acme', 'carol@x.test')).toBe(0);
      expect(await permissionsRow(fixture.acme.schemaName, 'carol@x.test')).toEqual([]);
      expect(await databaseSnapshot(t)).toEqual(before);
    });
  });

  it('admin token works on every host', async () => {
    for (const host of [ACME, GLOBEX, PUBLIC]) {
      const response = await t.gql('{ me { email } }', {}, { host, token: fixture.adminToken });
      expect(response.body.data, host).toEqual({ me: { email: ADMIN_EMAIL } });
    }
  });
});
