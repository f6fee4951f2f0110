import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PASSWORD, errorCode, startTestApp, type TestApp } from './support/app.js';
import { CREATE_USER, DELETE_USER, mustSucceed, seedCaseFixture } from './support/fixtures.js';

const ME = '{ me { email } }';
const LOGIN = `
  mutation ($email: String!, $password: String!) {
    login(email: $email, password: $password) { token }
  }`;
const CHANGE_PASSWORD = `
  mutation ($current: String!, $next: String!) {
    changePassword(currentPassword: $current, newPassword: $next)
  }`;
const SET_PASSWORD = `
  mutation ($email: String!, $password: String!) {
    setPassword(email: $email, password: $password) { email }
  }`;
const REQUEST_RESET = 'mutation ($email: String!) { requestPasswordReset(email: $email) }';
const RESET_PASSWORD = `
  mutation ($token: String!, $next: String!) { resetPassword(token: $token, newPassword: $next) }`;
const REQUEST_VERIFICATION = 'mutation { requestEmailVerification }';
const VERIFY_EMAIL = 'mutation ($token: String!) { verifyEmail(token: $token) }';

const NEW_PASSWORD = 'New-Pw-2468-abc';

interface UserRow {
  id: string;
  password_hash: string | null;
  is_verified: boolean;
}

let t: TestApp;
let adminToken: string;

beforeAll(async () => {
  t = await startTestApp();
  ({ adminToken } = await seedCaseFixture(t));
});
afterAll(() => t?.close());

async function createUser(email: string, password: string | null = PASSWORD): Promise<void> {
  await mustSucceed(t, CREATE_USER, { input: { email, password } }, adminToken);
}

async function userRow(email: string): Promise<UserRow> {
  const rows = await t.sql<UserRow>(
    'select id, password_hash, is_verified from public.users where lower(email) = lower($1)',
    [email],
  );

  return rows[0];
}

async function openSessions(email: string): Promise<number> {
  const rows = await t.sql<{ count: string }>(
    `select count(*) from public.sessions s join public.users u on u.id = s.user_id
     where lower(u.email) = lower($1) and s.revoked_at is null`,
    [email],
  );

  return Number(rows[0].count);
}

async function loginCode(email: string, password: string): Promise<unknown> {
  const response = await t.gql(LOGIN, { email, password });

  return response.body.errors ? errorCode(response) : 'OK';
}

async function meCode(token: string): Promise<unknown> {
  const response = await t.gql(ME, {}, { token });

  return response.body.errors ? errorCode(response) : 'OK';
}

function errorField(response: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) {
  return response.body.errors?.[0]?.extensions?.field;
}

/** Reads the token of the newest mail to `email` from the development outbox. */
function mailedToken(email: string, path: string): string {
  const message = t.app.outbox?.lastTo(email);
  expect(message, `no mail to ${email}`).toBeDefined();
  const match = new RegExp(`/${path}\\?token=([A-Za-z0-9_-]+)`).exec(message!.text);
  expect(match, message!.text).not.toBeNull();

  return match![1];
}

function mailCount(email: string): number {
  return (t.app.outbox?.messages ?? []).filter((m) => m.to.toLowerCase() === email).length;
}

