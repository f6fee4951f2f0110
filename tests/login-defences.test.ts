import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { purgeEndedWindows } from '../src/services/login-throttle.js';
import type { HasherCounters } from '../src/services/passwords.js';
import {
  PASSWORD,
  errorCode,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import { CREATE_USER, DELETE_USER, mustSucceed, seedCaseFixture } from './support/fixtures.js';

const LOGIN = `
  mutation ($email: String!, $password: String!) {
    login(email: $email, password: $password) { token }
  }`;
const CHANGE_PASSWORD = `
  mutation ($current: String!, $next: String!) {
    changePassword(currentPassword: $current, newPassword: $next)
  }`;
const REQUEST_RESET = 'mutation ($email: String!) { requestPasswordReset(email: $email) }';

const MAX_PER_EMAIL = 3;
const MAX_PER_ADDRESS = 6;
const WRONG = 'Wrong-Pw-000000';

let t: TestApp;
let adminToken: string;

beforeAll(async () => {
  t = await startTestApp({
    loginMaxAttemptsPerEmail: MAX_PER_EMAIL,
    loginMaxAttemptsPerAddress: MAX_PER_ADDRESS,
  });
  ({ adminToken } = await seedCaseFixture(t));
});
afterAll(() => t?.close());

// Every test starts with fresh counters, as if the previous window had ended.
beforeEach(async () => {
  await t?.sql('delete from public.login_attempts');
});

function counters(): HasherCounters {
  return { ...t.app.systemContext().passwords.counters };
}

function login(email: string, password: string, headers: Record<string, string> = {}) {
  return t.gql<{ login: { token: string } }>(LOGIN, { email, password }, { headers });
}

async function sessionCount(): Promise<number> {
  const rows = await t.sql<{ count: string }>('select count(*) from public.sessions');

  return Number(rows[0].count);
}

function retryAfter(response: GraphqlResponse<unknown>): unknown {
  return response.body.errors?.[0]?.extensions?.retryAfter;
}

function expectThrottled(response: GraphqlResponse<unknown>): void {
  expect(errorCode(response)).toBe('TOO_MANY_REQUESTS');
  const seconds = retryAfter(response);
  expect(typeof seconds).toBe('number');
  expect(seconds as number).toBeGreaterThan(0);
  expect(seconds as number).toBeLessThanOrEqual(t.config.loginWindowSeconds);
  expect(response.body.data ?? null).toBeNull();
}

describe('login work and errors', () => {
  it('does one comparison per failed login', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'no-pw@x.test', password: null } },
      adminToken,
    );
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'gone@x.test', password: PASSWORD } },
      adminToken,
    );
    await mustSucceed(t, DELETE_USER, { email: 'gone@x.test' }, adminToken);
    const cases: [string, string, string][] = [
      ['unknown email', 'nobody@x.test', PASSWORD],
      ['wrong password', 'alice@x.test', WRONG],
      ['user without password', 'no-pw@x.test', PASSWORD],
      ['deleted user', 'gone@x.test', PASSWORD],
      ['password over 72 bytes', 'bob@x.test', 'e'.repeat(80)],
      ['password with NUL', 'bob@x.test', `${PASSWORD}\u0000x`],
    ];

    for (const [label, email, password] of cases) {
      await t.sql('delete from public.login_attempts');
      const before = counters();

      const response = await login(email, password);

      const after = counters();
      expect(errorCode(response), label).toBe('UNAUTHENTICATED');
      expect(after.comparisons - before.comparisons, label).toBe(1);
      expect(after.comparisonsAtConfiguredCost - before.comparisonsAtConfiguredCost, label).toBe(1);
      expect(after.hashes - before.hashes, label).toBe(0);
    }
  });

  it('does one comparison per login', async () => {
    const before = counters();

    const response = await login('carol@x.test', PASSWORD);

    const after = counters();
    expect(response.body.errors).toBeUndefined();
    expect(after.comparisons - before.comparisons).toBe(1);
    expect(after.comparisonsAtConfiguredCost - before.comparisonsAtConfiguredCost).toBe(1);
  });

  it('unknown and wrong get one message', async () => {
    const unknown = await login('nobody@x.test', PASSWORD);
    const wrong = await login('alice@x.test', WRONG);

    expect(unknown.status).toBe(wrong.status);
    expect(unknown.body).toEqual(wrong.body);
  });
});

