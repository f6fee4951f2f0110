import type { EntityManager } from '@mikro-orm/postgresql';

import { quoteIdent, runSql } from './sql.js';

/**
 * SQL for a tenant's permission catalog, groups, and members' flags, group links and direct
 * permissions. Every statement names the tenant schema, so a row is never read from or written
 * to another schema whatever the connection's search_path. Permissions are named
 * `app_label.codename`.
 *
 * Functions that change a member or a group also set its `updated_at`, but only when a row
 * actually changed.
 */

/** A permission of the tenant's catalog. */
export interface PermissionRow {
  id: string;
  appLabel: string;
  codename: string;
  /** Human-readable name, such as "Can view members". */
  name: string;
  /** `app_label.codename`. */
  qualifiedName: string;
}

/** A group of the tenant with its permissions, sorted. */
export interface GroupRow {
  id: string;
  name: string;
  permissions: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** The locked permissions row of one member. */
export interface MemberRow {
  id: string;
  isStaff: boolean;
  isSuperuser: boolean;
}

/** SQL expression of a permission's `app_label.codename`, for the `permissions` alias `pm`. */
export const QUALIFIED_NAME = `pm.app_label || '.' || pm.codename`;

/** Returns the tenant's permission catalog, sorted by app label and codename. */
export async function selectPermissionCatalog(
  em: EntityManager,
  schemaName: string,
): Promise<PermissionRow[]> {
  const s = quoteIdent(schemaName);

  return runSql<PermissionRow>(
    em,
    `select pm.id, pm.app_label as "appLabel", pm.codename, pm.name,
       ${QUALIFIED_NAME} as "qualifiedName"
     from ${s}.permissions pm order by pm.app_label, pm.codename`,
  );
}

/** Returns the names among `names` (as `app_label.codename`) that are not in the catalog. */
export async function selectUnknownPermissions(
  em: EntityManager,
  schemaName: string,
  names: readonly string[],
): Promise<string[]> {
  const s = quoteIdent(schemaName);
  const rows = await runSql<{ name: string }>(
    em,
    `select ${QUALIFIED_NAME} as name from ${s}.permissions pm
     where ${QUALIFIED_NAME} = any(?::text[])`,
    [names],
  );
  const known = new Set(rows.map((row) => row.name));

  return names.filter((name) => !known.has(name));
}

/** True when the catalog contains at least one permission with this app label. */
export async function appLabelExists(
  em: EntityManager,
  schemaName: string,
  appLabel: string,
): Promise<boolean> {
  const s = quoteIdent(schemaName);
  const rows = await runSql<{ found: boolean }>(
    em,
    `select exists (select 1 from ${s}.permissions where app_label = ?) as found`,
    [appLabel],
  );

  return rows[0].found;
}

/** Returns every group of the tenant with its permissions, sorted by name. */
export async function selectGroups(em: EntityManager, schemaName: string): Promise<GroupRow[]> {
  const rows = await runSql<RawGroupRow>(em, groupsQuery(schemaName, 'true'));

  return rows.map(toGroupRow);
}

/** Returns one group with its permissions by name, or null. */
export async function selectGroup(
  em: EntityManager,
  schemaName: string,
  name: string,
): Promise<GroupRow | null> {
  const rows = await runSql<RawGroupRow>(em, groupsQuery(schemaName, 'g.name = ?'), [name]);

  return rows.length > 0 ? toGroupRow(rows[0]) : null;
}

/** A group row as `groupsQuery` returns it, with times as ISO 8601 text. */
interface RawGroupRow extends Omit<GroupRow, 'createdAt' | 'updatedAt'> {
  createdAt: string;
  updatedAt: string;
}

// Raw SQL returns timestamptz values as PostgreSQL text, which `Date` does not parse reliably,
// so the query writes them through `to_json`, which gives ISO 8601.
function groupsQuery(schemaName: string, condition: string): string {
  const s = quoteIdent(schemaName);

  return `select g.id, g.name,
       to_json(g.created_at) #>> '{}' as "createdAt",
       to_json(g.updated_at) #>> '{}' as "updatedAt",
       array(select ${QUALIFIED_NAME} from ${s}.group_permissions gp
             join ${s}.permissions pm on pm.id = gp.permission_id
             where gp.group_id = g.id order by 1) as permissions
     from ${s}.groups g where ${condition} order by g.name`;
}

function toGroupRow(row: RawGroupRow): GroupRow {
  return { ...row, createdAt: new Date(row.createdAt), updatedAt: new Date(row.updatedAt) };
}

/**
 * Finds a group's id and takes a key-share lock on its row, so that a concurrent deletion waits
 * for this transaction instead of breaking the links it writes. Returns null when there is no
 * such group.
 */
export async function lockGroupId(
  tx: EntityManager,
  schemaName: string,
  name: string,
): Promise<string | null> {
  const s = quoteIdent(schemaName);
  const rows = await runSql<{ id: string }>(
    tx,
    `select id from ${s}.groups where name = ? for key share`,
    [name],
  );

  return rows[0]?.id ?? null;
}

/** Returns the permissions that the named groups give, sorted and without repeats. */
export async function selectPermissionsOfGroups(
  em: EntityManager,
  schemaName: string,
  groupNames: readonly string[],
): Promise<string[]> {
  const s = quoteIdent(schemaName);
  const rows = await runSql<{ name: string }>(
    em,
    `select distinct ${QUALIFIED_NAME} as name from ${s}.groups g
     join ${s}.group_permissions gp on gp.group_id = g.id
     join ${s}.permissions pm on pm.id = gp.permission_id
     where g.name = any(?::text[]) order by 1`,
    [groupNames],
  );

  return rows.map((row) => row.name);
}

/** Inserts a group and returns its id, or null when a group of that name exists. */
export async function insertGroup(
  tx: EntityManager,
  schemaName: string,
  name: string,
): Promise<string | null> {
  const s = quoteIdent(schemaName);
  const rows = await runSql<{ id: string }>(
    tx,
    `insert into ${s}.groups (name) values (?) on conflict (name) do nothing returning id`,
    [name],
  );

  return rows[0]?.id ?? null;
}

/**
 * Replaces a group's permissions with `permissions` (as `app_label.codename`, all in the
 * catalog). The deletion, the insertion and the `updated_at` change run as one statement.
 */
export async function replaceGroupPermissions(
  tx: EntityManager,
  schemaName: string,
  groupId: string,
  permissions: readonly string[],
): Promise<void> {
  const s = quoteIdent(schemaName);
  await runSql(
    tx,
    `with wanted as (
       select pm.id from ${s}.permissions pm where ${QUALIFIED_NAME} = any(?::text[])
     ), removed as (
       delete from ${s}.group_permissions
       where group_id = ? and permission_id not in (select id from wanted)
       returning 1
     ), added as (
       insert into ${s}.group_permissions (group_id, permission_id)
       select ?, id from wanted
       on conflict do nothing
       returning 1
     )
     update ${s}.groups set updated_at = now()
     where id = ? and (exists (select 1 from removed) or exists (select 1 from added))`,
    [permissions, groupId, groupId, groupId],
  );
}

/**
 * Deletes a group, and its permission and member links with it through `on delete cascade`.
 * Members of the group get a new `updated_at`, because their groups change.
 */
export async function deleteGroupRow(
  tx: EntityManager,
  schemaName: string,
  groupId: string,
): Promise<void> {
  const s = quoteIdent(schemaName);
  await runSql(
    tx,
    `update ${s}.user_tenant_permissions set updated_at = now()
     where id in (select user_permissions_id from ${s}.user_tenant_permissions_groups
                  where group_id = ?)`,
    [groupId],
  );
  await runSql(tx, `delete from ${s}.groups where id = ?`, [groupId]);
}

/**
 * Locks a member's permissions row for the rest of the transaction, so that concurrent changes
 * to one member run one after the other. Returns null when the user is not a member.
 */
export async function lockMemberRow(
  tx: EntityManager,
  schemaName: string,
  userId: string,
): Promise<MemberRow | null> {
  const s = quoteIdent(schemaName);
  const rows = await runSql<MemberRow>(
    tx,
    `select id, is_staff as "isStaff", is_superuser as "isSuperuser"
     from ${s}.user_tenant_permissions where user_id = ? for update`,
    [userId],
  );

  return rows[0] ?? null;
}

/** Sets a member's flags. A null flag keeps its value. */
export async function updateMemberFlags(
  tx: EntityManager,
  schemaName: string,
  memberId: string,
  flags: { isStaff: boolean | null; isSuperuser: boolean | null },
): Promise<void> {
  const s = quoteIdent(schemaName);
  await runSql(
    tx,
    `update ${s}.user_tenant_permissions
     set is_staff = coalesce(?::boolean, is_staff),
         is_superuser = coalesce(?::boolean, is_superuser),
         updated_at = now()
     where id = ?
       and (is_staff, is_superuser)
           is distinct from (coalesce(?::boolean, is_staff), coalesce(?::boolean, is_superuser))`,
    [flags.isStaff, flags.isSuperuser, memberId, flags.isStaff, flags.isSuperuser],
  );
}

/** Puts a member in a group. Nothing changes when the member is in it already. */
export async function insertMemberGroup(
  tx: EntityManager,
  schemaName: string,
  memberId: string,
  groupId: string,
): Promise<void> {
  await changeMemberLink(
    tx,
    schemaName,
    memberId,
    (s) => `insert into ${s}.user_tenant_permissions_groups (user_permissions_id, group_id)
     values (?, ?) on conflict do nothing returning 1`,
    [memberId, groupId],
  );
}

/** Takes a member out of a group. Nothing changes when the member is not in it. */
export async function deleteMemberGroup(
  tx: EntityManager,
  schemaName: string,
  memberId: string,
  groupId: string,
): Promise<void> {
  await changeMemberLink(
    tx,
    schemaName,
    memberId,
    (s) => `delete from ${s}.user_tenant_permissions_groups
     where user_permissions_id = ? and group_id = ? returning 1`,
    [memberId, groupId],
  );
}

/** Grants a member one direct permission of the catalog. A repeated grant changes nothing. */
export async function insertDirectPermission(
  tx: EntityManager,
  schemaName: string,
  memberId: string,
  permission: string,
): Promise<void> {
  await changeMemberLink(
    tx,
    schemaName,
    memberId,
    (
      s,
    ) => `insert into ${s}.user_tenant_permissions_permissions (user_permissions_id, permission_id)
     select ?, pm.id from ${s}.permissions pm where ${QUALIFIED_NAME} = ?
     on conflict do nothing returning 1`,
    [memberId, permission],
  );
}

/** Revokes one direct permission of a member. Nothing changes when it was not granted. */
export async function deleteDirectPermission(
  tx: EntityManager,
  schemaName: string,
  memberId: string,
  permission: string,
): Promise<void> {
  await changeMemberLink(
    tx,
    schemaName,
    memberId,
    (s) => `delete from ${s}.user_tenant_permissions_permissions up
     using ${s}.permissions pm
     where up.user_permissions_id = ? and pm.id = up.permission_id and ${QUALIFIED_NAME} = ?
     returning 1`,
    [memberId, permission],
  );
}

/**
 * Runs a statement on a member's link rows, built by `change` from the quoted schema name and
 * ending in `returning 1`. The same statement sets the member's `updated_at` when a link row
 * changed.
 */
async function changeMemberLink(
  tx: EntityManager,
  schemaName: string,
  memberId: string,
  change: (quotedSchema: string) => string,
  params: unknown[],
): Promise<void> {
  const s = quoteIdent(schemaName);
  await runSql(
    tx,
    `with changed as (${change(s)})
     update ${s}.user_tenant_permissions set updated_at = now()
     where id = ? and exists (select 1 from changed)`,
    [...params, memberId],
  );
}
