import { readFileSync } from 'node:fs';
import { buildSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ADMIN_EMAIL,
  PASSWORD,
  errorCode,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  DELETE_USER,
  REMOVE_USER_FROM_TENANT,
  mustSucceed,
  provision,
  seedCaseFixture,
} from './support/fixtures.js';
import {
  describeRows,
  diffSnapshots,
  snapshotAllSchemas,
  summarizeDiff,
  type SchemaSnapshot,
} from './support/schema-diff.js';

/*
 * Every mutation runs against a database where `public`, acme and globex have the same tables,
 * groups of the same names, and members with group links and direct permissions. A row-by-row
 * diff of all schemas around the mutation must show changes in the expected tables only. A row
 * written to or deleted from the wrong schema then appears as a change in an unexpected table.
 *
 * Expected tables are written as `<slug>.table` for a tenant schema, whose name the diff looks
 * up by slug in `public.tenants`, and as `public.table` for the public schema. A bare `<slug>`
 * is the schema itself. Each value summarizes the change as `summarizeDiff` does.
 */

const ACME_HOST = 'acme.app.test';
const GLOBEX_HOST = 'globex.app.test';

const VIEW_MEMBER = 'tenant_users.view_member';
const CHANGE_MEMBER = 'tenant_users.change_member';
const VIEW_GROUP = 'tenant_users.view_group';
const ADD_MEMBER = 'tenant_users.add_member';

const NEW_PASSWORD = 'New-Pw-2468-abc';
const WRONG_PASSWORD = 'Wrong-123456789';

const CREATE_SUPERUSER = `
  mutation ($email: String!, $password: String) {
    createSuperuser(email: $email, password: $password) { id }
  }`;
const RESTORE_USER = `mutation ($email: String!) { restoreUser(email: $email) { id } }`;
const PROVISION = `
  mutation ($input: ProvisionTenantInput!) { provisionTenant(input: $input) { schemaName } }`;
const DELETE_TENANT = `mutation ($tenant: String) { deleteTenant(tenant: $tenant) { id } }`;
const RESTORE_TENANT = `
  mutation ($tenant: String!, $ownerEmail: String!) {
    restoreTenant(tenant: $tenant, ownerEmail: $ownerEmail) { id }
  }`;
const PURGE_TENANT = `
  mutation ($tenant: String!, $confirmSlug: String!) {
    purgeTenant(tenant: $tenant, confirmSlug: $confirmSlug)
  }`;
const TRANSFER_OWNERSHIP = `
  mutation ($tenant: String, $email: String!, $keep: Boolean! = false) {
    transferTenantOwnership(tenant: $tenant, newOwnerEmail: $email, keepPreviousOwner: $keep) {
      id
    }
  }`;
const ADD_DOMAIN = `
  mutation ($tenant: String, $domain: String!, $isPrimary: Boolean! = false) {
    addDomain(tenant: $tenant, domain: $domain, isPrimary: $isPrimary) { domain }
  }`;
const REMOVE_DOMAIN = `mutation ($domain: String!) { removeDomain(domain: $domain) }`;
const SET_PRIMARY_DOMAIN = `
  mutation ($domain: String!) { setPrimaryDomain(domain: $domain) { domain } }`;
const CREATE_GROUP = `
  mutation ($tenant: String, $name: String!, $permissions: [String!]! = []) {
    createGroup(tenant: $tenant, name: $name, permissions: $permissions) { id }
  }`;
const DELETE_GROUP = `
  mutation ($tenant: String, $group: String!) { deleteGroup(tenant: $tenant, group: $group) }`;
const SET_GROUP_PERMISSIONS = `
  mutation ($tenant: String, $group: String!, $permissions: [String!]!) {
    setGroupPermissions(tenant: $tenant, group: $group, permissions: $permissions) { id }
  }`;
const ADD_MEMBER_TO_GROUP = `
  mutation ($tenant: String, $email: String!, $group: String!) {
    addMemberToGroup(tenant: $tenant, userEmail: $email, group: $group) { groups }
  }`;
const REMOVE_MEMBER_FROM_GROUP = `
  mutation ($tenant: String, $email: String!, $group: String!) {
    removeMemberFromGroup(tenant: $tenant, userEmail: $email, group: $group) { groups }
  }`;
const SET_MEMBER_FLAGS = `
  mutation ($tenant: String, $email: String!, $isStaff: Boolean, $isSuperuser: Boolean) {
    setMemberFlags(
      tenant: $tenant, userEmail: $email, isStaff: $isStaff, isSuperuser: $isSuperuser
    ) { isStaff isSuperuser }
  }`;
const GRANT_PERMISSION = `
  mutation ($tenant: String, $email: String!, $permission: String!) {
    grantPermission(tenant: $tenant, userEmail: $email, permission: $permission) { permissions }
  }`;
const REVOKE_PERMISSION = `
  mutation ($tenant: String, $email: String!, $permission: String!) {
    revokePermission(tenant: $tenant, userEmail: $email, permission: $permission) { permissions }
  }`;
const LOGIN = `
  mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { token } }`;
const LOGOUT = `mutation { logout }`;
const CREATE_SERVICE_TOKEN = `
  mutation ($name: String!, $scopes: [String!]!, $tenants: [String!]) {
    createServiceToken(name: $name, scopes: $scopes, tenants: $tenants) {
      token
      serviceToken { id }
    }
  }`;
const REVOKE_SERVICE_TOKEN = `mutation ($id: ID!) { revokeServiceToken(id: $id) { revokedAt } }`;
const CHANGE_PASSWORD = `
  mutation ($current: String!, $next: String!) {
    changePassword(currentPassword: $current, newPassword: $next)
  }`;
const SET_PASSWORD = `
  mutation ($email: String!, $password: String!) {
    setPassword(email: $email, password: $password) { email }
  }`;
const REQUEST_VERIFICATION = `mutation { requestEmailVerification }`;
const VERIFY_EMAIL = `mutation ($token: String!) { verifyEmail(token: $token) }`;
const REQUEST_RESET = `mutation ($email: String!) { requestPasswordReset(email: $email) }`;
const RESET_PASSWORD = `
  mutation ($token: String!, $next: String!) { resetPassword(token: $token, newPassword: $next) }`;
const ACME_MEMBER_GROUPS = `{ currentTenant { members { edges { node { user { email } groups } } } } }`;

/** One GraphQL request, sent by the platform admin to the public host unless given otherwise. */
interface Request {
  query: string;
  variables?: Record<string, unknown>;
  token?: string;
  host?: string;
}

interface MutationCase {
  name: string;
  /** The root mutation field whose writes the case checks. */
  mutation: string;
  /** Writes the rows the mutation needs and returns the requests to send, in order. */
  prepare: () => Promise<Request[]>;
  /** True to send the requests all at once instead of one after another. */
  concurrent?: boolean;
  /** Every table expected to change, with its change summary. */
  expected: Record<string, string>;
}

interface FailureCase {
  name: string;
  prepare: () => Promise<Request>;
  code: string;
  /**
   * Tables the failed request changes by design, empty by default. Attempt counters of logins,
   * password checks and mail requests are written outside any transaction, so that failed and
   * rejected attempts count.
   */
  expected?: Record<string, string>;
  /** Undoes a database change that `prepare` made only to provoke the failure. */
  cleanup?: () => Promise<void>;
}

let t: TestApp;
let adminToken: string;
let aliceToken: string;
let bobToken: string;

