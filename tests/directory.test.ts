import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  errorCode,
  PASSWORD,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import {
  CREATE_USER,
  DELETE_USER,
  mustSucceed,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const USERS = `query ($first: Int, $after: String, $includeInactive: Boolean) {
  users(first: $first, after: $after, includeInactive: $includeInactive) {
    totalCount
    edges { cursor node { email isActive } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const TENANTS = `query ($includeInactive: Boolean) {
  tenants(includeInactive: $includeInactive) { totalCount edges { node { slug isActive } } }
}`;

const USER = `query ($email: String!) { user(email: $email) { email isActive } }`;

interface UsersPage {
  users: {
    totalCount: number;
    edges: { cursor: string; node: { email: string; isActive: boolean } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

describe('directory queries', () => {
  let t: TestApp;
  let fixture: CaseFixture;
  let staffToken: string;

  beforeAll(async () => {
    t = await startTestApp();
    fixture = await seedCaseFixture(t);
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'staff@x.test', password: PASSWORD, isStaff: true } },
      fixture.adminToken,
    );
    await mustSucceed(t, CREATE_USER, { input: { email: 'gone@x.test' } }, fixture.adminToken);
    await mustSucceed(t, DELETE_USER, { email: 'gone@x.test' }, fixture.adminToken);
    staffToken = await t.login('staff@x.test');
  });
  afterAll(() => t?.close());

  it('pages through active users once', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let total = 0;
    for (let page = 0; page < 10; page += 1) {
      const response: GraphqlResponse<UsersPage> = await t.gql<UsersPage>(
        USERS,
        { first: 2, after },
        { token: staffToken },
      );
      expect(response.body.errors).toBeUndefined();
      const users: UsersPage['users'] = response.body.data!.users;
      total = users.totalCount;
      seen.push(...users.edges.map((edge) => edge.node.email));
      if (!users.pageInfo.hasNextPage) {
        break;
      }
      after = users.pageInfo.endCursor;
    }
    const rows = await t.sql<{ email: string }>(
      'select email from public.users where is_active order by created_at, id',
    );

    expect(seen).toEqual(rows.map((row) => row.email));
    expect(total).toBe(rows.length);
    expect(seen).not.toContain('gone@x.test');
  });

  it('lists deleted users on request', async () => {
    const response = await t.gql<UsersPage>(
      USERS,
      { first: 100, includeInactive: true },
      { token: staffToken },
    );
    const gone = response.body.data!.users.edges.find((edge) => edge.node.email === 'gone@x.test');

    expect(gone?.node.isActive).toBe(false);
  });

  it('lists active tenants, deleted on request', async () => {
    await mustSucceed(
      t,
      'mutation { deleteTenant(tenant: "globex") { slug } }',
      {},
      fixture.adminToken,
    );

    const active = await t.gql<{ tenants: { edges: { node: { slug: string } }[] } }>(
      TENANTS,
      {},
      { token: staffToken },
    );
    const all = await t.gql<{ tenants: { edges: { node: { slug: string } }[] } }>(
      TENANTS,
      { includeInactive: true },
      { token: staffToken },
    );

    expect(active.body.data!.tenants.edges.map((edge) => edge.node.slug)).toEqual([
      'public',
      'acme',
    ]);
    expect(all.body.data!.tenants.edges.map((edge) => edge.node.slug)).toEqual([
      'public',
      'acme',
      'globex',
    ]);
  });

  it('rejects directory reads by plain users', async () => {
    const carol = await t.login('carol@x.test');

    expect(errorCode(await t.gql(USERS, {}, { token: carol }))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(TENANTS, {}, { token: carol }))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(USERS, {}, {}))).toBe('UNAUTHENTICATED');
  });

  it('reads a user by email', async () => {
    const carol = await t.login('carol@x.test');

    const self = await t.gql(USER, { email: 'Carol@X.test' }, { token: carol });
    const other = await t.gql(USER, { email: 'alice@x.test' }, { token: carol });
    const byStaff = await t.gql(USER, { email: 'alice@x.test' }, { token: staffToken });
    const missing = await t.gql(USER, { email: 'nobody@x.test' }, { token: staffToken });

    expect(self.body.data).toEqual({ user: { email: 'carol@x.test', isActive: true } });
    expect(errorCode(other)).toBe('FORBIDDEN');
    expect(byStaff.body.data).toEqual({ user: { email: 'alice@x.test', isActive: true } });
    expect(errorCode(missing)).toBe('NOT_FOUND');
  });
});
