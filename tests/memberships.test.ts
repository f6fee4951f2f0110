import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DomainEvent } from '../src/services/events.js';
import { PASSWORD, errorCode, startTestApp, type TestApp } from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  DELETE_USER,
  REMOVE_USER_FROM_TENANT,
  databaseSnapshot,
  mustSucceed,
  provision,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const MEMBERS = `
  query ($slug: String!, $first: Int, $after: String) {
    tenant(slug: $slug) {
      members(first: $first, after: $after) {
        edges { node { user { email } isStaff isSuperuser groups } cursor }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        totalCount
      }
    }
  }`;

interface MemberNode {
  user: { email: string };
  isStaff: boolean;
  isSuperuser: boolean;
  groups: string[];
}

interface MembersPage {
  edges: { node: MemberNode; cursor: string }[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
  totalCount: number;
}

interface PermissionRow {
  id: string;
  user_id: string;
  is_staff: boolean;
  is_superuser: boolean;
}

let t: TestApp;
let fixture: CaseFixture;
let adminToken: string;

beforeAll(async () => {
  t = await startTestApp();
  fixture = await seedCaseFixture(t);
  adminToken = fixture.adminToken;
});
afterAll(() => t?.close());

async function addUser(input: Record<string, unknown>, token: string | null = adminToken) {
  return t.gql<{ addUserToTenant: MemberNode & { tenant: { slug: string } } }>(
    ADD_USER_TO_TENANT,
    { input },
    { token: token ?? undefined },
  );
}

async function removeUser(tenant: string, email: string, token: string | null = adminToken) {
  return t.gql<{ removeUserFromTenant: boolean }>(
    REMOVE_USER_FROM_TENANT,
    { tenant, email },
    { token: token ?? undefined },
  );
}

async function createUser(email: string): Promise<void> {
  await mustSucceed(t, CREATE_USER, { input: { email, password: PASSWORD } }, adminToken);
}

async function userId(email: string): Promise<string> {
  const [row] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
    email,
  ]);

  return row.id;
}

async function permissionRows(schemaName: string, email: string): Promise<PermissionRow[]> {
  return t.sql<PermissionRow>(
    `select p.* from "${schemaName}".user_tenant_permissions p
     join public.users u on u.id = p.user_id where u.email = $1`,
    [email],
  );
}

async function membershipRows(tenantId: string, email: string): Promise<{ id: string }[]> {
  return t.sql<{ id: string }>(
    `select m.id from public.memberships m join public.users u on u.id = m.user_id
     where m.tenant_id = $1 and u.email = $2`,
    [tenantId, email],
  );
}

async function groupNames(schemaName: string, email: string): Promise<string[]> {
  const rows = await t.sql<{ name: string }>(
    `select g.name from "${schemaName}".user_tenant_permissions_groups ug
     join "${schemaName}".groups g on g.id = ug.group_id
     join "${schemaName}".user_tenant_permissions p on p.id = ug.user_permissions_id
     join public.users u on u.id = p.user_id
     where u.email = $1 order by g.name`,
    [email],
  );

  return rows.map((row) => row.name);
}

async function directPermissions(schemaName: string, email: string): Promise<string[]> {
  const rows = await t.sql<{ codename: string }>(
    `select pm.codename from "${schemaName}".user_tenant_permissions_permissions up
     join "${schemaName}".permissions pm on pm.id = up.permission_id
     join "${schemaName}".user_tenant_permissions p on p.id = up.user_permissions_id
     join public.users u on u.id = p.user_id
     where u.email = $1 order by pm.codename`,
    [email],
  );

  return rows.map((row) => row.codename);
}

async function createGroups(schemaName: string, names: string[]): Promise<void> {
  for (const name of names) {
    await t.sql(`insert into "${schemaName}".groups (name) values ($1)`, [name]);
  }
}

async function grantDirectPermission(schemaName: string, email: string, codename: string) {
  await t.sql(
    `insert into "${schemaName}".user_tenant_permissions_permissions
       (user_permissions_id, permission_id)
     select p.id, pm.id from "${schemaName}".user_tenant_permissions p
     join public.users u on u.id = p.user_id
     cross join "${schemaName}".permissions pm
     where u.email = $1 and pm.codename = $2`,
    [email, codename],
  );
}

async function listMembers(slug: string, variables: Record<string, unknown> = {}) {
  return t.gql<{ tenant: { members: MembersPage } }>(
    MEMBERS,
    { slug, ...variables },
    { token: adminToken },
  );
}

