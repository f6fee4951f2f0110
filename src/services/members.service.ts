import { Membership, type Tenant } from '../entities/index.js';
import { requireTenantReader } from './access.js';
import { toMemberView, type MemberView } from './memberships.service.js';
import { decodeCursor, pageSize, toPage, type Page } from './pagination.js';
import type { ServiceContext } from './service-context.js';

/**
 * Lists a tenant's members in the order they joined. Users and permissions come through the
 * request's loaders, so a page costs one query for each of memberships, count, users and rights.
 */
export async function listMembers(
  ctx: ServiceContext,
  tenant: Tenant,
  first: number | null | undefined,
  after: string | null | undefined,
): Promise<Page<MemberView>> {
  await requireTenantReader(ctx, tenant);
  const size = pageSize(first);
  const cursor = decodeCursor(after);

  const where = cursor
    ? {
        tenantId: tenant.id,
        $or: [
          { createdAt: { $gt: cursor.createdAt } },
          { createdAt: cursor.createdAt, id: { $gt: cursor.id } },
        ],
      }
    : { tenantId: tenant.id };
  const [rows, totalCount] = await Promise.all([
    ctx.em.find(Membership, where, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: size + 1 }),
    ctx.em.count(Membership, { tenantId: tenant.id }),
  ]);

  const visible = rows.slice(0, size);
  const users = await Promise.all(visible.map((row) => ctx.loaders.userById.load(row.userId)));
  const flags = await Promise.all(
    visible.map((row) => ctx.loaders.memberFlags(tenant.schemaName, row.userId)),
  );
  const views = new Map(
    visible.map((row, index) => [
      row.id,
      toMemberView(users[index]!, tenant, flags[index] ?? emptyFlags(row.userId)),
    ]),
  );

  return toPage(rows, size, totalCount, cursor !== undefined, (row) => views.get(row.id)!);
}

function emptyFlags(userId: string) {
  return {
    userId,
    isStaff: false,
    isSuperuser: false,
    groups: [],
    permissions: [],
    directPermissions: [],
  };
}
