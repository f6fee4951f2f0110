import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  OWNER_EMAIL,
  runWalkthrough,
  TENANT_SLUG,
  USER_EMAIL,
  WalkthroughError,
  type StepResult,
  type WalkthroughOptions,
} from '../examples/walkthrough/walkthrough.js';
import { ADMIN_EMAIL, PASSWORD, startTestApp, type TestApp } from './support/app.js';
import { databaseSnapshot } from './support/fixtures.js';

const STEP_NAMES = [
  'login',
  'createOwner',
  'provisionTenant',
  'createUser',
  'addUserToTenant',
  'login',
  'listMembers',
  'deleteUser',
  'deleteTenant',
  'checkTenantHost',
];

describe('walkthrough example', () => {
  let t: TestApp;
  let options: WalkthroughOptions;
  let printed: string[];
  let results: StepResult[];

  beforeAll(async () => {
    t = await startTestApp({ tenantDomain: 'localhost', publicDomain: 'localhost' });
    printed = [];
    options = {
      url: t.app.url,
      adminEmail: ADMIN_EMAIL,
      adminPassword: PASSWORD,
      domain: 'localhost',
      publicDomain: 'localhost',
      print: (text) => printed.push(text),
    };
  });
  afterAll(() => t?.close());

  it('runs every step in order', async () => {
    results = await runWalkthrough(options);

    expect(results.map((result) => result.name)).toEqual(STEP_NAMES);
    expect(printed).toHaveLength(STEP_NAMES.length);
    results.forEach((result, index) => {
      expect(printed[index]).toBe(
        `[${index + 1}] ${result.description} (Host: ${result.host})\n` +
          `${JSON.stringify(result.data, null, 2)}\n`,
      );
    });
  });

  it('provisions evilcorp for its owner', () => {
    const provisioned = stepData(results, 'provisionTenant').provisionTenant;

    expect(provisioned.slug).toBe(TENANT_SLUG);
    expect(provisioned.status).toBe('ACTIVE');
    expect(provisioned.primaryDomain).toEqual({ domain: 'evilcorp.localhost' });
    expect(provisioned.owner).toEqual({ email: OWNER_EMAIL });
  });

  it('lists both members on tenant host', () => {
    const listed = results.find((result) => result.name === 'listMembers');
    const tenant = stepData(results, 'listMembers').currentTenant;

    expect(listed?.host).toBe('evilcorp.localhost');
    expect(tenant.slug).toBe(TENANT_SLUG);
    expect(tenant.members.totalCount).toBe(2);
    expect(tenant.members.edges.map((edge: MemberEdge) => edge.node)).toEqual([
      { user: { email: OWNER_EMAIL }, isStaff: false, isSuperuser: true },
      { user: { email: USER_EMAIL }, isStaff: false, isSuperuser: false },
    ]);
  });

  it('reports both soft deletions', () => {
    const deletedUser = stepData(results, 'deleteUser').deleteUser;
    const deletedTenant = stepData(results, 'deleteTenant').deleteTenant;
    const hostCheck = results.find((result) => result.name === 'checkTenantHost');

    expect(deletedUser.isActive).toBe(false);
    expect(deletedTenant.isActive).toBe(false);
    expect(deletedTenant.owner).toEqual({ email: ADMIN_EMAIL });
    expect(hostCheck?.data).toEqual({ status: 404, code: 'TENANT_NOT_FOUND' });
  });

  it('prints no token or password', () => {
    const output = printed.join('');

    expect(output).toContain(`Provision the tenant EvilCorp (${TENANT_SLUG})`);
    expect(output).not.toContain(PASSWORD);
    expect(output).not.toMatch(/token/i);
  });

  it('leaves tenant schema and rows behind', async () => {
    const [tenant] = await t.sql<{ id: string; schema_name: string; is_active: boolean }>(
      `select t.id, t.schema_name, t.is_active, t.deleted_at, u.email as owner_email
       from public.tenants t join public.users u on u.id = t.owner_id where t.slug = $1`,
      [TENANT_SLUG],
    );
    expect(tenant).toMatchObject({ is_active: false, owner_email: ADMIN_EMAIL });
    expect(tenant).toHaveProperty('deleted_at', expect.any(Date));

    const schemas = await t.sql('select 1 from pg_namespace where nspname = $1', [
      tenant.schema_name,
    ]);
    expect(schemas).toHaveLength(1);

    const domains = await t.sql(
      'select domain, is_active from public.domains where tenant_id = $1',
      [tenant.id],
    );
    expect(domains).toEqual([{ domain: 'evilcorp.localhost', is_active: false }]);

    const members = await t.sql(
      `select u.email from public.memberships m join public.users u on u.id = m.user_id
       where m.tenant_id = $1`,
      [tenant.id],
    );
    expect(members).toEqual([{ email: ADMIN_EMAIL }]);
  });

  it('deactivates only the deleted user', async () => {
    const users = await t.sql<{ email: string; is_active: boolean; deleted: boolean }>(
      `select email, is_active, deleted_at is not null as deleted from public.users
       where email = any($1) order by email`,
      [[OWNER_EMAIL, USER_EMAIL]],
    );

    expect(users).toEqual([
      { email: OWNER_EMAIL, is_active: true, deleted: false },
      { email: USER_EMAIL, is_active: false, deleted: true },
    ]);
  });

  it('second run fails without changes', async () => {
    const before = await databaseSnapshot(t);

    const error = await runWalkthrough({ ...options, print: undefined }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WalkthroughError);
    expect((error as WalkthroughError).step).toBe('createOwner');
    expect((error as WalkthroughError).code).toBe('ALREADY_EXISTS');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('stops early while evilcorp is active', async () => {
    const restored = await t.gql(
      'mutation ($tenant: String!, $owner: String!) { restoreTenant(tenant: $tenant, ownerEmail: $owner) { isActive } }',
      { tenant: TENANT_SLUG, owner: OWNER_EMAIL },
      { host: 'localhost', token: await t.login(ADMIN_EMAIL, PASSWORD, 'localhost') },
    );
    expect(restored.body).toEqual({ data: { restoreTenant: { isActive: true } } });
    const before = await databaseSnapshot(t);

    const error = await runWalkthrough({ ...options, print: undefined }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WalkthroughError);
    expect((error as WalkthroughError).step).toBe('findTenant');
    expect((error as WalkthroughError).code).toBe('ALREADY_EXISTS');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('rejects a wrong admin password', async () => {
    const error = await runWalkthrough({
      ...options,
      adminPassword: 'not-the-password',
      print: undefined,
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WalkthroughError);
    expect((error as WalkthroughError).step).toBe('login');
    expect((error as WalkthroughError).code).toBe('UNAUTHENTICATED');
  });
});

interface MemberEdge {
  node: unknown;
}

// Step data is untyped JSON from the server, so the checks read it loosely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function stepData(results: StepResult[], name: string): any {
  const result = results.find((candidate) => candidate.name === name);
  if (!result) {
    throw new Error(`the walkthrough returned no step named ${name}`);
  }

  return result.data;
}
