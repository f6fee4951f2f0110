import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  type GraphQLField,
  type GraphQLInputType,
  type IntrospectionQuery,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_EMAIL, PASSWORD, startTestApp, type TestApp } from './support/app.js';
import { CREATE_USER, seedCaseFixture } from './support/fixtures.js';

/** Passwords sent in this file; none may show up in a log line or a response. */
const SECRET = 'Log-Secret-7781-pw';
const SECRETS = {
  created: SECRET,
  changed: 'Changed-Secret-4412',
  setByAdmin: 'Admin-Set-Secret-9035',
  reset: 'Reset-Secret-6620',
  wrong: 'Wrong-Secret-3357',
  tooLong: 'Long-Secret-'.repeat(7),
  tooShort: 'Sh-91',
  fixture: PASSWORD,
};

const LOGIN = `
  mutation ($email: String!, $password: String!) {
    login(email: $email, password: $password) { token user { email } }
  }`;

/** Collects every line the server's logger writes. */
const logLines: string[] = [];
const responses: { label: string; text: string }[] = [];
/** Every password hash any user had during the run. */
const hashes = new Set<string>();
/** Session and mail tokens, which must not be logged either. */
const tokens = new Set<string>();

let t: TestApp;
let adminToken: string;

beforeAll(async () => {
  t = await startTestApp({ logLevel: 'trace' }, [], {
    logDestination: { write: (line: string) => logLines.push(line) },
  });
  ({ adminToken } = await seedCaseFixture(t));
  tokens.add(adminToken);
});
afterAll(() => t?.close());

async function collectHashes(): Promise<void> {
  const rows = await t.sql<{ password_hash: string | null }>(
    'select password_hash from public.users where password_hash is not null',
  );
  for (const row of rows) {
    hashes.add(row.password_hash!);
  }
}

/** Sends an operation and keeps its response text for the final scan. */
async function call(
  label: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
) {
  const response = await t.gql(query, variables, { token });
  responses.push({ label, text: JSON.stringify(response.body) });
  await collectHashes();

  return response;
}

function mailedToken(email: string): string {
  const text = t.app.outbox?.lastTo(email)?.text ?? '';
  const token = /token=([A-Za-z0-9_-]+)/.exec(text)?.[1];
  expect(token, `no mailed token for ${email}`).toBeDefined();
  tokens.add(token!);

  return token!;
}

describe('password operations', () => {
  it('runs each password operation', async () => {
    const email = 'logged@x.test';

    await call(
      'createUser',
      CREATE_USER,
      { input: { email, password: SECRETS.created } },
      adminToken,
    );
    await call(
      'createSuperuser',
      'mutation ($email: String!, $password: String) { createSuperuser(email: $email, password: $password) { email } }',
      { email: 'logged-admin@x.test', password: SECRETS.created },
      adminToken,
    );
    await call(
      'createUser too long',
      CREATE_USER,
      {
        input: { email: 'long@x.test', password: SECRETS.tooLong },
      },
      adminToken,
    );
    await call(
      'createUser too short',
      CREATE_USER,
      {
        input: { email: 'short@x.test', password: SECRETS.tooShort },
      },
      adminToken,
    );
    await call(
      'createUser mistyped',
      CREATE_USER,
      {
        input: { email: 'typed@x.test', password: { nested: SECRETS.created } },
      },
      adminToken,
    );

    await call('login wrong', LOGIN, { email, password: SECRETS.wrong });
    const login = await call('login', LOGIN, { email, password: SECRETS.created });
    const session = (login.body.data as { login: { token: string } }).login.token;
    tokens.add(session);

    const change = `mutation ($current: String!, $next: String!) {
      changePassword(currentPassword: $current, newPassword: $next) }`;
    await call(
      'changePassword wrong',
      change,
      { current: SECRETS.wrong, next: SECRETS.changed },
      session,
    );
    await call(
      'changePassword short',
      change,
      { current: SECRETS.created, next: SECRETS.tooShort },
      session,
    );
    const changed = await call(
      'changePassword',
      change,
      {
        current: SECRETS.created,
        next: SECRETS.changed,
      },
      session,
    );
    expect(changed.body.errors).toBeUndefined();

    const setPassword = `mutation ($email: String!, $password: String!) {
      setPassword(email: $email, password: $password) { email } }`;
    await call('setPassword long', setPassword, { email, password: SECRETS.tooLong }, adminToken);
    const set = await call(
      'setPassword',
      setPassword,
      { email, password: SECRETS.setByAdmin },
      adminToken,
    );
    expect(set.body.errors).toBeUndefined();

    await call(
      'requestPasswordReset',
      'mutation ($email: String!) { requestPasswordReset(email: $email) }',
      {
        email,
      },
    );
    const resetToken = mailedToken(email);
    const reset = `mutation ($token: String!, $next: String!) {
      resetPassword(token: $token, newPassword: $next) }`;
    await call('resetPassword short', reset, { token: resetToken, next: SECRETS.tooShort });
    await call('resetPassword bad token', reset, { token: 'nope', next: SECRETS.reset });
    const done = await call('resetPassword', reset, { token: resetToken, next: SECRETS.reset });
    expect(done.body.errors).toBeUndefined();

    const relogin = await call('login after reset', LOGIN, { email, password: SECRETS.reset });
    const session2 = (relogin.body.data as { login: { token: string } }).login.token;
    tokens.add(session2);
    await call('requestEmailVerification', 'mutation { requestEmailVerification }', {}, session2);
    await call('verifyEmail', 'mutation ($token: String!) { verifyEmail(token: $token) }', {
      token: mailedToken(email),
    });
  });
});

