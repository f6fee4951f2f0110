import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { errorCode, PASSWORD, startTestApp, type TestApp } from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  DELETE_USER,
  databaseSnapshot,
  mustSucceed,
  provision,
  REMOVE_USER_FROM_TENANT,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const ACME = 'acme.app.test';
const GLOBEX = 'globex.app.test';

const CREATE_TOKEN = `
  mutation ($name: String!, $scopes: [String!]!, $tenants: [String!]) {
    createServiceToken(name: $name, scopes: $scopes, tenants: $tenants) {
      token
      serviceToken { id name scopes tenants { slug } createdBy { email } lastUsedAt revokedAt }
    }
  }`;

const REVOKE_TOKEN = `
  mutation ($id: ID!) { revokeServiceToken(id: $id) { id revokedAt } }`;

const LIST_TOKENS = `
  query ($includeRevoked: Boolean) {
    serviceTokens(first: 50, includeRevoked: $includeRevoked) {
      totalCount
      edges { node { id name scopes tenants { slug } createdBy { email } lastUsedAt revokedAt } }
    }
  }`;

const READ_TENANT = `
  query ($slug: String!) { tenant(slug: $slug) { slug members { totalCount } } }`;

interface CreatedToken {
  token: string;
  serviceToken: {
    id: string;
    name: string;
    scopes: string[];
    tenants: { slug: string }[] | null;
    createdBy: { email: string } | null;
    lastUsedAt: string | null;
    revokedAt: string | null;
  };
}

