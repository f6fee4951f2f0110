import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
  REMOVE_USER_FROM_TENANT,
  databaseSnapshot,
  mustSucceed,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const ACME = 'acme.app.test';
const GLOBEX = 'globex.app.test';
const PUBLIC = 'app.test';

/** The catalog every tenant schema is seeded with. */
const CATALOG = [
  'tenant_users.add_member',
  'tenant_users.change_group',
  'tenant_users.change_member',
  'tenant_users.remove_member',
  'tenant_users.view_group',
  'tenant_users.view_member',
];

const HAS_PERMISSION = `
  query ($permission: String!, $tenant: String) {
    hasPermission(permission: $permission, tenant: $tenant)
  }`;

const HAS_MODULE_PERMISSION = `
  query ($appLabel: String!, $tenant: String) {
    hasModulePermission(appLabel: $appLabel, tenant: $tenant)
  }`;

const MY_PERMISSIONS = `
  query ($tenant: String) {
    myPermissions(tenant: $tenant) {
      tenant { slug }
      isStaff isSuperuser groups allPermissions groupPermissions directPermissions
    }
  }`;

const MEMBER_FIELDS = 'isStaff isSuperuser groups permissions user { email } tenant { slug }';

const CREATE_GROUP = `
  mutation ($tenant: String, $name: String!, $permissions: [String!]) {
    createGroup(tenant: $tenant, name: $name, permissions: $permissions) { id name permissions }
  }`;

const DELETE_GROUP = `
  mutation ($tenant: String, $group: String!) { deleteGroup(tenant: $tenant, group: $group) }`;

const SET_GROUP_PERMISSIONS = `
  mutation ($tenant: String, $group: String!, $permissions: [String!]) {
    setGroupPermissions(tenant: $tenant, group: $group, permissions: $permissions) {
      name permissions updatedAt
    }
  }`;

const ADD_MEMBER_TO_GROUP = `
  mutation ($tenant: String, $email: String!, $group: String!) {
    addMemberToGroup(tenant: $tenant, userEmail: $email, group: $group) { ${MEMBER_FIELDS} }
  }`;

const REMOVE_MEMBER_FROM_GROUP = `
  mutation ($tenant: String, $email: String!, $group: String!) {
    removeMemberFromGroup(tenant: $tenant, userEmail: $email, group: $group) { ${MEMBER_FIELDS} }
  }`;

const SET_MEMBER_FLAGS = `
  mutation ($tenant: String, $email: String!, $isStaff: Boolean, $isSuperuser: Boolean) {
    setMemberFlags(
      tenant: $tenant, userEmail: $email, isStaff: $isStaff, isSuperuser: $isSuperuser
    ) { ${MEMBER_FIELDS} }
  }`;

const GRANT_PERMISSION = `
  mutation ($tenant: String, $email: String!, $permission: String!) {
    grantPermission(tenant: $tenant, userEmail: $email, permission: $permission) {
      ${MEMBER_FIELDS}
    }
  }`;

const REVOKE_PERMISSION = `
  mutation ($tenant: String, $email: String!, $permission: String!) {
    revokePermission(tenant: $tenant, userEmail: $email, permission: $permission) {
      ${MEMBER_FIELDS}
    }
  }`;

const LIST_GROUPS = `
  query ($tenant: String) { groups(tenant: $tenant) { name permissions } }`;

const LIST_PERMISSIONS = `
  query ($tenant: String) {
    permissions(tenant: $tenant) { appLabel codename name qualifiedName }
  }`;

interface MemberPermissions {
  tenant: { slug: string };
  isStaff: boolean;
  isSuperuser: boolean;
  groups: string[];
  allPermissions: string[];
  groupPermissions: string[];
  directPermissions: string[];
}

type Snapshot = Record<string, unknown>;

