import { LockMode, raw } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

import { BUILT_IN_RESERVED_SLUGS, type Config } from '../config.js';
import { normalizeHost } from '../context/host.js';
import { Domain, Tenant } from '../entities/index.js';
import { AppError, badInput, forbidden, notFound, unauthenticated } from '../errors.js';
import { isPlatformAdmin, requireUser } from './access.js';
import type { DomainEvent } from './events.js';
import { requireActiveTenant } from './lookups.js';
import { inTransaction, type ServiceContext } from './service-context.js';

export interface AddDomainInput {
  /** Slug of the tenant. */
  tenant: string;
  domain: string;
  isPrimary?: boolean;
  metadata?: Record<string, unknown> | null;
}

type RecordEvent = (event: DomainEvent) => void;

/**
 * Adds a host name to an active tenant; it routes requests as soon as the transaction commits.
 * With `isPrimary`, the tenant's previous primary domain is demoted in the same transaction.
 * Allowed to the tenant's owner and superusers and to platform admins.
 */
export async function addDomain(ctx: ServiceContext, input: AddDomainInput): Promise<Domain> {
  requireCaller(ctx);
  const name = validateNewDomain(input.domain, ctx.config);
  const tenant = await requireActiveTenant(ctx.em, input.tenant);
  await requireDomainManager(ctx, tenant);

  const domain = await inTransaction(ctx, async (tx, record) => {
    const locked = await lockActiveTenant(tx, tenant);
    await requireFreeDomain(tx, name);

    const previous = input.isPrimary ? await demotePrimary(tx, locked.id) : null;
    const created = tx.create(Domain, {
      domain: name,
      tenantId: locked.id,
      isPrimary: input.isPrimary ?? false,
      metadata: input.metadata ?? {},
    });
    await tx.flush();

    record({
      type: 'domainAdded',
      tenantId: locked.id,
      payload: { tenant: locked.slug, domain: name, isPrimary: created.isPrimary },
    });
    if (created.isPrimary) {
      recordPrimaryChange(record, locked, name, previous);
    }

    return created;
  });

  ctx.logger.info({ tenant: tenant.slug, domain: name }, 'domain added');

  return domain;
}

/**
 * Deletes a domain row, so the host name stops routing and becomes free for any tenant. The
 * primary domain is `BAD_USER_INPUT`: make another domain primary first. In subfolder mode the
 * domain equal to the tenant's slug is its path `/<prefix>/<slug>/graphql`, so it is
 * `BAD_USER_INPUT` as well.
 */
export async function removeDomain(ctx: ServiceContext, rawName: string): Promise<boolean> {
  requireCaller(ctx);
  const name = validateHostName(rawName);
  const { tenant } = await requireDomainOfActiveTenant(ctx.em, name);
  await requireDomainManager(ctx, tenant);

  await inTransaction(ctx, async (tx, record) => {
    const locked = await lockActiveTenant(tx, tenant);
    const domain = await reloadDomain(tx, name, locked);
    if (domain.isPrimary) {
      throw badInput(
        'domain',
        `"${name}" is the primary domain of "${locked.slug}"; make another domain primary first.`,
      );
    }
    if (ctx.config.subfolderPrefix && name === locked.slug) {
      throw badInput(
        'domain',
        `"${name}" is the slug of its tenant, which subfolder mode serves under this path.`,
      );
    }

    tx.remove(domain);
    await tx.flush();

    record({
      type: 'domainRemoved',
      tenantId: locked.id,
      payload: { tenant: locked.slug, domain: name },
    });
  });

  ctx.logger.info({ tenant: tenant.slug, domain: name }, 'domain removed');

  return true;
}

/**
 * Makes a domain its tenant's primary domain and demotes the previous one in the same
 * transaction, so the tenant has exactly one primary domain before and after. A domain that is
 * already primary is returned unchanged, with no event.
 */
export async function setPrimaryDomain(ctx: ServiceContext, rawName: string): Promise<Domain> {
  requireCaller(ctx);
  const name = validateHostName(rawName);
  const { tenant } = await requireDomainOfActiveTenant(ctx.em, name);
  await requireDomainManager(ctx, tenant);

  const domain = await inTransaction(ctx, async (tx, record) => {
    const locked = await lockActiveTenant(tx, tenant);
    const target = await reloadDomain(tx, name, locked);
    if (target.isPrimary) {
      return target;
    }

    const previous = await demotePrimary(tx, locked.id);
    target.isPrimary = true;
    await tx.flush();

    recordPrimaryChange(record, locked, name, previous);

    return target;
  });

  ctx.logger.info({ tenant: tenant.slug, domain: name }, 'primary domain set');

  return domain;
}

/**
 * Checks that `value` is a host name exactly as routing looks it up: lowercase, no port, no
 * trailing dot and no spaces. Any other form is `BAD_USER_INPUT`.
 */
export function validateHostName(value: string): string {
  if (routedName(value, false) !== value) {
    throw badInput(
      'domain',
      `"${value}" is not a valid domain. Give a lowercase host name such as "shop.example.com", ` +
        'without port, trailing dot or spaces.',
    );
  }

  return value;
}

