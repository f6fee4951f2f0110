import type { EntityManager } from '@mikro-orm/postgresql';

import { badInput } from '../errors.js';
import { QUALIFIED_NAME } from './permission-tables.js';
import { quoteIdent, runSql } from './sql.js';

/**
 * SQL for the tenant permissions tables. Every statement names its tenant schema explicitly, so
 * a row is never read from or written to another schema whatever the connection's search_path.
 */

export interface MemberFlags {
  userId: string;
  isStaff: boolean;
  isSuperuser: boolean;
  /** Group names, sorted. */
  groups: string[];
  /** Direct and group permissions as `app_label.codename`, sorted and without repeats. */
  permissions: string[];
  /** Direct permissions only. */
  directPermissions: string[];
  /** Permissions held through groups only. */
  groupPermissions: string[];
}

interface FlagsRow {
  user_id: string;
  is_staff: boolean;
  is_superuser: boolean;
  groups: string[];
  direct_permissions: string[];
  group_permissions: string[];
}

/** Loads the permissions of several users in one tenant schema with one query. */
export async function loadMemberFlags(
  em: EntityManager,
  schemaName: string,
  userIds: readonly string[],
): Promise<Map<string, MemberFlags>> {
  const s = quoteIdent(schemaName);
  const rows = await runSql<FlagsRow>(
    em,
    `select p.user_id, p.is_staff, p.is_superuser,
       array(select g.name from ${s}.user_tenant_permissions_groups ug
             join ${s}.groups g on g.id = ug.group_id
             where ug.user_permissions_id = p.id order by g.name) as groups,
       array(select ${QUALIFIED_NAME}
             from ${s}.user_tenant_permissions_permissions up
             join ${s}.permissions pm on pm.id = up.permission_id
             where up.user_permissions_id = p.id) as direct_permissions,
       array(select ${QUALIFIED_NAME}
             from ${s}.user_tenant_permissions_groups ug
             join ${s}.group_permissions gp on gp.group_id = ug.group_id
             join ${s}.permissions pm on pm.id = gp.permission_id
             where ug.user_permissions_id = p.id) as group_permissions
     from ${s}.user_tenant_permissions p
     where p.user_id = any(?::uuid[])`,
    [userIds],
  );

  return new Map(
    rows.map((row) => [
      row.user_id,
      {
        userId: row.user_id,
        isStaff: row.is_staff,
        isSuperuser: row.is_superuser,
        groups: row.groups,
        directPermissions: [...row.direct_permissions].sort(),
        groupPermissions: [...new Set(row.group_permissions)].sort(),
        permissions: [...new Set([...row.direct_permissions, ...row.group_permissions])].sort(),
      },
    ]),
  );
}

/**
 * Inserts a member's permissions row and links it to the named groups. A group that no longer
 * exists, such as one deleted after the caller checked the names, is `BAD_USER_INPUT` on
 * `groups`, so the caller's transaction rolls back instead of dropping the link.
 */
export async function insertMemberPermissions(
  tx: EntityManager,
  schemaName: string,
  userId: string,
  flags: { isStaff: boolean; isSuperuser: boolean; groups?: readonly string[] },
): Promise<void> {
  const s = quoteIdent(schemaName);
  const [row] = await runSql<{ id: string }>(
    tx,
    `insert into ${s}.user_tenant_permissions (user_id, is_staff, is_superuser)
     values (?, ?, ?) returning id`,
    [userId, flags.isStaff, flags.isSuperuser],
  );

  const groups = [...new Set(flags.groups ?? [])];
  if (groups.length === 0) {
    return;
  }

  const linked = await runSql(
    tx,
    `insert into ${s}.user_tenant_permissions_groups (user_permissions_id, group_id)
     select ?, g.id from ${s}.groups g where g.name = any(?::text[])
     returning group_id`,
    [row.id, groups],
  );
  if (linked.length < groups.length) {
    const missing = await findMissingGroups(tx, schemaName, groups);
    throw badInput('groups', `No group named ${missing.map((g) => `"${g}"`).join(', ')}.`);
  }
}

/** Returns the names among `names` that are not groups of the tenant. */
export async function findMissingGroups(
  em: EntityManager,
  schemaName: string,
  names: readonly string[],
): Promise<string[]> {
  const s = quoteIdent(schemaName);
  const rows = await runSql<{ name: string }>(
    em,
    `select name from ${s}.groups where name = any(?::text[])`,
    [names],
  );
  const found = new Set(rows.map((row) => row.name));

  return names.filter((name) => !found.has(name));
}

/**
 * Deletes a member's permissions row in one tenant schema; its group and permission links go
 * with it through `on delete cascade`. Returns whether a row existed.
 */
export async function deleteMemberPermissions(
  tx: EntityManager,
  schemaName: string,
  userId: string,
): Promise<boolean> {
  const s = quoteIdent(schemaName);
  const rows = await runSql(
    tx,
    `delete from ${s}.user_tenant_permissions where user_id = ? returning id`,
    [userId],
  );

  return rows.length > 0;
}

/**
 * Sets or clears `is_superuser` on a member's permissions row in one tenant schema. Returns
 * whether a row existed.
 */
export async function setMemberSuperuser(
  tx: EntityManager,
  schemaName: string,
  userId: string,
  isSuperuser: boolean,
): Promise<boolean> {
  const s = quoteIdent(schemaName);
  const rows = await runSql(
    tx,
    `update ${s}.user_tenant_permissions set is_superuser = ?, updated_at = now()
     where user_id = ? returning id`,
    [isSuperuser, userId],
  );

  return rows.length > 0;
}