beforeAll(async () => {
  // Every request comes from one client address, whose failed logins and mail requests add up
  // over the whole file, so its limit is raised well above their count. The per-email limit
  // keeps its default.
  t = await startTestApp({ loginMaxAttemptsPerAddress: 1_000 });
  ({ adminToken } = await seedCaseFixture(t));
  aliceToken = await t.login('alice@x.test');
  bobToken = await t.login('bob@x.test');

  // The same groups in every schema, and members of every schema in them, so that rows of the
  // same shape and table exist in public, acme and globex.
  for (const tenant of ['public', 'acme', 'globex']) {
    await createGroup(tenant, 'editors', [VIEW_MEMBER, CHANGE_MEMBER]);
    await createGroup(tenant, 'viewers', [VIEW_MEMBER]);
  }
  for (const [tenant, email] of [
    ['public', 'bob@x.test'],
    ['acme', 'bob@x.test'],
    ['globex', 'alice@x.test'],
    ['public', 'alice@x.test'],
  ]) {
    await admin(ADD_MEMBER_TO_GROUP, { tenant, email, group: 'editors' });
    await admin(GRANT_PERMISSION, { tenant, email, permission: VIEW_GROUP });
  }

  // Counts one mail request from the test client, so that its address counter exists before any
  // case runs, as the logins above make its login counter exist.
  await mustSucceed(t, REQUEST_RESET, { email: 'nobody@x.test' }, '');
});

afterAll(() => t?.close());

/** Runs an operation as the platform admin on the public host and fails the test on any error. */
function admin(query: string, variables: Record<string, unknown> = {}) {
  return mustSucceed(t, query, variables, adminToken);
}

async function createUser(email: string): Promise<void> {
  await admin(CREATE_USER, { input: { email, password: PASSWORD } });
}

async function createGroup(tenant: string, name: string, permissions: string[]): Promise<void> {
  await admin(CREATE_GROUP, { tenant, name, permissions });
}

/**
 * Creates a user who is a member of public, acme and globex, in the group `editors` of each and
 * with `tenant_users.view_group` granted directly in each.
 */
async function createMemberOfEverySchema(email: string): Promise<void> {
  await createUser(email);
  for (const tenant of ['acme', 'globex']) {
    await admin(ADD_USER_TO_TENANT, { input: { tenant, userEmail: email, groups: ['editors'] } });
  }
  await admin(ADD_MEMBER_TO_GROUP, { tenant: 'public', email, group: 'editors' });
  for (const tenant of ['public', 'acme', 'globex']) {
    await admin(GRANT_PERMISSION, { tenant, email, permission: VIEW_GROUP });
  }
}

/**
 * Provisions a tenant owned by a new user `<slug>-owner@x.test`, with the groups `editors` and
 * `viewers` that acme and globex also have, and bob in `editors` with `tenant_users.view_group`.
 * Returns the owner's email.
 */
async function provisionLikeAcme(slug: string): Promise<string> {
  const owner = `${slug}-owner@x.test`;
  await createUser(owner);
  await provision(t, adminToken, { name: slug, slug, ownerEmail: owner });
  await createGroup(slug, 'editors', [VIEW_MEMBER, CHANGE_MEMBER]);
  await createGroup(slug, 'viewers', [VIEW_MEMBER]);
  await admin(ADD_USER_TO_TENANT, {
    input: { tenant: slug, userEmail: 'bob@x.test', groups: ['editors'] },
  });
  await admin(GRANT_PERMISSION, { tenant: slug, email: 'bob@x.test', permission: VIEW_GROUP });

  return owner;
}

/** Creates a service token as the platform admin and returns its secret and id. */
async function createServiceToken(
  scopes: string[],
  tenants: string[] | null = null,
): Promise<{ token: string; id: string }> {
  const data = await admin(CREATE_SERVICE_TOKEN, { name: 'cross-schema setup', scopes, tenants });
  const created = data.createServiceToken as { token: string; serviceToken: { id: string } };

  return { token: created.token, id: created.serviceToken.id };
}

/** Sends a login with a wrong password, which leaves a login counter for the email. */
async function failLogin(email: string): Promise<void> {
  const response = await t.gql(LOGIN, { email, password: WRONG_PASSWORD });
  expect(errorCode(response)).toBe('UNAUTHENTICATED');
}

/** Reads the token of the newest mail to `email` from the development outbox. */
function mailedToken(email: string, path: 'reset-password' | 'verify-email'): string {
  const message = t.app.outbox?.lastTo(email);
  if (message === undefined) {
    throw new Error(`No mail to ${email} in the development outbox`);
  }
  const match = new RegExp(`/${path}\\?token=([A-Za-z0-9_-]+)`).exec(message.text);
  if (match === null) {
    throw new Error(`No ${path} link in the newest mail to ${email}:\n${message.text}`);
  }

  return match[1];
}

/** Requests a password reset for `email` as an anonymous caller and returns the mailed token. */
async function mailedResetToken(email: string): Promise<string> {
  await mustSucceed(t, REQUEST_RESET, { email }, '');

  return mailedToken(email, 'reset-password');
}

/** Requests email verification with the session `token` and returns the mailed token. */
async function mailedVerificationToken(email: string, token: string): Promise<string> {
  const data = await mustSucceed(t, REQUEST_VERIFICATION, {}, token);
  expect(data).toEqual({ requestEmailVerification: true });

  return mailedToken(email, 'verify-email');
}

/** Makes every unused single-use token of `email` expire one second ago. */
async function expireTokensOf(email: string): Promise<void> {
  await t.sql(
    `update public.single_use_tokens set expires_at = now() - interval '1 second'
     where used_at is null and user_id = (select id from public.users where email = $1)`,
    [email],
  );
}

async function send(request: Request): Promise<GraphqlResponse> {
  return t.gql(request.query, request.variables ?? {}, {
    token: request.token ?? adminToken,
    host: request.host,
  });
}

/** Replaces `<slug>` in expected table names with the schema name of that tenant. */
function resolveExpected(
  expected: Record<string, string>,
  snapshots: readonly SchemaSnapshot[],
): Record<string, string> {
  const schemaBySlug = new Map<string, string>();
  for (const snapshot of snapshots) {
    for (const row of snapshot.tables.get('public.tenants')?.rows.values() ?? []) {
      const tenant = JSON.parse(row) as { slug: string; schema_name: string };
      schemaBySlug.set(tenant.slug, tenant.schema_name);
    }
  }

  const resolved: Record<string, string> = {};
  for (const [name, summary] of Object.entries(expected)) {
    const table = name.replace(/^<([a-z0-9-]+)>/, (_match, slug: string) => {
      const schema = schemaBySlug.get(slug);
      if (schema === undefined) {
        throw new Error(`No tenant with the slug "${slug}" in either snapshot`);
      }
      return schema;
    });
    resolved[table] = summary;
  }

  return resolved;
}