async function memberCount(slug: string): Promise<number | undefined> {
  const response = await listMembers(slug);

  return response.body.data?.tenant.members.totalCount;
}

/** Collects the events of one type, or of every type with `*`, delivered while `action` runs. */
async function collectEvents(
  type: DomainEvent['type'] | '*',
  action: () => Promise<unknown>,
): Promise<DomainEvent[]> {
  const events: DomainEvent[] = [];
  const unsubscribe = t.app.events.subscribe(type, (event) => {
    events.push(event);
  });
  try {
    await action();
  } finally {
    unsubscribe();
  }

  return events;
}

function toCursor(text: string): string {
  return Buffer.from(text).toString('base64url');
}

/**
 * Asserts that only the memberships and the permission rows of `schemaName` differ between two
 * snapshots, and that the memberships differ exactly by `removedMembershipIds`.
 */
function expectOnlyTenantChanged(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  schemaName: string,
  removedMembershipIds: string[],
): void {
  const allowed = [
    'memberships',
    `${schemaName}.user_tenant_permissions`,
    `${schemaName}.user_tenant_permissions_groups`,
  ];
  const changedKeys = Object.keys(before).filter(
    (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
  );
  expect(changedKeys.filter((key) => !allowed.includes(key))).toEqual([]);
  expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  const expected = (before.memberships as { id: string }[]).filter(
    (row) => !removedMembershipIds.includes(row.id),
  );
  expect(after.memberships).toEqual(expected);
}

describe('addUserToTenant', () => {
  it('rejects unknown tenant or user', async () => {
    await createUser('sam@x.test');
    const before = await databaseSnapshot(t);

    const unknownTenant = await addUser({ tenant: 'nowhere', userEmail: 'sam@x.test' });
    const unknownUser = await addUser({ tenant: 'acme', userEmail: 'nobody@x.test' });

    expect(errorCode(unknownTenant)).toBe('NOT_FOUND');
    expect(errorCode(unknownUser)).toBe('NOT_FOUND');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('rejects a deleted tenant', async () => {
    await createUser('olga@x.test');
    await provision(t, adminToken, { name: 'Olga', slug: 'olga-co', ownerEmail: 'olga@x.test' });
    await mustSucceed(t, 'mutation { deleteTenant(tenant: "olga-co") { slug } }', {}, adminToken);
    const before = await databaseSnapshot(t);

    const added = await addUser({ tenant: 'olga-co', userEmail: 'sam@x.test' });
    const removed = await removeUser('olga-co', 'sam@x.test');

    expect(errorCode(added)).toBe('NOT_FOUND');
    expect(errorCode(removed)).toBe('NOT_FOUND');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('rejects an inactive user', async () => {
    await createUser('pete@x.test');
    await mustSucceed(t, DELETE_USER, { email: 'pete@x.test' }, adminToken);
    const before = await databaseSnapshot(t);

    const response = await addUser({ tenant: 'acme', userEmail: 'pete@x.test' });

    expect(errorCode(response)).toBe('INACTIVE_USER');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('rejects an existing member or owner', async () => {
    const before = await databaseSnapshot(t);

    const events = await collectEvents('userAddedToTenant', async () => {
      for (const email of ['bob@x.test', 'BOB@X.TEST', 'alice@x.test']) {
        const response = await addUser({ tenant: 'acme', userEmail: email, isStaff: true });
        expect(errorCode(response), email).toBe('ALREADY_EXISTS');
      }
    });

    expect(events).toEqual([]);
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('writes membership, permissions and groups', async () => {
    await createUser('quinn@x.test');
    await createUser('ruth@x.test');
    const quinnCo = await provision(t, adminToken, {
      name: 'Quinn',
      slug: 'quinn-co',
      ownerEmail: 'quinn@x.test',
    });
    await createGroups(quinnCo.schemaName, ['viewers', 'editors', 'admins']);
    expect(await memberCount('quinn-co')).toBe(1);

    const events = await collectEvents('userAddedToTenant', async () => {
      const response = await addUser({
        tenant: 'quinn-co',
        userEmail: 'ruth@x.test',
        isStaff: true,
        groups: ['viewers', 'editors'],
      });
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.addUserToTenant).toEqual({
        isStaff: true,
        isSuperuser: false,
        groups: ['editors', 'viewers'],
        user: { email: 'ruth@x.test' },
        tenant: { slug: 'quinn-co' },
      });
    });

    expect(await memberCount('quinn-co')).toBe(2);
    expect(await membershipRows(quinnCo.id, 'ruth@x.test')).toHaveLength(1);
    const rows = await permissionRows(quinnCo.schemaName, 'ruth@x.test');
    expect(rows).toHaveLength(1);
    expect(rows[0].is_staff).toBe(true);
    expect(rows[0].is_superuser).toBe(false);
    expect(await groupNames(quinnCo.schemaName, 'ruth@x.test')).toEqual(['editors', 'viewers']);
    expect(await permissionRows('public', 'ruth@x.test')).toHaveLength(1);
    expect(events).toHaveLength(1);
    expect(events[0].tenantId).toBe(quinnCo.id);
    expect(events[0].userId).toBe(await userId('ruth@x.test'));
    const audit = await t.sql(
      "select 1 from public.audit_events where type = 'userAddedToTenant' and tenant_id = $1",
      [quinnCo.id],
    );
    expect(audit).toHaveLength(1);
  });

  it('unknown group writes nothing', async () => {
    await createUser('saul@x.test');
    const before = await databaseSnapshot(t);

    const events = await collectEvents('*', async () => {
      const response = await addUser({
        tenant: 'quinn-co',
        userEmail: 'saul@x.test',
        groups: ['editors', 'ghosts'],
      });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field).toBe('groups');
    });

    expect(events).toEqual([]);
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('failed group link writes nothing', async () => {
    const [quinnCo] = await t.sql<{ schema_name: string }>(
      "select schema_name from public.tenants where slug = 'quinn-co'",
    );
    const schema = `"${quinnCo.schema_name}"`;
    await t.sql(`
      create function ${schema}.reject_group_link() returns trigger language plpgsql as $$
      begin
        raise exception 'group link rejected by test trigger';
      end $$;
      create trigger reject_group_link before insert on ${schema}.user_tenant_permissions_groups
        for each row execute function ${schema}.reject_group_link();`);
    const before = await databaseSnapshot(t);

    try {
      const events = await collectEvents('*', async () => {
        const response = await addUser({
          tenant: 'quinn-co',
          userEmail: 'saul@x.test',
          groups: ['editors'],
        });
        expect(errorCode(response)).toBe('INTERNAL_SERVER_ERROR');
      });
      expect(events).toEqual([]);
    } finally {
      await t.sql(`
        drop trigger reject_group_link on ${schema}.user_tenant_permissions_groups;
        drop function ${schema}.reject_group_link();`);
    }

    expect(await databaseSnapshot(t)).toEqual(before);
  });
  it('group deleted meanwhile writes nothing', async () => {
    const [quinnCo] = await t.sql<{ schema_name: string }>(
      "select schema_name from public.tenants where slug = 'quinn-co'",
    );
    const schema = `"${quinnCo.schema_name}"`;
    await createGroups(quinnCo.schema_name, ['doomed']);
    // Deletes the group inside the same transaction, after the group names were checked, as a
    // concurrent request deleting it would.
    await t.sql(`
      create function ${schema}.delete_doomed_group() returns trigger language plpgsql as $$
      begin
        delete from ${schema}.groups where name = 'doomed';
        return new;
      end $$;
      create trigger delete_doomed_group after insert on ${schema}.user_tenant_permissions
        for each row execute function ${schema}.delete_doomed_group();`);
    const before = await databaseSnapshot(t);

    try {
      const events = await collectEvents('*', async () => {
        const response = await addUser({
          tenant: 'quinn-co',
          userEmail: 'saul@x.test',
          groups: ['editors', 'doomed'],
        });
        expect(errorCode(response)).toBe('BAD_USER_INPUT');
        expect(response.body.errors?.[0]?.extensions?.field).toBe('groups');
      });
      expect(events).toEqual([]);
    } finally {
      await t.sql(`
        drop trigger delete_doomed_group on ${schema}.user_tenant_permissions;
        drop function ${schema}.delete_doomed_group();`);
    }

    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('concurrent adds create one membership', async () => {
    await createUser('tina@x.test');

    const events = await collectEvents('userAddedToTenant', async () => {
      const responses = await Promise.all(
        Array.from({ length: 5 }, () => addUser({ tenant: 'quinn-co', userEmail: 'tina@x.test' })),
      );
      const codes = responses.map((response) => errorCode(response) ?? 'OK').sort();
      expect(codes).toEqual([
        'ALREADY_EXISTS',
        'ALREADY_EXISTS',
        'ALREADY_EXISTS',
        'ALREADY_EXISTS',
        'OK',
      ]);
    });

    expect(events).toHaveLength(1);
    const [quinnCo] = await t.sql<{ id: string; schema_name: string }>(
      "select id, schema_name from public.tenants where slug = 'quinn-co'",
    );
    expect(await membershipRows(quinnCo.id, 'tina@x.test')).toHaveLength(1);
    expect(await permissionRows(quinnCo.schema_name, 'tina@x.test')).toHaveLength(1);
  });
});

describe('removeUserFromTenant', () => {
  it('rejects a non-member', async () => {
    const before = await databaseSnapshot(t);

    const cases = [
      { tenant: 'globex', email: 'sam@x.test' },
      { tenant: 'acme', email: 'nobody@x.test' },
      { tenant: 'nowhere', email: 'bob@x.test' },
    ];
    for (const { tenant, email } of cases) {
      const response = await removeUser(tenant, email);
      expect(errorCode(response), `${tenant} ${email}`).toBe('NOT_FOUND');
    }

    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('rejects removing the owner', async () => {
    const before = await databaseSnapshot(t);

    for (const [tenant, email] of [
      ['acme', 'alice@x.test'],
      ['globex', 'bob@x.test'],
    ]) {
      const response = await removeUser(tenant, email);
      expect(errorCode(response), tenant).toBe('OWNER_CANNOT_BE_REMOVED');
    }

    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('removes member from one tenant only', async () => {
    const acme = fixture.acme.schemaName;
    const globex = fixture.globex.schemaName;
    await createGroups(acme, ['support']);
    await createGroups(globex, ['support']);
    for (const tenant of ['acme', 'globex']) {
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant, userEmail: 'carol@x.test', isStaff: true, groups: ['support'] } },
        adminToken,
      );
    }
    await grantDirectPermission(acme, 'carol@x.test', 'view_member');
    await grantDirectPermission(globex, 'carol@x.test', 'view_member');
    const globexRowBefore = await permissionRows(globex, 'carol@x.test');
    const acmeMembership = await membershipRows(fixture.acme.id, 'carol@x.test');
    const before = await databaseSnapshot(t);

    const events = await collectEvents('userRemovedFromTenant', async () => {
      const response = await removeUser('acme', 'carol@x.test');
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.removeUserFromTenant).toBe(true);
    });

    expectOnlyTenantChanged(
      before,
      await databaseSnapshot(t),
      acme,
      acmeMembership.map((row) => row.id),
    );
    expect(await permissionRows(acme, 'carol@x.test')).toEqual([]);
    expect(await directPermissions(acme, 'carol@x.test')).toEqual([]);
    expect(await permissionRows(globex, 'carol@x.test')).toEqual(globexRowBefore);
    expect(globexRowBefore[0].is_staff).toBe(true);
    expect(await groupNames(globex, 'carol@x.test')).toEqual(['support']);
    expect(await directPermissions(globex, 'carol@x.test')).toEqual(['view_member']);
    expect(await membershipRows(fixture.globex.id, 'carol@x.test')).toHaveLength(1);
    expect(await t.sql(`select 1 from "${acme}".groups where name = 'support'`)).toHaveLength(1);
    expect(events).toHaveLength(1);
    expect(events[0].tenantId).toBe(fixture.acme.id);

    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'carol@x.test', isStaff: true } },
      adminToken,
    );
    expect(await permissionRows(acme, 'carol@x.test')).toHaveLength(1);
    expect(await groupNames(acme, 'carol@x.test')).toEqual([]);
  });

  it('removes member after loading other tenant', async () => {
    const acme = fixture.acme.schemaName;
    const globex = fixture.globex.schemaName;
    const globexRowBefore = await permissionRows(globex, 'carol@x.test');
    const acmeMembership = await membershipRows(fixture.acme.id, 'carol@x.test');
    const before = await databaseSnapshot(t);

    const response = await t.gql<{
      login: { user: { tenants: { edges: { node: { slug: string; members: MembersPage } }[] } } };
      removeUserFromTenant: boolean;
    }>(
      `mutation ($password: String!) {
        login(email: "carol@x.test", password: $password) {
          user {
            tenants {
              edges { node { slug members(first: 10) { edges { node { user { email } isStaff } } } } }
            }
          }
        }
        removeUserFromTenant(tenant: "acme", userEmail: "carol@x.test")
      }`,
      { password: PASSWORD },
      { token: adminToken },
    );

    expect(response.body.errors).toBeUndefined();
    const loaded = response.body.data?.login.user.tenants.edges.map((edge) => edge.node.slug);
    expect(loaded).toContain('globex');
    expect(response.body.data?.removeUserFromTenant).toBe(true);
    expectOnlyTenantChanged(
      before,
      await databaseSnapshot(t),
      acme,
      acmeMembership.map((row) => row.id),
    );
    expect(await permissionRows(acme, 'carol@x.test')).toEqual([]);
    expect(await permissionRows(globex, 'carol@x.test')).toEqual(globexRowBefore);
    expect(await membershipRows(fixture.globex.id, 'carol@x.test')).toHaveLength(1);
  });

  it('removes member after reading other tenant', async () => {
    const acme = fixture.acme.schemaName;
    const globex = fixture.globex.schemaName;
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'carol@x.test', isStaff: true } },
      adminToken,
    );
    const globexRowBefore = await permissionRows(globex, 'carol@x.test');
    const acmeMembership = await membershipRows(fixture.acme.id, 'carol@x.test');
    const before = await databaseSnapshot(t);
    const bobToken = await t.login('bob@x.test');

    const read = await t.gql<{ tenant: { members: MembersPage } }>(
      MEMBERS,
      { slug: 'globex' },
      { token: bobToken, host: 'globex.app.test' },
    );
    const carol = read.body.data?.tenant.members.edges.find(
      (edge) => edge.node.user.email === 'carol@x.test',
    );
    expect(carol?.node.isStaff).toBe(true);
    const removed = await removeUser('acme', 'carol@x.test', bobToken);

    expect(errorCode(removed)).toBe('FORBIDDEN');
    expect(await databaseSnapshot(t)).toEqual(before);

    await t.gql(MEMBERS, { slug: 'globex' }, { token: adminToken, host: 'acme.app.test' });
    const response = await t.gql(
      REMOVE_USER_FROM_TENANT,
      { tenant: 'acme', email: 'carol@x.test' },
      { token: adminToken, host: 'acme.app.test' },
    );

    expect(response.body.errors).toBeUndefined();
    expectOnlyTenantChanged(
      before,
      await databaseSnapshot(t),
      acme,
      acmeMembership.map((row) => row.id),
    );
    expect(await permissionRows(globex, 'carol@x.test')).toEqual(globexRowBefore);
    expect(await membershipRows(fixture.globex.id, 'carol@x.test')).toHaveLength(1);
  });

  it('concurrent removals remove once', async () => {
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'quinn-co', userEmail: 'sam@x.test', groups: ['editors'] } },
      adminToken,
    );

    const events = await collectEvents('userRemovedFromTenant', async () => {
      const responses = await Promise.all(
        Array.from({ length: 5 }, () => removeUser('quinn-co', 'sam@x.test')),
      );
      const codes = responses.map((response) => errorCode(response) ?? 'OK').sort();
      expect(codes).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'OK']);
    });

    expect(events).toHaveLength(1);
    const audit = await t.sql(
      `select 1 from public.audit_events a join public.users u on u.id = a.user_id
       where a.type = 'userRemovedFromTenant' and u.email = 'sam@x.test'`,
    );
    expect(audit).toHaveLength(1);
  });

  it('failed removal writes nothing', async () => {
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'carol@x.test', groups: ['support'] } },
      adminToken,
    );
    await t.sql(`
      create function public.reject_membership_delete() returns trigger language plpgsql as $$
      begin
        raise exception 'membership delete rejected by test trigger';
      end $$;
      create trigger reject_membership_delete before delete on public.memberships
        for each row execute function public.reject_membership_delete();`);
    const before = await databaseSnapshot(t);

    try {
      const events = await collectEvents('*', async () => {
        const response = await removeUser('acme', 'carol@x.test');
        expect(errorCode(response)).toBe('INTERNAL_SERVER_ERROR');
      });
      expect(events).toEqual([]);
    } finally {
      await t.sql(`
        drop trigger reject_membership_delete on public.memberships;
        drop function public.reject_membership_delete();`);
    }

    expect(await databaseSnapshot(t)).toEqual(before);
    expect(await groupNames(fixture.acme.schemaName, 'carol@x.test')).toEqual(['support']);
  });
});

