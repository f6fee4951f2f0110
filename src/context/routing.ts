import type { EntityManager } from '@mikro-orm/postgresql';

import type { Config } from '../config.js';
import { Tenant } from '../entities/index.js';
import { runSql } from '../db/sql.js';
import { AppError } from '../errors.js';
import { DNS_LABEL, normalizeHost } from './host.js';
import { routingCacheOf, type RoutingCache, type TenantRow } from './routing-cache.js';

/** Cache key of the public tenant, for the fallback; no normalised domain is empty. */
const PUBLIC_TENANT_KEY = '';

export interface RouteRequest {
  /** Path of the request without the query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Finds the tenant a request is for: by the subfolder path in subfolder mode, otherwise by the
 * Host header (or `X-Forwarded-Host` behind a trusted proxy). Found tenants come from the
 * routing cache of the ORM behind `em` when one is attached. Each call returns a new entity in
 * `em`, so a request never shares a Tenant instance with another request.
 */
export async function routeRequest(
  em: EntityManager,
  config: Config,
  request: RouteRequest,
): Promise<Tenant> {
  const domain =
    subfolderSlug(config, request.path) ??
    normalizeHost(hostHeader(config, request), config.stripWww);
  const cache = routingCacheOf(em);
  const row = await cachedLookup(cache, domain, () => selectTenantByDomain(em, domain));
  if (row) {
    return requireReady(toTenant(em, row));
  }

  if (config.showPublicIfNoTenantFound) {
    const publicRow = await cachedLookup(cache, PUBLIC_TENANT_KEY, () => selectPublicTenant(em));
    if (publicRow) {
      return toTenant(em, publicRow);
    }
  }

  throw new AppError('TENANT_NOT_FOUND', `No active tenant is served at "${domain}".`);
}

/**
 * Returns the slug of a `/<prefix>/<slug>/graphql` path, or undefined for other paths and outside
 * subfolder mode. The prefix matches in any case, as the Express route does. A slug that is not a
 * DNS label is `BAD_REQUEST`, so that a path cannot reach a domain such as the public one.
 */
export function subfolderSlug(config: Config, path: string): string | undefined {
  if (!config.subfolderPrefix) {
    return undefined;
  }

  const parts = path.split('/').filter(Boolean);
  if (parts.length < 2 || parts[0].toLowerCase() !== config.subfolderPrefix.toLowerCase()) {
    return undefined;
  }

  const slug = decodePathSegment(parts[1]).toLowerCase();
  if (!DNS_LABEL.test(slug)) {
    throw new AppError(
      'BAD_REQUEST',
      `The path segment "${parts[1]}" is not a valid tenant slug. Use a DNS label such as "acme".`,
    );
  }

  return slug;
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AppError(
      'BAD_REQUEST',
      `The path segment "${segment}" has invalid percent-encoding.`,
    );
  }
}

function hostHeader(config: Config, request: RouteRequest): string | undefined {
  const forwarded = first(request.headers['x-forwarded-host']);
  if (config.trustProxy && forwarded) {
    return forwarded.split(',')[0];
  }

  return first(request.headers.host);
}

function cachedLookup(
  cache: RoutingCache | undefined,
  key: string,
  load: () => Promise<TenantRow | null>,
): Promise<TenantRow | null> {
  return cache ? cache.lookup(key, load) : load();
}

/** Reads the active tenant of an active domain, in one statement. */
async function selectTenantByDomain(em: EntityManager, domain: string): Promise<TenantRow | null> {
  const [row] = await runSql<TenantRow>(
    em,
    `select t.* from public.domains d
     join public.tenants t on t.id = d.tenant_id
     where d.domain = ? and d.is_active and t.is_active`,
    [domain],
  );

  return row ?? null;
}

async function selectPublicTenant(em: EntityManager): Promise<TenantRow | null> {
  const [row] = await runSql<TenantRow>(
    em,
    `select * from public.tenants where schema_name = 'public'`,
  );

  return row ?? null;
}

/** Maps a copy of a cached row, so that changes to the entity never reach the cache. */
function toTenant(em: EntityManager, row: TenantRow): Tenant {
  return em.map(Tenant, structuredClone(row));
}

function requireReady(tenant: Tenant): Tenant {
  if (tenant.status !== 'ACTIVE') {
    throw new AppError('TENANT_NOT_READY', `The tenant "${tenant.slug}" is not ready yet.`, {
      status: tenant.status,
    });
  }

  return tenant;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
