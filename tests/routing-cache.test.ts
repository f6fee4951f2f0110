import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createApp, type App } from '../src/app.js';
import { LISTENER_APPLICATION_NAME, routingCacheOf } from '../src/context/routing-cache.js';
import { createLogger } from '../src/logger.js';
import {
  errorCode,
  rawRequest,
  startTestApp,
  type GraphqlResponse,
  type RequestOptions,
  type TestApp,
} from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  mustSucceed,
  provision,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const CURRENT_TENANT = '{ currentTenant { slug } }';
const DELETE_TENANT = `mutation ($tenant: String) { deleteTenant(tenant: $tenant) { slug } }`;
const ADD_DOMAIN = `
  mutation ($tenant: String, $domain: String!) { addDomain(tenant: $tenant, domain: $domain) { domain } }`;
const MEMBERS = `{
  currentTenant {
    members(first: 20) { edges { node { isStaff isSuperuser groups user { email } } } }
  }
}`;
const MEMBERS_AFTER = `query ($after: String) {
  currentTenant { members(first: 5, after: $after) { totalCount edges { cursor } pageInfo { hasNextPage } } }
}`;

interface MembersData {
  currentTenant: {
    members: {
      totalCount: number;
      edges: { cursor: string }[];
      pageInfo: { hasNextPage: boolean };
    };
  };
}

let t: TestApp;
let fixture: CaseFixture;
/**
 * A second server on the same database, in the role of another server process. Its provisioning
 * worker is off, so that the only statements it sends are those of the requests under test.
 */
let other: App;

beforeAll(async () => {
  t = await startTestApp();
  fixture = await seedCaseFixture(t);
  other = await createApp({ config: t.config, logger: createLogger('silent'), worker: false });
  await other.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await other?.close();
  await t?.close();
});

