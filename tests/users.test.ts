import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DomainEvent } from '../src/services/events.js';
import { ADMIN_EMAIL, PASSWORD, errorCode, startTestApp, type TestApp } from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  DELETE_USER,
  databaseSnapshot,
  mustSucceed,
  provision,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const ME = '{ me { email } }';
const CURRENT_TENANT = '{ currentTenant { slug } }';

interface UserRow {
  id: string;
  email: string;
  password_hash: string | null;
  is_active: boolean;
  is_verified: boolean;
  deleted_at: Date | null;
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

async function userRow(email: string): Promise<UserRow | undefined> {
  const rows = await t.sql<UserRow>('select * from public.users where lower(email) = lower($1)', [
    email,
  ]);

  return rows[0];
}

async function userCount(): Promise<number> {
  const [row] = await t.sql<{ count: string }>('select count(*) from public.users');

  return Number(row.count);
}

async function createUser(input: Record<string, unknown>, token: string | null = adminToken) {
  return t.gql<{ createUser: { id: string; email: string; isActive: boolean } }>(
    CREATE_USER,
    { input },
    { token: token ?? undefined },
  );
}

async function deleteUser(email: string, token: string | null = adminToken) {
  return t.gql<{ deleteUser: { email: string; isActive: boolean } }>(
    DELETE_USER,
    { email },
    { token: token ?? undefined },
  );
}

async function permissionRows(schemaName: string, userId: string): Promise<PermissionRow[]> {
  return t.sql<PermissionRow>(
    `select * from "${schemaName}".user_tenant_permissions where user_id = $1`,
    [userId],
  );
}

/** Collects the events of one type delivered while `action` runs. */
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

async function tenantSchema(slug: string): Promise<string> {
  const [row] = await t.sql<{ schema_name: string }>(
    'select schema_name from public.tenants where slug = $1',
    [slug],
  );

  return row.schema_name;
}

describe('createUser', () => {
  it('rejects missing or invalid email', async () => {
    const before = await userCount();

    for (const email of ['', '   ', 'no-at-sign', 'two@at@x.test', 'space in@x.test', 'a@b..c']) {
      const response = await createUser({ email, password: PASSWORD });
      expect(errorCode(response), email).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field, email).toBe('email');
    }

    expect(await userCount()).toBe(before);
  });

  it('rejects email the API cannot return', async () => {
    const before = await userCount();

    for (const email of ['quo"te@x.test', 'par(en)@x.test', 'ümlaut@x.test', 'a<b>@x.test']) {
      const response = await createUser({ email, password: PASSWORD });
      expect(errorCode(response), email).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field, email).toBe('email');
    }

    expect(await userCount()).toBe(before);
  });

