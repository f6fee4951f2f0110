import os from 'node:os';
import pg from 'pg';

import { GraphqlClient } from '../../examples/walkthrough/graphql-client.js';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { tenantSchemaSql } from '../../src/db/migrator.js';
import { quoteIdent } from '../../src/db/sql.js';
import { createLogger } from '../../src/logger.js';
import { runCleanups, type Cleanup } from './database.js';

export const DOMAIN = 'bench.test';
export const ADMIN_EMAIL = 'admin@bench.test';
export const OWNER_EMAIL = 'owner@bench.test';
// Used only on the throwaway bench database.
export const PASSWORD = 'bench-password-1';
const SETUP_BATCH = 20;
/** Tenants between two progress lines of `createTenants`. */
const PROGRESS_EVERY = 1000;
/** Connections that `createTenants` uses at once: one per CPU. */
export const SETUP_CONNECTIONS = os.cpus().length;

/**
 * Starts the server on `databaseUrl` at a free loopback port, with bcrypt cost 4 and silent
 * logs, and registers its close. `worker: false` keeps the provisioning worker off.
 */
export async function startServer(
  databaseUrl: string,
  cleanups: Cleanup[],
  options: { worker?: boolean } = {},
): Promise<App> {
  const config = loadConfig(
    {},
    {
      databaseUrl,
      tenantDomain: DOMAIN,
      publicDomain: DOMAIN,
      adminEmail: ADMIN_EMAIL,
      adminPassword: PASSWORD,
      bcryptCost: 4,
      logLevel: 'silent',
    },
  );
  const app = await createApp({ config, logger: createLogger(config.logLevel), ...options });
  cleanups.push(() => app.close());
  await app.listen(0, '127.0.0.1');

  return app;
}

/** Logs in with the bench password and returns the session token. */
export async function login(client: GraphqlClient, email: string): Promise<string> {
  const response = await client.request<{ login: { token: string } }>({
    query: `mutation ($email: String!, $password: String!) {
      login(email: $email, password: $password) { token }
    }`,
    variables: { email, password: PASSWORD },
    host: DOMAIN,
  });
  const token = response.data?.login.token;
  if (!token) {
    throw new Error(`Login of ${email} failed: ${JSON.stringify(response.errors)}`);
  }

  return token;
}

/** Creates the user that owns every bench tenant, with the platform admin's token. */
export async function createOwner(client: GraphqlClient, adminToken: string): Promise<void> {
  const created = await client.request({
    query: `mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }`,
    variables: { input: { email: OWNER_EMAIL, password: PASSWORD } },
    host: DOMAIN,
    token: adminToken,
  });
  if (created.errors) {
    throw new Error(`Creating ${OWNER_EMAIL} failed: ${JSON.stringify(created.errors)}`);
  }
}

export function tenantSlug(index: number): string {
  return `bench-${String(index).padStart(5, '0')}`;
}

/**
 * Inserts `count` tenants owned by the owner, numbered from `from`, each with its domain,
 * membership, schema and owner permissions. Each transaction creates several tenants, and one
 * transaction per CPU runs at a time, so the pool needs `SETUP_CONNECTIONS` connections.
 */
export async function createTenants(pool: pg.Pool, count: number, from = 0): Promise<void> {
  const owner = await pool.query<{ id: string }>('select id from public.users where email = $1', [
    OWNER_EMAIL,
  ]);
  const ownerId = owner.rows[0].id;
  const end = from + count;
  let next = from;
  let created = 0;
  const createBatches = async () => {
    while (next < end) {
      const start = next;
      const batchEnd = Math.min(start + SETUP_BATCH, end);
      next = batchEnd;
      await createTenantBatch(pool, ownerId, start, batchEnd);
      const before = created;
      created += batchEnd - start;
      if (Math.floor(created / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)) {
        process.stderr.write(`created ${created} of ${count} tenants\n`);
      }
    }
  };

  await Promise.all(Array.from({ length: SETUP_CONNECTIONS }, createBatches));
}

async function createTenantBatch(
  pool: pg.Pool,
  ownerId: string,
  start: number,
  end: number,
): Promise<void> {
  const statements: string[] = [];
  for (let index = start; index < end; index += 1) {
    const slug = tenantSlug(index);
    const schema = slug.replace('-', '_');
    statements.push(
      `with tenant as (
         insert into public.tenants (name, slug, schema_name, tenant_type, owner_id)
         values ('${slug}', '${slug}', '${schema}', 'default', '${ownerId}') returning id
       ), domain as (
         insert into public.domains (domain, tenant_id, is_primary)
         select '${slug}.${DOMAIN}', id, true from tenant
       )
       insert into public.memberships (tenant_id, user_id) select id, '${ownerId}' from tenant;
       create schema ${quoteIdent(schema)};
       ${tenantSchemaSql(schema)}
       insert into ${quoteIdent(schema)}.user_tenant_permissions (user_id, is_staff, is_superuser)
       values ('${ownerId}', false, true);`,
    );
  }
  await pool.query(`begin;\n${statements.join('\n')}\ncommit;`);
}

/** Starts the server once, which migrates `public`, and creates the owner of every tenant. */
export async function migrateAndCreateOwner(databaseUrl: string): Promise<void> {
  const cleanups: Cleanup[] = [];
  try {
    const app = await startServer(databaseUrl, cleanups);
    const client = new GraphqlClient(app.url);
    await createOwner(client, await login(client, ADMIN_EMAIL));
  } finally {
    await runCleanups(cleanups);
  }
}
