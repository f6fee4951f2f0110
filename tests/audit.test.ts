import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_EMAIL, PASSWORD, errorCode, startTestApp, type TestApp } from './support/app.js';
import {
  CREATE_USER,
  mustSucceed,
  provision,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const AUDIT_EVENTS = `
  query ($tenant: String, $first: Int, $after: String) {
    auditEvents(tenant: $tenant, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges {
        cursor
        node { id type tenantSlug userEmail actorEmail payload createdAt }
      }
    }
  }`;

const DELETE_TENANT = `mutation ($tenant: String) { deleteTenant(tenant: $tenant) { slug } }`;

const PURGE_TENANT = `
  mutation ($tenant: String!, $confirm: String!) {
    purgeTenant(tenant: $tenant, confirmSlug: $confirm)
  }`;

interface AuditNode {
  id: string;
  type: string;
  tenantSlug: string | null;
  userEmail: string | null;
  actorEmail: string | null;
  payload: Record<string, unknown>;
  createdAt: string;
}

interface AuditPage {
  auditEvents: {
    totalCount: number;
    pageInfo: {
      hasNextPage: boolean;
      hasPreviousPage: boolean;
      startCursor: string | null;
      endCursor: string | null;
    };
    edges: { cursor: string; node: AuditNode }[];
  };
}

describe('audit log', () => {
  let t: TestApp;
  let f: CaseFixture;
  let aliceToken: string;
  let bobToken: string;
  let carolToken: string;
  let staffToken: string;

  beforeAll(async () => {
    t = await startTestApp();
    f = await seedCaseFixture(t);
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'erin@x.test', password: PASSWORD, isStaff: true } },
      f.adminToken,
    );
    aliceToken = await t.login('alice@x.test');
    bobToken = await t.login('bob@x.test');
    carolToken = await t.login('carol@x.test');
    staffToken = await t.login('erin@x.test');
  });
  afterAll(() => t?.close());

  async function auditPage(
    variables: Record<string, unknown>,
    token: string,
    host?: string,
  ): Promise<AuditPage['auditEvents']> {
    const data = await mustSucceed<AuditPage>(t, AUDIT_EVENTS, variables, token, host);

    return data.auditEvents;
  }

  async function storedIds(tenantId: string | null): Promise<string[]> {
    const rows = await t.sql<{ id: string }>(
      `select a.id::text as id from public.audit_events a
       where $1::uuid is null or a.tenant_id = $1::uuid order by a.id desc`,
      [tenantId],
    );

    return rows.map((row) => row.id);
  }

  async function auditSnapshot(): Promise<unknown[]> {
    return t.sql('select * from public.audit_events order by id');
  }

  it('lists tenant events newest first', async () => {
    const page = await auditPage({ tenant: 'acme', first: 100 }, f.adminToken);

    const ids = page.edges.map((edge) => edge.node.id);
    expect(ids).toEqual(await storedIds(f.acme.id));
    expect(page.totalCount).toBe(ids.length);
    expect(page.edges.map((edge) => edge.node.type)).toEqual([
      'userAddedToTenant',
      'tenantProvisioned',
    ]);
    expect(page.pageInfo.hasNextPage).toBe(false);
    expect(page.pageInfo.hasPreviousPage).toBe(false);
  });

  it('resolves slugs and emails of an entry', async () => {
    const page = await auditPage({ tenant: 'acme', first: 1 }, f.adminToken);

    const [node] = page.edges.map((edge) => edge.node);
    expect(node).toMatchObject({
      type: 'userAddedToTenant',
      tenantSlug: 'acme',
      userEmail: 'bob@x.test',
      actorEmail: ADMIN_EMAIL,
    });
    expect(node.payload).toBeTypeOf('object');
    expect(Number.isNaN(Date.parse(node.createdAt))).toBe(false);
  });

  it('pages through events with cursors', async () => {
    const expected = await storedIds(null);
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;

    for (;;) {
      const page = await auditPage({ first: 2, after }, f.adminToken);
      seen.push(...page.edges.map((edge) => edge.node.id));
      expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
      expect(page.totalCount).toBe(expected.length);
      pages += 1;
      if (!page.pageInfo.hasNextPage) {
        break;
      }
      after = page.pageInfo.endCursor;
    }

    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 2));
  });

  it('rejects malformed paging arguments', async () => {
    const members = await mustSucceed<{
      tenant: { members: { pageInfo: { endCursor: string } } };
    }>(
      t,
      '{ tenant(slug: "acme") { members(first: 1) { pageInfo { endCursor } } } }',
      {},
      f.adminToken,
    );
    const forged = (id: string) =>
      Buffer.from(`2024-01-01T00:00:00.000Z|${id}`).toString('base64url');
    const cases: [Record<string, unknown>, string][] = [
      [{ after: 'garbage' }, 'after'],
      [{ after: members.tenant.members.pageInfo.endCursor }, 'after'],
      [{ after: forged('0') }, 'after'],
      [{ after: forged('-1') }, 'after'],
      [{ after: forged('99999999999999999999') }, 'after'],
      [{ after: forged('9223372036854775808') }, 'after'],
      [{ first: 0 }, 'first'],
      [{ first: 101 }, 'first'],
    ];

    for (const [variables, field] of cases) {
      const response = await t.gql(AUDIT_EVENTS, variables, { token: f.adminToken });
      expect(errorCode(response), JSON.stringify(variables)).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field).toBe(field);
    }
  });

  it('public tenant shows whole log', async () => {
    const page = await auditPage({ first: 100 }, f.adminToken);

    const ids = page.edges.map((edge) => edge.node.id);
    expect(ids).toEqual(await storedIds(null));
    const oldest = page.edges.at(-1)!.node;
    expect(oldest).toMatchObject({
      type: 'userCreated',
      tenantSlug: null,
      userEmail: ADMIN_EMAIL,
      actorEmail: null,
    });
    const slugs = new Set(page.edges.map((edge) => edge.node.tenantSlug));
    expect(slugs).toContain('acme');
    expect(slugs).toContain('globex');
  });

  it('keeps events of purged tenant', async () => {
    await provision(t, f.adminToken, { name: 'Wayne', slug: 'wayne', ownerEmail: 'carol@x.test' });
    await mustSucceed(t, DELETE_TENANT, { tenant: 'wayne' }, f.adminToken);
    await mustSucceed(t, PURGE_TENANT, { tenant: 'wayne', confirm: 'wayne' }, f.adminToken);

    const page = await auditPage({ first: 5 }, f.adminToken);

    const [purged] = page.edges.map((edge) => edge.node);
    expect(purged).toMatchObject({
      type: 'tenantPurged',
      tenantSlug: null,
      actorEmail: ADMIN_EMAIL,
    });
    expect(purged.payload.tenant).toBe('wayne');
  });

  it('lets platform staff read any tenant', async () => {
    await provision(t, f.adminToken, { name: 'Hooli', slug: 'hooli', ownerEmail: 'carol@x.test' });
    await mustSucceed(t, DELETE_TENANT, { tenant: 'hooli' }, f.adminToken);

    for (const tenant of ['acme', 'globex', 'public', 'hooli']) {
      const page = await auditPage({ tenant, first: 100 }, staffToken);
      expect(page.totalCount, tenant).toBeGreaterThan(0);
    }
    const hooli = await auditPage({ tenant: 'hooli', first: 1 }, staffToken);
    expect(hooli.edges[0].node.type).toBe('tenantDeleted');
  });

  it('lets tenant superuser read own log', async () => {
    const onHost = await auditPage({ first: 100 }, aliceToken, 'acme.app.test');
    const onPublic = await auditPage({ tenant: 'acme', first: 100 }, aliceToken);

    const expected = await storedIds(f.acme.id);
    expect(onHost.edges.map((edge) => edge.node.id)).toEqual(expected);
    expect(onPublic.edges.map((edge) => edge.node.id)).toEqual(expected);
    expect(new Set(onHost.edges.map((edge) => edge.node.tenantSlug))).toEqual(new Set(['acme']));
  });

  it('forbids reading logs without rights', async () => {
    // alice is a plain member of globex and bob is staff but not superuser in acme. carol is in
    // no tenant. Only platform staff may read the public tenant's log.
    const cases: [string, Record<string, unknown>, string | undefined][] = [
      [aliceToken, { tenant: 'globex' }, undefined],
      [aliceToken, { tenant: 'public' }, undefined],
      [aliceToken, {}, undefined],
      [bobToken, { tenant: 'acme' }, undefined],
      [bobToken, {}, 'acme.app.test'],
      [bobToken, { tenant: 'acme' }, 'globex.app.test'],
      [carolToken, { tenant: 'acme' }, undefined],
    ];

    for (const [token, variables, host] of cases) {
      const response = await t.gql(AUDIT_EVENTS, variables, { token, host });
      expect(errorCode(response), JSON.stringify({ variables, host })).toBe('FORBIDDEN');
      expect(response.body.data ?? null).toBeNull();
    }
  });

  it('hides deleted tenant from its superusers', async () => {
    await provision(t, f.adminToken, { name: 'Oscorp', slug: 'oscorp', ownerEmail: 'bob@x.test' });
    await mustSucceed(t, DELETE_TENANT, { tenant: 'oscorp' }, f.adminToken);

    const response = await t.gql(AUDIT_EVENTS, { tenant: 'oscorp' }, { token: bobToken });

    expect(errorCode(response)).toBe('NOT_FOUND');
  });

  it('rejects unknown tenant', async () => {
    const response = await t.gql(AUDIT_EVENTS, { tenant: 'nowhere' }, { token: f.adminToken });

    expect(errorCode(response)).toBe('NOT_FOUND');
  });

  it('rejects anonymous readers', async () => {
    for (const host of [undefined, 'acme.app.test']) {
      const response = await t.gql(AUDIT_EVENTS, { tenant: 'acme' }, { host });
      expect(errorCode(response)).toBe('UNAUTHENTICATED');
    }
  });

  it('offers no mutation of the log', async () => {
    const response = await t.gql<{ __schema: { mutationType: { fields: { name: string }[] } } }>(
      '{ __schema { mutationType { fields { name } } } }',
      {},
      { token: f.adminToken },
    );

    const names = response.body.data!.__schema.mutationType.fields.map((field) => field.name);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => /audit/i.test(name))).toEqual([]);
  });

  it('rejects update of audit rows', async () => {
    const before = await auditSnapshot();

    await expect(t.sql("update public.audit_events set type = 'forged'")).rejects.toMatchObject({
      code: '23001',
    });

    expect(await auditSnapshot()).toEqual(before);
  });

  it('rejects delete of audit rows', async () => {
    const before = await auditSnapshot();

    await expect(t.sql('delete from public.audit_events')).rejects.toMatchObject({
      code: '23001',
    });
    await expect(t.sql('truncate public.audit_events')).rejects.toMatchObject({
      code: '23001',
    });

    expect(await auditSnapshot()).toEqual(before);
  });

  it('still accepts new audit rows', async () => {
    const before = await storedIds(null);

    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'frank@x.test', password: PASSWORD } },
      f.adminToken,
    );

    const page = await auditPage({ first: 1 }, f.adminToken);
    expect(page.totalCount).toBe(before.length + 1);
    expect(page.edges[0].node).toMatchObject({ type: 'userCreated', userEmail: 'frank@x.test' });
  });
});
