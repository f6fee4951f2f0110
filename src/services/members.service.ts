import type { EntityDictionary } from '@mikro-orm/core';

import { User, type Tenant } from '../entities/index.js';
import type { MemberFlags } from '../db/member-permissions.js';
import { runSql } from '../db/sql.js';
import { requireTenantReader } from './access.js';
import { toMemberView, type MemberView } from './memberships.service.js';
import { decodeCursor, pageSize, toPage, type CursorPosition, type Page } from './pagination.js';
import type { ServiceContext } from './service-context.js';

/** A row of the page query: the page's counters and membership, then the user's columns. */
type MemberPageRow = EntityDictionary<User> & {
  member_total: number;
  /** Null in the single row of an empty page. */
  membership_id: string | null;
  /** Join time cut to whole milliseconds, as ISO 8601 in UTC. */
  membership_joined_at: string | null;
};

interface MemberRow extends CursorPosition {
  user: User;
}

/**
 * Lists a tenant's members in the order they joined. For a user caller a page costs two
 * statements: one for the memberships, their total count and their users, and one for the
 * permissions of the page's members and of the caller, which the access check also needs. The
 * first statement runs before the access check, and its rows are used only after it passes.
 */
export async function listMembers(
  ctx: ServiceContext,
  tenant: Tenant,
  first: number | null | undefined,
  after: string | null | undefined,
): Promise<Page<MemberView>> {
  const { size, cursor } = await readPageArguments(ctx, tenant, first, after);
  if (ctx.actor.kind !== 'user') {
    // Only a user's access needs a query; every other caller is decided here first.
    await requireTenantReader(ctx, tenant);
  }

  const { rows, totalCount } = await loadMemberRows(ctx, tenant, size + 1, cursor);
  const visible = rows.slice(0, size);
  // Both lists of loads are queued in the same tick, so the loader sends them as one batch.
  const [, flags] = await Promise.all([
    requireTenantReader(ctx, tenant),
    Promise.all(visible.map((row) => ctx.loaders.memberFlags(tenant.schemaName, row.user.id))),
  ]);

  const views = new Map(
    visible.map((row, index) => {
      ctx.loaders.userById.prime(row.user.id, row.user);
      const view = toMemberView(row.user, tenant, flags[index] ?? emptyFlags(row.user.id));

      return [row.id, view];
    }),
  );

  return toPage(rows, size, totalCount, cursor !== undefined, (row) => views.get(row.id)!);
}

/**
 * Reads `first` and `after`. When one of them is invalid, a caller who may not read the tenant
 * still gets `FORBIDDEN` rather than the input error, as the access check comes first.
 */
async function readPageArguments(
  ctx: ServiceContext,
  tenant: Tenant,
  first: number | null | undefined,
  after: string | null | undefined,
): Promise<{ size: number; cursor: CursorPosition | undefined }> {
  try {
    return { size: pageSize(first), cursor: decodeCursor(after) };
  } catch (error) {
    await requireTenantReader(ctx, tenant);
    throw error;
  }
}

/**
 * Loads up to `limit` memberships after `cursor` with their users, ordered by join time and then
 * id, and the tenant's total member count, in one statement and so from one snapshot. The order
 * and the comparison use the join time cut to milliseconds, because a cursor carries only
 * milliseconds. Comparing the stored microseconds with it would list a row again on later pages.
 * The count is joined to the page with `left join ... on true`, so an empty page still returns
 * one row that carries the count.
 */
async function loadMemberRows(
  ctx: ServiceContext,
  tenant: Tenant,
  limit: number,
  cursor: CursorPosition | undefined,
): Promise<{ rows: MemberRow[]; totalCount: number }> {
  const joinedAt = "date_trunc('milliseconds', created_at)";
  const afterCursor = cursor ? `and (${joinedAt}, id) > (?::timestamptz, ?::uuid)` : '';
  const cursorParams = cursor ? [cursor.createdAt.toISOString(), cursor.id] : [];
  const result = await runSql<MemberPageRow>(
    ctx.em,
    `with page as (
       select id, user_id, ${joinedAt} as joined_at
       from public.memberships
       where tenant_id = ? ${afterCursor}
       order by ${joinedAt}, id
       limit ?
     )
     select total.member_total, page.id as membership_id,
       to_char(page.joined_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
         as membership_joined_at,
       u.*
     from (select count(*)::int as member_total from public.memberships where tenant_id = ?) total
     left join (page join public.users u on u.id = page.user_id) on true
     order by page.joined_at, page.id`,
    [tenant.id, ...cursorParams, limit, tenant.id],
  );

  const rows = result
    .filter((row) => row.membership_id !== null)
    .map(({ member_total: _total, membership_id, membership_joined_at, ...user }) => ({
      id: membership_id!,
      createdAt: new Date(membership_joined_at!),
      user: ctx.em.map(User, user),
    }));

  return { rows, totalCount: result[0]?.member_total ?? 0 };
}

function emptyFlags(userId: string): MemberFlags {
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
