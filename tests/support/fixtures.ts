import { expect } from 'vitest';

import { ADMIN_EMAIL, PASSWORD, type TestApp } from './app.js';

export const CREATE_USER = `
  mutation ($input: CreateUserInput!) { createUser(input: $input) { id email isActive } }`;

export const PROVISION_TENANT = `
  mutation ($input: ProvisionTenantInput!) {
    provisionTenant(input: $input) { id slug schemaName tenantType status primaryDomain { domain } }
  }`;

export const ADD_USER_TO_TENANT = `
  mutation ($input: AddUserToTenantInput!) {
    addUserToTenant(input: $input) { isStaff isSuperuser groups user { email } tenant { slug } }
  }`;

export const REMOVE_USER_FROM_TENANT = `
  mutation ($tenant: String, $email: String!) { removeUserFromTenant(tenant: $tenant, userEmail: $email) }`;

export const DELETE_USER = `
  mutation ($email: String!) { deleteUser(email: $email) { email isActive } }`;

/**
 * The shared fixture. Users alice, bob and carol. Tenant `acme` is owned by alice and `globex`
 * by bob. bob is a staff member of acme, alice a plain member of globex, carol in no tenant.
 */
export interface CaseFixture {
  adminToken: string;
  acme: { id: string; schemaName: string };
  globex: { id: string; schemaName: string };
}

export async function seedCaseFixture(t: TestApp): Promise<CaseFixture> {
  const adminToken = await t.login(ADMIN_EMAIL);
  for (const email of ['alice@x.test', 'bob@x.test', 'carol@x.test']) {
    await mustSucceed(t, CREATE_USER, { input: { email, password: PASSWORD } }, adminToken);
  }

  const acme = await provision(t, adminToken, {
    name: 'Acme',
    slug: 'acme',
    ownerEmail: 'alice@x.test',
  });
  const globex = await provision(t, adminToken, {
    name: 'Globex',
    slug: 'globex',
    ownerEmail: 'bob@x.test',
  });
  await mustSucceed(
    t,
    ADD_USER_TO_TENANT,
    { input: { tenant: 'acme', userEmail: 'bob@x.test', isStaff: true } },
    adminToken,
  );
  await mustSucceed(
    t,
    ADD_USER_TO_TENANT,
    { input: { tenant: 'globex', userEmail: 'alice@x.test' } },
    adminToken,
  );

  return { adminToken, acme, globex };
}

export async function provision(
  t: TestApp,
  token: string,
  input: Record<string, unknown>,
): Promise<{ id: string; schemaName: string }> {
  const data = await mustSucceed<{ provisionTenant: { id: string; schemaName: string } }>(
    t,
    PROVISION_TENANT,
    { input },
    token,
  );

  return data.provisionTenant;
}

/** Runs an operation on the public host and fails the test on any error. */
export async function mustSucceed<T = Record<string, unknown>>(
  t: TestApp,
  query: string,
  variables: Record<string, unknown>,
  token: string,
  host?: string,
): Promise<T> {
  const response = await t.gql<T>(query, variables, { token, host });
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();

  return response.body.data as T;
}

/**
 * Everything the database stores about tenants and users, read directly: the schemas, the public
 * rows and every tenant schema's permission rows. Two snapshots compare equal when nothing
 * changed.
 */
export async function databaseSnapshot(t: TestApp): Promise<Record<string, unknown>> {
  const schemas = (
    await t.sql<{ nspname: string }>(
      `select nspname from pg_namespace
       where nspname not like 'pg\\_%' and nspname <> 'information_schema' order by nspname`,
    )
  ).map((row) => row.nspname);

  const snapshot: Record<string, unknown> = { schemas };
  for (const table of ['users', 'tenants', 'domains', 'memberships']) {
    snapshot[table] = await t.sql(`select * from public.${table} order by id`);
  }
  for (const schema of schemas) {
    const hasTable = await t.sql(
      `select 1 from information_schema.tables
       where table_schema = $1 and table_name = 'user_tenant_permissions'`,
      [schema],
    );
    if (hasTable.length > 0) {
      const quoted = `"${schema.replaceAll('"', '""')}"`;
      snapshot[`${schema}.user_tenant_permissions`] = await t.sql(
        `select * from ${quoted}.user_tenant_permissions order by id`,
      );
      snapshot[`${schema}.user_tenant_permissions_groups`] = await t.sql(
        `select * from ${quoted}.user_tenant_permissions_groups order by 1, 2`,
      );
    }
  }

  return snapshot;
}
