import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ERROR_CODES } from '../src/errors.js';
import {
  ADMIN_EMAIL,
  errorCode,
  PASSWORD,
  rawRequest,
  startTestApp,
  type TestApp,
} from './support/app.js';
import { PROVISION_TENANT } from './support/fixtures.js';

describe('error reporting', () => {
  let t: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    t = await startTestApp();
    adminToken = await t.login(ADMIN_EMAIL);
  });
  afterAll(() => t?.close());

  it('masks unexpected errors', async () => {
    // A real fault: a tenant whose schema lost its tables makes the member listing fail in SQL.
    await t.sql(`create schema broken_schema`);
    await t.sql(
      `insert into public.tenants (name, slug, schema_name, tenant_type, owner_id)
       select 'Broken', 'broken', 'broken_schema', 'default', id from public.users where email = $1`,
      [ADMIN_EMAIL],
    );
    const [{ id }] = await t.sql<{ id: string }>(
      `select id from public.tenants where slug = 'broken'`,
    );
    await t.sql(
      `insert into public.domains (domain, tenant_id, is_primary) values ('broken.app.test', $1, true)`,
      [id],
    );

    await t.sql(
      `insert into public.memberships (user_id, tenant_id)
       select id, $1 from public.users where email = $2`,
      [id, ADMIN_EMAIL],
    );

    const response = await t.gql(
      '{ currentTenant { members { totalCount edges { node { isStaff } } } } }',
      {},
      { host: 'broken.app.test', token: adminToken },
    );

    expect(errorCode(response)).toBe('INTERNAL_SERVER_ERROR');
    const text = JSON.stringify(response.body);
    expect(text).not.toContain('broken_schema');
    expect(text).not.toContain('stacktrace');
    expect(text).not.toContain('relation');
  });

  it('keeps expected codes without stack traces', async () => {
    const response = await t.gql(
      PROVISION_TENANT,
      { input: { name: 'X', slug: 'Bad Slug', ownerEmail: ADMIN_EMAIL } },
      { token: adminToken },
    );

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.body.errors?.[0]?.extensions?.field).toBe('slug');
    expect(response.body.errors?.[0]?.extensions).not.toHaveProperty('stacktrace');
  });

  it('rejects a malformed body with BAD_REQUEST', async () => {
    const response = await rawRequest(new URL(t.app.url), {
      headers: { host: 'app.test', 'content-type': 'application/json' },
      body: '{"query": ',
    });

    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('reports invalid GraphQL as a validation error', async () => {
    const response = await t.gql('{ noSuchField }', {}, { token: adminToken });

    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('lists an HTTP status for every code', () => {
    for (const status of Object.values(ERROR_CODES)) {
      expect(status).toBeGreaterThanOrEqual(400);
    }
  });

  it('never returns the password hash', async () => {
    const response = await t.gql(
      '{ me { email } }',
      {},
      { token: await t.login(ADMIN_EMAIL, PASSWORD) },
    );
    const [{ password_hash: hash }] = await t.sql<{ password_hash: string }>(
      'select password_hash from public.users where email = $1',
      [ADMIN_EMAIL],
    );

    expect(JSON.stringify(response.body)).not.toContain(hash);
  });
});
