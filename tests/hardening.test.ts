import { getIntrospectionQuery, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../src/config.js';
import { queryLimitsRule } from '../src/http/limits.js';
import { createSchema } from '../src/resolvers/schema.js';
import {
  PASSWORD,
  PUBLIC_DOMAIN,
  errorCode,
  rawRequest,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import { seedCaseFixture } from './support/fixtures.js';

const MAX_BODY_BYTES = 4096;
const MAX_PER_ADDRESS = 2;
const ME = '{ me { email } }';
const LOGIN = `
  mutation ($email: String!, $password: String!) {
    login(email: $email, password: $password) { token }
  }`;

let t: TestApp;
let aliceToken: string;

beforeAll(async () => {
  t = await startTestApp({
    introspection: false,
    graphiql: false,
    maxBodyBytes: MAX_BODY_BYTES,
    trustProxy: true,
    loginMaxAttemptsPerAddress: MAX_PER_ADDRESS,
  });
  await seedCaseFixture(t);
  aliceToken = await t.login('alice@x.test');
});
afterAll(() => t?.close());

function reason(response: GraphqlResponse<unknown>): unknown {
  return response.body.errors?.[0]?.extensions?.reason;
}

/** `me { ownedTenants { edges { node { owner { ... } } } } }`, `hops` times around `leaf`. */
function nestedTenants(hops: number, leaf: string): string {
  let selection = leaf;
  for (let i = 0; i < hops; i += 1) {
    selection = `ownedTenants(first: 1) { edges { node { owner { ${selection} } } } }`;
  }

  return `{ me { ${selection} } }`;
}

function send(options: {
  method?: string;
  path?: string;
  headers: Record<string, string>;
  body?: string;
}) {
  return rawRequest(new URL(t.app.url), {
    ...options,
    headers: { host: PUBLIC_DOMAIN, ...options.headers },
  });
}

describe('query depth', () => {
  it('rejects over-deep operation', async () => {
    // me, then 4 levels per hop (tenants, edges, node, owner) twice, then 4 more levels: 13.
    const query = nestedTenants(2, 'tenants(first: 1) { edges { node { slug } } }');

    const response = await t.gql(query, {}, { token: aliceToken });

    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(reason(response)).toBe('QUERY_TOO_DEEP');
    expect(response.body.errors?.[0]?.extensions?.depth).toBe(13);
    expect(response.body.errors?.[0]?.extensions?.maxDepth).toBe(t.config.maxQueryDepth);
    expect(response.body.data ?? null).toBeNull();
  });

  it('accepts depth at the limit', async () => {
    const query = nestedTenants(2, 'tenants(first: 1) { edges { cursor } }');

    const response = await t.gql(query, {}, { token: aliceToken });

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toHaveProperty('me');
  });

  it('counts depth through fragments', async () => {
    const query = `
      query { me { ...Hop } }
      fragment Hop on User { tenants(first: 1) { edges { node { owner { ...Hop2 } } } } }
      fragment Hop2 on User { tenants(first: 1) { edges { node { owner { ...Hop3 } } } } }
      fragment Hop3 on User { tenants(first: 1) { edges { node { ... on Tenant { slug } } } } }`;

    const response = await t.gql(query, {}, { token: aliceToken });

    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(reason(response)).toBe('QUERY_TOO_DEEP');
  });
});

describe('query complexity', () => {
  const NESTED_PAGES = (first: string) => `
    query ${first.startsWith('$') ? '($n: Int)' : ''} {
      me { tenants(first: ${first}) { edges { node {
        members(first: ${first}) { edges { node { user { email } } } }
      } } } }
    }`;

  it('rejects nested large pages', async () => {
    const response = await t.gql(NESTED_PAGES('100'), {}, { token: aliceToken });

    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(reason(response)).toBe('QUERY_TOO_COMPLEX');
    expect(response.body.errors?.[0]?.extensions?.maxComplexity).toBe(t.config.maxQueryComplexity);
  });

  it('accepts nested small pages', async () => {
    const response = await t.gql(NESTED_PAGES('5'), {}, { token: aliceToken });

    expect(response.body.errors).toBeUndefined();
  });

  it('counts variable page size as maximum', async () => {
    const response = await t.gql(NESTED_PAGES('$n'), { n: 5 }, { token: aliceToken });

    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(reason(response)).toBe('QUERY_TOO_COMPLEX');
  });

  it('counts every alias', async () => {
    const fields = Array.from({ length: 30 }, (_, i) => `a${i}: tenants(first: 100) { ...T }`);
    const query = `{ me { ${fields.join(' ')} } }
      fragment T on TenantConnection { edges { node { slug name } } }`;

    const response = await t.gql(query, {}, { token: aliceToken });

    expect(reason(response)).toBe('QUERY_TOO_COMPLEX');
  });

  it('rejects fragment explosion', async () => {
    // Each fragment spreads the next one twice: 2^40 selections once expanded.
    const fragments = Array.from(
      { length: 40 },
      (_, i) => `fragment F${i} on User { email ...F${i + 1} ...F${i + 1} }`,
    );
    fragments.push('fragment F40 on User { email }');
    const query = `{ me { ...F0 } } ${fragments.join(' ')}`;

    const response = await t.gql(query, {}, { token: aliceToken });

    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('introspection query fits default limits', async () => {
    const defaults = loadConfig({});
    const schema = await createSchema();

    const errors = validate(schema, parse(getIntrospectionQuery()), [
      queryLimitsRule(defaults.maxQueryDepth, defaults.maxQueryComplexity),
    ]);

    expect(errors).toEqual([]);
  });
});

describe('request body', () => {
  it('rejects body over size limit', async () => {
    const body = JSON.stringify({ query: `{ me { email } } # ${'x'.repeat(MAX_BODY_BYTES)}` });

    const response = await send({
      headers: { 'content-type': 'application/json', authorization: `Bearer ${aliceToken}` },
      body,
    });

    expect([400, 413]).toContain(response.status);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('rejects malformed JSON body', async () => {
    const response = await send({
      headers: { 'content-type': 'application/json' },
      body: '{"query": ',
    });

    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe('BAD_REQUEST');
  });
});

describe('CSRF prevention', () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['form', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
  ])('blocks simple %s POST', async (_case, contentType) => {
    const token = await t.login('bob@x.test');

    const response = await send({
      headers: { 'content-type': contentType, authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { logout }' }),
    });

    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe('BAD_REQUEST');
    const me = await t.gql(ME, {}, { token });
    expect(me.body.data).toEqual({ me: { email: 'bob@x.test' } });
  });

  it('blocks GET without preflight header', async () => {
    const response = await send({
      method: 'GET',
      path: `/graphql?query=${encodeURIComponent('{ currentTenant { slug } }')}`,
      headers: {},
    });

    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('allows GET with preflight header', async () => {
    const response = await send({
      method: 'GET',
      path: `/graphql?query=${encodeURIComponent('{ currentTenant { slug } }')}`,
      headers: { 'apollo-require-preflight': 'true' },
    });

    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual({ data: { currentTenant: { slug: 'public' } } });
  });
});

describe('introspection and GraphiQL switched off', () => {
  it.each([
    ['__schema', '{ __schema { queryType { name } } }'],
    ['__type', '{ __type(name: "User") { name } }'],
  ])('rejects %s', async (_case, query) => {
    const response = await t.gql(query);

    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(response.body.data ?? null).toBeNull();
  });

  it('still answers __typename', async () => {
    const response = await t.gql('{ __typename }');

    expect(response.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('serves no GraphiQL page', async () => {
    const page = await send({ method: 'GET', headers: { accept: 'text/html' } });
    const asset = await send({
      method: 'GET',
      path: '/graphql/assets/graphiql.min.js',
      headers: { accept: '*/*' },
    });

    expect(String(page.headers['content-type'])).not.toContain('text/html');
    expect(page.text).not.toContain('graphiql');
    expect(asset.status).not.toBe(200);
    expect(String(asset.headers['content-type'])).not.toContain('javascript');
  });
});

describe('client address behind trusted proxy', () => {
  async function failLogin(email: string, forwardedFor: string) {
    return t.gql(
      LOGIN,
      { email, password: 'Wrong-Pw-000000' },
      {
        headers: { 'x-forwarded-for': forwardedFor },
      },
    );
  }

  it('counts the last forwarded address', async () => {
    for (let i = 0; i < MAX_PER_ADDRESS; i += 1) {
      expect(errorCode(await failLogin(`p${i}@x.test`, '203.0.113.5'))).toBe('UNAUTHENTICATED');
    }

    const forged = await failLogin('p-forged@x.test', '198.51.100.1, 203.0.113.5');
    const other = await failLogin('p-other@x.test', '203.0.113.6');

    expect(errorCode(forged)).toBe('TOO_MANY_REQUESTS');
    expect(errorCode(other)).toBe('UNAUTHENTICATED');
  });

  it('counts IPv6 clients per /64', async () => {
    for (let i = 0; i < MAX_PER_ADDRESS; i += 1) {
      await failLogin(`v6-${i}@x.test`, `2001:db8:1:2::${i + 1}`);
    }

    const sameNetwork = await failLogin('v6-same@x.test', '2001:db8:1:2:ffff::9');
    const otherNetwork = await failLogin('v6-other@x.test', '2001:db8:1:3::1');

    expect(errorCode(sameNetwork)).toBe('TOO_MANY_REQUESTS');
    expect(errorCode(otherNetwork)).toBe('UNAUTHENTICATED');
  });

  it('successful login works from a fresh address', async () => {
    const response = await t.gql(
      LOGIN,
      { email: 'carol@x.test', password: PASSWORD },
      {
        headers: { 'x-forwarded-for': '192.0.2.10' },
      },
    );

    expect(response.body.errors).toBeUndefined();
  });
});
