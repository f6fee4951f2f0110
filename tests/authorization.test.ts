import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ADMIN_EMAIL,
  errorCode,
  PASSWORD,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  DELETE_USER,
  databaseSnapshot,
  mustSucceed,
  provision,
  PROVISION_TENANT,
  REMOVE_USER_FROM_TENANT,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const PUBLIC = 'app.test';
const ACME = 'acme.app.test';
const GLOBEX = 'globex.app.test';

const ALL_SCOPES = ['users:read', 'users:write', 'tenants:read', 'tenants:write', 'members:write'];

const CREATE_TOKEN = `
  mutation ($name: String!, $scopes: [String!]!, $tenants: [String!]) {
    createServiceToken(name: $name, scopes: $scopes, tenants: $tenants) { token }
  }`;

const RESTORE_USER = `
  mutation ($email: String!) { restoreUser(email: $email) { email isActive } }`;

const RESTORE_TENANT = `
  mutation ($tenant: String!, $owner: String!) {
    restoreTenant(tenant: $tenant, ownerEmail: $owner) { slug isActive }
  }`;

const PURGE_TENANT = `
  mutation ($tenant: String!) { purgeTenant(tenant: $tenant, confirmSlug: $tenant) }`;

const TRANSFER_OWNERSHIP = `
  mutation ($tenant: String, $email: String!) {
    transferTenantOwnership(tenant: $tenant, newOwnerEmail: $email) { slug }
  }`;

const DELETE_TENANT = `
  mutation ($tenant: String) { deleteTenant(tenant: $tenant) { slug isActive } }`;

const SET_MEMBER_FLAGS = `
  mutation ($tenant: String, $email: String!, $isStaff: Boolean, $isSuperuser: Boolean) {
    setMemberFlags(
      tenant: $tenant
      userEmail: $email
      isStaff: $isStaff
      isSuperuser: $isSuperuser
    ) {
      isStaff
      isSuperuser
    }
  }`;

const CREATE_GROUP = `
  mutation ($tenant: String, $name: String!) {
    createGroup(tenant: $tenant, name: $name) { name }
  }`;

const GRANT_PERMISSION = `
  mutation ($tenant: String, $email: String!, $permission: String!) {
    grantPermission(tenant: $tenant, userEmail: $email, permission: $permission) { permissions }
  }`;

const READ_TENANT = `
  query ($slug: String!) {
    tenant(slug: $slug) {
      slug
      owner { email }
      members { totalCount edges { node { user { email } } } }
    }
  }`;

const CURRENT_TENANT_MEMBERS = `{
  currentTenant { slug members { totalCount edges { node { user { email } } } } }
}`;

type DeniedCode = 'UNAUTHENTICATED' | 'FORBIDDEN';

/** A caller of an operation: a bearer token (none for anonymous) and the host it calls. */
interface Caller {
  name: string;
  token?: string;
  host?: string;
  /** Error code a denied call gets. */
  code: DeniedCode;
}

interface Operation {
  /** The root field, whose value must stay null when the call is denied. */
  field: string;
  query: string;
  variables: Record<string, unknown>;
}

/**
 * Everything `databaseSnapshot` covers plus the group and direct permission rows of every
 * tenant schema, so that group and permission operations are checked too.
 */
async function fullSnapshot(t: TestApp): Promise<Record<string, unknown>> {
  const snapshot = await databaseSnapshot(t);
  const schemas = await t.sql<{ table_schema: string }>(
    `select table_schema from information_schema.tables
     where table_name = 'groups' order by table_schema`,
  );
  for (const { table_schema: schema } of schemas) {
    const quoted = `"${schema.replaceAll('"', '""')}"`;
    snapshot[`${schema}.groups`] = await t.sql(`select * from ${quoted}.groups order by id`);
    snapshot[`${schema}.group_permissions`] = await t.sql(
      `select * from ${quoted}.group_permissions order by 1, 2`,
    );
    snapshot[`${schema}.user_tenant_permissions_permissions`] = await t.sql(
      `select * from ${quoted}.user_tenant_permissions_permissions order by 1, 2`,
    );
  }

  return snapshot;
}

/** Calls `operation` as each caller and checks the error code and that nothing changed. */
async function expectDenied(
  t: TestApp,
  operation: Operation,
  callers: readonly Caller[],
): Promise<void> {
  for (const caller of callers) {
    const label = `${operation.field} as ${caller.name}`;
    const before = await fullSnapshot(t);

    const response = await t.gql(operation.query, operation.variables, {
      token: caller.token,
      host: caller.host ?? PUBLIC,
    });

    expect(errorCode(response), `${label}: ${JSON.stringify(response.body.errors)}`).toBe(
      caller.code,
    );
    expect(response.body.data?.[operation.field] ?? null, label).toBeNull();
    expect(await fullSnapshot(t), label).toEqual(before);
  }
}