describe('password policy', () => {
  it.each([
    ['seven characters', 'Ab-4567'],
    ['seven two-byte characters', 'ééééééé'],
    ['73 ASCII bytes', 'a'.repeat(73)],
    ['25 three-byte characters', '€'.repeat(25)],
    ['NUL character', 'Pw-1234\u00005678'],
  ])('setPassword rejects %s', async (_case, password) => {
    const email = `policy-${password.length}-${password.charCodeAt(0)}@x.test`;
    await createUser(email);
    const before = await userRow(email);

    const response = await t.gql(SET_PASSWORD, { email, password }, { token: adminToken });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(errorField(response)).toBe('password');
    expect(await userRow(email)).toEqual(before);
  });

  it.each([
    ['eight two-byte characters', 'éééééééé'],
    ['72 ASCII bytes', 'b'.repeat(72)],
    ['24 three-byte characters', '€'.repeat(24)],
  ])('setPassword accepts %s', async (_case, password) => {
    const email = `accept-${password.length}-${password.charCodeAt(0)}@x.test`;
    await createUser(email);

    const response = await t.gql(SET_PASSWORD, { email, password }, { token: adminToken });

    expect(response.body.errors).toBeUndefined();
    expect(await loginCode(email, password)).toBe('OK');
  });

  it('never truncates past 72 bytes', async () => {
    const email = 'long@x.test';
    const password = 'c'.repeat(72);
    await createUser(email);
    await mustSucceed(t, SET_PASSWORD, { email, password }, adminToken);

    expect(await loginCode(email, `${password}x`)).toBe('UNAUTHENTICATED');
    expect(await loginCode(email, `${password}${'y'.repeat(30)}`)).toBe('UNAUTHENTICATED');
    expect(await loginCode(email, password)).toBe('OK');
  });

  it('rejects login with NUL-extended password', async () => {
    // bcrypt hashes `p` and `p\0p` alike, so this would log in without the check.
    const sneaky = `${PASSWORD}\u0000${PASSWORD}`;
    expect(await bcrypt.compare(sneaky, (await userRow('carol@x.test')).password_hash!)).toBe(true);

    expect(await loginCode('carol@x.test', sneaky)).toBe('UNAUTHENTICATED');
  });

  it('createUser rejects NUL character', async () => {
    const email = 'nul-create@x.test';

    const response = await t.gql(
      CREATE_USER,
      { input: { email, password: 'Pw-1234\u00005678' } },
      { token: adminToken },
    );

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(errorField(response)).toBe('password');
    expect(await userRow(email)).toBeUndefined();
  });

  it('hashes at configured cost', async () => {
    const email = 'cost@x.test';
    await createUser(email);
    await mustSucceed(t, SET_PASSWORD, { email, password: NEW_PASSWORD }, adminToken);

    const hash = (await userRow(email)).password_hash!;

    expect(bcrypt.getRounds(hash)).toBe(t.config.bcryptCost);
    expect(await bcrypt.compare(NEW_PASSWORD, hash)).toBe(true);
  });

  it('rehashes older cost on login', async () => {
    const email = 'rehash@x.test';
    await createUser(email);
    const oldHash = await bcrypt.hash(PASSWORD, t.config.bcryptCost + 1);
    await t.sql('update public.users set password_hash = $1 where email = $2', [oldHash, email]);

    expect(await loginCode(email, PASSWORD)).toBe('OK');

    const hash = (await userRow(email)).password_hash!;
    expect(hash).not.toBe(oldHash);
    expect(bcrypt.getRounds(hash)).toBe(t.config.bcryptCost);
    expect(await loginCode(email, PASSWORD)).toBe('OK');
  });
});

describe('changePassword', () => {
  it('revokes other sessions at once', async () => {
    const email = 'changer@x.test';
    await createUser(email);
    const current = await t.login(email);
    const others = [await t.login(email), await t.login(email)];

    const response = await t.gql(
      CHANGE_PASSWORD,
      { current: PASSWORD, next: NEW_PASSWORD },
      { token: current },
    );

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toEqual({ changePassword: true });
    for (const token of others) {
      expect(await meCode(token)).toBe('UNAUTHENTICATED');
    }
    expect(await meCode(current)).toBe('OK');
    expect(await openSessions(email)).toBe(1);
    expect(await loginCode(email, PASSWORD)).toBe('UNAUTHENTICATED');
    expect(await loginCode(email, NEW_PASSWORD)).toBe('OK');
  });

  it('rejects wrong current password', async () => {
    const email = 'wrong-current@x.test';
    await createUser(email);
    const token = await t.login(email);
    const other = await t.login(email);
    const before = await userRow(email);

    const response = await t.gql(
      CHANGE_PASSWORD,
      { current: 'Not-The-Password-1', next: NEW_PASSWORD },
      { token },
    );

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(errorField(response)).toBe('currentPassword');
    expect(await userRow(email)).toEqual(before);
    expect(await meCode(other)).toBe('OK');
    expect(await openSessions(email)).toBe(2);
  });

  it.each([
    ['too short', 'Ab-1'],
    ['over 72 bytes', 'd'.repeat(73)],
  ])('rejects new password %s', async (_case, next) => {
    const email = `change-${next.length}@x.test`;
    await createUser(email);
    const token = await t.login(email);
    const before = await userRow(email);

    const response = await t.gql(CHANGE_PASSWORD, { current: PASSWORD, next }, { token });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(errorField(response)).toBe('newPassword');
    expect(await userRow(email)).toEqual(before);
  });

  it('needs a logged-in caller', async () => {
    const response = await t.gql(CHANGE_PASSWORD, { current: PASSWORD, next: NEW_PASSWORD });

    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });
});

