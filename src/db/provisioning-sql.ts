import type { InstallStep } from './migrations/types.js';
import { tenantSchemaSql } from './migrator.js';
import { quoteIdent, quoteLiteral } from './sql.js';

/**
 * Statements of a provisioning, written as text so that the service sends them in one round
 * trip. Every value is written as a literal with `quoteLiteral`, never spliced in as is.
 */

/** A tenant's primary domain, as the provisioning inserts it. */
export interface PrimaryDomain {
  domain: string;
  tenantId: string;
  metadata: Record<string, unknown>;
}

/** The owner's membership and tenant permissions that a provisioning creates. */
export interface OwnerGrant {
  tenantId: string;
  ownerId: string;
  isStaff: boolean;
  isSuperuser: boolean;
}

export function primaryDomainSql(domain: PrimaryDomain): string {
  return (
    'insert into public.domains (domain, tenant_id, is_primary, metadata) values ' +
    `(${quoteLiteral(domain.domain)}, ${uuid(domain.tenantId)}, true, ` +
    `${quoteLiteral(JSON.stringify(domain.metadata))}::jsonb);`
  );
}

/**
 * Returns a statement that raises SQL state `42P06` (duplicate_schema) when a schema of that name
 * exists in any case, because `CREATE SCHEMA` alone accepts `acme` next to a schema named `Acme`.
 */
export function freeSchemaCheckSql(schemaName: string): string {
  return `do $free_schema$ begin
  if exists (select 1 from pg_namespace where lower(nspname) = lower(${quoteLiteral(schemaName)})) then
    raise exception using errcode = 'duplicate_schema',
      message = format('schema "%s" already exists', ${quoteLiteral(schemaName)});
  end if;
end $free_schema$;`;
}

/**
 * Returns the statements that create the schema with the tables of `steps`, the owner's
 * membership and the owner's tenant permissions. An existing membership is kept, so a job that
 * runs again does no harm.
 */
export function tenantSchemaWithOwnerSql(
  schemaName: string,
  steps: readonly InstallStep[],
  grant: OwnerGrant,
): string {
  const schema = quoteIdent(schemaName);

  return [
    `create schema ${schema};`,
    tenantSchemaSql(schemaName, steps),
    'insert into public.memberships (tenant_id, user_id) ' +
      `values (${uuid(grant.tenantId)}, ${uuid(grant.ownerId)}) ` +
      'on conflict (tenant_id, user_id) do nothing;',
    `insert into ${schema}.user_tenant_permissions (user_id, is_staff, is_superuser) ` +
      `values (${uuid(grant.ownerId)}, ${grant.isStaff === true}, ${grant.isSuperuser === true});`,
  ].join('\n');
}

function uuid(value: string): string {
  return `${quoteLiteral(value)}::uuid`;
}
