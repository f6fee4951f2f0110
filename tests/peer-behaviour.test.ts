import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DomainEvent } from '../src/services/events.js';
import {
  ADMIN_EMAIL,
  PASSWORD,
  errorCode,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  DELETE_USER,
  PROVISION_TENANT,
  REMOVE_USER_FROM_TENANT,
  databaseSnapshot,
  mustSucceed,
  provision,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

// Behaviours that django-tenant-users checks in its own test suite, restated for this server:
// every check goes through GraphQL over HTTP and reads PostgreSQL directly.

const ACME = 'acme.app.test';
const GLOBEX = 'globex.app.test';
const PUBLIC = 'app.test';

const LOGIN = `
  mutation ($email: String!, $password: String!) {
    login(email: $email, password: $password) { token user { email isVerified metadata } }
  }`;

const CREATE_GROUP = `
  mutation ($tenant: String, $name: String!, $permissions: [String!]) {
    createGroup(tenant: $tenant, name: $name, permissions: $permissions) { name }
  }`;

const ADD_MEMBER_TO_GROUP = `
  mutation ($tenant: String, $email: String!, $group: String!) {
    addMemberToGroup(tenant: $tenant, userEmail: $email, group: $group) { groups }
  }`;

const GRANT_PERMISSION = `
  mutation ($tenant: String, $email: String!, $permission: String!) {
    grantPermission(tenant: $tenant, userEmail: $email, permission: $permission) { permissions }
  }`;

const DELETE_TENANT = 'mutation ($tenant: String) { deleteTenant(tenant: $tenant) { slug } }';

const PURGE_TENANT = `
  mutation ($tenant: String!, $confirm: String!) {
    purgeTenant(tenant: $tenant, confirmSlug: $confirm)
  }`;

const MY_TENANT_COUNTS = '{ me { tenants { totalCount } ownedTenants { totalCount } } }';

interface RootFieldCall {
  query: string;
  variables?: Record<string, unknown>;
}

/**
 * One call of each root field, with arguments that pass validation. The access tests run every
 * root field of the served schema as an anonymous caller and as a non-member, so a root field
 * added later must get an entry here. Entries for fields the schema does not have are skipped.
 */
const ROOT_FIELD_CALLS: Record<string, RootFieldCall> = {
  auditEvents: { query: '{ auditEvents { totalCount } }' },
  currentTenant: { query: '{ currentTenant { slug } }' },
  groups: { query: '{ groups { name } }' },
  hasModulePermission: { query: '{ hasModulePermission(appLabel: "tenant_users") }' },
  hasPermission: { query: '{ hasPermission(permission: "tenant_users.view_member") }' },
  me: { query: '{ me { email } }' },
  myPermissions: { query: '{ myPermissions { isSuperuser } }' },
  permissions: { query: '{ permissions { qualifiedName } }' },
  tenant: { query: '{ tenant(slug: "acme") { slug } }' },
  serviceTokens: { query: '{ serviceTokens { totalCount } }' },
  tenants: { query: '{ tenants { totalCount } }' },
  user: { query: '{ user(email: "bob@x.test") { email } }' },
  users: { query: '{ users { totalCount } }' },
  addDomain: { query: 'mutation { addDomain(domain: "acme-two.app.test") { domain } }' },
  addMemberToGroup: {
    query: ADD_MEMBER_TO_GROUP,
    variables: { email: 'bob@x.test', group: 'peer-editors' },
  },
  addUserToTenant: {
    query: ADD_USER_TO_TENANT,
    variables: { input: { userEmail: 'carol@x.test', isSuperuser: true } },
  },
  changePassword: {
    // A wrong current password, so that a call the access rule lets through changes nothing.
    query:
      'mutation { changePassword(currentPassword: "Wrong-pw-0000", newPassword: "Other-pw-12345") }',
  },
  createGroup: { query: CREATE_GROUP, variables: { name: 'intruders' } },
  createServiceToken: {
    query: 'mutation { createServiceToken(name: "sneaky", scopes: ["users:read"]) { token } }',
  },
  createSuperuser: {
    query: 'mutation { createSuperuser(email: "sneaky@x.test", password: "Pw-123456789") { id } }',
  },
  createUser: {
    query: CREATE_USER,
    variables: { input: { email: 'sneaky@x.test', password: PASSWORD } },
  },
  deleteGroup: { query: 'mutation { deleteGroup(group: "peer-editors") }' },
  deleteTenant: { query: 'mutation { deleteTenant { slug } }' },
  deleteUser: { query: DELETE_USER, variables: { email: 'bob@x.test' } },
  grantPermission: {
    query: GRANT_PERMISSION,
    variables: { email: 'bob@x.test', permission: 'tenant_users.add_member' },
  },
  login: {
    query: LOGIN,
    variables: { email: 'carol@x.test', password: PASSWORD },
  },
  logout: { query: 'mutation { logout }' },
  provisionTenant: {
    query: PROVISION_TENANT,
    variables: { input: { name: 'Sneaky', slug: 'sneaky', ownerEmail: 'carol@x.test' } },
  },
  purgeTenant: { query: 'mutation { purgeTenant(tenant: "acme", confirmSlug: "acme") }' },
  requestEmailVerification: { query: 'mutation { requestEmailVerification }' },
  requestPasswordReset: { query: 'mutation { requestPasswordReset(email: "nobody@x.test") }' },
  resetPassword: {
    query: 'mutation { resetPassword(token: "not-a-token", newPassword: "Other-pw-12345") }',
  },
  removeDomain: { query: 'mutation { removeDomain(domain: "acme.app.test") }' },
  removeMemberFromGroup: {
    query: `mutation { removeMemberFromGroup(userEmail: "bob@x.test", group: "peer-editors") {
      groups } }`,
  },
  removeUserFromTenant: { query: REMOVE_USER_FROM_TENANT, variables: { email: 'bob@x.test' } },
  restoreTenant: {
    query: 'mutation { restoreTenant(tenant: "acme", ownerEmail: "carol@x.test") { slug } }',
  },
  restoreUser: { query: 'mutation { restoreUser(email: "bob@x.test") { email } }' },
  revokeServiceToken: {
    query: 'mutation { revokeServiceToken(id: "00000000-0000-0000-0000-000000000000") { id } }',
  },
  revokePermission: {
    query: `mutation { revokePermission(userEmail: "bob@x.test",
      permission: "tenant_users.view_member") { groups } }`,
  },
  setGroupPermissions: {
    query: `mutation { setGroupPermissions(group: "peer-editors",
      permissions: ["tenant_users.add_member"]) { name } }`,
  },
  setMemberFlags: {
    query: 'mutation { setMemberFlags(userEmail: "bob@x.test", isSuperuser: true) { isStaff } }',
  },
  setPassword: {
    query: 'mutation { setPassword(email: "bob@x.test", password: "Other-pw-12345") { email } }',
  },
  setPrimaryDomain: {
    query: 'mutation { setPrimaryDomain(domain: "acme.app.test") { domain } }',
  },
  verifyEmail: { query: 'mutation { verifyEmail(token: "not-a-token") }' },
  transferTenantOwnership: {
    query: `mutation { transferTenantOwnership(newOwnerEmail: "carol@x.test") { slug } }`,
  },
};

/**
 * Root fields an anonymous caller may call on any host: the tenant the host routes to, and the
 * operations of a user who cannot log in yet.
 */
const ANONYMOUS_FIELDS = [
  'currentTenant',
  'login',
  'requestPasswordReset',
  'resetPassword',
  'verifyEmail',
];

/** Root fields an authenticated non-member may call on the tenant's host. */
const NON_MEMBER_FIELDS = [...ANONYMOUS_FIELDS, 'logout', 'me'];

/** Codes of a call that the host access rule stopped. */
const ACCESS_CODES = ['UNAUTHENTICATED', 'FORBIDDEN'];

interface UserRow {
  id: string;
  email: string;
  password_hash: string | null;
  is_active: boolean;
  is_verified: boolean;
  metadata: Record<string, unknown>;
}

describe('peer behaviour', () => {
  let t: TestApp;
  let f: CaseFixture;

  beforeAll(async () => {
    t = await startTestApp();
    f = await seedCaseFixture(t);
    await mustSucceed(t, CREATE_GROUP, { tenant: 'acme', name: 'peer-editors' }, f.adminToken);
  });
  afterAll(() => t?.close());

  async function createUser(email: string, extra: Record<string, unknown> = {}): Promise<void> {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email, password: PASSWORD, ...extra } },
      f.adminToken,
    );
  }

  async function userRow(email: string): Promise<UserRow | undefined> {
    const [row] = await t.sql<UserRow>('select * from public.users where email = $1', [email]);

    return row;
  }

  async function userCount(): Promise<number> {
    const [row] = await t.sql<{ count: string }>('select count(*) from public.users');

    return Number(row.count);
  }

  async function schemaExists(schemaName: string): Promise<boolean> {
    const rows = await t.sql('select 1 from pg_namespace where nspname = $1', [schemaName]);

    return rows.length > 0;
  }

  /** Reads a user's permissions row in one tenant schema, or undefined when there is none. */
  async function permissionsRow(schemaName: string, email: string) {
    const [row] = await t.sql<{ id: string; is_staff: boolean; is_superuser: boolean }>(
      `select p.id, p.is_staff, p.is_superuser from "${schemaName}".user_tenant_permissions p
       join public.users u on u.id = p.user_id where u.email = $1`,
      [email],
    );

    return row;
  }

  async function auditCount(type: string, userId: string): Promise<number> {
    const [row] = await t.sql<{ count: string }>(
      'select count(*) from public.audit_events where type = $1 and user_id = $2',
      [type, userId],
    );

    return Number(row.count);
  }

  /** Collects every event delivered while `action` runs. */
  async function collectEvents(action: () => Promise<unknown>): Promise<DomainEvent[]> {
    const events: DomainEvent[] = [];
    const unsubscribe = t.app.events.subscribe('*', (event) => {
      events.push(event);
    });
    try {
      await action();
    } finally {
      unsubscribe();
    }

    return events;
  }

  async function tenantCounts(token: string): Promise<{ member: number; owner: number }> {
    const data = await mustSucceed<{
      me: { tenants: { totalCount: number }; ownedTenants: { totalCount: number } };
    }>(t, MY_TENANT_COUNTS, {}, token);

    return { member: data.me.tenants.totalCount, owner: data.me.ownedTenants.totalCount };
  }

  describe('provisioning', () => {
    const faults = [
      {
        step: 'tenant row',
        table: 'tenants',
        slug: 'fault-tenant',
        condition: "new.slug = 'fault-tenant'",
      },
      {
        step: 'domain row',
        table: 'domains',
        slug: 'fault-domain',
        condition: "new.domain = 'fault-domain.app.test'",
      },
      {
        step: 'owner membership',
        table: 'memberships',
        slug: 'fault-member',
        condition: "new.tenant_id in (select id from public.tenants where slug = 'fault-member')",
      },
    ];

    it.each(faults.map((fault) => [fault.step, fault] as const))(
      'leaves nothing when %s fails',
      async (_step, { table, slug, condition }) => {
        const schemaName = `${slug.replace('-', '_')}_data`;
        const carolToken = await t.login('carol@x.test');
        const countsBefore = await tenantCounts(carolToken);
        // A real database fault at one insert of the provisioning transaction. The trigger
        // rejects only the row of this slug.
        await t.sql(`
        create function public.peer_reject_insert() returns trigger language plpgsql as $$
        begin
          if ${condition} then
            raise exception 'insert rejected by the provisioning fault test';
          end if;
          return new;
        end $$;
        create trigger peer_reject_insert before insert on public.${table}
          for each row execute function public.peer_reject_insert();`);
        const before = await databaseSnapshot(t);

        let response: GraphqlResponse;
        let events: DomainEvent[];
        try {
          events = await collectEvents(async () => {
            response = await t.gql(
              PROVISION_TENANT,
              { input: { name: slug, slug, ownerEmail: 'carol@x.test', schemaName } },
              { token: f.adminToken },
            );
          });
        } finally {
          await t.sql(`
          drop trigger peer_reject_insert on public.${table};
          drop function public.peer_reject_insert();`);
        }

        expect(errorCode(response!)).toBe('INTERNAL_SERVER_ERROR');
        expect(events).toEqual([]);
        expect(await databaseSnapshot(t)).toEqual(before);
        expect(await schemaExists(schemaName)).toBe(false);
        expect(await t.sql('select 1 from public.tenants where slug = $1', [slug])).toEqual([]);
        expect(
          await t.sql('select 1 from public.domains where domain = $1', [`${slug}.app.test`]),
        ).toEqual([]);
        expect(await tenantCounts(carolToken)).toEqual(countsBefore);

        // Without the trigger the same input succeeds, so the failure above came from the fault.
        const retry = await provision(t, f.adminToken, {
          name: slug,
          slug,
          ownerEmail: 'carol@x.test',
          schemaName,
        });
        expect(retry.schemaName).toBe(schemaName);
        expect(await tenantCounts(carolToken)).toEqual({
          member: countsBefore.member + 1,
          owner: countsBefore.owner + 1,
        });
      },
    );

    it('rejects metadata that is no object', async () => {
      const before = await databaseSnapshot(t);

      for (const value of [['notes', 'hello'], 'hello', 42, true]) {
        for (const field of ['domainMetadata', 'metadata']) {
          const response = await t.gql(
            PROVISION_TENANT,
            {
              input: {
                name: 'Bad Meta',
                slug: 'bad-meta',
                ownerEmail: 'carol@x.test',
                [field]: value,
              },
            },
            { token: f.adminToken },
          );
          expect(errorCode(response), `${field}: ${JSON.stringify(value)}`).toBe('BAD_USER_INPUT');
        }
      }

      expect(await databaseSnapshot(t)).toEqual(before);
      expect(await t.sql("select 1 from pg_namespace where nspname like 'bad_meta%'")).toEqual([]);
    });
  });

  describe('users', () => {
    it('rejects user without email', async () => {
      const before = await databaseSnapshot(t);

      const inputs = [{ password: PASSWORD }, { email: null, password: PASSWORD }];
      for (const input of inputs) {
        const response = await t.gql(CREATE_USER, { input }, { token: f.adminToken });
        expect(errorCode(response), JSON.stringify(input)).toBe('BAD_USER_INPUT');
      }
      const blank = await t.gql(
        CREATE_USER,
        { input: { email: '', password: PASSWORD } },
        { token: f.adminToken },
      );
      expect(errorCode(blank)).toBe('BAD_USER_INPUT');
      expect(blank.body.errors?.[0]?.extensions?.field).toBe('email');

      expect(await databaseSnapshot(t)).toEqual(before);
    });

    it('password decides whether login works', async () => {
      await createUser('with-password@x.test');
      await mustSucceed(t, CREATE_USER, { input: { email: 'no-password@x.test' } }, f.adminToken);

      const token = await t.login('with-password@x.test');
      const me = await t.gql<{ me: { email: string } }>('{ me { email } }', {}, { token });
      expect(me.body.data?.me.email).toBe('with-password@x.test');
      expect((await userRow('with-password@x.test'))?.password_hash).toMatch(/^\$2b\$/);

      expect((await userRow('no-password@x.test'))?.password_hash).toBeNull();
      for (const password of [PASSWORD, '', '!']) {
        const login = await t.gql(LOGIN, { email: 'no-password@x.test', password });
        expect(errorCode(login), JSON.stringify(password)).toBe('UNAUTHENTICATED');
      }
      const sessions = await t.sql(
        `select 1 from public.sessions s join public.users u on u.id = s.user_id
         where u.email = 'no-password@x.test'`,
      );
      expect(sessions).toEqual([]);
    });

    it('delivers user events exactly once', async () => {
      const events = await collectEvents(async () => {
        await createUser('once@x.test');
        for (const tenant of ['acme', 'globex']) {
          await mustSucceed(
            t,
            ADD_USER_TO_TENANT,
            { input: { tenant, userEmail: 'once@x.test' } },
            f.adminToken,
          );
        }
        await provision(t, f.adminToken, {
          name: 'Once',
          slug: 'once-co',
          ownerEmail: 'once@x.test',
        });
        await mustSucceed(t, DELETE_USER, { email: 'once@x.test' }, f.adminToken);

        const again = await t.gql(DELETE_USER, { email: 'once@x.test' }, { token: f.adminToken });
        expect(errorCode(again)).toBe('INACTIVE_USER');
        const duplicate = await t.gql(
          CREATE_USER,
          { input: { email: 'once@x.test', password: PASSWORD } },
          { token: f.adminToken },
        );
        expect(errorCode(duplicate)).toBe('ALREADY_EXISTS');
      });

      const once = (await userRow('once@x.test'))!;
      const ofOnce = (type: string) =>
        events.filter((event) => event.type === type && event.userId === once.id);
      expect(ofOnce('userCreated')).toHaveLength(1);
      expect(ofOnce('userDeleted')).toHaveLength(1);
      expect(events.filter((event) => event.type === 'userCreated')).toHaveLength(1);
      expect(events.filter((event) => event.type === 'userDeleted')).toHaveLength(1);
      expect(ofOnce('userCreated')[0].payload).toMatchObject({ email: 'once@x.test' });
      expect(await auditCount('userCreated', once.id)).toBe(1);
      expect(await auditCount('userDeleted', once.id)).toBe(1);
    });

    it('reads back verified flag and names', async () => {
      // User has no first or last name field, so applications keep display names in metadata.
      const names = { firstName: 'Ada', lastName: 'Lovelace-Byron', nickname: 'Ådå' };
      const created = await mustSucceed<{
        createUser: { isVerified: boolean; metadata: Record<string, unknown> };
      }>(
        t,
        'mutation ($input: CreateUserInput!) { createUser(input: $input) { isVerified metadata } }',
        { input: { email: 'named@x.test', password: PASSWORD, isVerified: true, metadata: names } },
        f.adminToken,
      );
      await createUser('plain-profile@x.test');

      expect(created.createUser).toEqual({ isVerified: true, metadata: names });
      const row = await userRow('named@x.test');
      expect(row?.is_verified).toBe(true);
      expect(row?.metadata).toEqual(names);
      const login = await t.gql<{ login: { token: string; user: Record<string, unknown> } }>(
        LOGIN,
        { email: 'named@x.test', password: PASSWORD },
      );
      expect(login.body.data?.login.user).toEqual({
        email: 'named@x.test',
        isVerified: true,
        metadata: names,
      });
      const me = await t.gql<{ me: Record<string, unknown> }>(
        '{ me { isVerified metadata } }',
        {},
        { token: login.body.data!.login.token },
      );
      expect(me.body.data?.me).toEqual({ isVerified: true, metadata: names });

      const plain = await userRow('plain-profile@x.test');
      expect(plain?.is_verified).toBe(false);
      expect(plain?.metadata).toEqual({});
      const plainMe = await t.gql<{ me: Record<string, unknown> }>(
        '{ me { isVerified metadata } }',
        {},
        { token: await t.login('plain-profile@x.test') },
      );
      expect(plainMe.body.data?.me).toEqual({ isVerified: false, metadata: {} });
    });

    it('offers no hard delete of users', async () => {
      // Every mutation named with a destructive verb. None of them removes a users row, because
      // deleteUser only deactivates and purgeTenant drops a deleted tenant's schema with its
      // tenant, domain and membership rows.
      const destructive = new Set([
        'deleteGroup',
        'deleteTenant',
        'deleteUser',
        'purgeTenant',
        'removeDomain',
        'removeMemberFromGroup',
        'removeUserFromTenant',
        'revokePermission',
        'revokeServiceToken',
      ]);
      const schema = await t.gql<{
        __schema: { mutationType: { fields: { name: string; args: { name: string }[] }[] } };
      }>(
        '{ __schema { mutationType { fields { name args { name } } } } }',
        {},
        {
          token: f.adminToken,
        },
      );
      const fields = schema.body.data!.__schema.mutationType.fields;
      const verbs =
        /^(delete|remove|purge|destroy|drop|erase|wipe|revoke|forget|anonymi[sz]e|hard)/i;
      const unexpected = fields
        .map((field) => field.name)
        .filter((name) => verbs.test(name) && !destructive.has(name));
      expect(unexpected).toEqual([]);

      await createUser('ephemeral@x.test');
      await createUser('ephemeral-member@x.test');
      const tenant = await provision(t, f.adminToken, {
        name: 'Ephemeral',
        slug: 'ephemeral',
        ownerEmail: 'ephemeral@x.test',
      });
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: 'ephemeral', userEmail: 'ephemeral-member@x.test' } },
        f.adminToken,
      );
      const usersBefore = await t.sql('select id, email from public.users order by id');

      await mustSucceed(t, DELETE_USER, { email: 'ephemeral@x.test' }, f.adminToken);
      expect((await userRow('ephemeral@x.test'))?.is_active).toBe(false);
      const purged = await mustSucceed<{ purgeTenant: boolean }>(
        t,
        PURGE_TENANT,
        { tenant: 'ephemeral', confirm: 'ephemeral' },
        f.adminToken,
      );

      expect(purged.purgeTenant).toBe(true);
      expect(await schemaExists(tenant.schemaName)).toBe(false);
      expect(await t.sql('select id, email from public.users order by id')).toEqual(usersBefore);
      expect((await userRow('ephemeral@x.test'))?.is_active).toBe(false);
      expect((await userRow('ephemeral-member@x.test'))?.is_active).toBe(true);
      expect(await userCount()).toBe(usersBefore.length);
    });
  });

  describe('tenants and members', () => {
    it('deleting tenant drops grouped owner', async () => {
      await createUser('grouped-owner@x.test');
      const tenant = await provision(t, f.adminToken, {
        name: 'Initrode',
        slug: 'initrode',
        ownerEmail: 'grouped-owner@x.test',
      });
      await mustSucceed(
        t,
        CREATE_GROUP,
        { tenant: 'initrode', name: 'managers', permissions: ['tenant_users.view_member'] },
        f.adminToken,
      );
      await mustSucceed(
        t,
        ADD_MEMBER_TO_GROUP,
        { tenant: 'initrode', email: 'grouped-owner@x.test', group: 'managers' },
        f.adminToken,
      );
      const ownerRow = (await permissionsRow(tenant.schemaName, 'grouped-owner@x.test'))!;

      await mustSucceed(
        t,
        DELETE_TENANT,
        { tenant: 'initrode' },
        await t.login('grouped-owner@x.test'),
      );

      expect(await permissionsRow(tenant.schemaName, 'grouped-owner@x.test')).toBeUndefined();
      const links = await t.sql(
        `select 1 from "${tenant.schemaName}".user_tenant_permissions_groups
         where user_permissions_id = $1`,
        [ownerRow.id],
      );
      expect(links).toEqual([]);
      expect(await permissionsRow(tenant.schemaName, ADMIN_EMAIL)).toMatchObject({
        is_superuser: true,
      });
      const members = await t.sql<{ email: string }>(
        `select u.email from public.memberships m join public.users u on u.id = m.user_id
         where m.tenant_id = $1`,
        [tenant.id],
      );
      expect(members).toEqual([{ email: ADMIN_EMAIL }]);
      const [row] = await t.sql<{ owner: string; is_active: boolean }>(
        `select u.email as owner, t.is_active from public.tenants t
         join public.users u on u.id = t.owner_id where t.id = $1`,
        [tenant.id],
      );
      expect(row).toEqual({ owner: ADMIN_EMAIL, is_active: false });
      // The group is tenant data and stays with the schema.
      const groups = await t.sql(`select name from "${tenant.schemaName}".groups`);
      expect(groups).toEqual([{ name: 'managers' }]);
    });
  });

  describe('permissions', () => {
    it('profile and rights load in fixed statements', async () => {
      // Statements are counted on the client: ORM queries and raw SQL both go through the ORM's
      // knex client, which emits a `query` event for each statement it sends.
      const knex = t.app.orm.em.getConnection().getKnex();
      await createUser('no-groups@x.test');
      await createUser('many-groups@x.test');
      for (const email of ['no-groups@x.test', 'many-groups@x.test']) {
        await mustSucceed(
          t,
          ADD_USER_TO_TENANT,
          { input: { tenant: 'acme', userEmail: email } },
          f.adminToken,
        );
      }
      const catalog = [
        'tenant_users.add_member',
        'tenant_users.change_group',
        'tenant_users.view_member',
      ];
      for (let index = 0; index < 25; index++) {
        const group = `load-${index}`;
        await mustSucceed(
          t,
          CREATE_GROUP,
          { tenant: 'acme', name: group, permissions: [catalog[index % catalog.length]] },
          f.adminToken,
        );
        await mustSucceed(
          t,
          ADD_MEMBER_TO_GROUP,
          { tenant: 'acme', email: 'many-groups@x.test', group },
          f.adminToken,
        );
      }
      const query = `{
        me { email isVerified metadata }
        myPermissions { isStaff isSuperuser groups allPermissions groupPermissions directPermissions }
      }`;

      /**
       * Returns the SQL of every statement that one request of `email` sends. A first request
       * runs uncounted, so that both users find the route in the same cache state.
       */
      async function statementsOf(email: string): Promise<string[]> {
        const token = await t.login(email);
        const warmUp = await t.gql(query, {}, { token, host: ACME });
        expect(warmUp.body.errors).toBeUndefined();
        const statements: string[] = [];
        const listener = (event: { sql: string }) => statements.push(event.sql);
        knex.on('query', listener);
        try {
          const response = await t.gql(query, {}, { token, host: ACME });
          expect(response.body.errors).toBeUndefined();
        } finally {
          knex.off('query', listener);
        }

        return statements;
      }

      const none = await statementsOf('no-groups@x.test');
      const many = await statementsOf('many-groups@x.test');

      const [{ count: linked }] = await t.sql<{ count: string }>(
        `select count(*) from "${f.acme.schemaName}".user_tenant_permissions_groups ug
         join "${f.acme.schemaName}".user_tenant_permissions p on p.id = ug.user_permissions_id
         join public.users u on u.id = p.user_id where u.email = 'many-groups@x.test'`,
      );
      expect(Number(linked)).toBe(25);
      expect(many).toHaveLength(none.length);
      const rightsReads = many.filter((sql) => sql.includes('user_tenant_permissions'));
      expect(rightsReads).toHaveLength(1);
      // At most 6: the domain and the tenant for routing (none while the route is cached), the
      // session and its user, the member's flags, groups and permissions in one statement, and
      // the tenant by slug.
      expect(many.length).toBeLessThanOrEqual(6);
    });

    it('permission checks follow the tenant', async () => {
      await createUser('switcher@x.test');
      for (const tenant of ['acme', 'globex']) {
        await mustSucceed(
          t,
          ADD_USER_TO_TENANT,
          { input: { tenant, userEmail: 'switcher@x.test' } },
          f.adminToken,
        );
      }
      // A group of the same name in both tenants, with a different permission in each.
      const grants = { acme: 'tenant_users.change_group', globex: 'tenant_users.view_member' };
      for (const [tenant, permission] of Object.entries(grants)) {
        await mustSucceed(
          t,
          CREATE_GROUP,
          { tenant, name: 'switchers', permissions: [permission] },
          f.adminToken,
        );
        await mustSucceed(
          t,
          ADD_MEMBER_TO_GROUP,
          { tenant, email: 'switcher@x.test', group: 'switchers' },
          f.adminToken,
        );
      }
      const token = await t.login('switcher@x.test');
      const query = `{
        changeGroup: hasPermission(permission: "tenant_users.change_group")
        viewMember: hasPermission(permission: "tenant_users.view_member")
        mine: myPermissions { tenant { slug } allPermissions }
      }`;

      async function answersOn(host: string) {
        const response = await t.gql<{
          changeGroup: boolean;
          viewMember: boolean;
          mine: { tenant: { slug: string }; allPermissions: string[] };
        }>(query, {}, { token, host });
        expect(response.body.errors, host).toBeUndefined();

        return response.body.data!;
      }

      const acmeAnswers = {
        changeGroup: true,
        viewMember: false,
        mine: { tenant: { slug: 'acme' }, allPermissions: [grants.acme] },
      };
      const globexAnswers = {
        changeGroup: false,
        viewMember: true,
        mine: { tenant: { slug: 'globex' }, allPermissions: [grants.globex] },
      };
      for (const [host, expected] of [
        [ACME, acmeAnswers],
        [GLOBEX, globexAnswers],
        [ACME, acmeAnswers],
        [GLOBEX, globexAnswers],
      ] as const) {
        expect(await answersOn(host), host).toEqual(expected);
      }

      // One request checks both tenants, the routed one first and then the other.
      const mixed = await t.gql<Record<string, boolean>>(
        `{
          routed: hasPermission(permission: "tenant_users.change_group")
          other: hasPermission(permission: "tenant_users.change_group", tenant: "globex")
          otherView: hasPermission(permission: "tenant_users.view_member", tenant: "globex")
          routedView: hasPermission(permission: "tenant_users.view_member")
        }`,
        {},
        { token, host: ACME },
      );
      expect(mixed.body.data).toEqual({
        routed: true,
        other: false,
        otherView: true,
        routedView: false,
      });

      // A change in globex shows in the next globex request and leaves acme's results alone.
      await mustSucceed(
        t,
        GRANT_PERMISSION,
        { tenant: 'globex', email: 'switcher@x.test', permission: grants.acme },
        f.adminToken,
      );
      expect((await answersOn(GLOBEX)).changeGroup).toBe(true);
      expect(await answersOn(ACME)).toEqual(acmeAnswers);
      const acmeRow = await permissionsRow(f.acme.schemaName, 'switcher@x.test');
      const globexRow = await permissionsRow(f.globex.schemaName, 'switcher@x.test');
      expect(acmeRow?.id).not.toBe(globexRow?.id);
    });
  });

  describe('access', () => {
    let rootFields: string[];

    beforeAll(async () => {
      const response = await t.gql<{
        __schema: {
          queryType: { fields: { name: string }[] };
          mutationType: { fields: { name: string }[] };
        };
      }>(
        '{ __schema { queryType { fields { name } } mutationType { fields { name } } } }',
        {},
        { token: f.adminToken },
      );
      const schema = response.body.data!.__schema;
      rootFields = [...schema.queryType.fields, ...schema.mutationType.fields]
        .map((field) => field.name)
        .sort();
    });

    /** Runs every root field on `host` and returns the error code of each, or OK. */
    async function codesPerField(
      host: string,
      token: string | undefined,
    ): Promise<Record<string, string>> {
      const codes: Record<string, string> = {};
      for (const name of rootFields) {
        const call = ROOT_FIELD_CALLS[name];
        // logout would end the session of the later calls, so it runs on a token of its own.
        const callToken = name === 'logout' && token ? await t.login('carol@x.test') : token;
        const response = await t.gql(call.query, call.variables, { host, token: callToken });
        codes[name] = String(errorCode(response) ?? 'OK');
      }

      return codes;
    }

    /**
     * Lists the root fields whose code breaks the access rule, as `field: code`. A field in
     * `open` must get past the rule (its own checks may still reject the arguments), and every
     * other field must be stopped with `stopCode`.
     */
    function accessMismatches(
      codes: Record<string, string>,
      open: readonly string[],
      stopCode: string,
    ): string[] {
      return Object.entries(codes)
        .filter(([name, code]) =>
          open.includes(name) ? ACCESS_CODES.includes(code) : code !== stopCode,
        )
        .map(([name, code]) => `${name}: ${code}`);
    }

    it('covers every root field', () => {
      expect(rootFields.filter((name) => !(name in ROOT_FIELD_CALLS))).toEqual([]);
      expect(rootFields.length).toBeGreaterThan(30);
    });

    it('member reaches own tenant host', async () => {
      const query = `{
        currentTenant { slug members { totalCount } owner { email } }
        myPermissions { isStaff isSuperuser }
      }`;
      const cases = [
        { email: 'alice@x.test', host: ACME, isStaff: false, isSuperuser: true },
        { email: 'bob@x.test', host: ACME, isStaff: true, isSuperuser: false },
        { email: 'bob@x.test', host: GLOBEX, isStaff: false, isSuperuser: true },
        { email: 'alice@x.test', host: GLOBEX, isStaff: false, isSuperuser: false },
      ];

      for (const { email, host, isStaff, isSuperuser } of cases) {
        const response = await t.gql<{
          currentTenant: { slug: string; members: { totalCount: number } };
          myPermissions: { isStaff: boolean; isSuperuser: boolean };
        }>(query, {}, { host, token: await t.login(email) });
        expect(response.status, `${email} on ${host}`).toBe(200);
        expect(response.body.errors, `${email} on ${host}`).toBeUndefined();
        expect(response.body.data?.currentTenant.slug).toBe(host.split('.')[0]);
        expect(response.body.data?.currentTenant.members.totalCount).toBeGreaterThan(0);
        expect(response.body.data?.myPermissions).toEqual({ isStaff, isSuperuser });
      }
    });

    it('non-member gets forbidden on host', async () => {
      const carol = await t.login('carol@x.test');
      const before = await databaseSnapshot(t);

      const codes = await codesPerField(ACME, carol);

      expect(accessMismatches(codes, NON_MEMBER_FIELDS, 'FORBIDDEN')).toEqual([]);
      expect(codes.me).toBe('OK');
      expect(codes.login).toBe('OK');
      expect(codes.currentTenant).toBe('OK');
      expect(await databaseSnapshot(t)).toEqual(before);
    });

    it('removed member loses host at once', async () => {
      await createUser('leaving@x.test');
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: 'globex', userEmail: 'leaving@x.test' } },
        f.adminToken,
      );
      const token = await t.login('leaving@x.test');
      const members = '{ currentTenant { members { totalCount } } }';
      const asMember = await t.gql(members, {}, { host: GLOBEX, token });
      expect(asMember.body.errors).toBeUndefined();

      await mustSucceed(
        t,
        REMOVE_USER_FROM_TENANT,
        { tenant: 'globex', email: 'leaving@x.test' },
        f.adminToken,
      );

      const afterRemoval = await t.gql(members, {}, { host: GLOBEX, token });
      expect(errorCode(afterRemoval)).toBe('FORBIDDEN');
      expect(afterRemoval.body.data ?? null).toBeNull();
      const me = await t.gql('{ me { email } }', {}, { host: GLOBEX, token });
      expect(me.body.data).toEqual({ me: { email: 'leaving@x.test' } });
    });

    it('anonymous caller reaches public fields', async () => {
      const before = await databaseSnapshot(t);

      for (const host of [ACME, PUBLIC]) {
        const codes = await codesPerField(host, undefined);
        expect(accessMismatches(codes, ANONYMOUS_FIELDS, 'UNAUTHENTICATED'), host).toEqual([]);
        expect(codes.login).toBe('OK');
        expect(codes.currentTenant).toBe('OK');
      }

      expect(await databaseSnapshot(t)).toEqual(before);
    });
  });
});