interface TokenRow {
  id: string;
  name: string;
  token_hash: string;
  scopes: string[];
  tenant_ids: string[] | null;
  created_by_id: string | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

describe('service tokens', () => {
  let t: TestApp;
  let fixture: CaseFixture;

  beforeAll(async () => {
    t = await startTestApp();
    fixture = await seedCaseFixture(t);
  });

  afterAll(async () => {
    await t?.close();
  });

  async function createToken(
    name: string,
    scopes: string[],
    tenants: string[] | null = null,
  ): Promise<CreatedToken> {
    const data = await mustSucceed<{ createServiceToken: CreatedToken }>(
      t,
      CREATE_TOKEN,
      { name, scopes, tenants },
      fixture.adminToken,
    );

    return data.createServiceToken;
  }

  async function tokenRows(): Promise<TokenRow[]> {
    return t.sql<TokenRow & Record<string, unknown>>(
      'select * from public.service_tokens order by created_at, id',
    );
  }

  async function tokenRow(id: string): Promise<TokenRow> {
    const [row] = await t.sql<TokenRow & Record<string, unknown>>(
      'select * from public.service_tokens where id = $1',
      [id],
    );

    return row!;
  }

  it('returns the secret only on creation', async () => {
    const created = await createToken('crm sync', ['users:read', 'tenants:read']);

    expect(created.token).toMatch(/^tus_[A-Za-z0-9_-]{43}$/);
    expect(created.serviceToken.name).toBe('crm sync');
    expect(created.serviceToken.scopes).toEqual(['users:read', 'tenants:read']);
    expect(created.serviceToken.tenants).toBeNull();
    expect(created.serviceToken.createdBy).toEqual({ email: 'root@app.test' });
    expect(created.serviceToken.lastUsedAt).toBeNull();
    expect(created.serviceToken.revokedAt).toBeNull();

    const listed = await t.gql(LIST_TOKENS, {}, { token: fixture.adminToken });
    expect(listed.body.errors).toBeUndefined();
    expect(JSON.stringify(listed.body)).toContain(created.serviceToken.id);
    expect(JSON.stringify(listed.body)).not.toContain(created.token);
    expect(JSON.stringify(listed.body)).not.toContain(created.token.slice(4));

    const asField = await t.gql(
      '{ serviceTokens { edges { node { token } } } }',
      {},
      { token: fixture.adminToken },
    );
    expect(errorCode(asField)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('stores only the token hash', async () => {
    const created = await createToken('hash check', ['users:read']);
    const row = await tokenRow(created.serviceToken.id);

    expect(row.token_hash).toBe(createHash('sha256').update(created.token).digest('hex'));
    const everyValue = JSON.stringify(await tokenRows());
    expect(everyValue).not.toContain(created.token);
    expect(everyValue).not.toContain(created.token.slice(4));
  });

  it('gives each token its own secret', async () => {
    const first = await createToken('twin', ['users:read']);
    const second = await createToken('twin', ['users:read']);

    expect(first.token).not.toBe(second.token);
    expect(first.serviceToken.id).not.toBe(second.serviceToken.id);
  });

  it('authenticates as a bearer token', async () => {
    const created = await createToken('signup bot', ['users:write']);

    const response = await t.gql(
      CREATE_USER,
      { input: { email: 'from-token@x.test', password: PASSWORD } },
      { token: created.token },
    );

    expect(response.body.errors).toBeUndefined();
    const users = await t.sql('select email from public.users where email = $1', [
      'from-token@x.test',
    ]);
    expect(users).toEqual([{ email: 'from-token@x.test' }]);
  });

  it('is no user for me or logout', async () => {
    const created = await createToken('no user', ['users:read']);

    const me = await t.gql('{ me { email } }', {}, { token: created.token });
    expect(me.body.errors).toBeUndefined();
    expect(me.body.data).toEqual({ me: null });

    const logout = await t.gql('mutation { logout }', {}, { token: created.token });
    expect(errorCode(logout)).toBe('FORBIDDEN');
    expect((await tokenRow(created.serviceToken.id)).revoked_at).toBeNull();
  });

  it('sets last used time on use', async () => {
    const created = await createToken('usage', ['tenants:read']);
    expect((await tokenRow(created.serviceToken.id)).last_used_at).toBeNull();

    const started = Date.now();
    const response = await t.gql(READ_TENANT, { slug: 'acme' }, { token: created.token });
    expect(response.body.errors).toBeUndefined();

    const lastUsed = (await tokenRow(created.serviceToken.id)).last_used_at;
    expect(lastUsed).toBeInstanceOf(Date);
    expect(lastUsed!.getTime()).toBeGreaterThanOrEqual(started - 5_000);
    expect(lastUsed!.getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  it('rejects unknown and empty scopes', async () => {
    const before = await tokenRows();

    for (const scopes of [['users:admin'], ['users:read', 'tenants:delete'], [], ['USERS:READ']]) {
      const response = await t.gql(
        CREATE_TOKEN,
        { name: 'bad scopes', scopes },
        { token: fixture.adminToken },
      );
      expect(errorCode(response), JSON.stringify(scopes)).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field).toBe('scopes');
    }

    expect(await tokenRows()).toEqual(before);
  });

  it('rejects a blank name', async () => {
    const before = await tokenRows();

    for (const name of ['', '   ', 'x'.repeat(101)]) {
      const response = await t.gql(
        CREATE_TOKEN,
        { name, scopes: ['users:read'] },
        { token: fixture.adminToken },
      );
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.field).toBe('name');
    }

    expect(await tokenRows()).toEqual(before);
  });

  it('rejects unknown or deleted tenant slugs', async () => {
    await provision(t, fixture.adminToken, {
      name: 'Gone',
      slug: 'gone-co',
      ownerEmail: 'carol@x.test',
    });
    await mustSucceed(
      t,
      'mutation { deleteTenant(tenant: "gone-co") { isActive } }',
      {},
      fixture.adminToken,
    );
    const before = await tokenRows();

    for (const tenants of [['nope'], ['acme', 'nope'], ['gone-co']]) {
      const response = await t.gql(
        CREATE_TOKEN,
        { name: 'bad tenants', scopes: ['members:write'], tenants },
        { token: fixture.adminToken },
      );
      expect(errorCode(response), JSON.stringify(tenants)).toBe('NOT_FOUND');
    }

    const empty = await t.gql(
      CREATE_TOKEN,
      { name: 'no tenants', scopes: ['members:write'], tenants: [] },
      { token: fixture.adminToken },
    );
    expect(errorCode(empty)).toBe('BAD_USER_INPUT');
    expect(empty.body.errors?.[0]?.extensions?.field).toBe('tenants');

    expect(await tokenRows()).toEqual(before);
  });

  it('stores tenant limits as tenant ids', async () => {
    const created = await createToken('acme only', ['members:write'], ['acme', 'acme']);

    expect(created.serviceToken.tenants).toEqual([{ slug: 'acme' }]);
    expect((await tokenRow(created.serviceToken.id)).tenant_ids).toEqual([fixture.acme.id]);
  });

  it('checks the scope of each operation', async () => {
    const reader = await createToken('reader', ['tenants:read']);
    const writer = await createToken('writer', ['users:write']);
    const before = await databaseSnapshot(t);

    const readerCreates = await t.gql(
      CREATE_USER,
      { input: { email: 'scope-less@x.test', password: PASSWORD } },
      { token: reader.token },
    );
    const readerAdds = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'carol@x.test' } },
      { token: reader.token },
    );
    const writerReads = await t.gql(READ_TENANT, { slug: 'acme' }, { token: writer.token });
    const writerAdds = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'carol@x.test' } },
      { token: writer.token },
    );

    expect(errorCode(readerCreates)).toBe('FORBIDDEN');
    expect(errorCode(readerAdds)).toBe('FORBIDDEN');
    expect(errorCode(writerReads)).toBe('FORBIDDEN');
    expect(errorCode(writerAdds)).toBe('FORBIDDEN');
    expect(await databaseSnapshot(t)).toEqual(before);

    const readerReads = await t.gql<{ tenant: { slug: string } }>(
      READ_TENANT,
      { slug: 'acme' },
      { token: reader.token },
    );
    expect(readerReads.body.errors).toBeUndefined();
    expect(readerReads.body.data?.tenant.slug).toBe('acme');
  });