describe('setPassword', () => {
  it('revokes every session at once', async () => {
    const email = 'reset-by-admin@x.test';
    await createUser(email);
    const tokens = [await t.login(email), await t.login(email)];

    const response = await t.gql(
      SET_PASSWORD,
      { email, password: NEW_PASSWORD },
      { token: adminToken },
    );

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data).toEqual({ setPassword: { email } });
    for (const token of tokens) {
      expect(await meCode(token)).toBe('UNAUTHENTICATED');
    }
    expect(await openSessions(email)).toBe(0);
    expect(await loginCode(email, PASSWORD)).toBe('UNAUTHENTICATED');
    expect(await loginCode(email, NEW_PASSWORD)).toBe('OK');
  });

  it('lets a passwordless user log in', async () => {
    const email = 'no-password-yet@x.test';
    await createUser(email, null);

    await mustSucceed(t, SET_PASSWORD, { email, password: NEW_PASSWORD }, adminToken);

    expect(await loginCode(email, NEW_PASSWORD)).toBe('OK');
  });

  it('is for platform admins only', async () => {
    const email = 'target@x.test';
    await createUser(email);
    const token = await t.login('alice@x.test');
    const before = await userRow(email);

    const asAlice = await t.gql(SET_PASSWORD, { email, password: NEW_PASSWORD }, { token });
    const anonymous = await t.gql(SET_PASSWORD, { email, password: NEW_PASSWORD });

    expect(errorCode(asAlice)).toBe('FORBIDDEN');
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    expect(await userRow(email)).toEqual(before);
  });

  it('rejects unknown and deleted users', async () => {
    await createUser('deleted-target@x.test');
    await mustSucceed(t, DELETE_USER, { email: 'deleted-target@x.test' }, adminToken);
    const before = await userRow('deleted-target@x.test');

    const unknown = await t.gql(
      SET_PASSWORD,
      { email: 'nobody@x.test', password: NEW_PASSWORD },
      { token: adminToken },
    );
    const deleted = await t.gql(
      SET_PASSWORD,
      { email: 'deleted-target@x.test', password: NEW_PASSWORD },
      { token: adminToken },
    );

    expect(errorCode(unknown)).toBe('NOT_FOUND');
    expect(errorCode(deleted)).toBe('INACTIVE_USER');
    expect(await userRow('deleted-target@x.test')).toEqual(before);
    expect(await userRow('nobody@x.test')).toBeUndefined();
  });
});