  it('lowercases the email domain part', async () => {
    const response = await createUser({ email: 'Dana.Doe@Example.IO', password: PASSWORD });

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.createUser.email).toBe('Dana.Doe@example.io');
    expect((await userRow('dana.doe@example.io'))?.email).toBe('Dana.Doe@example.io');
  });

  it('rejects email differing only in case', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'Bob@X.io', password: PASSWORD } },
      adminToken,
    );
    const before = await databaseSnapshot(t);

    for (const email of ['bob@x.io', 'BOB@X.IO', 'bOb@x.Io']) {
      const response = await createUser({ email, password: PASSWORD });
      expect(errorCode(response), email).toBe('ALREADY_EXISTS');
      expect(response.body.errors?.[0]?.extensions?.reason, email).toBeUndefined();
    }

    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('rejects one email created concurrently', async () => {
    const responses = await Promise.all(
      ['race@x.test', 'RACE@x.test', 'Race@X.TEST', 'race@X.test'].map((email) =>
        createUser({ email, password: PASSWORD }),
      ),
    );

    const codes = responses.map((response) => errorCode(response) ?? 'OK').sort();
    expect(codes).toEqual(['ALREADY_EXISTS', 'ALREADY_EXISTS', 'ALREADY_EXISTS', 'OK']);
    const rows = await t.sql("select 1 from public.users where lower(email) = 'race@x.test'");
    expect(rows).toHaveLength(1);
  });

  it('rejects email of a deleted user', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'gone@x.test', password: PASSWORD } },
      adminToken,
    );
    await mustSucceed(t, DELETE_USER, { email: 'gone@x.test' }, adminToken);
    const oldRow = await userRow('gone@x.test');
    const before = await databaseSnapshot(t);

    const events = await collectEvents('userCreated', async () => {
      for (const email of ['gone@x.test', 'GONE@X.TEST']) {
        const response = await createUser({ email, password: 'Other-password-1' });
        expect(errorCode(response), email).toBe('ALREADY_EXISTS');
        expect(response.body.errors?.[0]?.extensions?.reason, email).toBe('INACTIVE_USER');
      }
    });

    expect(events).toEqual([]);
    expect(await userRow('gone@x.test')).toEqual(oldRow);
    expect(oldRow?.is_active).toBe(false);
    expect(await databaseSnapshot(t)).toEqual(before);
    const login = await t.gql(
      'mutation { login(email: "gone@x.test", password: "Other-password-1") { token } }',
    );
    expect(errorCode(login)).toBe('UNAUTHENTICATED');
  });

  it('null password cannot log in', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'nopass@x.test', password: null } },
      adminToken,
    );

    expect((await userRow('nopass@x.test'))?.password_hash).toBeNull();
    for (const password of ['', 'null', PASSWORD]) {
      const response = await t.gql(
        'mutation ($password: String!) { login(email: "nopass@x.test", password: $password) { token } }',
        { password },
      );
      expect(errorCode(response), password).toBe('UNAUTHENTICATED');
    }
    const sessions = await t.sql(
      'select 1 from public.sessions s join public.users u on u.id = s.user_id where u.email = $1',
      ['nopass@x.test'],
    );
    expect(sessions).toEqual([]);
  });

  it('rejects password over 72 bytes', async () => {
    const before = await userCount();
    const tooLong = ['€'.repeat(30), 'a'.repeat(73), `${'a'.repeat(71)}é`];

    for (const [index, password] of tooLong.entries()) {
      const response = await createUser({ email: `long${index}@x.test`, password });
      expect(errorCode(response), password).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field).toBe('password');
      expect(JSON.stringify(response.body)).not.toContain(password);
    }

    expect(await userCount()).toBe(before);
  });

  it('accepts password of exactly 72 bytes', async () => {
    const password = '€'.repeat(24);

    await mustSucceed(t, CREATE_USER, { input: { email: 'euro@x.test', password } }, adminToken);

    expect(await t.login('euro@x.test', password)).toEqual(expect.any(String));
    const wrong = await t.gql(
      'mutation ($password: String!) { login(email: "euro@x.test", password: $password) { token } }',
      { password: '€'.repeat(23) },
    );
    expect(errorCode(wrong)).toBe('UNAUTHENTICATED');
  });

  it('rejects password under minimum length', async () => {
    const before = await userCount();

    for (const [index, password] of ['', 'Short-7', '€€€€€€€', '😀😀😀😀'].entries()) {
      const response = await createUser({ email: `short${index}@x.test`, password });
      expect(errorCode(response), password).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field).toBe('password');
    }

    expect(await userCount()).toBe(before);
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'eight@x.test', password: 'Eight-88' } },
      adminToken,
    );
  });

  it('stores bcrypt hash with configured cost', async () => {
    const response = await createUser({ email: 'hash@x.test', password: PASSWORD });

    const hash = (await userRow('hash@x.test'))?.password_hash ?? '';
    expect(hash).toMatch(/^\$2b\$04\$/);
    expect(await bcrypt.compare(PASSWORD, hash)).toBe(true);
    expect(JSON.stringify(response.body)).not.toContain(hash);
    expect(JSON.stringify(response.body)).not.toContain(PASSWORD);
  });

  it('makes new user public member', async () => {
    const cases = [
      { email: 'plain@x.test', isStaff: false, isSuperuser: false },
      { email: 'staff@x.test', isStaff: true, isSuperuser: false },
      { email: 'admin@x.test', isStaff: true, isSuperuser: true },
    ];

    for (const { email, isStaff, isSuperuser } of cases) {
      await mustSucceed(
        t,
        CREATE_USER,
        { input: { email, password: PASSWORD, isStaff, isSuperuser } },
        adminToken,
      );
      const user = await userRow(email);
      const memberships = await t.sql<{ slug: string }>(
        `select t.slug from public.memberships m join public.tenants t on t.id = m.tenant_id
         where m.user_id = $1`,
        [user?.id],
      );
      expect(memberships, email).toEqual([{ slug: 'public' }]);
      const rows = await permissionRows('public', user!.id);
      expect(rows, email).toHaveLength(1);
      expect(rows[0].is_staff, email).toBe(isStaff);
      expect(rows[0].is_superuser, email).toBe(isSuperuser);
    }
  });

  it('new superuser acts as platform admin', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'boss@x.test', password: PASSWORD, isSuperuser: true } },
      adminToken,
    );
    const bossToken = await t.login('boss@x.test');

    const response = await createUser({ email: 'hired@x.test', password: PASSWORD }, bossToken);

    expect(response.body.errors).toBeUndefined();
    expect((await userRow('hired@x.test'))?.is_active).toBe(true);
  });

  it('emits userCreated once after commit', async () => {
    const committed: (UserRow | undefined)[] = [];
    const events: DomainEvent[] = [];
    const unsubscribe = t.app.events.subscribe('userCreated', async (event) => {
      events.push(event);
      committed.push(await userRow('evented@x.test'));
    });
    try {
      await mustSucceed(
        t,
        CREATE_USER,
        { input: { email: 'evented@x.test', password: PASSWORD } },
        adminToken,
      );
      const duplicate = await createUser({ email: 'evented@x.test', password: PASSWORD });
      expect(errorCode(duplicate)).toBe('ALREADY_EXISTS');
    } finally {
      unsubscribe();
    }

    const user = await userRow('evented@x.test');
    expect(events).toHaveLength(1);
    expect(events[0].userId).toBe(user?.id);
    expect(committed[0]?.id).toBe(user?.id);
    const audit = await t.sql<{ type: string; actor_id: string }>(
      "select type, actor_id from public.audit_events where type = 'userCreated' and user_id = $1",
      [user?.id],
    );
    expect(audit).toHaveLength(1);
    const [root] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      ADMIN_EMAIL,
    ]);
    expect(audit[0].actor_id).toBe(root.id);
  });

  it('rejects callers other than platform admin', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'pstaff@x.test', password: PASSWORD, isStaff: true } },
      adminToken,
    );
    const before = await databaseSnapshot(t);
    const callers = [
      { token: await t.login('carol@x.test'), code: 'FORBIDDEN' },
      { token: await t.login('pstaff@x.test'), code: 'FORBIDDEN' },
      { token: null, code: 'UNAUTHENTICATED' },
    ];

    const events = await collectEvents('userCreated', async () => {
      for (const { token, code } of callers) {
        const response = await createUser({ email: 'intruder@x.test', password: PASSWORD }, token);
        expect(errorCode(response)).toBe(code);
      }
    });

    expect(events).toEqual([]);
    expect(await databaseSnapshot(t)).toEqual(before);
  });
});

