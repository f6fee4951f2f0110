import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  errorCode,
  rawRequest,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import {
  DELETE_USER,
  PROVISION_TENANT,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const CURRENT_TENANT = '{ currentTenant { slug } }';

interface RawResult {
  status: number;
  /** The parsed JSON body, or null when the body is not JSON. */
  body: GraphqlResponse['body'] | null;
}

/** Posts `{ currentTenant { slug } }` with exactly the given headers and no others. */
async function postRaw(
  t: TestApp,
  headers: Record<string, string>,
  path = '/graphql',
): Promise<RawResult> {
  const response = await rawRequest(new URL(t.app.url), {
    path,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query: CURRENT_TENANT }),
  });

  return { status: response.status, body: parseJson(response.text) };
}

function parseJson(text: string): GraphqlResponse['body'] | null {
  try {
    return JSON.parse(text) as GraphqlResponse['body'];
  } catch {
    return null;
  }
}

async function slugAt(t: TestApp, host: string, path?: string): Promise<GraphqlResponse> {
  return t.gql<{ currentTenant: { slug: string } }>(CURRENT_TENANT, {}, { host, path });
}

function slugOf(response: GraphqlResponse): unknown {
  return (response.body.data as { currentTenant?: { slug: string } } | null)?.currentTenant?.slug;
}