describe('login throttling', () => {
  it('throttles failures per email', async () => {
    for (let i = 0; i < MAX_PER_EMAIL; i += 1) {
      expect(errorCode(await login('alice@x.test', WRONG)), `attempt ${i + 1}`).toBe(
        'UNAUTHENTICATED',
      );
    }
    const sessionsBefore = await sessionCount();
    const before = counters();

    const throttled = await login('alice@x.test', PASSWORD);

    expectThrottled(throttled);
    expect(counters().comparisons).toBe(before.comparisons);
    expect(await sessionCount()).toBe(sessionsBefore);
    const other = await login('carol@x.test', PASSWORD);
    expect(other.body.errors).toBeUndefined();
  });

  it('throttles unknown email alike', async () => {
    for (let i = 0; i < MAX_PER_EMAIL; i += 1) {
      expect(errorCode(await login('ghost@x.test', WRONG))).toBe('UNAUTHENTICATED');
    }

    expectThrottled(await login('ghost@x.test', WRONG));
    expectThrottled(await login('GHOST@x.test ', WRONG));
  });

  it('successful login resets email counter', async () => {
    for (let i = 0; i < MAX_PER_EMAIL - 1; i += 1) {
      await login('bob@x.test', WRONG);
    }
    const success = await login('bob@x.test', PASSWORD);
    expect(success.body.errors).toBeUndefined();
    const rows = await t.sql(`select 1 from public.login_attempts where scope = 'login:email'`);
    expect(rows).toEqual([]);

    for (let i = 0; i < MAX_PER_EMAIL; i += 1) {
      expect(errorCode(await login('bob@x.test', WRONG)), `attempt ${i + 1}`).toBe(
        'UNAUTHENTICATED',
      );
    }
    expectThrottled(await login('bob@x.test', PASSWORD));
  });

  it('throttles failures per client address', async () => {
    for (let i = 0; i < MAX_PER_ADDRESS; i += 1) {
      expect(errorCode(await login(`spray-${i}@x.test`, WRONG))).toBe('UNAUTHENTICATED');
    }

    expectThrottled(await login('spray-last@x.test', WRONG));
    expectThrottled(await login('carol@x.test', PASSWORD));
  });

  it('successful logins spare the address', async () => {
    for (let i = 0; i < MAX_PER_ADDRESS * 2; i += 1) {
      const response = await login('carol@x.test', PASSWORD);
      expect(response.body.errors, `login ${i + 1}`).toBeUndefined();
    }
  });

  it('ignores X-Forwarded-For without trusted proxy', async () => {
    for (let i = 0; i < MAX_PER_ADDRESS; i += 1) {
      await login(`forged-${i}@x.test`, WRONG, { 'x-forwarded-for': `203.0.113.${i}` });
    }

    expectThrottled(
      await login('forged-last@x.test', WRONG, { 'x-forwarded-for': '203.0.113.99' }),
    );
  });

  it('window end lifts the limit', async () => {
    for (let i = 0; i <= MAX_PER_EMAIL; i += 1) {
      await login('alice@x.test', WRONG);
    }
    expectThrottled(await login('alice@x.test', PASSWORD));

    await t.sql(
      `update public.login_attempts
       set window_started_at = now() - make_interval(secs => $1 + 1)`,
      [t.config.loginWindowSeconds],
    );

    const response = await login('alice@x.test', PASSWORD);
    expect(response.body.errors).toBeUndefined();
  });

  it('counts concurrent attempts exactly', async () => {
    const before = counters();

    const responses = await Promise.all(
      Array.from({ length: 10 }, () => login('bob@x.test', WRONG)),
    );

    const codes = responses.map((response) => errorCode(response));
    expect(codes.filter((code) => code === 'UNAUTHENTICATED')).toHaveLength(MAX_PER_EMAIL);
    expect(codes.filter((code) => code === 'TOO_MANY_REQUESTS')).toHaveLength(10 - MAX_PER_EMAIL);
    expect(counters().comparisons - before.comparisons).toBe(MAX_PER_EMAIL);
  });

  it('stores counter keys hashed', async () => {
    await login('alice@x.test', WRONG);

    const rows = await t.sql<Record<string, unknown>>('select * from public.login_attempts');

    expect(rows.map((row) => row.scope).sort()).toEqual(['login:address', 'login:email']);
    const text = JSON.stringify(rows);
    expect(text).not.toContain('alice');
    expect(text).not.toContain('127.0.0.1');
  });

  it('purge drops only ended windows', async () => {
    await login('alice@x.test', WRONG);
    await t.sql(
      `insert into public.login_attempts (scope, key_hash, attempts, window_started_at)
       values ('login:email', 'old-key', 9, now() - make_interval(secs => $1 + 1))`,
      [t.config.loginWindowSeconds],
    );

    const purged = await purgeEndedWindows(t.app.systemContext().em, t.config);

    expect(purged).toBe(1);
    const keys = await t.sql<{ key_hash: string }>('select key_hash from public.login_attempts');
    expect(keys).toHaveLength(2);
    expect(keys.map((row) => row.key_hash)).not.toContain('old-key');
  });

  it('wrong current password counts as failure', async () => {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'guessed@x.test', password: PASSWORD } },
      adminToken,
    );
    const token = await t.login('guessed@x.test');
    await t.sql('delete from public.login_attempts');
    const hashBefore = await t.sql(
      `select password_hash from public.users where email = 'guessed@x.test'`,
    );

    for (let i = 0; i < MAX_PER_EMAIL; i += 1) {
      const response = await t.gql(
        CHANGE_PASSWORD,
        { current: WRONG, next: 'New-Pw-2468-abc' },
        { token },
      );
      expect(errorCode(response), `attempt ${i + 1}`).toBe('BAD_USER_INPUT');
    }
    const throttled = await t.gql(
      CHANGE_PASSWORD,
      { current: PASSWORD, next: 'New-Pw-2468-abc' },
      { token },
    );

    expectThrottled(throttled);
    expect(errorCode(await login('guessed@x.test', PASSWORD))).toBe('TOO_MANY_REQUESTS');
    const hashAfter = await t.sql(
      `select password_hash from public.users where email = 'guessed@x.test'`,
    );
    expect(hashAfter).toEqual(hashBefore);
  });
});

