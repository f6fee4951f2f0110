import type { FilterQuery } from '@mikro-orm/core';

import { AuditEvent, Tenant } from '../entities/index.js';
import { badInput, forbidden, notFound, unauthenticated } from '../errors.js';
import { isPlatformStaff } from './access.js';
import { encodeCursor, pageSize, toPage, type Page } from './pagination.js';
import type { ServiceContext } from './service-context.js';

/** Largest value of a PostgreSQL `bigint`, the type of the audit row id. */
const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** One audit row with its tenant and users resolved to a slug and emails. */
export interface AuditEventView {
  id: string;
  type: string;
  /** Null when the event has no tenant, or the tenant was purged. */
  tenantSlug: string | null;
  userEmail: string | null;
  /** Null for changes the system made (CLI, first start). */
  actorEmail: string | null;
  payload: Record<string, unknown>;
  createdAt: Date;
}

/**
 * Lists the audit log of a tenant, newest first (by row id, the order in which the rows were
 * written). The log of the public tenant is the log of the whole platform. It lists the events
 * of every tenant and those of no tenant, such as `userCreated`.
 *
 * Platform staff may read the log of any tenant, deleted ones included. A superuser of a tenant
 * may read that tenant's log while it is active. Everyone else is `FORBIDDEN`.
 */
export async function listAuditEvents(
  ctx: ServiceContext,
  slug: string,
  first: number | null | undefined,
  after: string | null | undefined,
): Promise<Page<AuditEventView>> {
  if (ctx.actor.kind === 'anonymous') {
    throw unauthenticated();
  }
  const size = pageSize(first);
  const beforeId = decodeAuditCursor(after);
  const tenant = await requireAuditReader(ctx, slug);

  const scope: FilterQuery<AuditEvent> = tenant.isPublic ? {} : { tenantId: tenant.id };
  const where: FilterQuery<AuditEvent> =
    beforeId === undefined ? scope : { ...scope, id: { $lt: beforeId } };
  const [rows, totalCount] = await Promise.all([
    ctx.em.find(AuditEvent, where, { orderBy: { id: 'desc' }, limit: size + 1 }),
    ctx.em.count(AuditEvent, scope),
  ]);

  const views = await Promise.all(rows.slice(0, size).map((row) => toView(ctx, row)));
  const byId = new Map(views.map((view) => [view.id, view]));

  return toPage(rows, size, totalCount, beforeId !== undefined, (row) => byId.get(String(row.id))!);
}

/** Loads the tenant named by `slug` and checks that the caller may read its audit log. */
async function requireAuditReader(ctx: ServiceContext, slug: string): Promise<Tenant> {
  const tenant = await ctx.em.findOne(Tenant, { slug: slug.trim().toLowerCase() });
  if (!tenant) {
    throw notFound('Tenant', slug);
  }
  if (await isPlatformStaff(ctx)) {
    return tenant;
  }
  // A deleted tenant has no members but the public owner, so for anyone else it does not exist.
  if (!tenant.isActive) {
    throw notFound('Tenant', slug);
  }

  const flags =
    ctx.actor.kind === 'user'
      ? await ctx.loaders.memberFlags(tenant.schemaName, ctx.actor.user.id)
      : null;
  if (!flags?.isSuperuser) {
    throw forbidden(
      `Only a superuser of "${tenant.slug}" or platform staff may read its audit log.`,
    );
  }

  return tenant;
}

async function toView(ctx: ServiceContext, row: AuditEvent): Promise<AuditEventView> {
  const [tenant, user, actor] = await Promise.all([
    row.tenantId ? ctx.loaders.tenantById.load(row.tenantId) : null,
    row.userId ? ctx.loaders.userById.load(row.userId) : null,
    row.actorId ? ctx.loaders.userById.load(row.actorId) : null,
  ]);

  return {
    id: String(row.id),
    type: row.type,
    tenantSlug: tenant?.slug ?? null,
    userEmail: user?.email ?? null,
    actorEmail: actor?.email ?? null,
    payload: row.payload,
    createdAt: row.createdAt,
  };
}

/**
 * Reads the row id out of an `after` cursor. Audit cursors have the form `encodeCursor` writes
 * for other lists, but their id is the row's bigint key rather than a UUID, and only the id
 * orders the list. Any other text is `BAD_USER_INPUT`.
 */
function decodeAuditCursor(cursor: string | null | undefined): string | undefined {
  if (cursor == null) {
    return undefined;
  }

  const [iso, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso);
  const valid =
    rest.length === 0 &&
    id !== undefined &&
    /^[1-9][0-9]{0,18}$/.test(id) &&
    BigInt(id) <= MAX_BIGINT &&
    !Number.isNaN(createdAt.getTime()) &&
    encodeCursor({ createdAt, id }) === cursor;
  if (!valid) {
    throw badInput('after', 'The cursor is invalid; pass an `endCursor` returned by this API.');
  }

  return id;
}