/** Runs an operation and fails the test on any error. */
async function expectAllowed<T = Record<string, unknown>>(
  t: TestApp,
  query: string,
  variables: Record<string, unknown>,
  caller: { token?: string; host?: string },
): Promise<T> {
  const response: GraphqlResponse<T> = await t.gql<T>(query, variables, {
    token: caller.token,
    host: caller.host ?? PUBLIC,
  });
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();

  return response.body.data as T;
}

async function createUsers(
  t: TestApp,
  adminToken: string,
  emails: readonly string[],
  extra: Record<string, unknown> = {},
): Promise<void> {
  for (const email of emails) {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email, password: PASSWORD, ...extra } },
      adminToken,
    );
  }
}

async function addMembers(
  t: TestApp,
  adminToken: string,
  tenant: string,
  emails: readonly string[],
  extra: Record<string, unknown> = {},
): Promise<void> {
  for (const email of emails) {
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant, userEmail: email, ...extra } },
      adminToken,
    );
  }
}

async function createToken(
  t: TestApp,
  adminToken: string,
  scopes: readonly string[],
  tenants: readonly string[] | null = null,
): Promise<string> {
  const data = await mustSucceed<{ createServiceToken: { token: string } }>(
    t,
    CREATE_TOKEN,
    { name: `scopes ${scopes.join(' ')}`, scopes, tenants },
    adminToken,
  );

  return data.createServiceToken.token;
}

async function membershipsOf(t: TestApp, email: string): Promise<string[]> {
  const rows = await t.sql<{ slug: string }>(
    `select t.slug from public.memberships m
     join public.tenants t on t.id = m.tenant_id
     join public.users u on u.id = m.user_id
     where lower(u.email) = lower($1) order by t.slug`,
    [email],
  );

  return rows.map((row) => row.slug);
}

async function permissionsRow(
  t: TestApp,
  schema: string,
  email: string,
): Promise<{ is_staff: boolean; is_superuser: boolean } | undefined> {
  const [row] = await t.sql<{ is_staff: boolean; is_superuser: boolean }>(
    `select p.is_staff, p.is_superuser from "${schema}".user_tenant_permissions p
     join public.users u on u.id = p.user_id where u.email = $1`,
    [email],
  );

  return row;
}

async function ownerOf(t: TestApp, slug: string): Promise<string | undefined> {
  const [row] = await t.sql<{ email: string }>(
    `select u.email from public.tenants t join public.users u on u.id = t.owner_id
     where t.slug = $1`,
    [slug],
  );

  return row?.email;
}

async function isActiveUser(t: TestApp, email: string): Promise<boolean | undefined> {
  const [row] = await t.sql<{ is_active: boolean }>(
    'select is_active from public.users where email = $1',
    [email],
  );

  return row?.is_active;
}

async function isActiveTenant(t: TestApp, slug: string): Promise<boolean | undefined> {
  const [row] = await t.sql<{ is_active: boolean }>(
    'select is_active from public.tenants where slug = $1',
    [slug],
  );

  return row?.is_active;
}