describe('tenant permissions', () => {
  let t: TestApp;
  let f: CaseFixture;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    t = await startTestApp();
    f = await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  async function tokenOf(email: string): Promise<string> {
    if (!tokens.has(email)) {
      tokens.set(email, email === ADMIN_EMAIL ? f.adminToken : await t.login(email));
    }

    return tokens.get(email)!;
  }

  /** Runs an operation as `email` on `host`. */
  async function as<T = Record<string, unknown>>(
    email: string,
    query: string,
    variables: Record<string, unknown> = {},
    host = ACME,
  ): Promise<GraphqlResponse<T>> {
    return t.gql<T>(query, variables, { token: await tokenOf(email), host });
  }

  /** Runs an operation as `email` on `host` and fails the test on any error. */
  async function ok<T = Record<string, unknown>>(
    email: string,
    query: string,
    variables: Record<string, unknown> = {},
    host = ACME,
  ): Promise<T> {
    return mustSucceed<T>(t, query, variables, await tokenOf(email), host);
  }

  async function createUser(email: string): Promise<void> {
    await mustSucceed(t, CREATE_USER, { input: { email, password: PASSWORD } }, f.adminToken);
  }

  /** Creates a user and makes them a member of each tenant, as the platform admin. */
  async function createMember(
    email: string,
    tenants: string[],
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    await createUser(email);
    for (const tenant of tenants) {
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant, userEmail: email, ...extra } },
        f.adminToken,
      );
    }
  }

  async function createGroupAsAdmin(
    tenant: string,
    name: string,
    permissions: string[],
  ): Promise<void> {
    await ok(ADMIN_EMAIL, CREATE_GROUP, { tenant, name, permissions }, PUBLIC);
  }

  async function check(email: string, permission: string, tenant?: string, host = ACME) {
    const data = await ok<{ hasPermission: boolean }>(
      email,
      HAS_PERMISSION,
      { permission, tenant },
      host,
    );

    return data.hasPermission;
  }

  async function moduleCheck(email: string, appLabel: string, tenant?: string, host = ACME) {
    const data = await ok<{ hasModulePermission: boolean }>(
      email,
      HAS_MODULE_PERMISSION,
      { appLabel, tenant },
      host,
    );

    return data.hasModulePermission;
  }

  async function mine(email: string, tenant?: string, host = ACME): Promise<MemberPermissions> {
    const data = await ok<{ myPermissions: MemberPermissions }>(
      email,
      MY_PERMISSIONS,
      { tenant },
      host,
    );

    return data.myPermissions;
  }

  /** Reads a tenant's schema name from the database. */
  async function schemaOf(slug: string): Promise<string> {
    const [row] = await t.sql<{ schema_name: string }>(
      'select schema_name from public.tenants where slug = $1',
      [slug],
    );

    return row.schema_name;
  }

  /** Reads a member's permissions row in one tenant schema, or undefined. */
  async function memberRow(slug: string, email: string) {
    const schema = await schemaOf(slug);
    const [row] = await t.sql<{
      id: string;
      is_staff: boolean;
      is_superuser: boolean;
      created_at: Date;
      updated_at: Date;
    }>(
      `select p.* from "${schema}".user_tenant_permissions p
       join public.users u on u.id = p.user_id where u.email = $1`,
      [email],
    );

    return row;
  }

  /**
   * Everything `databaseSnapshot` holds, plus every tenant schema's permission catalog, groups,
   * group permissions and direct member permissions.
   */
  async function fullSnapshot(): Promise<Snapshot> {
    const snapshot = await databaseSnapshot(t);
    const schemas = await t.sql<{ table_schema: string }>(
      `select table_schema from information_schema.tables
       where table_name = 'groups' order by table_schema`,
    );
    for (const { table_schema: schema } of schemas) {
      const s = `"${schema.replaceAll('"', '""')}"`;
      snapshot[`${schema}.permissions`] = await t.sql(`select * from ${s}.permissions order by id`);
      snapshot[`${schema}.groups`] = await t.sql(`select * from ${s}.groups order by id`);
      snapshot[`${schema}.group_permissions`] = await t.sql(
        `select * from ${s}.group_permissions order by 1, 2`,
      );
      snapshot[`${schema}.user_tenant_permissions_permissions`] = await t.sql(
        `select * from ${s}.user_tenant_permissions_permissions order by 1, 2`,
      );
    }

    return snapshot;
  }

  /** Returns the keys of the snapshot whose rows differ. */
  function changedKeys(before: Snapshot, after: Snapshot): string[] {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();

    return keys.filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
  }

  /** Checks that a failing mutation left the database as it was. */
  async function expectRejected(
    response: GraphqlResponse<unknown>,
    before: Snapshot,
    code: string,
    field?: string,
  ): Promise<void> {
    expect(errorCode(response), JSON.stringify(response.body.errors)).toBe(code);
    if (field !== undefined) {
      expect(response.body.errors?.[0]?.extensions?.field).toBe(field);
    }
    expect(changedKeys(before, await fullSnapshot())).toEqual([]);
  }

  it('group permission makes check true', async () => {
    await createMember('grouped@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'viewers', ['tenant_users.view_member']);

    expect(await check('grouped@x.test', 'tenant_users.view_member')).toBe(false);
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'grouped@x.test', group: 'viewers' });

    expect(await check('grouped@x.test', 'tenant_users.view_member')).toBe(true);
    expect(await check('grouped@x.test', 'tenant_users.change_group')).toBe(false);
    expect(await moduleCheck('grouped@x.test', 'tenant_users')).toBe(true);
    const rights = await mine('grouped@x.test');
    expect(rights.groups).toEqual(['viewers']);
    expect(rights.groupPermissions).toEqual(['tenant_users.view_member']);
    expect(rights.allPermissions).toEqual(['tenant_users.view_member']);
    expect(rights.directPermissions).toEqual([]);
    expect(rights.isStaff).toBe(false);
    expect(rights.isSuperuser).toBe(false);
  });

  it('direct permission makes check true', async () => {
    await createMember('direct@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'group-viewers', ['tenant_users.view_group']);
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, {
      email: 'direct@x.test',
      group: 'group-viewers',
    });
    expect(await moduleCheck('direct@x.test', 'tenant_users')).toBe(true);

    const granted = await ok<{ grantPermission: { permissions: string[] } }>(
      'alice@x.test',
      GRANT_PERMISSION,
      { email: 'direct@x.test', permission: 'tenant_users.add_member' },
    );
    expect(granted.grantPermission.permissions).toEqual([
      'tenant_users.add_member',
      'tenant_users.view_group',
    ]);
    expect(await check('direct@x.test', 'tenant_users.add_member')).toBe(true);
    const rights = await mine('direct@x.test');
    expect(rights.directPermissions).toEqual(['tenant_users.add_member']);
    expect(rights.groupPermissions).toEqual(['tenant_users.view_group']);
    expect(rights.allPermissions).toEqual(['tenant_users.add_member', 'tenant_users.view_group']);

    await ok('alice@x.test', REVOKE_PERMISSION, {
      email: 'direct@x.test',
      permission: 'tenant_users.add_member',
    });
    expect(await check('direct@x.test', 'tenant_users.add_member')).toBe(false);

    // Revoking a permission that comes from a group leaves the group's grant in place.
    await ok('alice@x.test', REVOKE_PERMISSION, {
      email: 'direct@x.test',
      permission: 'tenant_users.view_group',
    });
    expect(await check('direct@x.test', 'tenant_users.view_group')).toBe(true);
  });

  it('repeated grant and group add change nothing', async () => {
    await createMember('repeat@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'repeaters', []);
    const variables = { email: 'repeat@x.test', permission: 'tenant_users.view_member' };
    await ok('alice@x.test', GRANT_PERMISSION, variables);
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'repeat@x.test', group: 'repeaters' });
    const before = await fullSnapshot();

    await ok('alice@x.test', GRANT_PERMISSION, variables);
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'repeat@x.test', group: 'repeaters' });

    expect(changedKeys(before, await fullSnapshot())).toEqual([]);
  });

  it('superuser staff member passes every check', async () => {
    await createMember('chief@x.test', ['acme']);
    await ok('alice@x.test', SET_MEMBER_FLAGS, {
      email: 'chief@x.test',
      isStaff: true,
      isSuperuser: true,
    });

    for (const permission of CATALOG) {
      expect(await check('chief@x.test', permission), permission).toBe(true);
    }
    expect(await moduleCheck('chief@x.test', 'tenant_users')).toBe(true);
    const rights = await mine('chief@x.test');
    expect(rights.isStaff).toBe(true);
    expect(rights.isSuperuser).toBe(true);
    expect(rights.allPermissions).toEqual(CATALOG);
    expect(rights.groupPermissions).toEqual(CATALOG);
    expect(rights.directPermissions).toEqual([]);
  });

  it('staff flag alone grants nothing', async () => {
    await createMember('staffer@x.test', ['acme'], { isStaff: true });

    for (const permission of CATALOG) {
      expect(await check('staffer@x.test', permission), permission).toBe(false);
    }
    expect(await moduleCheck('staffer@x.test', 'tenant_users')).toBe(false);
    const rights = await mine('staffer@x.test');
    expect(rights.isStaff).toBe(true);
    expect(rights.allPermissions).toEqual([]);
  });

  it('removed member loses every permission', async () => {
    await createMember('leaver@x.test', ['acme', 'globex'], { isStaff: true });
    await createGroupAsAdmin('acme', 'leavers', ['tenant_users.view_member']);
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'leaver@x.test', group: 'leavers' });
    await ok('alice@x.test', GRANT_PERMISSION, {
      email: 'leaver@x.test',
      permission: 'tenant_users.add_member',
    });
    await ok('alice@x.test', SET_MEMBER_FLAGS, { email: 'leaver@x.test', isSuperuser: true });
    const acmeRowBefore = await memberRow('acme', 'leaver@x.test');
    const globexRowBefore = await memberRow('globex', 'leaver@x.test');

    await ok('alice@x.test', REMOVE_USER_FROM_TENANT, { tenant: 'acme', email: 'leaver@x.test' });

    for (const permission of CATALOG) {
      expect(await check('leaver@x.test', permission, 'acme', GLOBEX), permission).toBe(false);
    }
    expect(await moduleCheck('leaver@x.test', 'tenant_users', 'acme', GLOBEX)).toBe(false);
    expect(await mine('leaver@x.test', 'acme', GLOBEX)).toEqual({
      tenant: { slug: 'acme' },
      isStaff: false,
      isSuperuser: false,
      groups: [],
      allPermissions: [],
      groupPermissions: [],
      directPermissions: [],
    });
    expect(await memberRow('acme', 'leaver@x.test')).toBeUndefined();
    const acme = await schemaOf('acme');
    for (const table of ['user_tenant_permissions_groups', 'user_tenant_permissions_permissions']) {
      const links = await t.sql(`select 1 from "${acme}".${table} where user_permissions_id = $1`, [
        acmeRowBefore.id,
      ]);
      expect(links, table).toEqual([]);
    }
    expect(await memberRow('globex', 'leaver@x.test')).toEqual(globexRowBefore);
  });

  it('deleted user can no longer ask', async () => {
    await createMember('gone@x.test', ['acme']);
    await ok('alice@x.test', GRANT_PERMISSION, {
      email: 'gone@x.test',
      permission: 'tenant_users.view_member',
    });
    const token = await tokenOf('gone@x.test');
    expect(await check('gone@x.test', 'tenant_users.view_member')).toBe(true);

    await ok(ADMIN_EMAIL, DELETE_USER, { email: 'gone@x.test' }, PUBLIC);

    const response = await t.gql(
      HAS_PERMISSION,
      { permission: 'tenant_users.view_member' },
      { token, host: ACME },
    );
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
    expect(await memberRow('acme', 'gone@x.test')).toBeUndefined();
  });

  it('non-member of named tenant has nothing', async () => {
    expect(await check('carol@x.test', 'tenant_users.view_member', 'acme', PUBLIC)).toBe(false);
    expect(await moduleCheck('carol@x.test', 'tenant_users', 'acme', PUBLIC)).toBe(false);
    const rights = await mine('carol@x.test', 'acme', PUBLIC);
    expect(rights.isSuperuser).toBe(false);
    expect(rights.allPermissions).toEqual([]);
    expect(rights.groups).toEqual([]);
  });

  it('answers per tenant in one request', async () => {
    const query = `{
      a: hasPermission(permission: "tenant_users.change_group", tenant: "acme")
      g: hasPermission(permission: "tenant_users.change_group", tenant: "globex")
      ma: myPermissions(tenant: "acme") { isSuperuser allPermissions }
      mg: myPermissions(tenant: "globex") { isSuperuser allPermissions }
      ga: hasModulePermission(appLabel: "tenant_users", tenant: "globex")
    }`;
    const reversed = `{
      g: hasPermission(permission: "tenant_users.change_group", tenant: "globex")
      a: hasPermission(permission: "tenant_users.change_group", tenant: "acme")
    }`;

    // alice is superuser of acme and a plain member of globex, and bob the other way round.
    for (const host of [ACME, GLOBEX]) {
      const alice = await ok<Record<string, unknown>>('alice@x.test', query, {}, host);
      expect(alice.a).toBe(true);
      expect(alice.g).toBe(false);
      expect(alice.ma).toEqual({ isSuperuser: true, allPermissions: CATALOG });
      expect(alice.mg).toEqual({ isSuperuser: false, allPermissions: [] });
      expect(alice.ga).toBe(false);

      const bob = await ok<Record<string, unknown>>('bob@x.test', reversed, {}, host);
      expect(bob.a).toBe(false);
      expect(bob.g).toBe(true);
    }
  });

  it('catalog and groups are listed', async () => {
    await createGroupAsAdmin('acme', 'listed', [
      'tenant_users.view_member',
      'tenant_users.add_member',
    ]);

    const catalog = await ok<{ permissions: { qualifiedName: string; name: string }[] }>(
      'bob@x.test',
      LIST_PERMISSIONS,
    );
    expect(catalog.permissions.map((p) => p.qualifiedName)).toEqual(CATALOG);
    expect(catalog.permissions.every((p) => p.name.length > 0)).toBe(true);

    const groups = await ok<{ groups: { name: string; permissions: string[] }[] }>(
      'bob@x.test',
      LIST_GROUPS,
    );
    expect(groups.groups).toContainEqual({
      name: 'listed',
      permissions: ['tenant_users.add_member', 'tenant_users.view_member'],
    });
    const globexGroups = await ok<{ groups: { name: string }[] }>('bob@x.test', LIST_GROUPS, {
      tenant: 'globex',
    });
    expect(globexGroups.groups.map((g) => g.name)).not.toContain('listed');

    const outsider = await as('carol@x.test', LIST_GROUPS, { tenant: 'acme' }, PUBLIC);
    expect(errorCode(outsider)).toBe('FORBIDDEN');
    const outsiderCatalog = await as('carol@x.test', LIST_PERMISSIONS, { tenant: 'acme' }, PUBLIC);
    expect(errorCode(outsiderCatalog)).toBe('FORBIDDEN');
    const admin = await ok<{ groups: { name: string }[] }>(
      ADMIN_EMAIL,
      LIST_GROUPS,
      { tenant: 'acme' },
      PUBLIC,
    );
    expect(admin.groups.map((g) => g.name)).toContain('listed');
  });

  it('group permission changes reach members', async () => {
    await createMember('reach@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'reachers', ['tenant_users.view_member']);
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'reach@x.test', group: 'reachers' });
    const [groupBefore] = await t.sql<{ updated_at: Date }>(
      `select updated_at from "${await schemaOf('acme')}".groups where name = 'reachers'`,
    );

    const set = await ok<{ setGroupPermissions: { permissions: string[] } }>(
      'alice@x.test',
      SET_GROUP_PERMISSIONS,
      { group: 'reachers', permissions: ['tenant_users.view_group', 'tenant_users.view_group'] },
    );

    expect(set.setGroupPermissions.permissions).toEqual(['tenant_users.view_group']);
    expect(await check('reach@x.test', 'tenant_users.view_member')).toBe(false);
    expect(await check('reach@x.test', 'tenant_users.view_group')).toBe(true);
    const [groupAfter] = await t.sql<{ updated_at: Date }>(
      `select updated_at from "${await schemaOf('acme')}".groups where name = 'reachers'`,
    );
    expect(groupAfter.updated_at.getTime()).toBeGreaterThan(groupBefore.updated_at.getTime());

    await ok('alice@x.test', REMOVE_MEMBER_FROM_GROUP, {
      email: 'reach@x.test',
      group: 'reachers',
    });
    expect(await check('reach@x.test', 'tenant_users.view_group')).toBe(false);
    expect((await mine('reach@x.test')).groups).toEqual([]);
  });

  it('deleting group takes its permissions away', async () => {
    await createMember('orphan@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'doomed', ['tenant_users.remove_member']);
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'orphan@x.test', group: 'doomed' });
    expect(await check('orphan@x.test', 'tenant_users.remove_member')).toBe(true);
    const rowBefore = await memberRow('acme', 'orphan@x.test');

    const deleted = await ok<{ deleteGroup: boolean }>('alice@x.test', DELETE_GROUP, {
      group: 'doomed',
    });

    expect(deleted.deleteGroup).toBe(true);
    expect(await check('orphan@x.test', 'tenant_users.remove_member')).toBe(false);
    expect((await mine('orphan@x.test')).groups).toEqual([]);
    const rowAfter = await memberRow('acme', 'orphan@x.test');
    expect(rowAfter.updated_at.getTime()).toBeGreaterThan(rowBefore.updated_at.getTime());
    const groups = await t.sql(
      `select 1 from "${await schemaOf('acme')}".groups where name = 'doomed'`,
    );
    expect(groups).toEqual([]);
  });

  it('member row records its change times', async () => {
    await createMember('timed@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'timers', []);
    const created = await memberRow('acme', 'timed@x.test');
    expect(created.created_at).toBeInstanceOf(Date);
    expect(created.updated_at).toBeInstanceOf(Date);
    expect(created.updated_at.getTime()).toBe(created.created_at.getTime());

    await ok('alice@x.test', SET_MEMBER_FLAGS, { email: 'timed@x.test', isStaff: true });
    const flagged = await memberRow('acme', 'timed@x.test');
    expect(flagged.is_staff).toBe(true);
    expect(flagged.created_at.getTime()).toBe(created.created_at.getTime());
    expect(flagged.updated_at.getTime()).toBeGreaterThan(created.updated_at.getTime());

    // Setting the flags it already has is no change.
    await ok('alice@x.test', SET_MEMBER_FLAGS, { email: 'timed@x.test', isStaff: true });
    expect((await memberRow('acme', 'timed@x.test')).updated_at).toEqual(flagged.updated_at);

    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'timed@x.test', group: 'timers' });
    const grouped = await memberRow('acme', 'timed@x.test');
    expect(grouped.updated_at.getTime()).toBeGreaterThan(flagged.updated_at.getTime());

    await ok('alice@x.test', GRANT_PERMISSION, {
      email: 'timed@x.test',
      permission: 'tenant_users.view_group',
    });
    const granted = await memberRow('acme', 'timed@x.test');
    expect(granted.updated_at.getTime()).toBeGreaterThan(grouped.updated_at.getTime());
    expect(granted.created_at.getTime()).toBe(created.created_at.getTime());
  });

  it('member rights load in fixed statements', async () => {
    // The test server does not load pg_stat_statements, so statements are counted on the client
    // side. ORM queries and raw SQL both go through the ORM's knex client, which emits a `query`
    // event for each statement it sends.
    const knex = t.app.orm.em.getConnection().getKnex();
    await createMember('few@x.test', ['acme']);
    await createMember('many@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'count-0', ['tenant_users.view_member']);
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'few@x.test', group: 'count-0' });
    for (let index = 0; index < 8; index++) {
      const group = `count-${index}`;
      if (index > 0) {
        await createGroupAsAdmin('acme', group, [CATALOG[index % CATALOG.length]]);
      }
      await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'many@x.test', group });
    }
    const query = `{
      me { email }
      myPermissions { groups allPermissions groupPermissions directPermissions }
      currentTenant { members(first: 100) { edges { node { groups permissions user { email } } } } }
    }`;

    async function countStatements(email: string): Promise<number> {
      const token = await tokenOf(email);
      let count = 0;
      const listener = () => count++;
      knex.on('query', listener);
      try {
        const response = await t.gql(query, {}, { token, host: ACME });
        expect(response.body.errors).toBeUndefined();
      } finally {
        knex.off('query', listener);
      }

      return count;
    }

    const few = await countStatements('few@x.test');
    const many = await countStatements('many@x.test');

    expect((await mine('many@x.test')).groups).toHaveLength(8);
    expect(few).toBeGreaterThan(0);
    expect(many).toBe(few);
    expect(many).toBeLessThanOrEqual(12);
  });

  it('member without permission cannot manage', async () => {
    await createMember('plain@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'guarded', []);
    await tokenOf('plain@x.test');
    await tokenOf('bob@x.test');
    const attempts: [string, Record<string, unknown>][] = [
      [CREATE_GROUP, { name: 'sneaky', permissions: [] }],
      [DELETE_GROUP, { group: 'guarded' }],
      [SET_GROUP_PERMISSIONS, { group: 'guarded', permissions: CATALOG }],
      [ADD_MEMBER_TO_GROUP, { email: 'plain@x.test', group: 'guarded' }],
      [REMOVE_MEMBER_FROM_GROUP, { email: 'plain@x.test', group: 'guarded' }],
      [SET_MEMBER_FLAGS, { email: 'plain@x.test', isStaff: true }],
      [GRANT_PERMISSION, { email: 'plain@x.test', permission: 'tenant_users.change_member' }],
      [REVOKE_PERMISSION, { email: 'plain@x.test', permission: 'tenant_users.change_member' }],
    ];

    for (const [query, variables] of attempts) {
      const before = await fullSnapshot();
      const response = await as('plain@x.test', query, variables);
      await expectRejected(response, before, 'FORBIDDEN');

      // bob is staff in acme, which grants nothing by itself.
      const staff = await as('bob@x.test', query, variables);
      await expectRejected(staff, before, 'FORBIDDEN');
    }
  });

  it('anonymous caller is rejected', async () => {
    const before = await fullSnapshot();

    const question = await t.gql(
      HAS_PERMISSION,
      { permission: 'tenant_users.view_member' },
      { host: ACME },
    );
    expect(errorCode(question)).toBe('UNAUTHENTICATED');
    const create = await t.gql(CREATE_GROUP, { name: 'anon' }, { host: ACME });
    await expectRejected(create, before, 'UNAUTHENTICATED');
  });

  it('change_group holder manages groups only', async () => {
    await createMember('grouper@x.test', ['acme']);
    await ok('alice@x.test', GRANT_PERMISSION, {
      email: 'grouper@x.test',
      permission: 'tenant_users.change_group',
    });

    const created = await ok<{ createGroup: { name: string; permissions: string[] } }>(
      'grouper@x.test',
      CREATE_GROUP,
      { name: 'made-by-grouper', permissions: ['tenant_users.view_member'] },
    );
    expect(created.createGroup).toMatchObject({
      name: 'made-by-grouper',
      permissions: ['tenant_users.view_member'],
    });
    await ok('grouper@x.test', SET_GROUP_PERMISSIONS, {
      group: 'made-by-grouper',
      permissions: ['tenant_users.view_group'],
    });

    const before = await fullSnapshot();
    const join = await as('grouper@x.test', ADD_MEMBER_TO_GROUP, {
      email: 'grouper@x.test',
      group: 'made-by-grouper',
    });
    await expectRejected(join, before, 'FORBIDDEN');

    await ok('grouper@x.test', DELETE_GROUP, { group: 'made-by-grouper' });
  });

  it('change_member holder manages members only', async () => {
    await createMember('manager@x.test', ['acme']);
    await createMember('managed@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'managed-group', ['tenant_users.view_group']);
    await ok('alice@x.test', GRANT_PERMISSION, {
      email: 'manager@x.test',
      permission: 'tenant_users.change_member',
    });

    await ok('manager@x.test', ADD_MEMBER_TO_GROUP, {
      email: 'managed@x.test',
      group: 'managed-group',
    });
    await ok('manager@x.test', GRANT_PERMISSION, {
      email: 'managed@x.test',
      permission: 'tenant_users.view_member',
    });
    const flagged = await ok<{ setMemberFlags: { isStaff: boolean; isSuperuser: boolean } }>(
      'manager@x.test',
      SET_MEMBER_FLAGS,
      { email: 'managed@x.test', isStaff: true },
    );
    expect(flagged.setMemberFlags).toMatchObject({ isStaff: true, isSuperuser: false });
    expect(await check('managed@x.test', 'tenant_users.view_member')).toBe(true);
    expect(await check('managed@x.test', 'tenant_users.view_group')).toBe(true);

    const before = await fullSnapshot();
    const group = await as('manager@x.test', CREATE_GROUP, { name: 'not-allowed' });
    await expectRejected(group, before, 'FORBIDDEN');
  });

  it('only superuser grants superuser', async () => {
    await createMember('climber@x.test', ['acme']);
    await createMember('target@x.test', ['acme']);
    await ok('alice@x.test', GRANT_PERMISSION, {
      email: 'climber@x.test',
      permission: 'tenant_users.change_member',
    });

    for (const email of ['climber@x.test', 'target@x.test']) {
      const before = await fullSnapshot();
      const response = await as('climber@x.test', SET_MEMBER_FLAGS, { email, isSuperuser: true });
      await expectRejected(response, before, 'FORBIDDEN');
    }

    const promoted = await ok<{ setMemberFlags: { isSuperuser: boolean } }>(
      'alice@x.test',
      SET_MEMBER_FLAGS,
      { email: 'target@x.test', isSuperuser: true },
    );
    expect(promoted.setMemberFlags.isSuperuser).toBe(true);

    // Taking superuser away is as privileged as giving it.
    const before = await fullSnapshot();
    const demote = await as('climber@x.test', SET_MEMBER_FLAGS, {
      email: 'target@x.test',
      isSuperuser: false,
    });
    await expectRejected(demote, before, 'FORBIDDEN');

    const byAdmin = await ok<{ setMemberFlags: { isSuperuser: boolean } }>(
      ADMIN_EMAIL,
      SET_MEMBER_FLAGS,
      { tenant: 'acme', email: 'target@x.test', isSuperuser: false },
      PUBLIC,
    );
    expect(byAdmin.setMemberFlags.isSuperuser).toBe(false);
  });

  it('owner stays superuser', async () => {
    const before = await fullSnapshot();

    const response = await as(ADMIN_EMAIL, SET_MEMBER_FLAGS, {
      tenant: 'acme',
      email: 'alice@x.test',
      isSuperuser: false,
    });

    await expectRejected(response, before, 'BAD_USER_INPUT', 'isSuperuser');
    expect(await check('alice@x.test', 'tenant_users.change_group')).toBe(true);
  });

  it('platform admin manages any tenant', async () => {
    await createMember('admin-target@x.test', ['globex']);

    await ok(
      ADMIN_EMAIL,
      CREATE_GROUP,
      { tenant: 'globex', name: 'by-admin', permissions: ['tenant_users.view_member'] },
      PUBLIC,
    );
    await ok(
      ADMIN_EMAIL,
      ADD_MEMBER_TO_GROUP,
      { tenant: 'globex', email: 'admin-target@x.test', group: 'by-admin' },
      PUBLIC,
    );
    await ok(
      ADMIN_EMAIL,
      SET_MEMBER_FLAGS,
      { tenant: 'globex', email: 'admin-target@x.test', isSuperuser: true },
      PUBLIC,
    );

    expect(
      await check('admin-target@x.test', 'tenant_users.remove_member', undefined, GLOBEX),
    ).toBe(true);
    // Managing a tenant does not make the admin a member with rights there.
    expect(await check(ADMIN_EMAIL, 'tenant_users.view_member', 'globex', PUBLIC)).toBe(false);
  });

  it('rights come from the named tenant', async () => {
    await createMember('crossing@x.test', ['acme', 'globex']);
    await ok('alice@x.test', GRANT_PERMISSION, {
      email: 'crossing@x.test',
      permission: 'tenant_users.change_group',
    });
    await ok('alice@x.test', GRANT_PERMISSION, {
      email: 'crossing@x.test',
      permission: 'tenant_users.change_member',
    });
    const attempts: [string, Record<string, unknown>][] = [
      [CREATE_GROUP, { tenant: 'globex', name: 'borrowed' }],
      [GRANT_PERMISSION, { tenant: 'globex', email: 'crossing@x.test', permission: CATALOG[0] }],
      [SET_MEMBER_FLAGS, { tenant: 'globex', email: 'crossing@x.test', isStaff: true }],
    ];

    for (const [query, variables] of attempts) {
      for (const host of [ACME, GLOBEX]) {
        const before = await fullSnapshot();
        const response = await as('crossing@x.test', query, variables, host);
        await expectRejected(response, before, 'FORBIDDEN');
      }
    }

    // bob is superuser of globex, not of acme: calling from his own tenant changes nothing.
    const before = await fullSnapshot();
    const response = await as(
      'bob@x.test',
      SET_MEMBER_FLAGS,
      { tenant: 'acme', email: 'carol@x.test', isSuperuser: true },
      GLOBEX,
    );
    await expectRejected(response, before, 'FORBIDDEN');
    const group = await as('bob@x.test', CREATE_GROUP, { tenant: 'acme', name: 'bobs' }, GLOBEX);
    await expectRejected(group, before, 'FORBIDDEN');
  });

  it('unknown names are rejected with field', async () => {
    await createMember('inputs@x.test', ['acme']);
    await createGroupAsAdmin('acme', 'existing', []);
    const cases: [string, Record<string, unknown>, string, string | undefined][] = [
      [
        CREATE_GROUP,
        { name: 'bad-perm', permissions: ['tenant_users.fly'] },
        'BAD_USER_INPUT',
        'permissions',
      ],
      [
        CREATE_GROUP,
        { name: 'bad-perm', permissions: ['view_member'] },
        'BAD_USER_INPUT',
        'permissions',
      ],
      [CREATE_GROUP, { name: '   ' }, 'BAD_USER_INPUT', 'name'],
      [CREATE_GROUP, { name: 'x'.repeat(151) }, 'BAD_USER_INPUT', 'name'],
      [CREATE_GROUP, { name: 'existing' }, 'ALREADY_EXISTS', 'name'],
      [CREATE_GROUP, { tenant: 'nowhere', name: 'lost' }, 'NOT_FOUND', undefined],
      [DELETE_GROUP, { group: 'missing' }, 'BAD_USER_INPUT', 'group'],
      [SET_GROUP_PERMISSIONS, { group: 'missing', permissions: [] }, 'BAD_USER_INPUT', 'group'],
      [
        SET_GROUP_PERMISSIONS,
        { group: 'existing', permissions: ['a.b'] },
        'BAD_USER_INPUT',
        'permissions',
      ],
      [
        ADD_MEMBER_TO_GROUP,
        { email: 'inputs@x.test', group: 'missing' },
        'BAD_USER_INPUT',
        'group',
      ],
      [
        REMOVE_MEMBER_FROM_GROUP,
        { email: 'inputs@x.test', group: 'missing' },
        'BAD_USER_INPUT',
        'group',
      ],
      [ADD_MEMBER_TO_GROUP, { email: 'carol@x.test', group: 'existing' }, 'NOT_FOUND', 'userEmail'],
      [
        ADD_MEMBER_TO_GROUP,
        { email: 'nobody@x.test', group: 'existing' },
        'NOT_FOUND',
        'userEmail',
      ],
      [
        GRANT_PERMISSION,
        { email: 'inputs@x.test', permission: 'tenant_users.fly' },
        'BAD_USER_INPUT',
        'permission',
      ],
      [
        REVOKE_PERMISSION,
        { email: 'inputs@x.test', permission: '' },
        'BAD_USER_INPUT',
        'permission',
      ],
      [
        GRANT_PERMISSION,
        { email: 'carol@x.test', permission: CATALOG[0] },
        'NOT_FOUND',
        'userEmail',
      ],
      [SET_MEMBER_FLAGS, { email: 'carol@x.test', isStaff: true }, 'NOT_FOUND', 'userEmail'],
    ];

    for (const [query, variables, code, field] of cases) {
      const before = await fullSnapshot();
      const response = await as('alice@x.test', query, variables);
      await expectRejected(response, before, code, field);
    }

    const unknownPermission = await as('inputs@x.test', HAS_PERMISSION, {
      permission: 'tenant_users.fly',
    });
    expect(errorCode(unknownPermission)).toBe('BAD_USER_INPUT');
    expect(unknownPermission.body.errors?.[0]?.extensions?.field).toBe('permission');
    const unknownLabel = await as('inputs@x.test', HAS_MODULE_PERMISSION, { appLabel: 'billing' });
    expect(errorCode(unknownLabel)).toBe('BAD_USER_INPUT');
    expect(unknownLabel.body.errors?.[0]?.extensions?.field).toBe('appLabel');
    const unknownTenant = await as('inputs@x.test', HAS_PERMISSION, {
      permission: CATALOG[0],
      tenant: 'nowhere',
    });
    expect(errorCode(unknownTenant)).toBe('NOT_FOUND');
  });

  it('concurrent group creation keeps one', async () => {
    const token = await tokenOf('alice@x.test');

    const responses = await Promise.all(
      Array.from({ length: 6 }, () =>
        t.gql(CREATE_GROUP, { name: 'rush', permissions: CATALOG }, { token, host: ACME }),
      ),
    );

    const codes = responses.map((response) => errorCode(response) ?? 'OK').sort();
    expect(codes).toEqual([
      'ALREADY_EXISTS',
      'ALREADY_EXISTS',
      'ALREADY_EXISTS',
      'ALREADY_EXISTS',
      'ALREADY_EXISTS',
      'OK',
    ]);
    const acme = await schemaOf('acme');
    const groups = await t.sql(`select id from "${acme}".groups where name = 'rush'`);
    expect(groups).toHaveLength(1);
    const links = await t.sql(`select 1 from "${acme}".group_permissions where group_id = $1`, [
      groups[0].id,
    ]);
    expect(links).toHaveLength(CATALOG.length);
  });

  it('group deletion racing additions stays consistent', async () => {
    const emails = ['race-1@x.test', 'race-2@x.test', 'race-3@x.test', 'race-4@x.test'];
    for (const email of emails) {
      await createMember(email, ['acme']);
    }
    await createGroupAsAdmin('acme', 'racing', ['tenant_users.view_member']);
    const token = await tokenOf('alice@x.test');

    const responses = await Promise.all([
      ...emails.map((email) =>
        t.gql(ADD_MEMBER_TO_GROUP, { email, group: 'racing' }, { token, host: ACME }),
      ),
      t.gql(DELETE_GROUP, { group: 'racing' }, { token, host: ACME }),
    ]);

    for (const response of responses) {
      expect(['OK', 'BAD_USER_INPUT']).toContain(errorCode(response) ?? 'OK');
    }
    expect(errorCode(responses[emails.length])).toBeUndefined();
    const acme = await schemaOf('acme');
    expect(await t.sql(`select 1 from "${acme}".groups where name = 'racing'`)).toEqual([]);
    const orphans = await t.sql(
      `select 1 from "${acme}".user_tenant_permissions_groups
       where group_id not in (select id from "${acme}".groups)`,
    );
    expect(orphans).toEqual([]);
    for (const email of emails) {
      expect(await check(email, 'tenant_users.view_member'), email).toBe(false);
    }
  });

  it('group writes touch one schema', async () => {
    await createMember('scoped@x.test', ['acme', 'globex']);
    for (const tenant of ['globex', 'public']) {
      await createGroupAsAdmin(tenant, 'scoped', ['tenant_users.view_member']);
    }
    await ok(
      ADMIN_EMAIL,
      ADD_MEMBER_TO_GROUP,
      {
        tenant: 'globex',
        email: 'scoped@x.test',
        group: 'scoped',
      },
      PUBLIC,
    );
    const acme = await schemaOf('acme');
    const before = await fullSnapshot();

    await ok('alice@x.test', CREATE_GROUP, { name: 'scoped', permissions: [CATALOG[1]] });
    await ok('alice@x.test', SET_GROUP_PERMISSIONS, { group: 'scoped', permissions: CATALOG });
    await ok('alice@x.test', ADD_MEMBER_TO_GROUP, { email: 'scoped@x.test', group: 'scoped' });
    await ok('alice@x.test', GRANT_PERMISSION, { email: 'scoped@x.test', permission: CATALOG[2] });
    await ok('alice@x.test', SET_MEMBER_FLAGS, { email: 'scoped@x.test', isStaff: true });
    const middle = await fullSnapshot();
    await ok('alice@x.test', REVOKE_PERMISSION, { email: 'scoped@x.test', permission: CATALOG[2] });
    await ok('alice@x.test', REMOVE_MEMBER_FROM_GROUP, { email: 'scoped@x.test', group: 'scoped' });
    await ok('alice@x.test', DELETE_GROUP, { group: 'scoped' });
    const after = await fullSnapshot();

    const acmeKeys = (keys: string[]) => keys.filter((key) => !key.startsWith(`${acme}.`));
    expect(changedKeys(before, middle).length).toBeGreaterThan(0);
    expect(acmeKeys(changedKeys(before, middle))).toEqual([]);
    expect(acmeKeys(changedKeys(middle, after))).toEqual([]);
    expect(await check('scoped@x.test', 'tenant_users.view_member', 'globex')).toBe(true);
  });

  it('re-adding member changes one tenant only', async () => {
    const acme = await schemaOf('acme');
    for (const tenant of ['acme', 'globex', 'public']) {
      await createGroupAsAdmin(tenant, 'alpha', ['tenant_users.view_member']);
      await createGroupAsAdmin(tenant, 'beta', ['tenant_users.view_group']);
    }
    for (const tenant of ['globex', 'public']) {
      await ok(
        ADMIN_EMAIL,
        ADD_MEMBER_TO_GROUP,
        {
          tenant,
          email: 'bob@x.test',
          group: 'alpha',
        },
        PUBLIC,
      );
    }
    const before = await fullSnapshot();

    // Both mutations run in one request, and nothing loads bob's acme groups before the removal.
    const rejoin = await ok<{ rejoin: { groups: string[]; isStaff: boolean } }>(
      'alice@x.test',
      `mutation {
        leave: removeUserFromTenant(tenant: "acme", userEmail: "bob@x.test")
        rejoin: addUserToTenant(
          input: { tenant: "acme", userEmail: "bob@x.test", isStaff: true, groups: ["alpha", "beta"] }
        ) { groups isStaff }
      }`,
    );
    expect(rejoin.rejoin).toEqual({ groups: ['alpha', 'beta'], isStaff: true });
    const members = await ok<{
      currentTenant: {
        members: { edges: { node: { user: { email: string }; groups: string[] } }[] };
      };
    }>(
      'alice@x.test',
      '{ currentTenant { members(first: 100) { edges { node { user { email } groups } } } } }',
    );
    const after = await fullSnapshot();

    const bob = members.currentTenant.members.edges.find(
      (edge) => edge.node.user.email === 'bob@x.test',
    );
    expect(bob?.node.groups).toEqual(['alpha', 'beta']);
    const changed = changedKeys(before, after);
    expect(changed.filter((key) => !key.startsWith(`${acme}.`) && key !== 'memberships')).toEqual(
      [],
    );
    const otherMemberships = (snapshot: Snapshot) =>
      (snapshot.memberships as { tenant_id: string }[]).filter(
        (row) => row.tenant_id !== f.acme.id,
      );
    expect(otherMemberships(after)).toEqual(otherMemberships(before));
    expect(await check('bob@x.test', 'tenant_users.view_group', 'acme', GLOBEX)).toBe(true);
    expect(await check('bob@x.test', 'tenant_users.view_member', 'public', GLOBEX)).toBe(true);
    expect(await check('bob@x.test', 'tenant_users.view_group', 'public', GLOBEX)).toBe(false);
  });
});
