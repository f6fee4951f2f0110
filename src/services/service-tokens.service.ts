import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { ServiceToken, Tenant } from '../entities/index.js';
import { AppError, badInput } from '../errors.js';
import { runSql } from '../db/sql.js';
import { SERVICE_TOKEN_SCOPES, requirePlatformAdmin, type ServiceTokenScope } from './access.js';
import { afterCursor, decodeCursor, pageSize, toPage, type Page } from './pagination.js';
import { inTransaction, type Actor, type ServiceContext } from './service-context.js';

/** Prefix of every service token, which distinguishes it from a login token. */
export const SERVICE_TOKEN_PREFIX = 'tus_';

const MAX_NAME_LENGTH = 100;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CreateServiceTokenInput {
  name: string;
  scopes: readonly string[];
  /** Slugs of the only tenants the token may touch; null or undefined for every tenant. */
  tenants?: readonly string[] | null;
}

/** A new service token: the secret, returned only here, and the stored record. */
export interface CreatedServiceToken {
  token: string;
  serviceToken: ServiceToken;
}

/**
 * Creates a service token; platform admins only. The token is returned once and only its
 * SHA-256 hash is stored. An unknown or deleted tenant slug is `NOT_FOUND`.
 */
export async function createServiceToken(
  ctx: ServiceContext,
  input: CreateServiceTokenInput,
): Promise<CreatedServiceToken> {
  await requirePlatformAdmin(ctx);

  const name = validateName(input.name);
  const scopes = validateScopes(input.scopes);
  const tenantIds = await resolveTenantLimits(ctx.em, input.tenants);
  const token = `${SERVICE_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;

  const serviceToken = await inTransaction(ctx, async (tx) => {
    const created = tx.create(ServiceToken, {
      name,
      tokenHash: hashServiceToken(token),
      scopes,
      tenantIds,
      createdById: ctx.actor.kind === 'user' ? ctx.actor.user.id : null,
    });
    await tx.flush();

    return created;
  });

  ctx.logger.info({ serviceTokenId: serviceToken.id, name, scopes }, 'service token created');

  return { token, serviceToken };
}

/**
 * Revokes a service token; platform admins only. The next request with it is
 * `UNAUTHENTICATED`. Revoking a revoked token changes nothing and returns it as it is.
 */
export async function revokeServiceToken(ctx: ServiceContext, id: string): Promise<ServiceToken> {
  await requirePlatformAdmin(ctx);
  if (!UUID.test(id)) {
    throw badInput('id', `"${id}" is not a service token id.`);
  }

  const revoked = await ctx.em.nativeUpdate(
    ServiceToken,
    { id, revokedAt: null },
    { revokedAt: new Date() },
  );
  const token = await ctx.em.findOne(ServiceToken, { id }, { refresh: true });
  if (!token) {
    throw new AppError('NOT_FOUND', `The service token "${id}" was not found.`, { field: 'id' });
  }

  if (revoked > 0) {
    ctx.logger.info({ serviceTokenId: id }, 'service token revoked');
  }

  return token;
}

/** Lists service tokens, oldest first, without their secrets; platform admins only. */
export async function listServiceTokens(
  ctx: ServiceContext,
  options: { first?: number | null; after?: string | null; includeRevoked: boolean },
): Promise<Page<ServiceToken>> {
  await requirePlatformAdmin(ctx);
  const size = pageSize(options.first);
  const cursor = decodeCursor(options.after);

  const scope = options.includeRevoked ? {} : { revokedAt: null };
  // Rows are written through the ORM with millisecond times, which a cursor carries exactly.
  const where = afterCursor(scope, cursor);
  const [rows, totalCount] = await Promise.all([
    ctx.em.find(ServiceToken, where, {
      orderBy: { createdAt: 'asc', id: 'asc' },
      limit: size + 1,
    }),
    ctx.em.count(ServiceToken, scope),
  ]);

  return toPage(rows, size, totalCount, cursor !== undefined, (row) => row);
}

/** Returns true when `token` has the service token prefix. */
export function isServiceTokenFormat(token: string): boolean {
  return token.startsWith(SERVICE_TOKEN_PREFIX);
}

/**
 * Resolves a service token to its actor; null for an unknown or revoked token. `last_used_at`
 * is written at most once a minute per token, so that busy tokens do not turn every request
 * into a write.
 */
export async function authenticateServiceToken(
  em: EntityManager,
  token: string,
): Promise<Actor | null> {
  const found = await em.findOne(ServiceToken, {
    tokenHash: hashServiceToken(token),
    revokedAt: null,
  });
  if (!found) {
    return null;
  }

  await runSql(
    em,
    `update public.service_tokens set last_used_at = now()
     where id = ? and (last_used_at is null or last_used_at < now() - interval '1 minute')`,
    [found.id],
  );

  return { kind: 'service', token: found };
}

function hashServiceToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function validateName(raw: string): string {
  const name = raw.trim();
  if (name === '' || name.length > MAX_NAME_LENGTH) {
    throw badInput('name', `The name must have 1 to ${MAX_NAME_LENGTH} characters.`);
  }

  return name;
}

/** Checks the scopes against `SERVICE_TOKEN_SCOPES`; returns them without repeats, in its order. */
function validateScopes(scopes: readonly string[]): ServiceTokenScope[] {
  const unknown = scopes.filter(
    (scope) => !(SERVICE_TOKEN_SCOPES as readonly string[]).includes(scope),
  );
  if (scopes.length === 0 || unknown.length > 0) {
    throw badInput(
      'scopes',
      `Give one or more scopes of: ${SERVICE_TOKEN_SCOPES.join(', ')}.` +
        (unknown.length > 0 ? ` Unknown: ${unknown.join(', ')}.` : ''),
    );
  }

  return SERVICE_TOKEN_SCOPES.filter((scope) => scopes.includes(scope));
}

/**
 * Turns tenant slugs into tenant ids; null for a token that may touch every tenant. An empty
 * list is rejected, because a list computed empty by mistake would otherwise widen the token.
 */
async function resolveTenantLimits(
  em: EntityManager,
  slugs: readonly string[] | null | undefined,
): Promise<string[] | null> {
  if (slugs == null) {
    return null;
  }
  if (slugs.length === 0) {
    throw badInput('tenants', 'List one or more tenant slugs, or leave tenants null.');
  }

  const requested = [...new Set(slugs.map((slug) => slug.trim().toLowerCase()))];
  const tenants = await em.find(Tenant, { slug: { $in: requested }, isActive: true });
  const missing = requested.filter((slug) => !tenants.some((tenant) => tenant.slug === slug));
  if (missing.length > 0) {
    throw new AppError('NOT_FOUND', `No active tenant with the slug "${missing[0]}".`, {
      field: 'tenants',
    });
  }

  return tenants.map((tenant) => tenant.id);
}