describe('who may do what', () => {
  let t: TestApp;
  let fixture: CaseFixture;
  let admin: Caller;
  let alice: Caller;
  let frank: Caller;
  let tokenWithAllScopes: Caller;
  /** Every kind of caller the table names, keyed by kind. */
  let kinds: {
    anonymous: Caller;
    plainUser: Caller;
    memberWithoutRights: Caller;
    staffNotSuperuser: Caller;
    superuserOfOtherTenant: Caller;
    tenantOwner: Caller;
    memberWithPermissions: Caller;
    platformStaff: Caller;
    tokenWithAllScopes: Caller;
    limitedTokenOnOwnHost: Caller;
    limitedTokenOnAcmeHost: Caller;
    limitedTokenOnPublicHost: Caller;
  };
  let tokensWithout: Record<string, Caller>;

  beforeAll(async () => {
    t = await startTestApp();
    fixture = await seedCaseFixture(t);
    const adminToken = fixture.adminToken;

    await createUsers(t, adminToken, [
      'dave@x.test',
      'frank@x.test',
      'grace@x.test',
      'victim@x.test',
      'gone@x.test',
    ]);
    await createUsers(t, adminToken, ['erin@x.test'], { isStaff: true });
    await addMembers(t, adminToken, 'acme', ['dave@x.test', 'frank@x.test', 'victim@x.test']);
    await addMembers(t, adminToken, 'globex', ['grace@x.test'], { isSuperuser: true });
    for (const permission of ['add_member', 'remove_member', 'change_member', 'change_group']) {
      await mustSucceed(
        t,
        GRANT_PERMISSION,
        { tenant: 'acme', email: 'frank@x.test', permission: `tenant_users.${permission}` },
        adminToken,
      );
    }
    await mustSucceed(t, DELETE_USER, { email: 'gone@x.test' }, adminToken);
    for (const slug of ['oldco', 'purge-co']) {
      await provision(t, adminToken, { name: slug, slug, ownerEmail: 'carol@x.test' });
      await mustSucceed(t, DELETE_TENANT, { tenant: slug }, adminToken);
    }

    admin = { name: 'platform admin', token: adminToken, code: 'FORBIDDEN' };
    alice = { name: 'tenant owner', token: await t.login('alice@x.test'), code: 'FORBIDDEN' };
    frank = {
      name: 'member with permissions',
      token: await t.login('frank@x.test'),
      code: 'FORBIDDEN',
    };
    tokenWithAllScopes = {
      name: 'service token with every scope',
      token: await createToken(t, adminToken, ALL_SCOPES),
      code: 'FORBIDDEN',
    };
    const limited = await createToken(t, adminToken, ALL_SCOPES, ['globex']);
    kinds = {
      anonymous: { name: 'anonymous', code: 'UNAUTHENTICATED' },
      plainUser: { name: 'plain user', token: await t.login('carol@x.test'), code: 'FORBIDDEN' },
      memberWithoutRights: {
        name: 'member without rights',
        token: await t.login('dave@x.test'),
        code: 'FORBIDDEN',
      },
      staffNotSuperuser: {
        name: 'staff, not superuser',
        token: await t.login('bob@x.test'),
        code: 'FORBIDDEN',
      },
      superuserOfOtherTenant: {
        name: 'superuser of another tenant',
        token: await t.login('grace@x.test'),
        code: 'FORBIDDEN',
      },
      tenantOwner: alice,
      memberWithPermissions: frank,
      platformStaff: {
        name: 'platform staff',
        token: await t.login('erin@x.test'),
        code: 'FORBIDDEN',
      },
      tokenWithAllScopes,
      limitedTokenOnOwnHost: {
        name: 'token limited to globex',
        token: limited,
        host: GLOBEX,
        code: 'FORBIDDEN',
      },
      limitedTokenOnAcmeHost: {
        name: 'token limited to globex, on acme host',
        token: limited,
        host: ACME,
        code: 'FORBIDDEN',
      },
      limitedTokenOnPublicHost: {
        name: 'token limited to globex, on public host',
        token: limited,
        host: PUBLIC,
        code: 'FORBIDDEN',
      },
    };

    // A write scope includes the read scope of the same resource, so both are withheld for a read.
    const withheld: Record<string, string[]> = {
      'users:write': ['users:write'],
      'tenants:read': ['tenants:read', 'tenants:write'],
      'tenants:write': ['tenants:write'],
      'members:write': ['members:write'],
    };
    tokensWithout = {};
    for (const [scope, missing] of Object.entries(withheld)) {
      const scopes = ALL_SCOPES.filter((kept) => !missing.includes(kept));
      tokensWithout[scope] = {
        name: `service token without ${scope}`,
        token: await createToken(t, adminToken, scopes),
        code: 'FORBIDDEN',
      };
    }
  });

  afterAll(async () => {
    await t?.close();
  });

  /** Returns every user who is not a platform admin, whatever their rights in tenants. */
  function everyUserButAdmin(): Caller[] {
    return [
      kinds.plainUser,
      kinds.memberWithoutRights,
      kinds.staffNotSuperuser,
      kinds.superuserOfOtherTenant,
      kinds.tenantOwner,
      kinds.memberWithPermissions,
      kinds.platformStaff,
    ];
  }

  function limitedTokens(): Caller[] {
    return [kinds.limitedTokenOnOwnHost, kinds.limitedTokenOnAcmeHost];
  }

  describe('createUser', () => {
    it('rejects everyone but admins and tokens', async () => {
      await expectDenied(
        t,
        {
          field: 'createUser',
          query: CREATE_USER,
          variables: { input: { email: 'denied-user@x.test', password: PASSWORD } },
        },
        [
          kinds.anonymous,
          ...everyUserButAdmin(),
          tokensWithout['users:write']!,
          kinds.limitedTokenOnAcmeHost,
          kinds.limitedTokenOnPublicHost,
        ],
      );
    });

    it('allows admin and users:write token', async () => {
      await expectAllowed(
        t,
        CREATE_USER,
        { input: { email: 'made-by-admin@x.test', password: PASSWORD, isStaff: true } },
        admin,
      );
      await expectAllowed(
        t,
        CREATE_USER,
        { input: { email: 'made-by-token@x.test', password: PASSWORD, isVerified: true } },
        tokenWithAllScopes,
      );
      await expectAllowed(
        t,
        CREATE_USER,
        { input: { email: 'made-by-limited@x.test', password: PASSWORD } },
        kinds.limitedTokenOnOwnHost,
      );

      expect(await permissionsRow(t, 'public', 'made-by-admin@x.test')).toEqual({
        is_staff: true,
        is_superuser: false,
      });
      expect(await membershipsOf(t, 'made-by-token@x.test')).toEqual(['public']);
      expect(await membershipsOf(t, 'made-by-limited@x.test')).toEqual(['public']);
    });

    it('rejects platform rights from tokens', async () => {
      await expectDenied(
        t,
        {
          field: 'createUser',
          query: CREATE_USER,
          variables: {
            input: { email: 'token-admin@x.test', password: PASSWORD, isSuperuser: true },
          },
        },
        [tokenWithAllScopes],
      );
    });
  });

  describe('deleteUser', () => {
    it('rejects everyone but admin, token, self', async () => {
      await expectDenied(
        t,
        { field: 'deleteUser', query: DELETE_USER, variables: { email: 'victim@x.test' } },
        [
          kinds.anonymous,
          ...everyUserButAdmin(),
          tokensWithout['users:write']!,
          ...limitedTokens(),
        ],
      );
    });

    it('allows admin, users:write token and self', async () => {
      const emails = ['deleted-by-admin@x.test', 'deleted-by-token@x.test', 'deletes-self@x.test'];
      await createUsers(t, fixture.adminToken, emails);
      const self = await t.login('deletes-self@x.test');

      await expectAllowed(t, DELETE_USER, { email: emails[0] }, admin);
      await expectAllowed(t, DELETE_USER, { email: emails[1] }, tokenWithAllScopes);
      await expectAllowed(t, DELETE_USER, { email: emails[2] }, { token: self });

      for (const email of emails) {
        expect(await isActiveUser(t, email), email).toBe(false);
      }
    });
  });

  describe('platform admin only', () => {
    it('restoreUser rejects every other caller', async () => {
      await expectDenied(
        t,
        { field: 'restoreUser', query: RESTORE_USER, variables: { email: 'gone@x.test' } },
        [kinds.anonymous, ...everyUserButAdmin(), tokenWithAllScopes, ...limitedTokens()],
      );

      await expectAllowed(t, RESTORE_USER, { email: 'gone@x.test' }, admin);
      expect(await isActiveUser(t, 'gone@x.test')).toBe(true);
    });

    it('restoreTenant rejects every other caller', async () => {
      await expectDenied(
        t,
        {
          field: 'restoreTenant',
          query: RESTORE_TENANT,
          variables: { tenant: 'oldco', owner: 'carol@x.test' },
        },
        [kinds.anonymous, ...everyUserButAdmin(), tokenWithAllScopes, ...limitedTokens()],
      );

      await expectAllowed(t, RESTORE_TENANT, { tenant: 'oldco', owner: 'carol@x.test' }, admin);
      expect(await isActiveTenant(t, 'oldco')).toBe(true);
    });

    it('purgeTenant rejects every other caller', async () => {
      await expectDenied(
        t,
        { field: 'purgeTenant', query: PURGE_TENANT, variables: { tenant: 'purge-co' } },
        [kinds.anonymous, ...everyUserButAdmin(), tokenWithAllScopes, ...limitedTokens()],
      );

      await expectAllowed(t, PURGE_TENANT, { tenant: 'purge-co' }, admin);
      expect(await isActiveTenant(t, 'purge-co')).toBeUndefined();
    });
  });

  describe('provisionTenant', () => {
    it('rejects others provisioning for someone else', async () => {
      await expectDenied(
        t,
        {
          field: 'provisionTenant',
          query: PROVISION_TENANT,
          variables: { input: { name: 'Denied', slug: 'denied-co', ownerEmail: 'victim@x.test' } },
        },
        [
          kinds.anonymous,
          ...everyUserButAdmin(),
          tokensWithout['tenants:write']!,
          ...limitedTokens(),
        ],
      );
    });

    it('rejects limited token even for itself', async () => {
      await expectDenied(
        t,
        {
          field: 'provisionTenant',
          query: PROVISION_TENANT,
          variables: { input: { name: 'Limited', slug: 'limited-co', ownerEmail: 'bob@x.test' } },
        },
        [kinds.limitedTokenOnOwnHost],
      );
    });

    it('allows self, admin and tenants:write token', async () => {
      await expectAllowed(
        t,
        PROVISION_TENANT,
        { input: { name: 'Alice Own', slug: 'alice-own', ownerEmail: 'ALICE@x.test' } },
        alice,
      );
      await expectAllowed(
        t,
        PROVISION_TENANT,
        { input: { name: 'For Carol', slug: 'admin-for-carol', ownerEmail: 'carol@x.test' } },
        admin,
      );
      await expectAllowed(
        t,
        PROVISION_TENANT,
        { input: { name: 'Token Co', slug: 'token-for-carol', ownerEmail: 'carol@x.test' } },
        tokenWithAllScopes,
      );

      expect(await ownerOf(t, 'alice-own')).toBe('alice@x.test');
      expect(await ownerOf(t, 'admin-for-carol')).toBe('carol@x.test');
      expect(await ownerOf(t, 'token-for-carol')).toBe('carol@x.test');
      const [tenant] = await t.sql<{ schema_name: string }>(
        `select schema_name from public.tenants where slug = 'alice-own'`,
      );
      expect(await permissionsRow(t, tenant!.schema_name, 'alice@x.test')).toEqual({
        is_staff: false,
        is_superuser: true,
      });
    });
  });

  describe('tenant members', () => {
    /** Returns the callers who may neither add nor remove members of acme. */
    function outsiders(): Caller[] {
      return [
        kinds.anonymous,
        kinds.plainUser,
        kinds.memberWithoutRights,
        kinds.staffNotSuperuser,
        kinds.superuserOfOtherTenant,
        kinds.platformStaff,
        tokensWithout['members:write']!,
        ...limitedTokens(),
      ];
    }

    it('addUserToTenant rejects outsiders', async () => {
      await expectDenied(
        t,
        {
          field: 'addUserToTenant',
          query: ADD_USER_TO_TENANT,
          variables: { input: { tenant: 'acme', userEmail: 'carol@x.test' } },
        },
        outsiders(),
      );
    });

    it('addUserToTenant allows managers', async () => {
      const added = ['add-1@x.test', 'add-2@x.test', 'add-3@x.test', 'add-4@x.test'];
      await createUsers(t, fixture.adminToken, added);
      const managers = [alice, frank, admin, tokenWithAllScopes];

      for (const [index, manager] of managers.entries()) {
        await expectAllowed(
          t,
          ADD_USER_TO_TENANT,
          { input: { tenant: 'acme', userEmail: added[index] } },
          manager,
        );
      }

      for (const email of added) {
        expect(await membershipsOf(t, email), email).toEqual(['acme', 'public']);
        expect(await permissionsRow(t, fixture.acme.schemaName, email), email).toEqual({
          is_staff: false,
          is_superuser: false,
        });
      }
    });

    it('only superusers grant superuser', async () => {
      await createUsers(t, fixture.adminToken, ['made-superuser@x.test']);

      await expectDenied(
        t,
        {
          field: 'addUserToTenant',
          query: ADD_USER_TO_TENANT,
          variables: {
            input: { tenant: 'acme', userEmail: 'made-superuser@x.test', isSuperuser: true },
          },
        },
        [frank, tokenWithAllScopes],
      );
      await expectDenied(
        t,
        {
          field: 'setMemberFlags',
          query: SET_MEMBER_FLAGS,
          variables: { tenant: 'acme', email: 'dave@x.test', isSuperuser: true },
        },
        [frank],
      );

      await expectAllowed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: 'acme', userEmail: 'made-superuser@x.test', isSuperuser: true } },
        alice,
      );
      expect(await permissionsRow(t, fixture.acme.schemaName, 'made-superuser@x.test')).toEqual({
        is_staff: false,
        is_superuser: true,
      });
    });

    it('removeUserFromTenant rejects outsiders', async () => {
      await expectDenied(
        t,
        {
          field: 'removeUserFromTenant',
          query: REMOVE_USER_FROM_TENANT,
          variables: { tenant: 'acme', email: 'victim@x.test' },
        },
        outsiders(),
      );
    });

    it('removeUserFromTenant allows managers', async () => {
      const removed = ['rm-1@x.test', 'rm-2@x.test', 'rm-3@x.test', 'rm-4@x.test'];
      await createUsers(t, fixture.adminToken, removed);
      await addMembers(t, fixture.adminToken, 'acme', removed);
      const managers = [alice, frank, admin, tokenWithAllScopes];

      for (const [index, manager] of managers.entries()) {
        await expectAllowed(
          t,
          REMOVE_USER_FROM_TENANT,
          { tenant: 'acme', email: removed[index] },
          manager,
        );
      }

      for (const email of removed) {
        expect(await membershipsOf(t, email), email).toEqual(['public']);
        expect(await permissionsRow(t, fixture.acme.schemaName, email), email).toBeUndefined();
      }
    });

    it('member flags reject outsiders and tokens', async () => {
      await expectDenied(
        t,
        {
          field: 'setMemberFlags',
          query: SET_MEMBER_FLAGS,
          variables: { tenant: 'acme', email: 'victim@x.test', isStaff: true },
        },
        [...outsiders(), tokenWithAllScopes],
      );
    });

    it('member flags allow managers', async () => {
      const changed = ['flag-1@x.test', 'flag-2@x.test', 'flag-3@x.test'];
      await createUsers(t, fixture.adminToken, changed);
      await addMembers(t, fixture.adminToken, 'acme', changed);

      for (const [index, manager] of [alice, frank, admin].entries()) {
        await expectAllowed(
          t,
          SET_MEMBER_FLAGS,
          { tenant: 'acme', email: changed[index], isStaff: true },
          manager,
        );
      }

      for (const email of changed) {
        expect(await permissionsRow(t, fixture.acme.schemaName, email), email).toEqual({
          is_staff: true,
          is_superuser: false,
        });
      }
    });

    it('groups reject outsiders and tokens', async () => {
      await expectDenied(
        t,
        {
          field: 'createGroup',
          query: CREATE_GROUP,
          variables: { tenant: 'acme', name: 'denied-group' },
        },
        [...outsiders(), tokenWithAllScopes],
      );
    });

    it('groups allow managers', async () => {
      const names = ['team-alice', 'team-frank', 'team-admin'];

      for (const [index, manager] of [alice, frank, admin].entries()) {
        await expectAllowed(t, CREATE_GROUP, { tenant: 'acme', name: names[index] }, manager);
      }

      const groups = await t.sql<{ name: string }>(
        `select name from "${fixture.acme.schemaName}".groups order by name`,
      );
      expect(groups.map((group) => group.name)).toEqual([...names].sort());
    });
  });

  describe('owner operations', () => {
    /** Returns every caller but the owner of acme and platform admins. */
    function notOwners(): Caller[] {
      return [
        kinds.anonymous,
        kinds.plainUser,
        kinds.memberWithoutRights,
        kinds.staffNotSuperuser,
        kinds.superuserOfOtherTenant,
        kinds.memberWithPermissions,
        kinds.platformStaff,
        tokenWithAllScopes,
        ...limitedTokens(),
      ];
    }

    it('transfer rejects everyone but owner, admin', async () => {
      await expectDenied(
        t,
        {
          field: 'transferTenantOwnership',
          query: TRANSFER_OWNERSHIP,
          variables: { tenant: 'acme', email: 'carol@x.test' },
        },
        notOwners(),
      );
    });

    it('transfer allows owner and admin', async () => {
      for (const slug of ['xfer-owner', 'xfer-admin']) {
        await provision(t, fixture.adminToken, { name: slug, slug, ownerEmail: 'alice@x.test' });
      }

      await expectAllowed(
        t,
        TRANSFER_OWNERSHIP,
        { tenant: 'xfer-owner', email: 'carol@x.test' },
        alice,
      );
      await expectAllowed(
        t,
        TRANSFER_OWNERSHIP,
        { tenant: 'xfer-admin', email: 'carol@x.test' },
        admin,
      );

      expect(await ownerOf(t, 'xfer-owner')).toBe('carol@x.test');
      expect(await ownerOf(t, 'xfer-admin')).toBe('carol@x.test');
    });

    it('deleteTenant rejects everyone but owner, admin', async () => {
      await expectDenied(
        t,
        { field: 'deleteTenant', query: DELETE_TENANT, variables: { tenant: 'acme' } },
        notOwners(),
      );
    });

    it('deleteTenant allows owner and admin', async () => {
      for (const slug of ['del-owner', 'del-admin']) {
        await provision(t, fixture.adminToken, { name: slug, slug, ownerEmail: 'alice@x.test' });
      }

      await expectAllowed(t, DELETE_TENANT, { tenant: 'del-owner' }, alice);
      await expectAllowed(t, DELETE_TENANT, { tenant: 'del-admin' }, admin);

      expect(await isActiveTenant(t, 'del-owner')).toBe(false);
      expect(await isActiveTenant(t, 'del-admin')).toBe(false);
    });
  });

  describe('reading a tenant', () => {
    it('rejects non-members and other tokens', async () => {
      await expectDenied(t, { field: 'tenant', query: READ_TENANT, variables: { slug: 'acme' } }, [
        kinds.anonymous,
        kinds.plainUser,
        kinds.superuserOfOtherTenant,
        tokensWithout['tenants:read']!,
        ...limitedTokens(),
      ]);
    });

    it('allows members, staff and tenants:read token', async () => {
      const readers = [
        kinds.memberWithoutRights,
        kinds.staffNotSuperuser,
        kinds.tenantOwner,
        kinds.platformStaff,
        admin,
        tokenWithAllScopes,
      ];

      for (const reader of readers) {
        const data = await expectAllowed<{
          tenant: { slug: string; owner: { email: string }; members: { totalCount: number } };
        }>(t, READ_TENANT, { slug: 'acme' }, reader);
        expect(data.tenant.slug, reader.name).toBe('acme');
        expect(data.tenant.owner.email, reader.name).toBe('alice@x.test');
        expect(data.tenant.members.totalCount, reader.name).toBeGreaterThan(0);
      }
    });
  });

  it('outsiders change nothing in acme', async () => {
    const carol = kinds.plainUser.token;
    const bob = kinds.staffNotSuperuser.token;
    const before = await fullSnapshot(t);

    const carolReads = await t.gql(CURRENT_TENANT_MEMBERS, {}, { token: carol, host: ACME });
    const carolAddsHerself = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { userEmail: 'carol@x.test', isSuperuser: true } },
      { token: carol, host: ACME },
    );
    const bobAddsCarol = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'carol@x.test', isSuperuser: true } },
      { token: bob, host: GLOBEX },
    );
    const anonymousReads = await t.gql(CURRENT_TENANT_MEMBERS, {}, { host: ACME });
    const limitedTokenAddsCarol = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'carol@x.test' } },
      { token: kinds.limitedTokenOnOwnHost.token, host: GLOBEX },
    );

    expect(errorCode(carolReads)).toBe('FORBIDDEN');
    expect(errorCode(carolAddsHerself)).toBe('FORBIDDEN');
    expect(errorCode(bobAddsCarol)).toBe('FORBIDDEN');
    expect(errorCode(anonymousReads)).toBe('UNAUTHENTICATED');
    expect(errorCode(limitedTokenAddsCarol)).toBe('FORBIDDEN');
    expect(await fullSnapshot(t)).toEqual(before);
    expect(await membershipsOf(t, 'carol@x.test')).not.toContain('acme');
  });
});