/** Posts a GraphQL operation to `app` over HTTP. */
async function gqlAt<T = Record<string, unknown>>(
  app: App,
  query: string,
  variables: Record<string, unknown> = {},
  options: RequestOptions = {},
): Promise<GraphqlResponse<T>> {
  const response = await rawRequest(new URL(app.url), {
    headers: {
      'content-type': 'application/json',
      host: options.host ?? 'app.test',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });

  return { status: response.status, body: JSON.parse(response.text) };
}

async function slugAt(app: App, host: string): Promise<GraphqlResponse> {
  return gqlAt(app, CURRENT_TENANT, {}, { host });
}

function slugOf(response: GraphqlResponse): unknown {
  return (response.body.data as { currentTenant?: { slug: string } } | null)?.currentTenant?.slug;
}

/** Counts the SQL statements `app` sends through its ORM while `work` runs. */
async function statementsOf(app: App, work: () => Promise<unknown>): Promise<number> {
  const knex = app.orm.em.getConnection().getKnex();
  let count = 0;
  const onQuery = () => {
    count += 1;
  };
  knex.on('query', onQuery);
  try {
    await work();
  } finally {
    knex.removeListener('query', onQuery);
  }

  return count;
}

async function provisionTenant(slug: string): Promise<void> {
  await provision(t, fixture.adminToken, { name: slug, slug, ownerEmail: 'carol@x.test' });
}

/**
 * Waits until `app` has processed the notifications of every change committed so far. Another
 * process receives a change asynchronously, usually within a millisecond but later under load, so
 * a test that reads right after a write of another process waits here first.
 */
async function settle(app: App): Promise<void> {
  await routingCacheOf(app.orm.em)!.sync();
}

/** Process ids of the listener connections to the test database. */
async function listenerPids(): Promise<number[]> {
  const rows = await t.sql<{ pid: number }>(
    `select pid from pg_stat_activity
     where datname = current_database() and application_name = $1`,
    [LISTENER_APPLICATION_NAME],
  );

  return rows.map((row) => row.pid);
}

/** Polls `condition` every 20 ms for up to 10 seconds; returns its last value. */
async function eventually(condition: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (!(await condition()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  return condition();
}

describe('routing cache', () => {
  it('serves a warm route without SQL', async () => {
    await provisionTenant('warm');
    expect(slugOf(await slugAt(other, 'warm.app.test'))).toBe('warm');

    let response: GraphqlResponse | undefined;
    const statements = await statementsOf(other, async () => {
      response = await slugAt(other, 'warm.app.test');
    });

    expect(slugOf(response!)).toBe('warm');
    expect(statements).toBe(0);
  });

  it('evicts tenant deleted by another process', async () => {
    await provisionTenant('doomed');
    expect(slugOf(await slugAt(other, 'doomed.app.test'))).toBe('doomed');

    const deleted = await t.gql(DELETE_TENANT, { tenant: 'doomed' }, { token: fixture.adminToken });
    expect(deleted.body.errors).toBeUndefined();
    await settle(other);
    const response = await slugAt(other, 'doomed.app.test');

    expect(response.status).toBe(404);
    expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
  });

  it('evicts route changed by direct SQL', async () => {
    await provisionTenant('edited');
    expect(slugOf(await slugAt(other, 'edited.app.test'))).toBe('edited');

    await t.sql(`update public.tenants set status = 'PROVISIONING' where slug = 'edited'`);
    await settle(other);
    expect(errorCode(await slugAt(other, 'edited.app.test'))).toBe('TENANT_NOT_READY');

    await t.sql(`update public.tenants set status = 'ACTIVE' where slug = 'edited'`);
    await settle(other);
    expect(slugOf(await slugAt(other, 'edited.app.test'))).toBe('edited');

    await t.sql(`update public.domains set is_active = false where domain = 'edited.app.test'`);
    await settle(other);
    expect(errorCode(await slugAt(other, 'edited.app.test'))).toBe('TENANT_NOT_FOUND');
  });

  it('routes newly added domain at once', async () => {
    await provisionTenant('grown');
    expect(errorCode(await slugAt(other, 'grown.example.test'))).toBe('TENANT_NOT_FOUND');
    expect(errorCode(await slugAt(other, 'grown.example.org'))).toBe('TENANT_NOT_FOUND');

    await mustSucceed(
      t,
      ADD_DOMAIN,
      { tenant: 'grown', domain: 'grown.example.test' },
      fixture.adminToken,
    );
    await t.sql(
      `insert into public.domains (domain, tenant_id)
       select 'grown.example.org', id from public.tenants where slug = 'grown'`,
    );

    expect(slugOf(await slugAt(other, 'grown.example.test'))).toBe('grown');
    expect(slugOf(await slugAt(other, 'grown.example.org'))).toBe('grown');
  });

  it('keeps cached tenants apart', async () => {
    const hosts = ['acme.app.test', 'globex.app.test'];
    for (const host of hosts) {
      await slugAt(other, host);
    }

    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, index) => slugAt(other, hosts[index % 2])),
    );

    expect(responses.map(slugOf)).toEqual(
      Array.from({ length: 40 }, (_, index) => ['acme', 'globex'][index % 2]),
    );
  });

  it('clears cache when listener reconnects', async () => {
    const cache = routingCacheOf(other.orm.em)!;
    await provisionTenant('relisten');
    expect(slugOf(await slugAt(other, 'relisten.app.test'))).toBe('relisten');
    // A change without its notification, as when one is lost: replica mode skips the trigger.
    const client = await t.db.connect();
    try {
      await client.query('begin');
      await client.query('set local session_replication_role = replica');
      await client.query(`update public.tenants set status = 'FAILED' where slug = 'relisten'`);
      await client.query('commit');
    } finally {
      client.release();
    }
    await settle(other);
    expect(slugOf(await slugAt(other, 'relisten.app.test'))).toBe('relisten');

    const killed = await listenerPids();
    expect(killed).toHaveLength(2);
    await t.sql('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [killed]);
    const reconnected = await eventually(async () => {
      const pids = await listenerPids();
      return pids.length === 2 && pids.every((pid) => !killed.includes(pid));
    });
    expect(reconnected).toBe(true);
    expect(await eventually(() => cache.isListening)).toBe(true);

    let fresh: GraphqlResponse | undefined;
    const statements = await statementsOf(other, async () => {
      fresh = await slugAt(other, 'relisten.app.test');
    });
    expect(errorCode(fresh!)).toBe('TENANT_NOT_READY');
    expect(statements).toBe(1);

    await t.sql(`update public.tenants set status = 'ACTIVE' where slug = 'relisten'`);
    await settle(other);
    expect(slugOf(await slugAt(other, 'relisten.app.test'))).toBe('relisten');
    expect(await statementsOf(other, () => slugAt(other, 'relisten.app.test'))).toBe(0);
    await t.sql(`update public.domains set is_active = false where domain = 'relisten.app.test'`);
    await settle(other);
    expect(errorCode(await slugAt(other, 'relisten.app.test'))).toBe('TENANT_NOT_FOUND');
  });
});

describe('member listing statements', () => {
  const slug = 'counted';
  const host = `${slug}.app.test`;
  let memberToken: string;

  beforeAll(async () => {
    await provisionTenant(slug);
    for (let index = 1; index <= 20; index += 1) {
      const email = `counted${index}@x.test`;
      await mustSucceed(
        t,
        CREATE_USER,
        { input: { email, password: 'Pw-123456789' } },
        fixture.adminToken,
      );
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: slug, userEmail: email, isStaff: index % 2 === 0 } },
        fixture.adminToken,
      );
    }
    memberToken = await t.login('counted1@x.test');
  });

  it('lists members in three statements', async () => {
    const options = { host, token: memberToken };
    const cold = await statementsOf(other, () => gqlAt(other, MEMBERS, {}, options));
    let response: GraphqlResponse | undefined;
    const warm = await statementsOf(other, async () => {
      response = await gqlAt(other, MEMBERS, {}, options);
    });
    const authOnly = await statementsOf(other, () => gqlAt(other, '{ __typename }', {}, options));

    expect(response!.body.errors).toBeUndefined();
    const edges = (response!.body.data as { currentTenant: { members: { edges: unknown[] } } })
      .currentTenant.members.edges;
    expect(edges).toHaveLength(20);
    // Routing reads one statement on a miss and none on a hit.
    expect(cold).toBe(warm + 1);
    // The session of the bearer token, joined with its user.
    expect(authOnly).toBe(1);
    // Memberships with count and users, then the permissions of the page and of the caller.
    expect(warm - authOnly).toBe(2);
    expect(warm).toBe(3);
  });

  it('counts members on an empty page', async () => {
    let after: string | null = null;
    let page: MembersData['currentTenant']['members'] | undefined;
    do {
      const response: GraphqlResponse<MembersData> = await t.gql<MembersData>(
        MEMBERS_AFTER,
        { after },
        { host, token: memberToken },
      );
      expect(response.body.errors).toBeUndefined();
      page = response.body.data!.currentTenant.members;
      after = page.edges.at(-1)?.cursor ?? after;
    } while (page.pageInfo.hasNextPage);

    const empty = await t.gql<MembersData>(MEMBERS_AFTER, { after }, { host, token: memberToken });

    expect(empty.body.errors).toBeUndefined();
    expect(empty.body.data!.currentTenant.members.edges).toEqual([]);
    expect(empty.body.data!.currentTenant.members.totalCount).toBe(21);
    expect(empty.body.data!.currentTenant.members.pageInfo.hasNextPage).toBe(false);
  });

  it('rejects listing by a non-member', async () => {
    const token = await t.login('carol@x.test');

    const response = await t.gql(MEMBERS, {}, { host: 'acme.app.test', token });

    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(response.body.data ?? null).toBeNull();
  });
});
