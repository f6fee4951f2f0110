import { Membership, Tenant, type User } from '../entities/index.js';
import { requireUserReader } from './access.js';
import { afterCursor, decodeCursor, pageSize, toPage, type Page } from './pagination.js';
import type { ServiceContext } from './service-context.js';

/** Lists the active tenants `user` belongs to, or owns when `owned` is set. */
export async function listUserTenants(
  ctx: ServiceContext,
  user: User,
  options: { first?: number | null; after?: string | null; owned: boolean },
): Promise<Page<Tenant>> {
  await requireUserReader(ctx, user);
  const size = pageSize(options.first);
  const cursor = decodeCursor(options.after);

  const scope = options.owned
    ? { ownerId: user.id, isActive: true }
    : { isActive: true, id: { $in: await memberTenantIds(ctx, user) } };
  // NOTE: a cursor keeps milliseconds, so a tenant row written by SQL with a microsecond
  // created_at could repeat across pages. Rows written through the API carry milliseconds only.
  const where = afterCursor(scope, cursor);
  const [rows, totalCount] = await Promise.all([
    ctx.em.find(Tenant, where, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: size + 1 }),
    ctx.em.count(Tenant, scope),
  ]);

  return toPage(rows, size, totalCount, cursor !== undefined, (row) => row);
}

async function memberTenantIds(ctx: ServiceContext, user: User): Promise<string[]> {
  const memberships = await ctx.em.find(Membership, { userId: user.id }, { fields: ['tenantId'] });

  return memberships.map((membership) => membership.tenantId);
}