describe('self sign-up on', () => {
  let t: TestApp;
  let adminToken: string;

  beforeAll(async () => {
    t = await startTestApp({ selfSignup: true, requireVerifiedEmailToProvision: true });
    adminToken = await t.login(ADMIN_EMAIL);
    await provision(t, adminToken, { name: 'Acme', slug: 'acme', ownerEmail: ADMIN_EMAIL });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('creates an unverified user anonymously', async () => {
    const response = await t.gql<{ createUser: { email: string } }>(CREATE_USER, {
      input: { email: 'signup@x.test', password: PASSWORD, metadata: { source: 'web' } },
    });

    expect(response.body.errors).toBeUndefined();
    const [user] = await t.sql<{ is_verified: boolean; is_active: boolean }>(
      'select is_verified, is_active from public.users where email = $1',
      ['signup@x.test'],
    );
    expect(user).toEqual({ is_verified: false, is_active: true });
    expect(await membershipsOf(t, 'signup@x.test')).toEqual(['public']);
    expect(await permissionsRow(t, 'public', 'signup@x.test')).toEqual({
      is_staff: false,
      is_superuser: false,
    });
    expect(await t.login('signup@x.test')).toEqual(expect.any(String));
  });

  it('signs up on a tenant host', async () => {
    const response = await t.gql(
      CREATE_USER,
      { input: { email: 'signup-acme@x.test', password: PASSWORD } },
      { host: ACME },
    );

    expect(response.body.errors).toBeUndefined();
    expect(await membershipsOf(t, 'signup-acme@x.test')).toEqual(['public']);
  });

  it('lets a logged-in user sign up another', async () => {
    await t.gql(CREATE_USER, { input: { email: 'signup-inviter@x.test', password: PASSWORD } });
    const inviter = await t.login('signup-inviter@x.test');

    await expectAllowed(
      t,
      CREATE_USER,
      { input: { email: 'signup-invited@x.test', password: PASSWORD } },
      { token: inviter },
    );

    const [user] = await t.sql<{ is_verified: boolean }>(
      'select is_verified from public.users where email = $1',
      ['signup-invited@x.test'],
    );
    expect(user?.is_verified).toBe(false);
  });

  it('rejects flags in a sign-up', async () => {
    await t.gql(CREATE_USER, { input: { email: 'signup-user@x.test', password: PASSWORD } });
    const user = await t.login('signup-user@x.test');

    for (const flag of ['isStaff', 'isSuperuser', 'isVerified']) {
      await expectDenied(
        t,
        {
          field: 'createUser',
          query: CREATE_USER,
          variables: { input: { email: 'flagged@x.test', password: PASSWORD, [flag]: true } },
        },
        [
          { name: `anonymous with ${flag}`, code: 'FORBIDDEN' },
          { name: `user with ${flag}`, token: user, code: 'FORBIDDEN' },
        ],
      );
    }
  });

  it('still needs users:write for tokens', async () => {
    const token = await createToken(t, adminToken, ['users:read', 'tenants:write']);

    await expectDenied(
      t,
      {
        field: 'createUser',
        query: CREATE_USER,
        variables: { input: { email: 'token-signup@x.test', password: PASSWORD } },
      },
      [{ name: 'token without users:write', token, code: 'FORBIDDEN' }],
    );
  });

  it('opens nothing else to anonymous callers', async () => {
    await expectDenied(
      t,
      { field: 'deleteUser', query: DELETE_USER, variables: { email: 'signup@x.test' } },
      [{ name: 'anonymous', code: 'UNAUTHENTICATED' }],
    );
    await expectDenied(
      t,
      {
        field: 'provisionTenant',
        query: PROVISION_TENANT,
        variables: { input: { name: 'Anon', slug: 'anon-co', ownerEmail: 'signup@x.test' } },
      },
      [{ name: 'anonymous', code: 'UNAUTHENTICATED' }],
    );
  });

  it('unverified owner cannot provision', async () => {
    await t.gql(CREATE_USER, { input: { email: 'unverified@x.test', password: PASSWORD } });
    const unverified = await t.login('unverified@x.test');
    const before = await fullSnapshot(t);

    const own = await t.gql(
      PROVISION_TENANT,
      { input: { name: 'Mine', slug: 'mine-co', ownerEmail: 'unverified@x.test' } },
      { token: unverified },
    );
    const byAdmin = await t.gql(
      PROVISION_TENANT,
      { input: { name: 'Theirs', slug: 'theirs-co', ownerEmail: 'unverified@x.test' } },
      { token: adminToken },
    );

    expect(errorCode(own)).toBe('FORBIDDEN');
    expect(own.body.errors?.[0]?.extensions?.reason).toBe('EMAIL_NOT_VERIFIED');
    expect(errorCode(byAdmin)).toBe('FORBIDDEN');
    expect(byAdmin.body.errors?.[0]?.extensions?.field).toBe('ownerEmail');
    expect(await fullSnapshot(t)).toEqual(before);
  });

  it('verified owner provisions for themself', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'verified@x.test', password: PASSWORD, isVerified: true } },
      adminToken,
    );
    const verified = await t.login('verified@x.test');

    await expectAllowed(
      t,
      PROVISION_TENANT,
      { input: { name: 'Verified', slug: 'verified-co', ownerEmail: 'verified@x.test' } },
      { token: verified },
    );

    expect(await ownerOf(t, 'verified-co')).toBe('verified@x.test');
  });
});