describe('every mutation of the schema', () => {
  it('runs every mutation as admin and anonymous', async () => {
    const introspection = await t.gql<IntrospectionQuery>(getIntrospectionQuery(), {});
    expect(introspection.body.errors).toBeUndefined();
    const schema = buildClientSchema(introspection.body.data!);
    const mutations = Object.values(schema.getMutationType()!.getFields());
    expect(mutations.length).toBeGreaterThan(10);

    // Destructive mutations run last, so that the others still find their targets.
    const ordered = [...mutations].sort(
      (a, b) => Number(isDestructive(a)) - Number(isDestructive(b)),
    );
    for (const field of ordered) {
      const { query, variables } = sampleOperation(field);
      for (const [caller, token] of [
        ['admin', adminToken],
        ['anonymous', undefined],
      ] as const) {
        const response = await call(`${field.name} as ${caller}`, query, variables, token);
        expect(response.status, `${field.name} as ${caller}`).toBeLessThan(500);
      }
    }
  });
});

describe('scan', () => {
  it('finds no password or hash anywhere', async () => {
    await collectHashes();
    expect(hashes.size).toBeGreaterThan(5);
    expect(logLines.length).toBeGreaterThan(100);
    // The logger runs at trace, so SQL statements are among the scanned lines.
    expect(logLines.some((line) => /insert into|update /i.test(line))).toBe(true);

    const secrets = [
      ...Object.values(SECRETS),
      ...[...hashes].flatMap((hash) => [hash, hash.slice(7)]),
    ];
    const leakingLines = logLines.filter((line) => secrets.some((secret) => line.includes(secret)));
    const leakingResponses = responses
      .filter((response) => secrets.some((secret) => response.text.includes(secret)))
      .map((response) => response.label);

    expect(leakingLines).toEqual([]);
    expect(leakingResponses).toEqual([]);
  });

  it('finds no session or mail token in logs', () => {
    expect(tokens.size).toBeGreaterThan(3);

    const leakingLines = logLines.filter((line) =>
      [...tokens].some((token) => line.includes(token)),
    );

    expect(leakingLines).toEqual([]);
  });
});

function isDestructive(field: GraphQLField<unknown, unknown>): boolean {
  return /^(delete|purge|remove|revoke|transfer|logout)/.test(field.name);
}

/** Builds a call of `field` with a plausible value for each argument and `__typename` selected. */
function sampleOperation(field: GraphQLField<unknown, unknown>) {
  const variables: Record<string, unknown> = {};
  const declarations: string[] = [];
  const args: string[] = [];
  for (const arg of field.args) {
    variables[arg.name] = sampleValue(arg.type, arg.name);
    declarations.push(`$${arg.name}: ${String(arg.type)}`);
    args.push(`${arg.name}: $${arg.name}`);
  }

  const header = declarations.length ? `(${declarations.join(', ')})` : '';
  const call = args.length ? `${field.name}(${args.join(', ')})` : field.name;
  const selection = isLeafType(getNamedType(field.type)) ? '' : ' { __typename }';

  return { query: `mutation ${header} { ${call}${selection} }`, variables };
}

function sampleValue(type: GraphQLInputType, name: string): unknown {
  if (isNonNullType(type)) {
    return sampleValue(type.ofType, name);
  }
  if (isListType(type)) {
    return [sampleValue(type.ofType, name)];
  }
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    return Object.fromEntries(fields.map((f) => [f.name, sampleValue(f.type, f.name)]));
  }
  if (isEnumType(type)) {
    return type.getValues()[0].name;
  }

  switch (type.name) {
    case 'Int':
    case 'Float':
      return 1;
    case 'Boolean':
      return false;
    case 'JSONObject':
      return { note: 'sample' };
    case 'DateTime':
      return new Date().toISOString();
    case 'EmailAddress':
      return 'logged@x.test';
  }
  if (/password/i.test(name)) {
    return SECRET;
  }
  if (/email/i.test(name)) {
    return name === 'ownerEmail' ? ADMIN_EMAIL : 'logged@x.test';
  }
  if (/tenant|slug/i.test(name)) {
    return 'acme';
  }

  return 'sample';
}