  it('write scope includes read scope', async () => {
    const created = await createToken('tenant writer', ['tenants:write']);

    const response = await t.gql<{ tenant: { slug: string } }>(
      READ_TENANT,
      { slug: 'globex' },
      { token: created.token },
    );

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.tenant.slug).toBe('globex');
  });

  it('limits the token to listed tenants', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'limited-1@x.test', password: PASSWORD } },
      fixture.adminToken,
    );
    const created = await createToken('acme members', ['members:write', 'tenants:read'], ['acme']);
    const before = await databaseSnapshot(t);

    const otherTenantOnOwnHost = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { tenant: 'globex', userEmail: 'limited-1@x.test' } },
      { token: created.token, host: ACME },
    );
    const ownTenantOnOtherHost = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'limited-1@x.test' } },
      { token: created.token, host: GLOBEX },
    );
    const onPublicHost = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'limited-1@x.test' } },
      { token: created.token },
    );
    const readsOther = await t.gql(
      READ_TENANT,
      { slug: 'globex' },
      { token: created.token, host: ACME },
    );
    const removesFromOther = await t.gql(
      REMOVE_USER_FROM_TENANT,
      { tenant: 'globex', email: 'alice@x.test' },
      { token: created.token, host: ACME },
    );

    expect(errorCode(otherTenantOnOwnHost)).toBe('FORBIDDEN');
    expect(errorCode(ownTenantOnOtherHost)).toBe('FORBIDDEN');
    expect(errorCode(onPublicHost)).toBe('FORBIDDEN');
    expect(errorCode(readsOther)).toBe('FORBIDDEN');
    expect(errorCode(removesFromOther)).toBe('FORBIDDEN');
    expect(await databaseSnapshot(t)).toEqual(before);

    const added = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { userEmail: 'limited-1@x.test' } },
      { token: created.token, host: ACME },
    );
    expect(added.body.errors).toBeUndefined();
    const memberships = await t.sql(
      `select t.slug from public.memberships m
       join public.tenants t on t.id = m.tenant_id
       join public.users u on u.id = m.user_id
       where u.email = $1 and t.slug <> 'public'`,
      ['limited-1@x.test'],
    );
    expect(memberships).toEqual([{ slug: 'acme' }]);
  });

  it('limited token deletes only its members', async () => {
    for (const email of ['in-acme@x.test', 'in-both@x.test', 'platform-staff@x.test']) {
      await mustSucceed(
        t,
        CREATE_USER,
        { input: { email, password: PASSWORD, isStaff: email.startsWith('platform') } },
        fixture.adminToken,
      );
    }
    for (const [tenant, email] of [
      ['acme', 'in-acme@x.test'],
      ['acme', 'in-both@x.test'],
      ['globex', 'in-both@x.test'],
    ]) {
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant, userEmail: email } },
        fixture.adminToken,
      );
    }
    const created = await createToken('acme users', ['users:write'], ['acme']);
    const before = await databaseSnapshot(t);

    const inBoth = await t.gql(
      DELETE_USER,
      { email: 'in-both@x.test' },
      { token: created.token, host: ACME },
    );
    const staff = await t.gql(
      DELETE_USER,
      { email: 'platform-staff@x.test' },
      { token: created.token, host: ACME },
    );
    expect(errorCode(inBoth)).toBe('FORBIDDEN');
    expect(errorCode(staff)).toBe('FORBIDDEN');
    expect(await databaseSnapshot(t)).toEqual(before);

    const inAcme = await t.gql(
      DELETE_USER,
      { email: 'in-acme@x.test' },
      { token: created.token, host: ACME },
    );
    expect(inAcme.body.errors).toBeUndefined();
    const [row] = await t.sql<{ is_active: boolean }>(
      'select is_active from public.users where email = $1',
      ['in-acme@x.test'],
    );
    expect(row?.is_active).toBe(false);
  });

  it('may not grant platform or tenant superuser', async () => {
    const created = await createToken('all writes', ['users:write', 'members:write']);
    const before = await databaseSnapshot(t);

    const platformAdmin = await t.gql(
      CREATE_USER,
      { input: { email: 'token-admin@x.test', password: PASSWORD, isSuperuser: true } },
      { token: created.token },
    );
    const platformStaff = await t.gql(
      CREATE_USER,
      { input: { email: 'token-staff@x.test', password: PASSWORD, isStaff: true } },
      { token: created.token },
    );
    const tenantSuperuser = await t.gql(
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'carol@x.test', isSuperuser: true } },
      { token: created.token },
    );

    expect(errorCode(platformAdmin)).toBe('FORBIDDEN');
    expect(errorCode(platformStaff)).toBe('FORBIDDEN');
    expect(errorCode(tenantSuperuser)).toBe('FORBIDDEN');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('revocation takes effect at once', async () => {
    const created = await createToken('short lived', ['tenants:read']);
    const first = await t.gql(READ_TENANT, { slug: 'acme' }, { token: created.token });
    expect(first.body.errors).toBeUndefined();

    const revoked = await t.gql<{ revokeServiceToken: { id: string; revokedAt: string } }>(
      REVOKE_TOKEN,
      { id: created.serviceToken.id },
      { token: fixture.adminToken },
    );
    expect(revoked.body.errors).toBeUndefined();
    const revokedAt = revoked.body.data!.revokeServiceToken.revokedAt;
    expect(revokedAt).toEqual(expect.any(String));
    expect((await tokenRow(created.serviceToken.id)).revoked_at).toBeInstanceOf(Date);

    const after = await t.gql(READ_TENANT, { slug: 'acme' }, { token: created.token });
    expect(errorCode(after)).toBe('UNAUTHENTICATED');
    expect(after.status).toBe(401);
    const onTenantHost = await t.gql('{ me { email } }', {}, { token: created.token, host: ACME });
    expect(errorCode(onTenantHost)).toBe('UNAUTHENTICATED');

    const again = await t.gql<{ revokeServiceToken: { revokedAt: string } }>(
      REVOKE_TOKEN,
      { id: created.serviceToken.id },
      { token: fixture.adminToken },
    );
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data?.revokeServiceToken.revokedAt).toBe(revokedAt);
  });

  it('rejects unknown service tokens', async () => {
    const unknown = `tus_${randomBytes(32).toString('base64url')}`;

    const response = await t.gql(READ_TENANT, { slug: 'acme' }, { token: unknown });

    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });

  it('accepts login tokens with the same prefix', async () => {
    const loginToken = `tus_${randomBytes(30).toString('base64url')}`;
    await t.sql(
      `insert into public.sessions (user_id, token_hash, expires_at)
       select id, $2, now() + interval '1 hour' from public.users where email = $1`,
      ['carol@x.test', createHash('sha256').update(loginToken).digest('hex')],
    );

    const response = await t.gql<{ me: { email: string } }>(
      '{ me { email } }',
      {},
      { token: loginToken },
    );

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.me.email).toBe('carol@x.test');
  });

  it('revoking unknown id is NOT_FOUND', async () => {
    const unknown = await t.gql(
      REVOKE_TOKEN,
      { id: '00000000-0000-4000-8000-000000000000' },
      { token: fixture.adminToken },
    );
    const malformed = await t.gql(
      REVOKE_TOKEN,
      { id: 'not-a-uuid' },
      { token: fixture.adminToken },
    );

    expect(errorCode(unknown)).toBe('NOT_FOUND');
    expect(errorCode(malformed)).toBe('BAD_USER_INPUT');
    expect(malformed.body.errors?.[0]?.extensions?.field).toBe('id');
  });

  it('lists revoked tokens only on request', async () => {
    const unrevoked = await createToken('unrevoked', ['users:read'], ['globex']);
    const dropped = await createToken('dropped', ['users:read']);
    await mustSucceed(t, REVOKE_TOKEN, { id: dropped.serviceToken.id }, fixture.adminToken);

    type Listed = {
      serviceTokens: {
        totalCount: number;
        edges: { node: { id: string; tenants: { slug: string }[] | null } }[];
      };
    };
    const active = await mustSucceed<Listed>(t, LIST_TOKENS, {}, fixture.adminToken);
    const all = await mustSucceed<Listed>(
      t,
      LIST_TOKENS,
      { includeRevoked: true },
      fixture.adminToken,
    );
    const activeIds = active.serviceTokens.edges.map((edge) => edge.node.id);
    const allIds = all.serviceTokens.edges.map((edge) => edge.node.id);

    expect(activeIds).toContain(unrevoked.serviceToken.id);
    expect(activeIds).not.toContain(dropped.serviceToken.id);
    expect(allIds).toContain(dropped.serviceToken.id);
    const [counts] = await t.sql<{ active: number; total: number }>(
      `select count(*) filter (where revoked_at is null)::int as active, count(*)::int as total
       from public.service_tokens`,
    );
    expect(active.serviceTokens.totalCount).toBe(counts?.active);
    expect(all.serviceTokens.totalCount).toBe(counts?.total);
    const unrevokedNode = active.serviceTokens.edges.find(
      (edge) => edge.node.id === unrevoked.serviceToken.id,
    );
    expect(unrevokedNode?.node.tenants).toEqual([{ slug: 'globex' }]);
  });

  it('names the token in audit events', async () => {
    const created = await createToken('audited', ['users:write']);

    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'audited@x.test', password: PASSWORD } },
      created.token,
    );

    const events = await t.sql<{ actor_id: string | null; payload: Record<string, unknown> }>(
      `select actor_id, payload from public.audit_events
       where type = 'userCreated' and payload->>'email' = $1`,
      ['audited@x.test'],
    );
    expect(events).toEqual([
      {
        actor_id: null,
        payload: { email: 'audited@x.test', serviceTokenId: created.serviceToken.id },
      },
    ]);
  });

  it('only platform admins manage tokens', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'token-staff-member@x.test', password: PASSWORD, isStaff: true } },
      fixture.adminToken,
    );
    const target = await createToken('target', ['users:read']);
    const everything = await createToken('everything', [
      'users:read',
      'users:write',
      'tenants:read',
      'tenants:write',
      'members:write',
    ]);
    const callers: { name: string; token?: string; code: string }[] = [
      { name: 'anonymous', code: 'UNAUTHENTICATED' },
      { name: 'tenant owner', token: await t.login('alice@x.test'), code: 'FORBIDDEN' },
      { name: 'plain user', token: await t.login('carol@x.test'), code: 'FORBIDDEN' },
      {
        name: 'platform staff',
        token: await t.login('token-staff-member@x.test'),
        code: 'FORBIDDEN',
      },
      { name: 'service token', token: everything.token, code: 'FORBIDDEN' },
    ];
    // The calling service token's last_used_at changes; every other column must stay.
    const storedTokens = () =>
      t.sql(
        `select id, name, token_hash, scopes, tenant_ids, created_by_id, revoked_at
         from public.service_tokens order by id`,
      );
    const before = await storedTokens();

    for (const caller of callers) {
      const create = await t.gql(
        CREATE_TOKEN,
        { name: 'sneaky', scopes: ['users:write'] },
        { token: caller.token },
      );
      const revoke = await t.gql(
        REVOKE_TOKEN,
        { id: target.serviceToken.id },
        { token: caller.token },
      );
      const list = await t.gql(LIST_TOKENS, {}, { token: caller.token });

      expect(errorCode(create), caller.name).toBe(caller.code);
      expect(create.body.data?.createServiceToken ?? null, caller.name).toBeNull();
      expect(errorCode(revoke), caller.name).toBe(caller.code);
      expect(errorCode(list), caller.name).toBe(caller.code);
      expect(list.body.data?.serviceTokens ?? null, caller.name).toBeNull();
    }

    expect(await storedTokens()).toEqual(before);
  });

  it('outlives the admin who made it', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'leaving-admin@x.test', password: PASSWORD, isSuperuser: true } },
      fixture.adminToken,
    );
    const leavingAdmin = await t.login('leaving-admin@x.test');
    const created = await mustSucceed<{ createServiceToken: CreatedToken }>(
      t,
      CREATE_TOKEN,
      { name: 'made before leaving', scopes: ['tenants:read'] },
      leavingAdmin,
    );
    expect(created.createServiceToken.serviceToken.createdBy).toEqual({
      email: 'leaving-admin@x.test',
    });

    await mustSucceed(t, DELETE_USER, { email: 'leaving-admin@x.test' }, fixture.adminToken);

    const response = await t.gql(
      READ_TENANT,
      { slug: 'acme' },
      { token: created.createServiceToken.token },
    );
    expect(response.body.errors).toBeUndefined();
  });

  it('platform admin manages tokens on any host', async () => {
    const created = await t.gql<{ createServiceToken: CreatedToken }>(
      CREATE_TOKEN,
      { name: 'from acme host', scopes: ['tenants:read'] },
      { token: fixture.adminToken, host: ACME },
    );
    expect(created.body.errors).toBeUndefined();

    const revoked = await t.gql(
      REVOKE_TOKEN,
      { id: created.body.data!.createServiceToken.serviceToken.id },
      { token: fixture.adminToken, host: GLOBEX },
    );
    expect(revoked.body.errors).toBeUndefined();
  });
});