describe('deleteUser', () => {
  it('protects the public tenant owner', async () => {
    const before = await databaseSnapshot(t);

    const events = await collectEvents('userDeleted', async () => {
      for (const email of [ADMIN_EMAIL, 'ROOT@App.Test']) {
        const response = await deleteUser(email);
        expect(errorCode(response), email).toBe('PUBLIC_OWNER_PROTECTED');
      }
    });

    expect(events).toEqual([]);
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('deletes tenant owner in one step', async () => {
    const acme = fixture.acme.schemaName;
    const globex = fixture.globex.schemaName;
    await t.sql(`insert into "${acme}".groups (name) values ('acme-editors')`);
    const alice = (await userRow('alice@x.test'))!;
    const bob = (await userRow('bob@x.test'))!;
    const [root] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      ADMIN_EMAIL,
    ]);
    const aliceToken = await t.login('alice@x.test');
    const bobGlobexBefore = await permissionRows(globex, bob.id);

    const events = await collectEvents('userDeleted', async () => {
      const response = await deleteUser('alice@x.test');
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.deleteUser).toEqual({ email: 'alice@x.test', isActive: false });
    });

    expect(events).toHaveLength(1);
    expect(events[0].userId).toBe(alice.id);

    const [tenant] = await t.sql<{ is_active: boolean; deleted_at: Date | null; owner_id: string }>(
      "select is_active, deleted_at, owner_id from public.tenants where slug = 'acme'",
    );
    expect(tenant.is_active).toBe(false);
    expect(tenant.deleted_at).not.toBeNull();
    expect(tenant.owner_id).toBe(root.id);

    const routed = await t.gql(CURRENT_TENANT, {}, { host: 'acme.app.test' });
    expect(routed.status).toBe(404);
    expect(errorCode(routed)).toBe('TENANT_NOT_FOUND');

    const schemas = await t.sql('select 1 from pg_namespace where nspname = $1', [acme]);
    expect(schemas).toHaveLength(1);
    const groups = await t.sql(`select name from "${acme}".groups`);
    expect(groups).toEqual([{ name: 'acme-editors' }]);
    const catalog = await t.sql(`select 1 from "${acme}".permissions`);
    expect(catalog.length).toBeGreaterThan(0);

    const rootRows = await permissionRows(acme, root.id);
    expect(rootRows).toHaveLength(1);
    expect(rootRows[0].is_superuser).toBe(true);
    const acmeMembers = await t.sql<{ user_id: string }>(
      'select user_id from public.memberships where tenant_id = $1',
      [fixture.acme.id],
    );
    expect(acmeMembers).toEqual([{ user_id: root.id }]);
    expect(await permissionRows(acme, alice.id)).toEqual([]);
    expect(await permissionRows(acme, bob.id)).toEqual([]);

    expect(await permissionRows(globex, alice.id)).toEqual([]);
    expect(await permissionRows(globex, bob.id)).toEqual(bobGlobexBefore);
    const aliceMemberships = await t.sql('select 1 from public.memberships where user_id = $1', [
      alice.id,
    ]);
    expect(aliceMemberships).toEqual([]);

    const aliceAfter = await userRow('alice@x.test');
    expect(aliceAfter?.is_active).toBe(false);
    expect(aliceAfter?.deleted_at).not.toBeNull();
    expect(aliceAfter?.email).toBe('alice@x.test');
    expect(aliceAfter?.password_hash).toBe(alice.password_hash);

    const login = await t.gql(
      'mutation ($password: String!) { login(email: "alice@x.test", password: $password) { token } }',
      { password: PASSWORD },
    );
    expect(errorCode(login)).toBe('UNAUTHENTICATED');
    expect(errorCode(await t.gql(ME, {}, { token: aliceToken }))).toBe('UNAUTHENTICATED');

    const before = await databaseSnapshot(t);
    const again = await deleteUser(ADMIN_EMAIL);
    expect(errorCode(again)).toBe('PUBLIC_OWNER_PROTECTED');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('removes user from every tenant', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'eve@x.test', password: PASSWORD } },
      adminToken,
    );
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'frank@x.test', password: PASSWORD } },
      adminToken,
    );
    const wayne = await provision(t, adminToken, {
      name: 'Wayne',
      slug: 'wayne',
      ownerEmail: 'frank@x.test',
    });
    const stark = await provision(t, adminToken, {
      name: 'Stark',
      slug: 'stark',
      ownerEmail: 'frank@x.test',
    });
    for (const tenant of ['wayne', 'stark']) {
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant, userEmail: 'eve@x.test', isStaff: true } },
        adminToken,
      );
    }
    const eve = (await userRow('eve@x.test'))!;
    const frank = (await userRow('frank@x.test'))!;
    const eveWayne = await permissionRows(wayne.schemaName, eve.id);
    const eveStark = await permissionRows(stark.schemaName, eve.id);
    expect(eveWayne[0].id).not.toBe(eveStark[0].id);

    await mustSucceed(t, DELETE_USER, { email: 'eve@x.test' }, adminToken);

    expect(await permissionRows(wayne.schemaName, eve.id)).toEqual([]);
    expect(await permissionRows(stark.schemaName, eve.id)).toEqual([]);
    expect(await permissionRows('public', eve.id)).toEqual([]);
    const memberships = await t.sql('select 1 from public.memberships where user_id = $1', [
      eve.id,
    ]);
    expect(memberships).toEqual([]);
    expect(await permissionRows(wayne.schemaName, frank.id)).toHaveLength(1);
    expect(await permissionRows(stark.schemaName, frank.id)).toHaveLength(1);
    const tenants = await t.sql<{ is_active: boolean }>(
      "select is_active from public.tenants where slug in ('wayne', 'stark')",
    );
    expect(tenants).toEqual([{ is_active: true }, { is_active: true }]);
  });

  it('soft-deletes every owned tenant', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'gina@x.test', password: PASSWORD } },
      adminToken,
    );
    for (const slug of ['gina-one', 'gina-two']) {
      await provision(t, adminToken, { name: slug, slug, ownerEmail: 'gina@x.test' });
    }

    await mustSucceed(t, DELETE_USER, { email: 'gina@x.test' }, adminToken);

    const tenants = await t.sql<{ slug: string; is_active: boolean; owner: string }>(
      `select t.slug, t.is_active, u.email as owner from public.tenants t
       join public.users u on u.id = t.owner_id where t.slug like 'gina-%' order by t.slug`,
    );
    expect(tenants).toEqual([
      { slug: 'gina-one', is_active: false, owner: ADMIN_EMAIL },
      { slug: 'gina-two', is_active: false, owner: ADMIN_EMAIL },
    ]);
    for (const slug of ['gina-one', 'gina-two']) {
      const routed = await t.gql(CURRENT_TENANT, {}, { host: `${slug}.app.test` });
      expect(errorCode(routed), slug).toBe('TENANT_NOT_FOUND');
      const schema = await tenantSchema(slug);
      expect(await t.sql('select 1 from pg_namespace where nspname = $1', [schema])).toHaveLength(
        1,
      );
    }
  });

  it('lets a user delete themself', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'hank@x.test', password: PASSWORD } },
      adminToken,
    );
    const token = await t.login('hank@x.test');
    const otherToken = await t.login('hank@x.test');

    const response = await deleteUser('Hank@X.test', token);

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.deleteUser.isActive).toBe(false);
    expect(errorCode(await t.gql(ME, {}, { token }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await t.gql(ME, {}, { token: otherToken }))).toBe('UNAUTHENTICATED');
    const open = await t.sql(
      `select 1 from public.sessions s join public.users u on u.id = s.user_id
       where u.email = 'hank@x.test' and s.revoked_at is null`,
    );
    expect(open).toEqual([]);
  });

  it('rejects deleting another user', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'ivan@x.test', password: PASSWORD } },
      adminToken,
    );
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'jill@x.test', password: PASSWORD, isStaff: true } },
      adminToken,
    );
    const before = await databaseSnapshot(t);
    const callers = [
      { token: await t.login('carol@x.test'), code: 'FORBIDDEN' },
      { token: await t.login('jill@x.test'), code: 'FORBIDDEN' },
      { token: null, code: 'UNAUTHENTICATED' },
    ];

    for (const { token, code } of callers) {
      for (const email of ['ivan@x.test', 'nobody@x.test', ADMIN_EMAIL]) {
        const response = await deleteUser(email, token);
        expect(errorCode(response), email).toBe(code);
      }
    }

    expect(await databaseSnapshot(t)).toEqual(before);
    expect((await userRow('ivan@x.test'))?.is_active).toBe(true);
  });

  it('unknown email is NOT_FOUND', async () => {
    const before = await databaseSnapshot(t);

    const response = await deleteUser('nobody@x.test');

    expect(errorCode(response)).toBe('NOT_FOUND');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('second delete is INACTIVE_USER', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'kim@x.test', password: PASSWORD } },
      adminToken,
    );
    await mustSucceed(t, DELETE_USER, { email: 'kim@x.test' }, adminToken);
    const before = await databaseSnapshot(t);

    const events = await collectEvents('userDeleted', async () => {
      const response = await deleteUser('kim@x.test');
      expect(errorCode(response)).toBe('INACTIVE_USER');
    });

    expect(events).toEqual([]);
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('keeps the row of a deleted user', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'leo@x.test', password: PASSWORD } },
      adminToken,
    );
    const before = (await userRow('leo@x.test'))!;

    await mustSucceed(t, DELETE_USER, { email: 'leo@x.test' }, adminToken);

    const after = await userRow('leo@x.test');
    expect(after?.id).toBe(before.id);
    expect(after?.email).toBe('leo@x.test');
    expect(after?.is_active).toBe(false);
    expect(after?.deleted_at).not.toBeNull();
    const audit = await t.sql<{ type: string }>(
      'select type from public.audit_events where user_id = $1 order by id',
      [before.id],
    );
    expect(audit.map((row) => row.type)).toContain('userCreated');
    expect(audit.map((row) => row.type)).toContain('userDeleted');
    const mutations = await t.gql<{ __schema: { mutationType: { fields: { name: string }[] } } }>(
      '{ __schema { mutationType { fields { name } } } }',
      {},
      { token: adminToken },
    );
    const names = mutations.body.data?.__schema.mutationType.fields.map((field) => field.name);
    expect(names?.filter((name) => /^(purge|hardDelete|destroy)User/i.test(name))).toEqual([]);
  });

  it('concurrent deletes delete once', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'nora@x.test', password: PASSWORD } },
      adminToken,
    );
    await provision(t, adminToken, { name: 'Nora', slug: 'nora-co', ownerEmail: 'nora@x.test' });
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'globex', userEmail: 'nora@x.test' } },
      adminToken,
    );
    const nora = (await userRow('nora@x.test'))!;

    const events = await collectEvents('*', async () => {
      const responses = await Promise.all(
        Array.from({ length: 4 }, () => deleteUser('nora@x.test')),
      );
      const codes = responses.map((response) => errorCode(response) ?? 'OK').sort();
      expect(codes).toEqual(['INACTIVE_USER', 'INACTIVE_USER', 'INACTIVE_USER', 'OK']);
    });

    expect(events.filter((event) => event.type === 'userDeleted')).toHaveLength(1);
    expect(events.filter((event) => event.type === 'tenantDeleted')).toHaveLength(1);
    const audit = await t.sql(
      "select 1 from public.audit_events where type = 'userDeleted' and user_id = $1",
      [nora.id],
    );
    expect(audit).toHaveLength(1);
    const [root] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      ADMIN_EMAIL,
    ]);
    expect(await permissionRows(await tenantSchema('nora-co'), root.id)).toHaveLength(1);
  });

  it('public owner becomes superuser owner', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'olive@x.test', password: PASSWORD } },
      adminToken,
    );
    const tenant = await provision(t, adminToken, {
      name: 'Olive',
      slug: 'olive-co',
      ownerEmail: 'olive@x.test',
    });
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'olive-co', userEmail: ADMIN_EMAIL, isStaff: true } },
      adminToken,
    );
    const [root] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      ADMIN_EMAIL,
    ]);

    await mustSucceed(t, DELETE_USER, { email: 'olive@x.test' }, adminToken);

    const rows = await permissionRows(tenant.schemaName, root.id);
    expect(rows).toHaveLength(1);
    expect(rows[0].is_superuser).toBe(true);
    const [owner] = await t.sql<{ owner_id: string }>(
      "select owner_id from public.tenants where slug = 'olive-co'",
    );
    expect(owner.owner_id).toBe(root.id);
  });

  it('failed delete changes nothing', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'mona@x.test', password: PASSWORD } },
      adminToken,
    );
    await provision(t, adminToken, { name: 'Mona', slug: 'mona-co', ownerEmail: 'mona@x.test' });
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'mona-co', userEmail: 'carol@x.test' } },
      adminToken,
    );
    await t.sql(`
      create function public.reject_user_deactivation() returns trigger language plpgsql as $$
      begin
        if old.email = 'mona@x.test' and not new.is_active then
          raise exception 'deactivation rejected by test trigger';
        end if;
        return new;
      end $$;
      create trigger reject_user_deactivation before update on public.users
        for each row execute function public.reject_user_deactivation();`);
    const before = await databaseSnapshot(t);

    try {
      const events = await collectEvents('*', async () => {
        const response = await deleteUser('mona@x.test');
        expect(errorCode(response)).toBe('INTERNAL_SERVER_ERROR');
      });
      expect(events).toEqual([]);
    } finally {
      await t.sql(`
        drop trigger reject_user_deactivation on public.users;
        drop function public.reject_user_deactivation();`);
    }

    expect(await databaseSnapshot(t)).toEqual(before);
    const routed = await t.gql(CURRENT_TENANT, {}, { host: 'mona-co.app.test', token: adminToken });
    expect(routed.body.data).toEqual({ currentTenant: { slug: 'mona-co' } });
  });
});
