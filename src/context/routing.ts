import type { EntityManager } from '@mikro-orm/postgresql';

import type { Config } from '../config.js';
import { Domain, Tenant } from '../entities/index.js';
import { AppError } from '../errors.js';
import { DNS_LABEL, normalizeHost } from './host.js';

export interface RouteRequest {
  /** Path of the request without the query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Finds the tenant a request is for: by the subfolder path in subfolder mode, otherwise by the
 * Host header (or `X-Forwarded-Host` behind a trusted proxy).
 */
export async function routeRequest(
  em: EntityManager,
  config: Config,
  request: RouteRequest,
): Promise<Tenant> {
  const domain =
    subfolderSlug(config, request.path) ??
    normalizeHost(hostHeader(config, request), config.stripWww);
  const tenant = await findTenantByDomain(em, domain);
  if (tenant) {
    return requireReady(tenant);
  }

  if (config.showPublicIfNoTenantFound) {
    const publicTenant = await em.findOne(Tenant, { schemaName: 'public' });
    if (publicTenant) {
      return publicTenant;
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

async function findTenantByDomain(em: EntityManager, domain: string): Promise<Tenant | null> {
  const row = await em.findOne(Domain, { domain, isActive: true });
  if (!row) {
    return null;
  }

  return em.findOne(Tenant, { id: row.tenantId, isActive: true });
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