describe('self-service provisioning off', () => {
  let t: TestApp;
  let adminToken: string;
  let carol: string;

  beforeAll(async () => {
    t = await startTestApp({ selfServiceProvisioning: false });
    adminToken = await t.login(ADMIN_EMAIL);
    await createUsers(t, adminToken, ['carol@x.test']);
    carol = await t.login('carol@x.test');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('rejects a user provisioning for themself', async () => {
    await expectDenied(
      t,
      {
        field: 'provisionTenant',
        query: PROVISION_TENANT,
        variables: { input: { name: 'Carol Co', slug: 'carol-co', ownerEmail: 'carol@x.test' } },
      },
      [{ name: 'user for themself', token: carol, code: 'FORBIDDEN' }],
    );
  });

  it('still allows admin and tenants:write token', async () => {
    const token = await createToken(t, adminToken, ['tenants:write']);

    await expectAllowed(
      t,
      PROVISION_TENANT,
      { input: { name: 'By Admin', slug: 'by-admin', ownerEmail: 'carol@x.test' } },
      { token: adminToken },
    );
    await expectAllowed(
      t,
      PROVISION_TENANT,
      { input: { name: 'By Token', slug: 'by-token', ownerEmail: 'carol@x.test' } },
      { token },
    );

    expect(await ownerOf(t, 'by-admin')).toBe('carol@x.test');
    expect(await ownerOf(t, 'by-token')).toBe('carol@x.test');
  });
});