/**
 * Checks a domain before it is added. It must pass `validateHostName`, and routing must be able
 * to reach it. While `stripWww` is on, routing drops a leading `www.` before the lookup, so such
 * a name is rejected. In subfolder mode a single-label domain is also a path segment, so it must
 * not be a reserved slug.
 */
export function validateNewDomain(value: string, config: Config): string {
  validateHostName(value);
  if (config.stripWww && routedName(value, true) !== value) {
    throw badInput(
      'domain',
      `Requests for "${value}" route to the name without "www."; add that name instead.`,
    );
  }
  if (config.subfolderPrefix && !value.includes('.') && isReservedSlug(value, config)) {
    throw badInput(
      'domain',
      `"${value}" is a reserved slug, so it cannot be a domain in subfolder mode. ` +
        'Choose another name.',
    );
  }

  return value;
}

/** Returns the name routing looks up for a Host header of `value`, or null if it is invalid. */
function routedName(value: string, stripWww: boolean): string | null {
  try {
    return normalizeHost(value, stripWww);
  } catch (error) {
    if (error instanceof AppError) {
      return null;
    }
    throw error;
  }
}

function isReservedSlug(slug: string, config: Config): boolean {
  const configured = config.reservedSlugs.map((reserved) => reserved.trim().toLowerCase());

  return [...BUILT_IN_RESERVED_SLUGS, ...configured].includes(slug);
}

function requireCaller(ctx: ServiceContext): void {
  if (ctx.actor.kind === 'anonymous') {
    throw unauthenticated();
  }
}

/**
 * Allows the tenant's owner and superusers and platform admins, and raises `FORBIDDEN` for
 * anyone else.
 */
async function requireDomainManager(ctx: ServiceContext, tenant: Tenant): Promise<void> {
  if (await isPlatformAdmin(ctx)) {
    return;
  }

  const user = requireUser(ctx);
  if (user.id === tenant.ownerId) {
    return;
  }
  const flags = await ctx.loaders.memberFlags(tenant.schemaName, user.id);
  if (!flags?.isSuperuser) {
    throw forbidden(`Only the owner or a superuser of "${tenant.slug}" may manage its domains.`);
  }
}

/**
 * Loads a domain and its tenant. Raises `NOT_FOUND` when either is missing or the tenant is
 * deleted.
 */
async function requireDomainOfActiveTenant(
  em: EntityManager,
  name: string,
): Promise<{ domain: Domain; tenant: Tenant }> {
  const domain = await em.findOne(Domain, { [raw('lower(domain)')]: name });
  const tenant = domain && (await em.findOne(Tenant, { id: domain.tenantId, isActive: true }));
  if (!domain || !tenant) {
    throw domainNotFound(name);
  }

  return { domain, tenant };
}

/**
 * Locks the tenant row until the transaction ends, so that concurrent domain changes of one
 * tenant run one after the other and never both demote the same primary domain.
 */
async function lockActiveTenant(tx: EntityManager, tenant: Tenant): Promise<Tenant> {
  const locked = await tx.findOne(
    Tenant,
    { id: tenant.id },
    { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
  );
  if (!locked?.isActive) {
    throw notFound('Tenant', tenant.slug);
  }

  return locked;
}

/** Reads the domain again under the tenant lock, because another request may have removed it. */
async function reloadDomain(tx: EntityManager, name: string, tenant: Tenant): Promise<Domain> {
  const domain = await tx.findOne(
    Domain,
    { [raw('lower(domain)')]: name, tenantId: tenant.id },
    { refresh: true },
  );
  if (!domain) {
    throw domainNotFound(name);
  }

  return domain;
}

/**
 * Compares without regard to case, so that a row stored in another case still counts. A race
 * that passes this check meets the unique index, which also maps to `ALREADY_EXISTS`.
 */
async function requireFreeDomain(tx: EntityManager, name: string): Promise<void> {
  if (await tx.count(Domain, { [raw('lower(domain)')]: name })) {
    throw new AppError('ALREADY_EXISTS', `The domain "${name}" is already taken.`, {
      field: 'domain',
    });
  }
}

/**
 * Clears the primary flag of the tenant's primary domain and writes it at once, because the
 * partial unique index `domains_one_primary_per_tenant` is checked per statement and the demotion
 * must reach the database before the promotion. Returns the demoted name.
 */
async function demotePrimary(tx: EntityManager, tenantId: string): Promise<string | null> {
  const primary = await tx.findOne(Domain, { tenantId, isPrimary: true }, { refresh: true });
  if (!primary) {
    return null;
  }

  primary.isPrimary = false;
  await tx.flush();

  return primary.domain;
}

function recordPrimaryChange(
  record: RecordEvent,
  tenant: Tenant,
  domain: string,
  previousDomain: string | null,
): void {
  record({
    type: 'primaryDomainChanged',
    tenantId: tenant.id,
    payload: { tenant: tenant.slug, domain, previousDomain },
  });
}

function domainNotFound(name: string): AppError {
  return new AppError('NOT_FOUND', `The domain "${name}" was not found.`, { field: 'domain' });
}