describe('routing with the default settings', () => {
  let t: TestApp;
  let fixture: CaseFixture;
  beforeAll(async () => {
    t = await startTestApp();
    fixture = await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  it.each(['acme.app.test', 'acme.app.test:4000', 'ACME.App.Test', 'acme.app.test.'])(
    'routes host form %s to acme',
    async (host) => {
      const response = await slugAt(t, host);

      expect(response.status).toBe(200);
      expect(response.body.errors).toBeUndefined();
      expect(slugOf(response)).toBe('acme');
    },
  );

  it('drops leading www by default', async () => {
    const response = await slugAt(t, 'www.acme.app.test');

    expect(response.body.errors).toBeUndefined();
    expect(slugOf(response)).toBe('acme');
  });

  it('combines port, case and trailing dot', async () => {
    const response = await slugAt(t, 'WWW.Globex.APP.test.:8443');

    expect(response.body.errors).toBeUndefined();
    expect(slugOf(response)).toBe('globex');
  });

  it('routes the public domain to public', async () => {
    const response = await slugAt(t, 'app.test');

    expect(response.body.errors).toBeUndefined();
    expect(slugOf(response)).toBe('public');
  });

  it.each([
    'acme.app.test..',
    'acme.app.test:abc',
    'acme app.test',
    '.acme.app.test',
    'acme..app.test',
    'acme.app.test:99999',
    'acme.app.test:-1',
    'acme.app.test:4000:4000',
    'acme_x.app.test',
    '-acme.app.test',
    'acme.app.test/graphql',
    'user@acme.app.test',
    `${'a'.repeat(64)}.app.test`,
  ])('rejects malformed host %s', async (host) => {
    const response = await slugAt(t, host);

    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_REQUEST');
    expect(response.body.data ?? null).toBeNull();
  });

  it('rejects request without Host header', async () => {
    const response = await postRaw(t, {});

    expect(response.status).toBe(400);
    expect(response.body?.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
  });

  it('rejects empty Host header', async () => {
    const response = await postRaw(t, { host: '' });

    expect(response.status).toBe(400);
    expect(response.body?.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
  });

  it.each(['evil.test', 'acme.app.test.evil.test', 'nobody.app.test', 'acme.app.test.app.test'])(
    'returns 404 for unknown host %s',
    async (host) => {
      const response = await slugAt(t, host);

      expect(response.status).toBe(404);
      expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
      expect(response.body.data ?? null).toBeNull();
    },
  );

  it('ignores X-Forwarded-Host without trusted proxy', async () => {
    const response = await t.gql(
      CURRENT_TENANT,
      {},
      { host: 'acme.app.test', headers: { 'x-forwarded-host': 'globex.app.test' } },
    );

    expect(response.body.errors).toBeUndefined();
    expect(slugOf(response)).toBe('acme');
  });

  it('ignores X-Forwarded-Host for an unknown host', async () => {
    const response = await t.gql(
      CURRENT_TENANT,
      {},
      { host: 'evil.test', headers: { 'x-forwarded-host': 'acme.app.test' } },
    );

    expect(response.status).toBe(404);
    expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
  });

  it('stops routing a deleted tenant', async () => {
    await seedTenant(t, fixture.adminToken, 'initech', 'carol@x.test');
    expect(slugOf(await slugAt(t, 'initech.app.test'))).toBe('initech');

    const deleted = await t.gql(
      'mutation { deleteTenant(tenant: "initech") { isActive } }',
      {},
      { token: fixture.adminToken },
    );
    expect(deleted.body.errors).toBeUndefined();

    for (const host of ['initech.app.test', 'www.initech.app.test', 'INITECH.app.test:80']) {
      const response = await slugAt(t, host);
      expect(response.status).toBe(404);
      expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
    }
  });

  it('stops routing tenant of deleted owner', async () => {
    await t.gql(
      'mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }',
      { input: { email: 'dave@x.test', password: 'Pw-123456789' } },
      { token: fixture.adminToken },
    );
    await seedTenant(t, fixture.adminToken, 'vandelay', 'dave@x.test');

    const deleted = await t.gql(
      DELETE_USER,
      { email: 'dave@x.test' },
      {
        token: fixture.adminToken,
      },
    );
    expect(deleted.body.errors).toBeUndefined();

    const response = await slugAt(t, 'vandelay.app.test');
    expect(response.status).toBe(404);
    expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
  });

  it.each(['PROVISIONING', 'FAILED'])('rejects %s tenant as not ready', async (status) => {
    const slug = `hold-${status.toLowerCase()}`;
    await seedTenant(t, fixture.adminToken, slug, 'carol@x.test');
    await t.sql('update public.tenants set status = $1 where slug = $2', [status, slug]);

    const response = await slugAt(t, `${slug}.app.test`);

    expect(errorCode(response)).toBe('TENANT_NOT_READY');
    expect(response.body.data ?? null).toBeNull();

    await t.sql(`update public.tenants set status = 'ACTIVE' where slug = $1`, [slug]);
    expect(slugOf(await slugAt(t, `${slug}.app.test`))).toBe(slug);
  });

  it('keeps tenants apart under concurrency', async () => {
    const query = `{
      currentTenant { slug members { edges { node { user { email } } } } }
      me { email }
    }`;
    const expectedMembers: Record<string, string[]> = {
      acme: ['alice@x.test', 'bob@x.test'],
      globex: ['alice@x.test', 'bob@x.test'],
    };
    const callers: Record<string, { token: string; email: string }> = {
      acme: { token: await t.login('alice@x.test'), email: 'alice@x.test' },
      globex: { token: await t.login('bob@x.test'), email: 'bob@x.test' },
    };
    const slugs = Array.from({ length: 20 }, (_, index) => (index % 3 === 0 ? 'globex' : 'acme'));

    const responses = await Promise.all(
      slugs.map((slug) =>
        t.gql<{
          currentTenant: {
            slug: string;
            members: { edges: { node: { user: { email: string } } }[] };
          };
          me: { email: string };
        }>(query, {}, { host: `${slug}.app.test`, token: callers[slug].token }),
      ),
    );

    responses.forEach((response, index) => {
      const slug = slugs[index];
      expect(response.body.errors, `request ${index}`).toBeUndefined();
      expect(response.body.data?.currentTenant.slug, `request ${index}`).toBe(slug);
      expect(response.body.data?.me.email, `request ${index}`).toBe(callers[slug].email);
      const members = response.body.data?.currentTenant.members.edges
        .map((edge) => edge.node.user.email)
        .sort();
      expect(members, `request ${index}`).toEqual(expectedMembers[slug]);
    });
  });

  it('keeps callers apart under concurrency', async () => {
    const carol = await t.login('carol@x.test');
    const alice = await t.login('alice@x.test');
    const requests = Array.from({ length: 20 }, (_, index) =>
      index % 2 === 0
        ? { token: alice, expectedCode: undefined }
        : { token: carol, expectedCode: 'FORBIDDEN' },
    );

    const responses = await Promise.all(
      requests.map((request) =>
        t.gql(
          '{ tenant(slug: "acme") { slug } }',
          {},
          {
            host: 'acme.app.test',
            token: request.token,
          },
        ),
      ),
    );

    responses.forEach((response, index) => {
      expect(errorCode(response), `request ${index}`).toBe(requests[index].expectedCode);
    });
  });
});

describe('routing with www kept', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ stripWww: false });
    await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  it('keeps leading www when configured', async () => {
    const response = await slugAt(t, 'www.acme.app.test');

    expect(response.status).toBe(404);
    expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
  });

  it('still routes bare host form', async () => {
    const response = await slugAt(t, 'ACME.app.test.:4000');

    expect(slugOf(response)).toBe('acme');
  });
});

describe('routing with public fallback', () => {
  let t: TestApp;
  let fixture: CaseFixture;
  beforeAll(async () => {
    t = await startTestApp({ showPublicIfNoTenantFound: true });
    fixture = await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  it('routes unknown host to public', async () => {
    for (const host of ['evil.test', 'acme.app.test.evil.test']) {
      const response = await slugAt(t, host);
      expect(response.status).toBe(200);
      expect(slugOf(response)).toBe('public');
    }
  });

  it('routes deleted tenant host to public', async () => {
    await seedTenant(t, fixture.adminToken, 'initech', 'carol@x.test');
    const deleted = await t.gql(
      'mutation { deleteTenant(tenant: "initech") { isActive } }',
      {},
      { token: fixture.adminToken },
    );
    expect(deleted.body.errors).toBeUndefined();

    const response = await slugAt(t, 'initech.app.test');

    expect(slugOf(response)).toBe('public');
  });

  it('still rejects malformed host', async () => {
    const response = await slugAt(t, 'acme.app.test..');

    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_REQUEST');
  });

  it('still routes known host', async () => {
    expect(slugOf(await slugAt(t, 'globex.app.test'))).toBe('globex');
  });
});

describe('routing behind a trusted proxy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ trustProxy: true });
    await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  it('routes by X-Forwarded-Host', async () => {
    const response = await t.gql(
      CURRENT_TENANT,
      {},
      { host: 'acme.app.test', headers: { 'x-forwarded-host': 'globex.app.test' } },
    );

    expect(slugOf(response)).toBe('globex');
  });

  it('uses first X-Forwarded-Host entry', async () => {
    const response = await t.gql(
      CURRENT_TENANT,
      {},
      {
        host: 'acme.app.test',
        headers: { 'x-forwarded-host': 'GLOBEX.app.test:443, acme.app.test' },
      },
    );

    expect(slugOf(response)).toBe('globex');
  });

  it('falls back to Host without forwarding', async () => {
    expect(slugOf(await slugAt(t, 'acme.app.test'))).toBe('acme');
  });

  it('rejects malformed X-Forwarded-Host', async () => {
    const response = await t.gql(
      CURRENT_TENANT,
      {},
      { host: 'acme.app.test', headers: { 'x-forwarded-host': 'globex.app.test:abc' } },
    );

    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_REQUEST');
  });

  it('returns 404 for unknown forwarded host', async () => {
    const response = await t.gql(
      CURRENT_TENANT,
      {},
      { host: 'acme.app.test', headers: { 'x-forwarded-host': 'evil.test' } },
    );

    expect(response.status).toBe(404);
    expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
  });
});

describe('routing in subfolder mode', () => {
  let t: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    t = await startTestApp({ subfolderPrefix: 'clients' });
    adminToken = await t.login('root@app.test');
    await t.gql(
      'mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }',
      { input: { email: 'alice@x.test', password: 'Pw-123456789' } },
      { token: adminToken },
    );
    await seedTenant(t, adminToken, 'sample', 'alice@x.test');
    await seedTenant(t, adminToken, 'other', 'alice@x.test');
  });
  afterAll(() => t?.close());

  it('stores the bare slug as domain', async () => {
    const rows = await t.sql<{ domain: string }>(
      `select d.domain from public.domains d join public.tenants t on t.id = d.tenant_id
       where t.slug = 'sample'`,
    );

    expect(rows.map((row) => row.domain)).toEqual(['sample']);
  });

  it('routes by path prefix and slug', async () => {
    const response = await slugAt(t, 'app.test', '/clients/sample/graphql');

    expect(response.body.errors).toBeUndefined();
    expect(slugOf(response)).toBe('sample');
  });

  it('routes by path whatever the Host', async () => {
    const response = await slugAt(t, 'unrelated.example', '/clients/other/graphql');

    expect(slugOf(response)).toBe('other');
  });

  it('routes plain path by Host', async () => {
    expect(slugOf(await slugAt(t, 'app.test', '/graphql'))).toBe('public');
  });

  it('returns 404 for unknown slug', async () => {
    const response = await slugAt(t, 'app.test', '/clients/nobody/graphql');

    expect(response.status).toBe(404);
    expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
  });

  it('rejects a host name as slug', async () => {
    const response = await slugAt(t, 'app.test', '/clients/app.test/graphql');

    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_REQUEST');
  });

  it('matches prefix without regard to case', async () => {
    const response = await slugAt(t, 'app.test', '/CLIENTS/Sample/graphql');

    expect(response.body.errors).toBeUndefined();
    expect(slugOf(response)).toBe('sample');
  });

  it('decodes percent-encoded slug', async () => {
    const response = await slugAt(t, 'app.test', '/clients/%73ample/graphql');

    expect(slugOf(response)).toBe('sample');
  });

  it.each(['/clients/sam%20ple/graphql', '/clients/%E0%A4%A/graphql', '/clients/-sample/graphql'])(
    'rejects malformed slug path %s',
    async (path) => {
      const response = await slugAt(t, 'app.test', path);

      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('BAD_REQUEST');
    },
  );

  it('rejects subfolder tenant not ready', async () => {
    await t.sql(`update public.tenants set status = 'PROVISIONING' where slug = 'other'`);

    const response = await slugAt(t, 'app.test', '/clients/other/graphql');

    expect(errorCode(response)).toBe('TENANT_NOT_READY');
    await t.sql(`update public.tenants set status = 'ACTIVE' where slug = 'other'`);
  });
});

async function seedTenant(t: TestApp, token: string, slug: string, ownerEmail: string) {
  const response = await t.gql(
    PROVISION_TENANT,
    { input: { name: slug, slug, ownerEmail } },
    { token },
  );
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
}