describe('password reset', () => {
  it('answers alike for unknown email', async () => {
    await createUser('known@x.test');
    await createUser('gone-reset@x.test');
    await mustSucceed(t, DELETE_USER, { email: 'gone-reset@x.test' }, adminToken);
    const tokensBefore = await t.sql('select id from public.single_use_tokens');

    const known = await t.gql(REQUEST_RESET, { email: 'known@x.test' });
    const unknown = await t.gql(REQUEST_RESET, { email: 'unknown@x.test' });
    const deleted = await t.gql(REQUEST_RESET, { email: 'gone-reset@x.test' });

    expect(known.body).toEqual({ data: { requestPasswordReset: true } });
    expect(unknown.status).toBe(known.status);
    expect(unknown.body).toEqual(known.body);
    expect(deleted.status).toBe(known.status);
    expect(deleted.body).toEqual(known.body);
    expect(mailCount('known@x.test')).toBe(1);
    expect(mailCount('unknown@x.test')).toBe(0);
    expect(mailCount('gone-reset@x.test')).toBe(0);
    const tokensAfter = await t.sql('select id from public.single_use_tokens');
    expect(tokensAfter).toHaveLength(tokensBefore.length + 1);
  });

  it('sets password once and revokes sessions', async () => {
    const email = 'forgetful@x.test';
    await createUser(email);
    const sessions = [await t.login(email), await t.login(email)];
    await t.gql(REQUEST_RESET, { email });
    const token = mailedToken(email, 'reset-password');

    const reset = await t.gql(RESET_PASSWORD, { token, next: NEW_PASSWORD });

    expect(reset.body).toEqual({ data: { resetPassword: true } });
    for (const session of sessions) {
      expect(await meCode(session)).toBe('UNAUTHENTICATED');
    }
    expect(await openSessions(email)).toBe(0);
    expect(await loginCode(email, PASSWORD)).toBe('UNAUTHENTICATED');
    expect(await loginCode(email, NEW_PASSWORD)).toBe('OK');

    const hashAfterReset = (await userRow(email)).password_hash;
    const again = await t.gql(RESET_PASSWORD, { token, next: 'Third-Pw-13579' });
    expect(errorCode(again)).toBe('BAD_USER_INPUT');
    expect(errorField(again)).toBe('token');
    expect((await userRow(email)).password_hash).toBe(hashAfterReset);
  });

  it('stores reset tokens hashed', async () => {
    const email = 'hashed-reset@x.test';
    await createUser(email);
    await t.gql(REQUEST_RESET, { email });
    const token = mailedToken(email, 'reset-password');

    const rows = await t.sql<Record<string, unknown>>(
      `select t.* from public.single_use_tokens t join public.users u on u.id = t.user_id
       where u.email = $1`,
      [email],
    );

    expect(rows).toHaveLength(1);
    expect(rows[0].purpose).toBe('reset_password');
    expect(JSON.stringify(rows[0])).not.toContain(token);
  });

  it('rejects expired reset token', async () => {
    const email = 'slow-reset@x.test';
    await createUser(email);
    await t.gql(REQUEST_RESET, { email });
    const token = mailedToken(email, 'reset-password');
    const before = await userRow(email);
    const [{ ttl }] = await t.sql<{ ttl: number }>(
      `select extract(epoch from t.expires_at - t.created_at)::int as ttl
       from public.single_use_tokens t join public.users u on u.id = t.user_id
       where u.email = $1`,
      [email],
    );
    expect(ttl).toBe(t.config.passwordResetTokenTtlSeconds);
    await t.sql(
      `update public.single_use_tokens set expires_at = now() - interval '1 second'
       where user_id = $1`,
      [before.id],
    );

    const response = await t.gql(RESET_PASSWORD, { token, next: NEW_PASSWORD });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(errorField(response)).toBe('token');
    expect(await userRow(email)).toEqual(before);
  });

  it('keeps token after invalid new password', async () => {
    const email = 'picky@x.test';
    await createUser(email);
    await t.gql(REQUEST_RESET, { email });
    const token = mailedToken(email, 'reset-password');
    const before = await userRow(email);

    const short = await t.gql(RESET_PASSWORD, { token, next: 'short' });
    expect(errorCode(short)).toBe('BAD_USER_INPUT');
    expect(errorField(short)).toBe('newPassword');
    expect(await userRow(email)).toEqual(before);

    const valid = await t.gql(RESET_PASSWORD, { token, next: NEW_PASSWORD });
    expect(valid.body).toEqual({ data: { resetPassword: true } });
  });

  it('rejects unknown reset token', async () => {
    const response = await t.gql(RESET_PASSWORD, { token: 'made-up-token', next: NEW_PASSWORD });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(errorField(response)).toBe('token');
  });

  it('password change voids pending reset', async () => {
    const email = 'changed-mind@x.test';
    await createUser(email);
    await t.gql(REQUEST_RESET, { email });
    const resetToken = mailedToken(email, 'reset-password');
    const session = await t.login(email);
    await mustSucceed(t, CHANGE_PASSWORD, { current: PASSWORD, next: NEW_PASSWORD }, session);

    const response = await t.gql(RESET_PASSWORD, { token: resetToken, next: 'Other-Pw-97531' });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(await loginCode(email, NEW_PASSWORD)).toBe('OK');
  });

  it('deleted user cannot reset', async () => {
    const email = 'deleted-reset@x.test';
    await createUser(email);
    await t.gql(REQUEST_RESET, { email });
    const token = mailedToken(email, 'reset-password');
    await mustSucceed(t, DELETE_USER, { email }, adminToken);
    const before = await userRow(email);

    const response = await t.gql(RESET_PASSWORD, { token, next: NEW_PASSWORD });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(await userRow(email)).toEqual(before);
  });

  it('restored user has no live link', async () => {
    const email = 'restored-reset@x.test';
    await createUser(email);
    await t.gql(REQUEST_RESET, { email });
    const token = mailedToken(email, 'reset-password');
    await mustSucceed(t, DELETE_USER, { email }, adminToken);
    await mustSucceed(
      t,
      'mutation ($email: String!) { restoreUser(email: $email) { email } }',
      { email },
      adminToken,
    );
    const before = await userRow(email);

    const response = await t.gql(RESET_PASSWORD, { token, next: NEW_PASSWORD });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(await userRow(email)).toEqual(before);
  });

  it('reset verifies the email', async () => {
    const email = 'unverified-reset@x.test';
    await createUser(email, null);
    expect((await userRow(email)).is_verified).toBe(false);
    await t.gql(REQUEST_RESET, { email });
    const token = mailedToken(email, 'reset-password');

    await t.gql(RESET_PASSWORD, { token, next: NEW_PASSWORD });

    expect((await userRow(email)).is_verified).toBe(true);
    expect(await loginCode(email, NEW_PASSWORD)).toBe('OK');
  });

  it('rejects malformed email', async () => {
    const response = await t.gql(REQUEST_RESET, { email: 'not an email' });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(errorField(response)).toBe('email');
  });
});

