import pg from 'pg';

import type { GraphqlClient } from '../../examples/walkthrough/graphql-client.js';
import { tenantSchemaSql } from '../../src/db/migrator.js';
import { quoteIdent } from '../../src/db/sql.js';
import { deriveSchemaName } from '../../src/services/tenants.service.js';
import { timed } from './report.js';
import { ADMIN_EMAIL, DOMAIN, OWNER_EMAIL, createOwner, login } from './server.js';

const PROVISION_TENANT = `mutation ($input: ProvisionTenantInput!) {
  provisionTenant(input: $input) { id }
}`;

/** The two ways to provision that the benches compare, each creating the tenant `slug`. */
export interface ProvisioningPaths {
  http: (slug: string) => Promise<void>;
  direct: (slug: string) => Promise<void>;
}

/** Durations in ms of each path, one sample per round. */
export interface RoundSamples {
  httpMs: number[];
  directMs: number[];
}

/**
 * Logs in as the platform admin, creates the owner of every tenant and returns both paths: the
 * `provisionTenant` mutation over HTTP, and the same rows and DDL through `pool`.
 */
export async function preparePaths(
  client: GraphqlClient,
  pool: pg.Pool,
): Promise<ProvisioningPaths> {
  const token = await login(client, ADMIN_EMAIL);
  await createOwner(client, token);
  const ownerId = await queryValue<string>(pool, 'select id from public.users where email = $1', [
    OWNER_EMAIL,
  ]);

  return {
    http: (slug) => provisionOverHttp(client, token, slug),
    direct: (slug) => provisionDirectly(pool, ownerId, slug),
  };
}

/**
 * Runs both paths once per round, alternating which goes first, so that noise and the growing
 * catalog hit both alike. Returns the durations of the rounds after the first `warmup` ones.
 */
export async function runRounds(
  paths: ProvisioningPaths,
  prefix: string,
  rounds: number,
  warmup = 0,
): Promise<RoundSamples> {
  const samples: RoundSamples = { httpMs: [], directMs: [] };
  for (let round = 0; round < rounds; round += 1) {
    const http = () => timed(() => paths.http(`${prefix}-http-${round}`));
    const direct = () => timed(() => paths.direct(`${prefix}-sql-${round}`));
    let httpMs: number;
    let directMs: number;
    if (round % 2 === 0) {
      httpMs = await http();
      directMs = await direct();
    } else {
      directMs = await direct();
      httpMs = await http();
    }

    if (round >= warmup) {
      samples.httpMs.push(httpMs);
      samples.directMs.push(directMs);
    }
  }

  return samples;
}

async function provisionOverHttp(client: GraphqlClient, token: string, slug: string) {
  const response = await client.request({
    query: PROVISION_TENANT,
    variables: { input: { name: slug, slug, ownerEmail: OWNER_EMAIL } },
    host: DOMAIN,
    token,
  });
  if (response.errors) {
    throw new Error(`provisionTenant of ${slug} failed: ${JSON.stringify(response.errors)}`);
  }
}

/** Inserts the rows and creates the schema that `provisionTenant` does, in one transaction. */
async function provisionDirectly(pool: pg.Pool, ownerId: string, slug: string): Promise<void> {
  const schemaName = deriveSchemaName(slug);
  const connection = await pool.connect();
  try {
    await connection.query('begin');
    const tenantId = await queryValue<string>(
      connection,
      `insert into public.tenants (name, slug, schema_name, tenant_type, owner_id)
       values ($1, $2, $3, 'default', $4) returning id`,
      [slug, slug, schemaName, ownerId],
    );
    await connection.query(
      'insert into public.domains (domain, tenant_id, is_primary) values ($1, $2, true)',
      [`${slug}.${DOMAIN}`, tenantId],
    );
    await connection.query(
      `create schema ${quoteIdent(schemaName)};\n${tenantSchemaSql(schemaName)}`,
    );
    await connection.query('insert into public.memberships (tenant_id, user_id) values ($1, $2)', [
      tenantId,
      ownerId,
    ]);
    await connection.query(
      `insert into ${quoteIdent(schemaName)}.user_tenant_permissions
       (user_id, is_staff, is_superuser) values ($1, false, true)`,
      [ownerId],
    );
    await connection.query(
      `insert into public.audit_events (type, tenant_id, user_id, payload)
       values ('tenantProvisioned', $1, $2, $3)`,
      [tenantId, ownerId, { slug, schemaName }],
    );
    await connection.query('commit');
  } catch (error) {
    await connection.query('rollback');
    throw error;
  } finally {
    connection.release();
  }
}

/** Returns the first column of the first row of a query. */
export async function queryValue<T>(
  queryable: pg.Pool | pg.PoolClient,
  text: string,
  params: unknown[] = [],
): Promise<T> {
  const result = await queryable.query(text, params);
  const row = result.rows[0] as Record<string, T> | undefined;
  if (!row) {
    throw new Error(`The query returned no row: ${text}`);
  }

  return Object.values(row)[0];
}
