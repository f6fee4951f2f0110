import { Membership, type Tenant } from '../entities/index.js';
import { runSql } from '../db/sql.js';
import { requireTenantReader } from './access.js';
import { toMemberView, type MemberView } from './memberships.service.js';
import { decodeCursor, pageSize, toPage, type CursorPosition, type Page } from './pagination.js';
import type { ServiceContext } from './service-context.js';

interface MemberRow {
  id: string;
  user_id: string;
  /** Join time cut to whole milliseconds, as ISO 8601 in UTC. */
  joined_at: string;
}

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

  const [rows, totalCount] = await Promise.all([
    loadMemberRows(ctx, tenant, size + 1, cursor),
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

/**
 * Loads up to `limit` memberships after `cursor`, ordered by join time and then id. The order and
 * the comparison use the join time cut to milliseconds, because a cursor carries only
 * milliseconds. Comparing the stored microseconds with it would list a row again on later pages.
 */
async function loadMemberRows(
  ctx: ServiceContext,
  tenant: Tenant,
  limit: number,
  cursor: CursorPosition | undefined,
): Promise<(CursorPosition & { userId: string })[]> {
  const joinedAt = "date_trunc('milliseconds', created_at)";
  const afterCursor = cursor ? `and (${joinedAt}, id) > (?::timestamptz, ?::uuid)` : '';
  const cursorParams = cursor ? [cursor.createdAt.toISOString(), cursor.id] : [];
  const rows = await runSql<MemberRow>(
    ctx.em,
    `select id, user_id,
       to_char(${joinedAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as joined_at
     from public.memberships
     where tenant_id = ? ${afterCursor}
     order by ${joinedAt}, id
     limit ?`,
    [tenant.id, ...cursorParams, limit],
  );

  return rows.map((row) => ({
    id: row.id,
    userId: row.user_id,
    createdAt: new Date(row.joined_at),
  }));
}

function emptyFlags(userId: string) {
  return {
    userId,
    isStaff: false,
    isSuperuser: false,
    groups: [],
    permissions: [],
    directPermissions: [],
    groupPermissions: [],
  };
}