describe('email verification', () => {
  it('verifies email once', async () => {
    const email = 'verify-me@x.test';
    await createUser(email);
    const session = await t.login(email);

    const requested = await t.gql(REQUEST_VERIFICATION, {}, { token: session });
    expect(requested.body).toEqual({ data: { requestEmailVerification: true } });
    const message = t.app.outbox?.lastTo(email);
    expect(message?.text).toContain(`${t.config.publicUrl}/verify-email?token=`);
    const token = mailedToken(email, 'verify-email');
    expect((await userRow(email)).is_verified).toBe(false);

    const verified = await t.gql(VERIFY_EMAIL, { token });
    expect(verified.body).toEqual({ data: { verifyEmail: true } });
    expect((await userRow(email)).is_verified).toBe(true);

    const reused = await t.gql(VERIFY_EMAIL, { token });
    expect(errorCode(reused)).toBe('BAD_USER_INPUT');
    expect(errorField(reused)).toBe('token');
  });

  it('sends nothing when already verified', async () => {
    const email = 'already-verified@x.test';
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email, password: PASSWORD, isVerified: true } },
      adminToken,
    );
    const session = await t.login(email);

    const response = await t.gql(REQUEST_VERIFICATION, {}, { token: session });

    expect(response.body).toEqual({ data: { requestEmailVerification: false } });
    expect(mailCount(email)).toBe(0);
  });

  it('rejects expired verification token', async () => {
    const email = 'late-verify@x.test';
    await createUser(email);
    const session = await t.login(email);
    await t.gql(REQUEST_VERIFICATION, {}, { token: session });
    const token = mailedToken(email, 'verify-email');
    const { id } = await userRow(email);
    const [{ ttl }] = await t.sql<{ ttl: number }>(
      `select extract(epoch from expires_at - created_at)::int as ttl
       from public.single_use_tokens where user_id = $1`,
      [id],
    );
    expect(ttl).toBe(t.config.verificationTokenTtlSeconds);
    await t.sql(
      `update public.single_use_tokens set expires_at = now() - interval '1 second'
       where user_id = $1`,
      [id],
    );

    const response = await t.gql(VERIFY_EMAIL, { token });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect((await userRow(email)).is_verified).toBe(false);
  });

  it('reset token cannot verify email', async () => {
    const email = 'crossed@x.test';
    await createUser(email);
    await t.gql(REQUEST_RESET, { email });
    const token = mailedToken(email, 'reset-password');

    const response = await t.gql(VERIFY_EMAIL, { token });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect((await userRow(email)).is_verified).toBe(false);
  });

  it('request needs a logged-in caller', async () => {
    const response = await t.gql(REQUEST_VERIFICATION, {});

    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });
});
