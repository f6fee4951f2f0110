import type { EntityManager } from '@mikro-orm/postgresql';

import type { Tenant, User } from '../entities/index.js';
import { AppError, badInput, forbidden } from '../errors.js';
import type { MemberFlags } from '../db/member-permissions.js';
import {
  appLabelExists,
  deleteDirectPermission,
  deleteMemberGroup,
  insertDirectPermission,
  insertMemberGroup,
  lockGroupId,
  lockMemberRow,
  selectPermissionCatalog,
  selectUnknownPermissions,
  updateMemberFlags,
  type MemberRow,
  type PermissionRow,
} from '../db/permission-tables.js';
import { isPlatformAdmin, requireTenantReader, requireUser } from './access.js';
import { requireActiveTenant, requireActiveUser } from './lookups.js';
import { toMemberView, type MemberView } from './memberships.service.js';
import { inTransaction, type ServiceContext } from './service-context.js';

/**
 * Permissions inside one tenant, with the semantics of Django's ModelBackend. An inactive user
 * or a non-member has no permission, a superuser member has every permission of the catalog,
 * and any other member has their direct permissions and those of their groups.
 */

/** Permission a member needs to change members' flags, groups and direct permissions. */
export const CHANGE_MEMBER = 'tenant_users.change_member';
/** Permission a member needs to create, change and delete groups. */
export const CHANGE_GROUP = 'tenant_users.change_group';

/** The caller's rights in one tenant. */
export interface PermissionSummary {
  tenant: Tenant;
  isStaff: boolean;
  isSuperuser: boolean;
  groups: string[];
  /** Direct and group permissions, or the whole catalog for a superuser. */
  allPermissions: string[];
  /** Permissions given by the caller's groups, or the whole catalog for a superuser. */
  groupPermissions: string[];
  /** Permissions granted to the caller directly, as stored. */
  directPermissions: string[];
}

export type { PermissionRow };

/** True when the caller has `permission` in the tenant named by `slug`. */
export async function hasPermission(
  ctx: ServiceContext,
  slug: string,
  permission: string,
): Promise<boolean> {
  const tenant = await requireActiveTenant(ctx.em, slug);
  await requireKnownPermissions(ctx.em, tenant, [permission], 'permission');

  const flags = await callerFlags(ctx, tenant);

  return holds(flags, permission);
}

/** True when the caller has any permission with the app label `appLabel` in the tenant. */
export async function hasModulePermission(
  ctx: ServiceContext,
  slug: string,
  appLabel: string,
): Promise<boolean> {
  const tenant = await requireActiveTenant(ctx.em, slug);
  if (!(await appLabelExists(ctx.em, tenant.schemaName, appLabel))) {
    throw badInput('appLabel', `No permission of the tenant has the app label "${appLabel}".`);
  }

  const flags = await callerFlags(ctx, tenant);
  if (!flags) {
    return false;
  }

  return flags.isSuperuser || flags.permissions.some((name) => name.startsWith(`${appLabel}.`));
}

/** Returns the caller's flags, groups and permissions in the tenant, all empty for non-members. */
export async function myPermissions(ctx: ServiceContext, slug: string): Promise<PermissionSummary> {
  const tenant = await requireActiveTenant(ctx.em, slug);

  const flags = await callerFlags(ctx, tenant);
  if (!flags) {
    return emptySummary(tenant);
  }

  const summary = {
    tenant,
    isStaff: flags.isStaff,
    isSuperuser: flags.isSuperuser,
    groups: flags.groups,
    directPermissions: flags.directPermissions,
  };
  if (flags.isSuperuser) {
    const catalog = await selectPermissionCatalog(ctx.em, tenant.schemaName);
    const names = catalog.map((permission) => permission.qualifiedName);

    return { ...summary, allPermissions: names, groupPermissions: names };
  }

  return {
    ...summary,
    allPermissions: flags.permissions,
    groupPermissions: flags.groupPermissions,
  };
}

/** Returns the tenant's permission catalog to its members and platform staff. */
export async function listPermissions(ctx: ServiceContext, slug: string): Promise<PermissionRow[]> {
  const tenant = await requireActiveTenant(ctx.em, slug);
  await requireTenantReader(ctx, tenant);

  return selectPermissionCatalog(ctx.em, tenant.schemaName);
}

/** Puts a member in a group. A member already in it stays unchanged. */
export async function addMemberToGroup(
  ctx: ServiceContext,
  input: { tenant: string; userEmail: string; group: string },
): Promise<MemberView> {
  return changeMember(ctx, input, async (tx, tenant, member) => {
    const groupId = await requireGroupId(tx, tenant, input.group);
    await insertMemberGroup(tx, tenant.schemaName, member.id, groupId);
  });
}

/** Takes a member out of a group. A member not in it stays unchanged. */
export async function removeMemberFromGroup(
  ctx: ServiceContext,
  input: { tenant: string; userEmail: string; group: string },
): Promise<MemberView> {
  return changeMember(ctx, input, async (tx, tenant, member) => {
    const groupId = await requireGroupId(tx, tenant, input.group);
    await deleteMemberGroup(tx, tenant.schemaName, member.id, groupId);
  });
}

/**
 * Sets a member's staff and superuser flags, and a null flag keeps its value. Changing the
 * superuser flag, in either direction, is for superusers of the tenant and platform admins.
 * The owner stays a superuser.
 */