describe('mail request throttling', () => {
  it('throttles reset requests per email', async () => {
    const sent = () => (t.app.outbox?.messages ?? []).filter((m) => m.to === 'carol@x.test').length;
    const before = sent();

    for (let i = 0; i < MAX_PER_EMAIL; i += 1) {
      const response = await t.gql(REQUEST_RESET, { email: 'carol@x.test' });
      expect(response.body).toEqual({ data: { requestPasswordReset: true } });
    }
    const throttled = await t.gql(REQUEST_RESET, { email: 'carol@x.test' });

    expectThrottled(throttled);
    expect(sent() - before).toBe(MAX_PER_EMAIL);
  });

  it('throttles unknown reset email alike', async () => {
    for (let i = 0; i < MAX_PER_EMAIL; i += 1) {
      await t.gql(REQUEST_RESET, { email: 'nobody-here@x.test' });
    }

    expectThrottled(await t.gql(REQUEST_RESET, { email: 'nobody-here@x.test' }));
  });

  it('keeps mail and login counters apart', async () => {
    for (let i = 0; i <= MAX_PER_EMAIL; i += 1) {
      await t.gql(REQUEST_RESET, { email: 'alice@x.test' });
    }

    const response = await login('alice@x.test', PASSWORD);

    expect(response.body.errors).toBeUndefined();
  });
});
