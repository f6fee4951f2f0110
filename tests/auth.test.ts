import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PASSWORD, errorCode, startTestApp, type TestApp } from './support/app.js';
import { CREATE_USER, DELETE_USER, mustSucceed, seedCaseFixture } from './support/fixtures.js';

const LOGIN = `
  mutation ($email: String!, $password: String!) {
    login(email: $email, password: $password) { token expiresAt user { id email isActive } }
  }`;

const ME = '{ me { email } }';

interface LoginData {
  login: {
    token: string;
    expiresAt: string;
    user: { id: string; email: string; isActive: boolean };
  };
}

describe('login sessions', () => {
  let t: TestApp;
  let adminToken: string;

  beforeAll(async () => {
    t = await startTestApp();
    ({ adminToken } = await seedCaseFixture(t));
  });
  afterAll(() => t?.close());

  async function createUser(input: Record<string, unknown>) {
    return mustSucceed(t, CREATE_USER, { input }, adminToken);
  }

  async function sessionCount(): Promise<number> {
    const rows = await t.sql<{ count: string }>('select count(*) from public.sessions');

    return Number(rows[0].count);
  }

  async function sessionsOf(email: string) {
    return t.sql<{ token_hash: string; revoked_at: Date | null }>(
      `select s.token_hash, s.revoked_at from public.sessions s
       join public.users u on u.id = s.user_id where u.email = $1 order by s.created_at`,
      [email],
    );
  }

  it('returns token, expiry and user', async () => {
    const startedAt = Date.now();

    const response = await t.gql<LoginData>(LOGIN, { email: 'alice@x.test', password: PASSWORD });

    expect(response.body.errors).toBeUndefined();
    const login = response.body.data!.login;
    expect(login.token.length).toBeGreaterThanOrEqual(32);
    expect(login.user.email).toBe('alice@x.test');
    expect(login.user.isActive).toBe(true);
    const expiresAt = new Date(login.expiresAt).getTime();
    const ttlMs = t.config.sessionTtlSeconds * 1000;
    expect(expiresAt).toBeGreaterThanOrEqual(startedAt + ttlMs - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + ttlMs + 1000);

    const me = await t.gql(ME, {}, { token: login.token });
    expect(me.body.data).toEqual({ me: { email: 'alice@x.test' } });
  });

  it('login result lists user tenants', async () => {
    const before = await sessionCount();

    const response = await t.gql<{
      login: { token: string; user: { tenants: { edges: { node: { slug: string } }[] } } };
    }>(
      `mutation ($email: String!, $password: String!) {
        login(email: $email, password: $password) {
          token user { email tenants { edges { node { slug } } } }
        }
      }`,
      { email: 'alice@x.test', password: PASSWORD },
      { host: 'acme.app.test' },
    );

    expect(response.body.errors).toBeUndefined();
    const slugs = response.body.data?.login.user.tenants.edges.map((edge) => edge.node.slug);
    expect(slugs?.sort()).toEqual(['acme', 'globex', 'public']);
    expect(await sessionCount()).toBe(before + 1);
  });

  it('accepts email in any case', async () => {
    const response = await t.gql<LoginData>(LOGIN, { email: ' ALICE@X.Test ', password: PASSWORD });

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.login.user.email).toBe('alice@x.test');
  });

  it('opens a new session per login', async () => {
    const first = await t.login('carol@x.test');
    const second = await t.login('carol@x.test');

    expect(first).not.toBe(second);
    expect((await t.gql(ME, {}, { token: first })).body.data).toEqual({
      me: { email: 'carol@x.test' },
    });
    expect((await t.gql(ME, {}, { token: second })).body.data).toEqual({
      me: { email: 'carol@x.test' },
    });
  });

  it.each([
    ['wrong password', 'alice@x.test', 'Pw-wrong-password'],
    ['unknown email', 'nobody@x.test', PASSWORD],
    ['empty password', 'alice@x.test', ''],
    ['password with extra byte', 'alice@x.test', `${PASSWORD}x`],
  ])('rejects %s', async (_case, email, password) => {
    const before = await sessionCount();

    const response = await t.gql(LOGIN, { email, password });

    expect(errorCode(response)).toBe('UNAUTHENTICATED');
    expect(response.body.data ?? null).toBeNull();
    expect(await sessionCount()).toBe(before);
  });

  it('rejects user without password', async () => {
    await createUser({ email: 'nopass@x.test', password: null });
    const before = await sessionCount();

    for (const password of ['', 'null', PASSWORD]) {
      const response = await t.gql(LOGIN, { email: 'nopass@x.test', password });
      expect(errorCode(response), JSON.stringify(password)).toBe('UNAUTHENTICATED');
    }

    const rows = await t.sql(
      `select password_hash from public.users where email = 'nopass@x.test'`,
    );
    expect(rows).toEqual([{ password_hash: null }]);
    expect(await sessionCount()).toBe(before);
  });

  it('logout revokes the token at once', async () => {
    const token = await t.login('bob@x.test');
    const other = await t.login('bob@x.test');

    const logout = await t.gql('mutation { logout }', {}, { token });
    expect(logout.body.errors).toBeUndefined();
    expect(logout.body.data).toEqual({ logout: true });

    const reused = await t.gql(ME, {}, { token });
    expect(reused.status).toBe(401);
    expect(errorCode(reused)).toBe('UNAUTHENTICATED');
    const logoutAgain = await t.gql('mutation { logout }', {}, { token });
    expect(errorCode(logoutAgain)).toBe('UNAUTHENTICATED');

    const stillOpen = await t.gql(ME, {}, { token: other });
    expect(stillOpen.body.data).toEqual({ me: { email: 'bob@x.test' } });
  });

  it('logout on tenant host revokes everywhere', async () => {
    const token = await t.login('bob@x.test');

    const logout = await t.gql('mutation { logout }', {}, { token, host: 'globex.app.test' });
    expect(logout.body.data).toEqual({ logout: true });

    for (const host of ['app.test', 'acme.app.test', 'globex.app.test']) {
      const response = await t.gql(ME, {}, { token, host });
      expect(errorCode(response), host).toBe('UNAUTHENTICATED');
    }
  });

  it('deleteUser revokes every session', async () => {
    await createUser({ email: 'gone@x.test', password: PASSWORD });
    const tokens = [await t.login('gone@x.test'), await t.login('gone@x.test')];

    const deleted = await t.gql(DELETE_USER, { email: 'gone@x.test' }, { token: adminToken });
    expect(deleted.body.errors).toBeUndefined();

    for (const token of tokens) {
      const response = await t.gql(ME, {}, { token });
      expect(errorCode(response)).toBe('UNAUTHENTICATED');
    }
    const sessions = await sessionsOf('gone@x.test');
    expect(sessions).toHaveLength(2);
    for (const session of sessions) {
      expect(session.revoked_at).not.toBeNull();
    }
    const login = await t.gql(LOGIN, { email: 'gone@x.test', password: PASSWORD });
    expect(errorCode(login)).toBe('UNAUTHENTICATED');
  });

  it('self-deletion revokes own sessions', async () => {
    await createUser({ email: 'leaving@x.test', password: PASSWORD });
    const token = await t.login('leaving@x.test');
    const other = await t.login('leaving@x.test');

    const deleted = await t.gql(DELETE_USER, { email: 'leaving@x.test' }, { token });
    expect(deleted.body.errors).toBeUndefined();

    expect(errorCode(await t.gql(ME, {}, { token }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await t.gql(ME, {}, { token: other }))).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['garbage', 'Bearer not-a-real-token'],
    ['empty', 'Bearer '],
    ['two-part', 'Bearer a b'],
    ['basic', 'Basic YWxpY2VAeC50ZXN0OlB3LTEyMzQ1Njc4OQ=='],
  ])('rejects %s bearer token', async (_case, authorization) => {
    for (const host of ['app.test', 'acme.app.test']) {
      const response = await t.gql(
        '{ currentTenant { slug } }',
        {},
        {
          host,
          headers: { authorization },
        },
      );
      expect(response.status, host).toBe(401);
      expect(errorCode(response), host).toBe('UNAUTHENTICATED');
      expect(response.body.data ?? null, host).toBeNull();
    }
  });

  it('rejects an expired token', async () => {
    await createUser({ email: 'expired@x.test', password: PASSWORD });
    const token = await t.login('expired@x.test');
    await t.sql(
      `update public.sessions set expires_at = now() - interval '1 second'
       where user_id = (select id from public.users where email = 'expired@x.test')`,
    );

    const response = await t.gql(ME, {}, { token });

    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });

  it('stores tokens hashed', async () => {
    await createUser({ email: 'hashed@x.test', password: PASSWORD });
    const token = await t.login('hashed@x.test');

    const rows = await t.sql<Record<string, unknown>>(
      `select s.* from public.sessions s join public.users u on u.id = s.user_id
       where u.email = 'hashed@x.test'`,
    );

    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).not.toBe(token);
    expect(JSON.stringify(rows[0])).not.toContain(token);
    const byToken = await t.sql('select 1 from public.sessions where token_hash = $1', [token]);
    expect(byToken).toEqual([]);
  });

  describe('password secrecy', () => {
    const SECRET = 'Secret-Pw-4242-xyz';

    async function storedHash(email: string): Promise<string> {
      const rows = await t.sql<{ password_hash: string }>(
        'select password_hash from public.users where email = $1',
        [email],
      );

      return rows[0].password_hash;
    }

    function expectNoSecret(text: string, hash: string | undefined, label: string) {
      expect(text, label).not.toContain(SECRET);
      if (hash) {
        expect(text, label).not.toContain(hash);
        expect(text, label).not.toContain(hash.slice(7));
      }
    }

    it('never returns password or hash', async () => {
      const created = await t.gql(
        `mutation ($input: CreateUserInput!) {
          createUser(input: $input) { id email isActive isVerified metadata createdAt }
        }`,
        { input: { email: 'secret@x.test', password: SECRET, metadata: { note: 'x' } } },
        { token: adminToken },
      );
      expect(created.body.errors).toBeUndefined();
      const hash = await storedHash('secret@x.test');
      expect(hash).toMatch(/^\$2[aby]\$/);

      const login = await t.gql<LoginData>(
        `mutation ($email: String!, $password: String!) {
          login(email: $email, password: $password) {
            token expiresAt user { id email isActive isVerified metadata createdAt deletedAt }
          }
        }`,
        { email: 'secret@x.test', password: SECRET },
      );
      expect(login.body.errors).toBeUndefined();
      const token = login.body.data!.login.token;
      const me = await t.gql(
        '{ me { id email isActive isVerified metadata createdAt deletedAt } }',
        {},
        { token },
      );

      for (const [label, response] of [
        ['createUser', created],
        ['login', login],
        ['me', me],
      ] as const) {
        expectNoSecret(JSON.stringify(response.body), hash, label);
      }
    });

    it.each([
      ['wrong password', LOGIN, { email: 'secret@x.test', password: `${SECRET}-nope` }, null],
      [
        'duplicate email',
        CREATE_USER,
        { input: { email: 'secret@x.test', password: SECRET } },
        'root',
      ],
      [
        'too long password',
        CREATE_USER,
        { input: { email: 'long@x.test', password: SECRET.repeat(5) } },
        'root',
      ],
      [
        'too short password',
        CREATE_USER,
        { input: { email: 'short@x.test', password: SECRET.slice(0, 5) } },
        'root',
      ],
      [
        'invalid email',
        CREATE_USER,
        { input: { email: 'not-an-email', password: SECRET } },
        'root',
      ],
      [
        'non-admin caller',
        CREATE_USER,
        { input: { email: 'other@x.test', password: SECRET } },
        'carol',
      ],
      [
        'anonymous caller',
        CREATE_USER,
        { input: { email: 'other@x.test', password: SECRET } },
        null,
      ],
      [
        'unknown input field',
        CREATE_USER,
        { input: { email: 'extra@x.test', password: SECRET, nickname: 'x' } },
        'root',
      ],
      ['missing input field', CREATE_USER, { input: { password: SECRET } }, 'root'],
    ] as const)('never echoes password: %s', async (_case, query, variables, caller) => {
      const hash = await storedHash('secret@x.test');
      const token =
        caller === 'root'
          ? adminToken
          : caller === 'carol'
            ? await t.login('carol@x.test')
            : undefined;

      const response = await t.gql(query, variables, { token });

      expect(response.body.errors).toBeDefined();
      expectNoSecret(JSON.stringify(response.body), hash, 'response');
    });

    it('never echoes mistyped password', async () => {
      const response = await t.gql(LOGIN, { email: 'secret@x.test', password: 4242424242 });

      expect(response.body.errors).toBeDefined();
      expect(JSON.stringify(response.body)).not.toContain('4242424242');
    });
  });
});