export async function setMemberFlags(
  ctx: ServiceContext,
  input: {
    tenant: string;
    userEmail: string;
    isStaff: boolean | null;
    isSuperuser: boolean | null;
  },
): Promise<MemberView> {
  return changeMember(ctx, input, async (tx, tenant, member, user) => {
    const changesSuperuser = input.isSuperuser !== null && input.isSuperuser !== member.isSuperuser;
    if (changesSuperuser) {
      await requireTenantSuperuser(ctx, tenant);
    }
    if (input.isSuperuser === false && user.id === tenant.ownerId) {
      throw badInput(
        'isSuperuser',
        `"${user.email}" owns "${tenant.slug}" and stays a superuser; transfer the ownership first.`,
      );
    }

    await updateMemberFlags(tx, tenant.schemaName, member.id, input);
  });
}

/** Grants a member a permission of the catalog directly. */
export async function grantPermission(
  ctx: ServiceContext,
  input: { tenant: string; userEmail: string; permission: string },
): Promise<MemberView> {
  return changeMember(ctx, input, async (tx, tenant, member) => {
    await requireKnownPermissions(tx, tenant, [input.permission], 'permission');
    await insertDirectPermission(tx, tenant.schemaName, member.id, input.permission);
  });
}

/** Revokes a permission granted directly. Permissions from groups stay. */
export async function revokePermission(
  ctx: ServiceContext,
  input: { tenant: string; userEmail: string; permission: string },
): Promise<MemberView> {
  return changeMember(ctx, input, async (tx, tenant, member) => {
    await requireKnownPermissions(tx, tenant, [input.permission], 'permission');
    await deleteDirectPermission(tx, tenant.schemaName, member.id, input.permission);
  });
}

type MemberChange = (
  tx: EntityManager,
  tenant: Tenant,
  member: MemberRow,
  user: User,
) => Promise<void>;

/**
 * Runs `change` on one member's permissions row, locked, in a transaction. The caller needs
 * `tenant_users.change_member` in that tenant, and a user who is not a member is `NOT_FOUND`.
 * Returns the member as stored after the commit.
 */
async function changeMember(
  ctx: ServiceContext,
  input: { tenant: string; userEmail: string },
  change: MemberChange,
): Promise<MemberView> {
  const tenant = await requireActiveTenant(ctx.em, input.tenant);
  await requireTenantPermission(ctx, tenant, CHANGE_MEMBER);
  const user = await requireActiveUser(ctx.em, input.userEmail, 'userEmail');

  await inTransaction(ctx, async (tx) => {
    const member = await lockMemberRow(tx, tenant.schemaName, user.id);
    if (!member) {
      throw new AppError('NOT_FOUND', `"${user.email}" is not a member of "${tenant.slug}".`, {
        field: 'userEmail',
      });
    }
    await change(tx, tenant, member, user);
  });

  const flags = await ctx.loaders.memberFlags(tenant.schemaName, user.id);
  if (!flags) {
    throw new Error(`Permissions row of ${user.id} missing in ${tenant.schemaName} after commit`);
  }

  return toMemberView(user, tenant, flags);
}

/** Loads the caller's rights in the tenant, or null for inactive users, non-members and non-users. */
async function callerFlags(ctx: ServiceContext, tenant: Tenant): Promise<MemberFlags | null> {
  if (ctx.actor.kind !== 'user' || !ctx.actor.user.isActive) {
    return null;
  }

  return ctx.loaders.memberFlags(tenant.schemaName, ctx.actor.user.id);
}

function holds(flags: MemberFlags | null, permission: string): boolean {
  if (!flags) {
    return false;
  }

  return flags.isSuperuser || flags.permissions.includes(permission);
}

/** Lets platform admins, superusers of the tenant and members with `permission` pass. */
export async function requireTenantPermission(
  ctx: ServiceContext,
  tenant: Tenant,
  permission: string,
): Promise<void> {
  if (await isPlatformAdmin(ctx)) {
    return;
  }

  requireUser(ctx);
  if (holds(await callerFlags(ctx, tenant), permission)) {
    return;
  }

  throw forbidden(`You need the permission "${permission}" in the tenant "${tenant.slug}".`);
}

/** Lets platform admins and superusers of the tenant pass. */
async function requireTenantSuperuser(ctx: ServiceContext, tenant: Tenant): Promise<void> {
  if (await isPlatformAdmin(ctx)) {
    return;
  }

  const flags = await callerFlags(ctx, tenant);
  if (!flags?.isSuperuser) {
    throw forbidden(`Only a superuser of the tenant "${tenant.slug}" may change superusers.`);
  }
}

/** Throws `BAD_USER_INPUT` on `field` when a name is not an `app_label.codename` of the catalog. */
export async function requireKnownPermissions(
  em: EntityManager,
  tenant: Tenant,
  names: readonly string[],
  field: string,
): Promise<void> {
  if (names.length === 0) {
    return;
  }

  const unknown = await selectUnknownPermissions(em, tenant.schemaName, names);
  if (unknown.length > 0) {
    const list = unknown.map((name) => `"${name}"`).join(', ');
    throw badInput(
      field,
      `Unknown permission ${list}. Use an "app_label.codename" from the catalog.`,
    );
  }
}

export async function requireGroupId(
  tx: EntityManager,
  tenant: Tenant,
  name: string,
): Promise<string> {
  const groupId = await lockGroupId(tx, tenant.schemaName, name);
  if (!groupId) {
    throw badInput('group', `No group named "${name}" in the tenant "${tenant.slug}".`);
  }

  return groupId;
}

function emptySummary(tenant: Tenant): PermissionSummary {
  return {
    tenant,
    isStaff: false,
    isSuperuser: false,
    groups: [],
    allPermissions: [],
    groupPermissions: [],
    directPermissions: [],
  };
}