const MUTATION_CASES: MutationCase[] = [
  {
    name: 'createUser writes public tables only',
    mutation: 'createUser',
    prepare: async () => [
      { query: CREATE_USER, variables: { input: { email: 'fresh@x.test', password: PASSWORD } } },
    ],
    expected: {
      'public.users': '+1',
      'public.memberships': '+1',
      'public.user_tenant_permissions': '+1',
      'public.audit_events': '+1',
    },
  },
  {
    name: 'createSuperuser writes public tables only',
    mutation: 'createSuperuser',
    prepare: async () => [
      { query: CREATE_SUPERUSER, variables: { email: 'fresh-root@x.test', password: PASSWORD } },
    ],
    expected: {
      'public.users': '+1',
      'public.memberships': '+1',
      'public.user_tenant_permissions': '+1',
      'public.audit_events': '+1',
    },
  },
  {
    name: 'deleteUser removes rows from member schemas',
    mutation: 'deleteUser',
    prepare: async () => {
      await createMemberOfEverySchema('leaving@x.test');
      await t.login('leaving@x.test');
      return [{ query: DELETE_USER, variables: { email: 'leaving@x.test' } }];
    },
    expected: {
      'public.users': '~1',
      'public.sessions': '~1',
      'public.memberships': '-3',
      'public.user_tenant_permissions': '-1',
      'public.user_tenant_permissions_groups': '-1',
      'public.user_tenant_permissions_permissions': '-1',
      '<acme>.user_tenant_permissions': '-1',
      '<acme>.user_tenant_permissions_groups': '-1',
      '<acme>.user_tenant_permissions_permissions': '-1',
      '<globex>.user_tenant_permissions': '-1',
      '<globex>.user_tenant_permissions_groups': '-1',
      '<globex>.user_tenant_permissions_permissions': '-1',
      'public.audit_events': '+4',
    },
  },
  {
    name: 'deleteUser of owner changes owned tenant',
    mutation: 'deleteUser',
    prepare: async () => {
      const owner = await provisionLikeAcme('inherit');
      await admin(ADD_USER_TO_TENANT, {
        input: { tenant: 'acme', userEmail: owner, groups: ['editors'] },
      });
      return [{ query: DELETE_USER, variables: { email: owner } }];
    },
    expected: {
      'public.users': '~1',
      'public.tenants': '~1',
      'public.domains': '~1',
      // bob and the owner leave inherit, the owner leaves acme and public, root joins inherit.
      'public.memberships': '+1 -4',
      'public.user_tenant_permissions': '-1',
      '<inherit>.user_tenant_permissions': '+1 -2',
      '<inherit>.user_tenant_permissions_groups': '-1',
      '<inherit>.user_tenant_permissions_permissions': '-1',
      '<acme>.user_tenant_permissions': '-1',
      '<acme>.user_tenant_permissions_groups': '-1',
      'public.audit_events': '+7',
    },
  },
  {
    name: 'restoreUser writes public tables only',
    mutation: 'restoreUser',
    prepare: async () => {
      await createMemberOfEverySchema('returning@x.test');
      await admin(DELETE_USER, { email: 'returning@x.test' });
      return [{ query: RESTORE_USER, variables: { email: 'returning@x.test' } }];
    },
    expected: {
      'public.users': '~1',
      'public.memberships': '+1',
      'public.user_tenant_permissions': '+1',
      'public.audit_events': '+2',
    },
  },
  {
    name: 'provisionTenant creates only its schema',
    mutation: 'provisionTenant',
    prepare: async () => {
      await createMemberOfEverySchema('founder@x.test');
      return [
        {
          query: PROVISION,
          variables: { input: { name: 'Fresh', slug: 'fresh', ownerEmail: 'founder@x.test' } },
        },
      ];
    },
    expected: {
      'public.tenants': '+1',
      'public.domains': '+1',
      'public.memberships': '+1',
      'public.audit_events': '+1',
      '<fresh>': 'created',
      '<fresh>.permissions': 'created +6',
      '<fresh>.groups': 'created',
      '<fresh>.group_permissions': 'created',
      '<fresh>.user_tenant_permissions': 'created +1',
      '<fresh>.user_tenant_permissions_groups': 'created',
      '<fresh>.user_tenant_permissions_permissions': 'created',
      '<fresh>.tenant_migrations': 'created +2',
    },
  },
  {
    name: 'provision with given schema name',
    mutation: 'provisionTenant',
    prepare: async () => [
      {
        query: PROVISION,
        variables: {
          input: {
            name: 'Named',
            slug: 'named',
            ownerEmail: 'bob@x.test',
            schemaName: 'named_schema',
            isStaff: true,
          },
        },
      },
    ],
    expected: {
      'public.tenants': '+1',
      'public.domains': '+1',
      'public.memberships': '+1',
      'public.audit_events': '+1',
      '<named>': 'created',
      '<named>.permissions': 'created +6',
      '<named>.groups': 'created',
      '<named>.group_permissions': 'created',
      '<named>.user_tenant_permissions': 'created +1',
      '<named>.user_tenant_permissions_groups': 'created',
      '<named>.user_tenant_permissions_permissions': 'created',
      '<named>.tenant_migrations': 'created +2',
    },
  },
  {
    name: 'deleteTenant changes its own schema only',
    mutation: 'deleteTenant',
    prepare: async () => {
      const owner = await provisionLikeAcme('doomed');
      const token = await t.login(owner);
      return [{ query: DELETE_TENANT, token, host: 'doomed.app.test' }];
    },
    expected: {
      'public.tenants': '~1',
      'public.domains': '~1',
      'public.memberships': '+1 -2',
      '<doomed>.user_tenant_permissions': '+1 -2',
      '<doomed>.user_tenant_permissions_groups': '-1',
      '<doomed>.user_tenant_permissions_permissions': '-1',
      'public.audit_events': '+4',
    },
  },
  {
    name: 'restoreTenant changes its own schema only',
    mutation: 'restoreTenant',
    prepare: async () => {
      await provisionLikeAcme('phoenix');
      await admin(DELETE_TENANT, { tenant: 'phoenix' });
      return [
        { query: RESTORE_TENANT, variables: { tenant: 'phoenix', ownerEmail: 'bob@x.test' } },
      ];
    },
    expected: {
      'public.tenants': '~1',
      'public.domains': '~1',
      'public.memberships': '+1 -1',
      '<phoenix>.user_tenant_permissions': '+1 -1',
      'public.audit_events': '+4',
    },
  },
  {
    name: 'purgeTenant drops only its schema',
    mutation: 'purgeTenant',
    prepare: async () => {
      await provisionLikeAcme('ashes');
      await admin(DELETE_TENANT, { tenant: 'ashes' });
      return [{ query: PURGE_TENANT, variables: { tenant: 'ashes', confirmSlug: 'ashes' } }];
    },
    expected: {
      'public.tenants': '-1',
      'public.domains': '-1',
      'public.memberships': '-1',
      'public.audit_events': '+1',
      '<ashes>': 'dropped',
      '<ashes>.permissions': 'dropped -6',
      '<ashes>.groups': 'dropped -2',
      '<ashes>.group_permissions': 'dropped -3',
      '<ashes>.user_tenant_permissions': 'dropped -1',
      '<ashes>.user_tenant_permissions_groups': 'dropped',
      '<ashes>.user_tenant_permissions_permissions': 'dropped',
      '<ashes>.tenant_migrations': 'dropped -2',
    },
  },
  {
    name: 'transferTenantOwnership changes its own schema',
    mutation: 'transferTenantOwnership',
    prepare: async () => {
      const owner = await provisionLikeAcme('relay');
      await createMemberOfEverySchema('heir@x.test');
      const token = await t.login(owner);
      return [
        {
          query: TRANSFER_OWNERSHIP,
          variables: { email: 'heir@x.test' },
          token,
          host: 'relay.app.test',
        },
      ];
    },
    expected: {
      'public.tenants': '~1',
      'public.memberships': '+1 -1',
      '<relay>.user_tenant_permissions': '+1 -1',
      'public.audit_events': '+3',
    },
  },
  {
    name: 'transfer keeping previous owner stays local',
    mutation: 'transferTenantOwnership',
    prepare: async () => {
      await provisionLikeAcme('baton');
      return [
        {
          query: TRANSFER_OWNERSHIP,
          variables: { tenant: 'baton', email: 'bob@x.test', keep: true },
        },
      ];
    },
    expected: {
      'public.tenants': '~1',
      '<baton>.user_tenant_permissions': '~2',
      'public.audit_events': '+1',
    },
  },
  {
    name: 'addUserToTenant writes routed tenant only',
    mutation: 'addUserToTenant',
    prepare: async () => {
      await createUser('joiner@x.test');
      await admin(ADD_USER_TO_TENANT, {
        input: { tenant: 'globex', userEmail: 'joiner@x.test', groups: ['editors'] },
      });
      await admin(GRANT_PERMISSION, {
        tenant: 'globex',
        email: 'joiner@x.test',
        permission: VIEW_GROUP,
      });
      return [
        {
          query: ADD_USER_TO_TENANT,
          variables: {
            input: { userEmail: 'joiner@x.test', isStaff: true, groups: ['editors', 'viewers'] },
          },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: {
      'public.memberships': '+1',
      '<acme>.user_tenant_permissions': '+1',
      '<acme>.user_tenant_permissions_groups': '+2',
      'public.audit_events': '+1',
    },
  },
  {
    name: 'removeUserFromTenant writes routed tenant only',
    mutation: 'removeUserFromTenant',
    prepare: async () => {
      await createMemberOfEverySchema('quitter@x.test');
      return [
        {
          query: REMOVE_USER_FROM_TENANT,
          variables: { email: 'quitter@x.test' },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: {
      'public.memberships': '-1',
      '<acme>.user_tenant_permissions': '-1',
      '<acme>.user_tenant_permissions_groups': '-1',
      '<acme>.user_tenant_permissions_permissions': '-1',
      'public.audit_events': '+1',
    },
  },
  {
    name: 'removal after loading other membership',
    mutation: 'removeUserFromTenant',
    prepare: async () => {
      await createMemberOfEverySchema('quitter2@x.test');
      // The first field loads the user's globex row in the same request and changes nothing.
      const query = `
        mutation ($email: String!) {
          loaded: setMemberFlags(userEmail: $email) { isStaff groups permissions }
          removed: removeUserFromTenant(tenant: "acme", userEmail: $email)
        }`;
      return [{ query, variables: { email: 'quitter2@x.test' }, host: GLOBEX_HOST }];
    },
    expected: {
      'public.memberships': '-1',
      '<acme>.user_tenant_permissions': '-1',
      '<acme>.user_tenant_permissions_groups': '-1',
      '<acme>.user_tenant_permissions_permissions': '-1',
      'public.audit_events': '+1',
    },
  },
  {
    name: 'readding member changes acme only',
    mutation: 'addUserToTenant',
    prepare: async () => {
      await createMemberOfEverySchema('rejoiner@x.test');
      return [
        {
          query: REMOVE_USER_FROM_TENANT,
          variables: { email: 'rejoiner@x.test' },
          host: ACME_HOST,
        },
        {
          query: ADD_USER_TO_TENANT,
          variables: { input: { userEmail: 'rejoiner@x.test', groups: ['editors', 'viewers'] } },
          host: ACME_HOST,
        },
        { query: ACME_MEMBER_GROUPS, host: ACME_HOST },
      ];
    },
    expected: {
      'public.memberships': '+1 -1',
      '<acme>.user_tenant_permissions': '+1 -1',
      '<acme>.user_tenant_permissions_groups': '+2 -1',
      '<acme>.user_tenant_permissions_permissions': '-1',
      'public.audit_events': '+2',
    },
  },
  {
    name: 'one-request readding changes acme only',
    mutation: 'addUserToTenant',
    prepare: async () => {
      await createMemberOfEverySchema('rejoiner2@x.test');
      const query = `
        mutation ($email: String!) {
          removed: removeUserFromTenant(userEmail: $email)
          added: addUserToTenant(input: { userEmail: $email, groups: ["editors", "viewers"] }) {
            groups
          }
        }`;
      return [{ query, variables: { email: 'rejoiner2@x.test' }, host: ACME_HOST }];
    },
    expected: {
      'public.memberships': '+1 -1',
      '<acme>.user_tenant_permissions': '+1 -1',
      '<acme>.user_tenant_permissions_groups': '+2 -1',
      '<acme>.user_tenant_permissions_permissions': '-1',
      'public.audit_events': '+2',
    },
  },
  {
    name: 'concurrent mutations stay in tenants',
    mutation: 'setMemberFlags',
    concurrent: true,
    // Each request names no tenant, so only its host decides the schema it writes to.
    prepare: async () => {
      const requests: Request[] = [];
      for (let index = 0; index < 4; index += 1) {
        const [inAcme, inGlobex, inPublic] = ['acme', 'globex', 'public'].map(
          (schema) => `busy-${schema}-${index}@x.test`,
        );
        for (const email of [inAcme, inGlobex, inPublic]) {
          await createMemberOfEverySchema(email);
        }
        requests.push(
          {
            query: GRANT_PERMISSION,
            variables: { email: inAcme, permission: ADD_MEMBER },
            host: ACME_HOST,
          },
          {
            query: ADD_MEMBER_TO_GROUP,
            variables: { email: inGlobex, group: 'viewers' },
            host: GLOBEX_HOST,
          },
          { query: SET_MEMBER_FLAGS, variables: { email: inPublic, isStaff: true } },
        );
      }
      return requests;
    },
    expected: {
      '<acme>.user_tenant_permissions': '~4',
      '<acme>.user_tenant_permissions_permissions': '+4',
      '<globex>.user_tenant_permissions': '~4',
      '<globex>.user_tenant_permissions_groups': '+4',
      'public.user_tenant_permissions': '~4',
    },
  },
  {
    name: 'addDomain writes public domains only',
    mutation: 'addDomain',
    prepare: async () => [
      {
        query: ADD_DOMAIN,
        variables: { domain: 'shop.acme.test' },
        token: aliceToken,
        host: ACME_HOST,
      },
    ],
    expected: { 'public.domains': '+1', 'public.audit_events': '+1' },
  },
  {
    name: 'addDomain as primary demotes one',
    mutation: 'addDomain',
    // A tenant of its own, so that acme and globex keep their primary domains for later cases.
    prepare: async () => {
      const owner = await provisionLikeAcme('harbor');
      return [
        {
          query: ADD_DOMAIN,
          variables: { domain: 'main.harbor.test', isPrimary: true },
          token: await t.login(owner),
          host: 'harbor.app.test',
        },
      ];
    },
    expected: { 'public.domains': '+1 ~1', 'public.audit_events': '+2' },
  },
  {
    name: 'removeDomain writes public domains only',
    mutation: 'removeDomain',
    prepare: async () => {
      await admin(ADD_DOMAIN, { tenant: 'acme', domain: 'old.acme.test' });
      return [{ query: REMOVE_DOMAIN, variables: { domain: 'old.acme.test' }, token: aliceToken }];
    },
    expected: { 'public.domains': '-1', 'public.audit_events': '+1' },
  },
  {
    name: 'setPrimaryDomain writes public domains only',
    mutation: 'setPrimaryDomain',
    prepare: async () => {
      const owner = await provisionLikeAcme('pier');
      await admin(ADD_DOMAIN, { tenant: 'pier', domain: 'main.pier.test' });
      return [
        {
          query: SET_PRIMARY_DOMAIN,
          variables: { domain: 'main.pier.test' },
          token: await t.login(owner),
        },
      ];
    },
    expected: { 'public.domains': '~2', 'public.audit_events': '+1' },
  },
  {
    name: 'createGroup writes routed tenant only',
    mutation: 'createGroup',
    prepare: async () => {
      await createGroup('public', 'reviewers', [VIEW_MEMBER, VIEW_GROUP]);
      await createGroup('globex', 'reviewers', [VIEW_MEMBER, VIEW_GROUP]);
      return [
        {
          query: CREATE_GROUP,
          variables: { name: 'reviewers', permissions: [VIEW_MEMBER, VIEW_GROUP] },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: { '<acme>.groups': '+1', '<acme>.group_permissions': '+2' },
  },
  {
    name: 'moved domain writes new tenant',
    mutation: 'createGroup',
    // The first request routes the host to acme, so a cache of routed hosts has an entry for it
    // when the domain moves to globex.
    prepare: async () => {
      const host = 'moving.example.test';
      await admin(ADD_DOMAIN, { tenant: 'acme', domain: host });
      await mustSucceed(t, '{ currentTenant { slug } }', {}, adminToken, host);
      await admin(REMOVE_DOMAIN, { domain: host });
      await admin(ADD_DOMAIN, { tenant: 'globex', domain: host });
      return [
        { query: CREATE_GROUP, variables: { name: 'movers', permissions: [VIEW_MEMBER] }, host },
      ];
    },
    expected: { '<globex>.groups': '+1', '<globex>.group_permissions': '+1' },
  },
  {
    name: 'reprovisioned slug writes new schema',
    mutation: 'createGroup',
    prepare: async () => {
      const owner = await provisionLikeAcme('cinder');
      const host = 'cinder.app.test';
      await mustSucceed(t, '{ currentTenant { slug } }', {}, adminToken, host);
      await admin(DELETE_TENANT, { tenant: 'cinder' });
      await admin(PURGE_TENANT, { tenant: 'cinder', confirmSlug: 'cinder' });
      await provision(t, adminToken, { name: 'Cinder', slug: 'cinder', ownerEmail: owner });
      return [
        { query: CREATE_GROUP, variables: { name: 'embers', permissions: [VIEW_MEMBER] }, host },
      ];
    },
    expected: { '<cinder>.groups': '+1', '<cinder>.group_permissions': '+1' },
  },
  {
    name: 'createGroup in public tenant stays public',
    mutation: 'createGroup',
    prepare: async () => {
      await createGroup('acme', 'auditors', [VIEW_MEMBER]);
      await createGroup('globex', 'auditors', [VIEW_MEMBER]);
      return [
        {
          query: CREATE_GROUP,
          variables: { tenant: 'public', name: 'auditors', permissions: [VIEW_MEMBER] },
        },
      ];
    },
    expected: { 'public.groups': '+1', 'public.group_permissions': '+1' },
  },
  {
    name: 'deleteGroup writes routed tenant only',
    mutation: 'deleteGroup',
    prepare: async () => {
      await createMemberOfEverySchema('temp@x.test');
      for (const tenant of ['public', 'acme', 'globex']) {
        await createGroup(tenant, 'temps', [VIEW_MEMBER]);
        await admin(ADD_MEMBER_TO_GROUP, { tenant, email: 'temp@x.test', group: 'temps' });
      }
      return [
        { query: DELETE_GROUP, variables: { group: 'temps' }, token: bobToken, host: GLOBEX_HOST },
      ];
    },
    expected: {
      '<globex>.groups': '-1',
      '<globex>.group_permissions': '-1',
      '<globex>.user_tenant_permissions_groups': '-1',
      '<globex>.user_tenant_permissions': '~1',
    },
  },
  {
    name: 'setGroupPermissions writes routed tenant only',
    mutation: 'setGroupPermissions',
    prepare: async () => {
      for (const tenant of ['public', 'acme', 'globex']) {
        await createGroup(tenant, 'rotating', [VIEW_MEMBER, CHANGE_MEMBER]);
      }
      return [
        {
          query: SET_GROUP_PERMISSIONS,
          variables: { group: 'rotating', permissions: [VIEW_MEMBER, VIEW_GROUP] },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: { '<acme>.groups': '~1', '<acme>.group_permissions': '+1 -1' },
  },
  {
    name: 'addMemberToGroup writes routed tenant only',
    mutation: 'addMemberToGroup',
    prepare: async () => {
      await createMemberOfEverySchema('grouped@x.test');
      return [
        {
          query: ADD_MEMBER_TO_GROUP,
          variables: { email: 'grouped@x.test', group: 'viewers' },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: {
      '<acme>.user_tenant_permissions': '~1',
      '<acme>.user_tenant_permissions_groups': '+1',
    },
  },
  {
    name: 'removeMemberFromGroup writes routed tenant only',
    mutation: 'removeMemberFromGroup',
    prepare: async () => {
      await createMemberOfEverySchema('ungrouped@x.test');
      return [
        {
          query: REMOVE_MEMBER_FROM_GROUP,
          variables: { email: 'ungrouped@x.test', group: 'editors' },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: {
      '<acme>.user_tenant_permissions': '~1',
      '<acme>.user_tenant_permissions_groups': '-1',
    },
  },
  {
    name: 'setMemberFlags writes routed tenant only',
    mutation: 'setMemberFlags',
    prepare: async () => {
      await createMemberOfEverySchema('flagged@x.test');
      return [
        {
          query: SET_MEMBER_FLAGS,
          variables: { email: 'flagged@x.test', isStaff: true },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: { '<acme>.user_tenant_permissions': '~1' },
  },
  {
    name: 'setMemberFlags in public stays public',
    mutation: 'setMemberFlags',
    prepare: async () => {
      await createMemberOfEverySchema('platform-staff@x.test');
      return [
        {
          query: SET_MEMBER_FLAGS,
          variables: { tenant: 'public', email: 'platform-staff@x.test', isStaff: true },
        },
      ];
    },
    expected: { 'public.user_tenant_permissions': '~1' },
  },
  {
    name: 'grantPermission writes routed tenant only',
    mutation: 'grantPermission',
    prepare: async () => {
      await createMemberOfEverySchema('granted@x.test');
      return [
        {
          query: GRANT_PERMISSION,
          variables: { email: 'granted@x.test', permission: ADD_MEMBER },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: {
      '<acme>.user_tenant_permissions': '~1',
      '<acme>.user_tenant_permissions_permissions': '+1',
    },
  },
  {
    name: 'revokePermission writes routed tenant only',
    mutation: 'revokePermission',
    prepare: async () => {
      await createMemberOfEverySchema('revoked@x.test');
      return [
        {
          query: REVOKE_PERMISSION,
          variables: { email: 'revoked@x.test', permission: VIEW_GROUP },
          token: aliceToken,
          host: ACME_HOST,
        },
      ];
    },
    expected: {
      '<acme>.user_tenant_permissions': '~1',
      '<acme>.user_tenant_permissions_permissions': '-1',
    },
  },
  {
    name: 'login writes one session only',
    mutation: 'login',
    prepare: async () => [
      {
        query: LOGIN,
        variables: { email: 'carol@x.test', password: PASSWORD },
        token: '',
        host: ACME_HOST,
      },
    ],
    // The counter of the client address counts the attempt and then takes it back. The counter
    // of the email is written and deleted within the request.
    expected: { 'public.sessions': '+1', 'public.login_attempts': '~1' },
  },
  {
    name: 'logout revokes one session only',
    mutation: 'logout',
    prepare: async () => {
      const token = await t.login('carol@x.test');
      return [{ query: LOGOUT, token, host: GLOBEX_HOST }];
    },
    expected: { 'public.sessions': '~1' },
  },
  {
    name: 'createServiceToken writes public only',
    mutation: 'createServiceToken',
    prepare: async () => [
      { query: CREATE_SERVICE_TOKEN, variables: { name: 'nightly sync', scopes: ['users:read'] } },
    ],
    expected: { 'public.service_tokens': '+1' },
  },
  {
    name: 'tenant-limited token writes public only',
    mutation: 'createServiceToken',
    prepare: async () => [
      {
        query: CREATE_SERVICE_TOKEN,
        variables: { name: 'member sync', scopes: ['members:write'], tenants: ['acme', 'globex'] },
        host: ACME_HOST,
      },
    ],
    expected: { 'public.service_tokens': '+1' },
  },
  {
    name: 'revokeServiceToken writes public only',
    mutation: 'revokeServiceToken',
    prepare: async () => {
      const { id } = await createServiceToken(['users:write']);
      return [{ query: REVOKE_SERVICE_TOKEN, variables: { id } }];
    },
    expected: { 'public.service_tokens': '~1' },
  },
  {
    name: 'createUser by service token',
    mutation: 'createUser',
    // The first request with a token records its use on the token's row.
    prepare: async () => {
      const { token } = await createServiceToken(['users:write']);
      return [
        {
          query: CREATE_USER,
          variables: { input: { email: 'by-token@x.test', password: PASSWORD } },
          token,
        },
      ];
    },
    expected: {
      'public.service_tokens': '~1',
      'public.users': '+1',
      'public.memberships': '+1',
      'public.user_tenant_permissions': '+1',
      'public.audit_events': '+1',
    },
  },
  {
    name: 'addUserToTenant by limited token',
    mutation: 'addUserToTenant',
    prepare: async () => {
      await createUser('token-joiner@x.test');
      const { token } = await createServiceToken(['members:write'], ['acme']);
      return [
        {
          query: ADD_USER_TO_TENANT,
          variables: { input: { userEmail: 'token-joiner@x.test', groups: ['viewers'] } },
          token,
          host: ACME_HOST,
        },
      ];
    },
    expected: {
      'public.service_tokens': '~1',
      'public.memberships': '+1',
      '<acme>.user_tenant_permissions': '+1',
      '<acme>.user_tenant_permissions_groups': '+1',
      'public.audit_events': '+1',
    },
  },
  {
    name: 'changePassword writes public only',
    mutation: 'changePassword',
    // The caller is a member of every schema and sends the change on a tenant host. The change
    // revokes the caller's other session and the pending reset link.
    prepare: async () => {
      const email = 'changer@x.test';
      await createMemberOfEverySchema(email);
      const session = await t.login(email);
      await t.login(email);
      await mailedResetToken(email);
      return [
        {
          query: CHANGE_PASSWORD,
          variables: { current: PASSWORD, next: NEW_PASSWORD },
          token: session,
          host: ACME_HOST,
        },
      ];
    },
    // The check of the current password counts like a login. The email's counter is written and
    // deleted within the request, and the address's counter counts the check and takes it back.
    expected: {
      'public.users': '~1',
      'public.sessions': '~1',
      'public.single_use_tokens': '~1',
      'public.login_attempts': '~1',
    },
  },
  {
    name: 'setPassword writes public only',
    mutation: 'setPassword',
    // Two sessions and a pending reset link are revoked, and a failed login's counter cleared.
    prepare: async () => {
      const email = 'admin-reset@x.test';
      await createMemberOfEverySchema(email);
      await t.login(email);
      await t.login(email);
      await mailedResetToken(email);
      await failLogin(email);
      return [
        {
          query: SET_PASSWORD,
          variables: { email, password: NEW_PASSWORD },
          host: GLOBEX_HOST,
        },
      ];
    },
    expected: {
      'public.users': '~1',
      'public.sessions': '~2',
      'public.single_use_tokens': '~1',
      'public.login_attempts': '-1',
    },
  },
  {
    name: 'requestEmailVerification writes public only',
    mutation: 'requestEmailVerification',
    prepare: async () => {
      const email = 'verify-request@x.test';
      await createMemberOfEverySchema(email);
      return [{ query: REQUEST_VERIFICATION, token: await t.login(email), host: GLOBEX_HOST }];
    },
    // The request adds a counter for the email and counts on the client address's counter.
    expected: { 'public.single_use_tokens': '+1', 'public.login_attempts': '+1 ~1' },
  },
  {
    name: 'verifyEmail writes public only',
    mutation: 'verifyEmail',
    prepare: async () => {
      const email = 'verify-link@x.test';
      await createMemberOfEverySchema(email);
      const token = await mailedVerificationToken(email, await t.login(email));
      return [{ query: VERIFY_EMAIL, variables: { token }, token: '', host: GLOBEX_HOST }];
    },
    expected: { 'public.users': '~1', 'public.single_use_tokens': '~1' },
  },
  {
    name: 'requestPasswordReset writes public only',
    mutation: 'requestPasswordReset',
    prepare: async () => {
      const email = 'forgetful@x.test';
      await createMemberOfEverySchema(email);
      return [{ query: REQUEST_RESET, variables: { email }, token: '', host: ACME_HOST }];
    },
    expected: { 'public.single_use_tokens': '+1', 'public.login_attempts': '+1 ~1' },
  },
  {
    name: 'reset request for unknown email',
    mutation: 'requestPasswordReset',
    prepare: async () => [
      { query: REQUEST_RESET, variables: { email: 'stranger@x.test' }, token: '', host: ACME_HOST },
    ],
    // The request counts like one for an existing user, but issues no token.
    expected: { 'public.login_attempts': '+1 ~1' },
  },
  {
    name: 'resetPassword writes public only',
    mutation: 'resetPassword',
    // The reset uses the link, revokes the session and clears a failed login's counter.
    prepare: async () => {
      const email = 'reset-link@x.test';
      await createMemberOfEverySchema(email);
      await t.login(email);
      await failLogin(email);
      const token = await mailedResetToken(email);
      return [
        {
          query: RESET_PASSWORD,
          variables: { token, next: NEW_PASSWORD },
          token: '',
          host: ACME_HOST,
        },
      ];
    },
    expected: {
      'public.users': '~1',
      'public.sessions': '~1',
      'public.single_use_tokens': '~1',
      'public.login_attempts': '-1',
    },
  },
];

describe('each mutation changes expected tables only', () => {
  it('covers every schema mutation', () => {
    const sdl = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    const mutations = Object.keys(buildSchema(sdl).getMutationType()?.getFields() ?? {});
    const covered = new Set(MUTATION_CASES.map((testCase) => testCase.mutation));

    expect(mutations.filter((mutation) => !covered.has(mutation))).toEqual([]);
  });

  for (const testCase of MUTATION_CASES) {
    it(testCase.name, async () => {
      const requests = await testCase.prepare();
      const before = await snapshotAllSchemas(t);

      const responses: GraphqlResponse[] = [];
      if (testCase.concurrent) {
        responses.push(...(await Promise.all(requests.map(send))));
      } else {
        for (const request of requests) {
          responses.push(await send(request));
        }
      }
      for (const response of responses) {
        expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
      }

      const after = await snapshotAllSchemas(t);
      const diff = diffSnapshots(before, after);
      const summary = summarizeDiff(diff);
      const expected = resolveExpected(testCase.expected, [before, after]);
      const unexpected = Object.keys(summary).filter((table) => !(table in expected));
      expect(summary, `unexpected changes:\n${describeRows(diff, unexpected)}`).toEqual(expected);
    });
  }
});

// Each failure is provoked as late in its operation as the public API allows, so that the
// transaction has written rows before it fails and must roll them back.
const FAILURE_CASES: FailureCase[] = [
  {
    name: 'rejected slug changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => ({
      query: PROVISION,
      variables: { input: { name: 'Bad', slug: 'Acme', ownerEmail: 'carol@x.test' } },
    }),
  },
  {
    name: 'purging active tenant changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => ({
      query: PURGE_TENANT,
      variables: { tenant: 'acme', confirmSlug: 'acme' },
    }),
  },
  {
    name: 'removing primary domain changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => ({
      query: REMOVE_DOMAIN,
      variables: { domain: 'globex.app.test' },
      token: bobToken,
    }),
  },
  {
    name: 'demoting owner changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => ({
      query: SET_MEMBER_FLAGS,
      variables: { tenant: 'acme', email: 'alice@x.test', isStaff: true, isSuperuser: false },
    }),
  },
  {
    name: 'restoring active user changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => ({ query: RESTORE_USER, variables: { email: 'bob@x.test' } }),
  },
  {
    name: 'adding with unknown group changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => ({
      query: ADD_USER_TO_TENANT,
      variables: {
        input: { tenant: 'acme', userEmail: 'carol@x.test', groups: ['editors', 'ghosts'] },
      },
    }),
  },
  {
    name: 'anonymous mutation changes nothing',
    code: 'UNAUTHENTICATED',
    prepare: async () => ({
      query: ADD_USER_TO_TENANT,
      variables: { input: { userEmail: 'carol@x.test', isSuperuser: true } },
      token: '',
      host: ACME_HOST,
    }),
  },
  {
    name: 'wrong password changes nothing',
    code: 'UNAUTHENTICATED',
    expected: { 'public.login_attempts': '+1 ~1' },
    prepare: async () => ({
      query: LOGIN,
      variables: { email: 'carol@x.test', password: 'Wrong-123456789' },
      token: '',
    }),
  },
  {
    name: 'throttled login changes nothing',
    code: 'TOO_MANY_REQUESTS',
    expected: { 'public.login_attempts': '~2' },
    prepare: async () => {
      const attempt: Request = {
        query: LOGIN,
        variables: { email: 'throttled@x.test', password: 'Wrong-123456789' },
        token: '',
      };
      for (let count = 0; count < t.config.loginMaxAttemptsPerEmail; count += 1) {
        expect(errorCode(await send(attempt))).toBe('UNAUTHENTICATED');
      }
      return attempt;
    },
  },
  {
    name: 'non-member self-promotion changes nothing',
    code: 'FORBIDDEN',
    prepare: async () => ({
      query: ADD_USER_TO_TENANT,
      variables: { input: { userEmail: 'carol@x.test', isSuperuser: true } },
      token: await t.login('carol@x.test'),
      host: ACME_HOST,
    }),
  },
  {
    name: 'staff granting superuser changes nothing',
    code: 'FORBIDDEN',
    prepare: async () => ({
      query: ADD_USER_TO_TENANT,
      variables: { input: { tenant: 'acme', userEmail: 'carol@x.test', isSuperuser: true } },
      token: bobToken,
      host: GLOBEX_HOST,
    }),
  },
  {
    name: 'non-owner deleting tenant changes nothing',
    code: 'FORBIDDEN',
    prepare: async () => ({
      query: DELETE_TENANT,
      variables: { tenant: 'globex' },
      token: aliceToken,
      host: GLOBEX_HOST,
    }),
  },
  {
    name: 'removing non-member changes nothing',
    code: 'NOT_FOUND',
    prepare: async () => ({
      query: REMOVE_USER_FROM_TENANT,
      variables: { tenant: 'acme', email: 'carol@x.test' },
    }),
  },
  {
    name: 'granting to non-member changes nothing',
    code: 'NOT_FOUND',
    prepare: async () => ({
      query: GRANT_PERMISSION,
      variables: { tenant: 'globex', email: 'carol@x.test', permission: VIEW_MEMBER },
    }),
  },
  {
    name: 'taken schema name changes nothing',
    code: 'ALREADY_EXISTS',
    // A schema that no tenant owns passes the tenant row's unique index, so the provision
    // fails only at the schema step, after the tenant and domain rows are written.
    prepare: async () => {
      await t.sql('create schema if not exists orphan_schema');
      return {
        query: PROVISION,
        variables: {
          input: {
            name: 'Orphan',
            slug: 'orphan',
            ownerEmail: 'carol@x.test',
            schemaName: 'orphan_schema',
          },
        },
      };
    },
    cleanup: async () => {
      await t.sql('drop schema if exists orphan_schema');
    },
  },
  {
    name: 'adding existing member changes nothing',
    code: 'ALREADY_EXISTS',
    prepare: async () => ({
      query: ADD_USER_TO_TENANT,
      variables: { input: { tenant: 'acme', userEmail: 'bob@x.test', groups: ['viewers'] } },
    }),
  },
  {
    name: 'creating taken group name changes nothing',
    code: 'ALREADY_EXISTS',
    prepare: async () => ({
      query: CREATE_GROUP,
      variables: { tenant: 'acme', name: 'editors', permissions: [VIEW_MEMBER] },
    }),
  },
  {
    name: 'adding taken domain changes nothing',
    code: 'ALREADY_EXISTS',
    prepare: async () => ({
      query: ADD_DOMAIN,
      variables: { tenant: 'acme', domain: 'globex.app.test', isPrimary: true },
    }),
  },
  {
    name: 'transfer to inactive user changes nothing',
    code: 'INACTIVE_USER',
    prepare: async () => {
      await createMemberOfEverySchema('gone@x.test');
      await admin(DELETE_USER, { email: 'gone@x.test' });
      return { query: TRANSFER_OWNERSHIP, variables: { tenant: 'acme', email: 'gone@x.test' } };
    },
  },
  {
    name: 'removing owner changes nothing',
    code: 'OWNER_CANNOT_BE_REMOVED',
    prepare: async () => ({
      query: REMOVE_USER_FROM_TENANT,
      variables: { tenant: 'acme', email: 'alice@x.test' },
    }),
  },
  {
    name: 'deleting public tenant changes nothing',
    code: 'PUBLIC_TENANT_PROTECTED',
    prepare: async () => ({ query: DELETE_TENANT, variables: { tenant: 'public' } }),
  },
  {
    name: 'purging public tenant changes nothing',
    code: 'PUBLIC_TENANT_PROTECTED',
    prepare: async () => ({
      query: PURGE_TENANT,
      variables: { tenant: 'public', confirmSlug: 'public' },
    }),
  },
  {
    name: 'deleting public owner changes nothing',
    code: 'PUBLIC_OWNER_PROTECTED',
    prepare: async () => ({ query: DELETE_USER, variables: { email: ADMIN_EMAIL } }),
  },
  {
    name: 'unknown tenant type changes nothing',
    code: 'INVALID_TENANT_TYPE',
    prepare: async () => ({
      query: PROVISION,
      variables: {
        input: { name: 'Typed', slug: 'typed', ownerEmail: 'carol@x.test', tenantType: 'nope' },
      },
    }),
  },
  {
    name: 'unknown host changes nothing',
    code: 'TENANT_NOT_FOUND',
    prepare: async () => ({
      query: CREATE_GROUP,
      variables: { name: 'strays', permissions: [VIEW_MEMBER] },
      host: 'nowhere.app.test',
    }),
  },
  {
    name: 'malformed host changes nothing',
    code: 'BAD_REQUEST',
    prepare: async () => ({
      query: CREATE_GROUP,
      variables: { name: 'strays', permissions: [VIEW_MEMBER] },
      host: 'acme app.test',
    }),
  },
  {
    name: 'tenant not ready changes nothing',
    code: 'TENANT_NOT_READY',
    prepare: async () => {
      await provisionLikeAcme('stalled');
      await t.sql(`update public.tenants set status = 'FAILED' where slug = 'stalled'`);
      return {
        query: CREATE_GROUP,
        variables: { name: 'strays', permissions: [VIEW_MEMBER] },
        host: 'stalled.app.test',
      };
    },
    cleanup: async () => {
      await t.sql(`update public.tenants set status = 'ACTIVE' where slug = 'stalled'`);
    },
  },
  {
    name: 'failed audit write undoes user deletion',
    code: 'INTERNAL_SERVER_ERROR',
    // The audit rows are the last write of every transaction, so failing them makes the whole
    // multi-schema deletion roll back.
    prepare: async () => {
      const owner = await provisionLikeAcme('undone');
      await admin(ADD_USER_TO_TENANT, {
        input: { tenant: 'acme', userEmail: owner, groups: ['editors'] },
      });
      await rejectAuditInserts();
      return { query: DELETE_USER, variables: { email: owner } };
    },
    cleanup: acceptAuditInserts,
  },
  {
    name: 'failed audit write undoes provisioning',
    code: 'INTERNAL_SERVER_ERROR',
    prepare: async () => {
      await rejectAuditInserts();
      return {
        query: PROVISION,
        variables: {
          input: { name: 'Undone', slug: 'undone-provision', ownerEmail: 'bob@x.test' },
        },
      };
    },
    cleanup: acceptAuditInserts,
  },
  {
    name: 'failed audit write undoes transfer',
    code: 'INTERNAL_SERVER_ERROR',
    prepare: async () => {
      await createMemberOfEverySchema('unheir@x.test');
      await rejectAuditInserts();
      return { query: TRANSFER_OWNERSHIP, variables: { tenant: 'globex', email: 'unheir@x.test' } };
    },
    cleanup: acceptAuditInserts,
  },
  {
    name: 'token for unknown tenant changes nothing',
    code: 'NOT_FOUND',
    prepare: async () => ({
      query: CREATE_SERVICE_TOKEN,
      variables: { name: 'stray sync', scopes: ['members:write'], tenants: ['acme', 'nowhere'] },
    }),
  },
  {
    name: 'non-admin creating token changes nothing',
    code: 'FORBIDDEN',
    prepare: async () => ({
      query: CREATE_SERVICE_TOKEN,
      variables: { name: 'own sync', scopes: ['users:write'] },
      token: aliceToken,
    }),
  },
  {
    name: 'revoking unknown token changes nothing',
    code: 'NOT_FOUND',
    prepare: async () => ({
      query: REVOKE_SERVICE_TOKEN,
      variables: { id: '00000000-0000-4000-8000-000000000000' },
    }),
  },
  {
    name: 'revoked service token changes nothing',
    code: 'UNAUTHENTICATED',
    prepare: async () => {
      const { token, id } = await createServiceToken(['users:write']);
      await admin(REVOKE_SERVICE_TOKEN, { id });
      return {
        query: CREATE_USER,
        variables: { input: { email: 'by-revoked-token@x.test', password: PASSWORD } },
        token,
      };
    },
  },
  {
    name: 'wrong current password changes nothing',
    code: 'BAD_USER_INPUT',
    // A wrong current password counts as a failed login for the caller's email.
    expected: { 'public.login_attempts': '+1 ~1' },
    prepare: async () => {
      const email = 'wrong-current@x.test';
      await createMemberOfEverySchema(email);
      const session = await t.login(email);
      await t.login(email);
      await mailedResetToken(email);
      return {
        query: CHANGE_PASSWORD,
        variables: { current: WRONG_PASSWORD, next: NEW_PASSWORD },
        token: session,
        host: ACME_HOST,
      };
    },
  },
  {
    name: 'short new password changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => {
      const email = 'short-change@x.test';
      await createMemberOfEverySchema(email);
      const session = await t.login(email);
      await t.login(email);
      return {
        query: CHANGE_PASSWORD,
        variables: { current: PASSWORD, next: 'Ab-1' },
        token: session,
        host: ACME_HOST,
      };
    },
  },
  {
    name: 'setting deleted user password changes nothing',
    code: 'INACTIVE_USER',
    prepare: async () => {
      const email = 'deleted-set@x.test';
      await createMemberOfEverySchema(email);
      await admin(DELETE_USER, { email });
      return { query: SET_PASSWORD, variables: { email, password: NEW_PASSWORD } };
    },
  },
  {
    name: 'non-admin setting password changes nothing',
    code: 'FORBIDDEN',
    prepare: async () => ({
      query: SET_PASSWORD,
      variables: { email: 'carol@x.test', password: NEW_PASSWORD },
      token: aliceToken,
    }),
  },
  {
    name: 'throttled reset request changes nothing',
    code: 'TOO_MANY_REQUESTS',
    // The rejected request still counts against the email and the client address.
    expected: { 'public.login_attempts': '~2' },
    prepare: async () => {
      const email = 'reset-spam@x.test';
      await createMemberOfEverySchema(email);
      for (let count = 0; count < t.config.loginMaxAttemptsPerEmail; count += 1) {
        await mustSucceed(t, REQUEST_RESET, { email }, '');
      }
      return { query: REQUEST_RESET, variables: { email }, token: '', host: ACME_HOST };
    },
  },
  {
    name: 'throttled verification request changes nothing',
    code: 'TOO_MANY_REQUESTS',
    expected: { 'public.login_attempts': '~2' },
    prepare: async () => {
      const email = 'verify-spam@x.test';
      await createMemberOfEverySchema(email);
      const session = await t.login(email);
      for (let count = 0; count < t.config.loginMaxAttemptsPerEmail; count += 1) {
        await mailedVerificationToken(email, session);
      }
      return { query: REQUEST_VERIFICATION, token: session, host: GLOBEX_HOST };
    },
  },
  {
    name: 'reused reset token changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => {
      const email = 'reset-twice@x.test';
      await createMemberOfEverySchema(email);
      const token = await mailedResetToken(email);
      await mustSucceed(t, RESET_PASSWORD, { token, next: NEW_PASSWORD }, '');
      await t.login(email, NEW_PASSWORD);
      await failLogin(email);
      return {
        query: RESET_PASSWORD,
        variables: { token, next: 'Third-Pw-13579' },
        token: '',
        host: ACME_HOST,
      };
    },
  },
  {
    name: 'expired reset token changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => {
      const email = 'reset-late@x.test';
      await createMemberOfEverySchema(email);
      await t.login(email);
      await failLogin(email);
      const token = await mailedResetToken(email);
      await expireTokensOf(email);
      return {
        query: RESET_PASSWORD,
        variables: { token, next: NEW_PASSWORD },
        token: '',
        host: ACME_HOST,
      };
    },
  },
  {
    name: 'invalid reset password changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => {
      const email = 'reset-short@x.test';
      await createMemberOfEverySchema(email);
      await t.login(email);
      await failLogin(email);
      const token = await mailedResetToken(email);
      return { query: RESET_PASSWORD, variables: { token, next: 'Ab-1' }, token: '' };
    },
  },
  {
    name: 'deleted user reset changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => {
      const email = 'reset-deleted@x.test';
      await createMemberOfEverySchema(email);
      const token = await mailedResetToken(email);
      await admin(DELETE_USER, { email });
      return { query: RESET_PASSWORD, variables: { token, next: NEW_PASSWORD }, token: '' };
    },
  },
  {
    name: 'failed verification undoes password reset',
    code: 'INTERNAL_SERVER_ERROR',
    // Marking the email verified is the last write of the reset, after the token is used, the
    // password replaced and the sessions revoked, so all of them must roll back.
    prepare: async () => {
      const email = 'reset-undone@x.test';
      await createMemberOfEverySchema(email);
      await t.login(email);
      await failLogin(email);
      const token = await mailedResetToken(email);
      await rejectVerifiedUpdates();
      return {
        query: RESET_PASSWORD,
        variables: { token, next: NEW_PASSWORD },
        token: '',
        host: ACME_HOST,
      };
    },
    cleanup: acceptVerifiedUpdates,
  },
  {
    name: 'reused verification token changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => {
      const email = 'verify-twice@x.test';
      await createMemberOfEverySchema(email);
      const token = await mailedVerificationToken(email, await t.login(email));
      await mustSucceed(t, VERIFY_EMAIL, { token }, '');
      return { query: VERIFY_EMAIL, variables: { token }, token: '', host: GLOBEX_HOST };
    },
  },
  {
    name: 'expired verification token changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => {
      const email = 'verify-late@x.test';
      await createMemberOfEverySchema(email);
      const token = await mailedVerificationToken(email, await t.login(email));
      await expireTokensOf(email);
      return { query: VERIFY_EMAIL, variables: { token }, token: '', host: GLOBEX_HOST };
    },
  },
  {
    name: 'reset token verifying email changes nothing',
    code: 'BAD_USER_INPUT',
    prepare: async () => {
      const email = 'verify-crossed@x.test';
      await createMemberOfEverySchema(email);
      const token = await mailedResetToken(email);
      return { query: VERIFY_EMAIL, variables: { token }, token: '', host: GLOBEX_HOST };
    },
  },
];

async function rejectAuditInserts(): Promise<void> {
  await t.sql(`
    create or replace function public.cross_schema_test_reject() returns trigger
    language plpgsql as $$ begin raise exception 'audit insert rejected by the test'; end; $$;
    create trigger cross_schema_test_reject before insert on public.audit_events
      for each row execute function public.cross_schema_test_reject();`);
}

async function acceptAuditInserts(): Promise<void> {
  await t.sql(`
    drop trigger if exists cross_schema_test_reject on public.audit_events;
    drop function if exists public.cross_schema_test_reject();`);
}

// Rejects the update that marks an email verified, which is the last write of a password reset.
async function rejectVerifiedUpdates(): Promise<void> {
  await t.sql(`
    create or replace function public.cross_schema_test_reject() returns trigger
    language plpgsql as $$ begin raise exception 'verification rejected by the test'; end; $$;
    create trigger cross_schema_test_reject_verified before update on public.users
      for each row when (new.is_verified and not old.is_verified)
      execute function public.cross_schema_test_reject();`);
}

async function acceptVerifiedUpdates(): Promise<void> {
  await t.sql(`
    drop trigger if exists cross_schema_test_reject_verified on public.users;
    drop function if exists public.cross_schema_test_reject();`);
}

describe('failing mutation changes no schema', () => {
  for (const testCase of FAILURE_CASES) {
    it(testCase.name, async () => {
      try {
        const request = await testCase.prepare();
        const before = await snapshotAllSchemas(t);

        const response = await send(request);
        expect(errorCode(response), JSON.stringify(response.body)).toBe(testCase.code);

        const after = await snapshotAllSchemas(t);
        const diff = diffSnapshots(before, after);
        const summary = summarizeDiff(diff);
        const expected = testCase.expected ?? {};
        const unexpected = Object.keys(summary).filter((table) => !(table in expected));
        expect(summary, describeRows(diff, unexpected)).toEqual(expected);
      } finally {
        await testCase.cleanup?.();
      }
    });
  }
});