describe('tenant members listing', () => {
  const slug = 'paged';
  const emails = Array.from({ length: 24 }, (_, index) => `member${index + 1}@x.test`);

  beforeAll(async () => {
    await createUser('paged-owner@x.test');
    const tenant = await provision(t, adminToken, {
      name: 'Paged',
      slug,
      ownerEmail: 'paged-owner@x.test',
    });
    await createGroups(tenant.schemaName, ['crew']);
    for (const [index, email] of emails.entries()) {
      await mustSucceed(t, CREATE_USER, { input: { email, password: null } }, adminToken);
      const groups = index === 0 ? ['crew'] : [];
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: slug, userEmail: email, isStaff: index === 0, groups } },
        adminToken,
      );
    }
  });

  async function readAllPages(first: number): Promise<MembersPage[]> {
    const pages: MembersPage[] = [];
    let after: string | null = null;
    do {
      const response = await listMembers(slug, { first, after });
      expect(response.body.errors).toBeUndefined();
      const page: MembersPage = response.body.data!.tenant.members;
      pages.push(page);
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after !== null && pages.length <= 30);

    return pages;
  }

  it('pages through every member once', async () => {
    const pages = await readAllPages(10);

    expect(pages.map((page) => page.edges.length)).toEqual([10, 10, 5]);
    expect(pages.map((page) => page.totalCount)).toEqual([25, 25, 25]);
    expect(pages.map((page) => page.pageInfo.hasNextPage)).toEqual([true, true, false]);
    expect(pages.map((page) => page.pageInfo.hasPreviousPage)).toEqual([false, true, true]);
    for (const page of pages) {
      expect(page.pageInfo.startCursor).toBe(page.edges[0].cursor);
      expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor);
    }
    const listed = pages.flatMap((page) => page.edges.map((edge) => edge.node.user.email));
    expect(listed).toEqual(['paged-owner@x.test', ...emails]);
    const nodes = pages.flatMap((page) => page.edges.map((edge) => edge.node));
    expect(nodes[0]).toMatchObject({ isSuperuser: true, isStaff: false, groups: [] });
    expect(nodes[1]).toMatchObject({ isSuperuser: false, isStaff: true, groups: ['crew'] });
    expect(nodes[2]).toMatchObject({ isSuperuser: false, isStaff: false, groups: [] });
  });

  it('last full page has no next', async () => {
    const [whole] = await readAllPages(25);
    const [partial] = await readAllPages(24);

    expect(whole.edges).toHaveLength(25);
    expect(whole.pageInfo.hasNextPage).toBe(false);
    expect(partial.edges).toHaveLength(24);
    expect(partial.pageInfo.hasNextPage).toBe(true);
  });

  it('pages members with sub-millisecond join times', async () => {
    await t.sql(
      `update public.memberships m set created_at = timestamptz '2024-01-01 00:00:00.123456+00'
         + (s.n || ' microseconds')::interval
       from (select id, row_number() over (order by created_at, id) % 3 as n
             from public.memberships where tenant_id = (select id from public.tenants where slug = $1)) s
       where s.id = m.id`,
      [slug],
    );

    const pages = await readAllPages(4);

    const listed = pages.flatMap((page) => page.edges.map((edge) => edge.node.user.email));
    expect(listed).toHaveLength(25);
    expect(new Set(listed).size).toBe(25);
    expect(pages.at(-1)?.pageInfo.hasNextPage).toBe(false);
  });

  it('rejects page size out of range', async () => {
    for (const first of [0, -1, 101, 1000]) {
      const response = await listMembers(slug, { first });
      expect(errorCode(response), String(first)).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field, String(first)).toBe('first');
    }
  });

  it('rejects forged cursor', async () => {
    const id = await userId('paged-owner@x.test');
    const forged = [
      '',
      'garbage!',
      toCursor('foo'),
      toCursor('2020-01-01T00:00:00.000Z|not-a-uuid'),
      toCursor(`not-a-date|${id}`),
      toCursor(`1|${id}`),
      toCursor(`2020-01-01T00:00:00.000Z|${id}|extra`),
      toCursor(`2020-01-01T00:00:00.000Z|${id}'--`),
    ];

    for (const after of forged) {
      const response = await listMembers(slug, { first: 5, after });
      expect(errorCode(response), after).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field, after).toBe('after');
    }
  });

  it('rejects readers outside the tenant', async () => {
    await createUser('outsider@x.test');
    const outsiderToken = await t.login('outsider@x.test');

    const outsider = await t.gql(MEMBERS, { slug }, { token: outsiderToken });
    const anonymous = await t.gql(MEMBERS, { slug });

    expect(errorCode(outsider)).toBe('FORBIDDEN');
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
  });
});
