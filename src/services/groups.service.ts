import type { EntityManager } from '@mikro-orm/postgresql';

import type { Tenant } from '../entities/index.js';
import { AppError, badInput } from '../errors.js';
import {
  deleteGroupRow,
  insertGroup,
  replaceGroupPermissions,
  selectGroup,
  selectGroups,
  type GroupRow,
} from '../db/permission-tables.js';
import { requireTenantReader } from './access.js';
import { requireActiveTenant } from './lookups.js';
import {
  CHANGE_GROUP,
  requireGroupId,
  requireKnownPermissions,
  requireTenantPermission,
} from './permissions.service.js';
import { inTransaction, type ServiceContext } from './service-context.js';

/** Django limits a group name to 150 characters. */
const GROUP_NAME_MAX_LENGTH = 150;

export type { GroupRow };

/** Returns the tenant's groups with their permissions to its members and platform staff. */
export async function listGroups(ctx: ServiceContext, slug: string): Promise<GroupRow[]> {
  const tenant = await requireActiveTenant(ctx.em, slug);
  await requireTenantReader(ctx, tenant);

  return selectGroups(ctx.em, tenant.schemaName);
}

/** Creates a group with the given permissions, or throws `ALREADY_EXISTS` for a taken name. */
export async function createGroup(
  ctx: ServiceContext,
  input: { tenant: string; name: string; permissions: readonly string[] },
): Promise<GroupRow> {
  const tenant = await requireActiveTenant(ctx.em, input.tenant);
  await requireTenantPermission(ctx, tenant, CHANGE_GROUP);
  const name = validateGroupName(input.name);
  const permissions = [...new Set(input.permissions)];
  await requireKnownPermissions(ctx.em, tenant, permissions, 'permissions');

  return inTransaction(ctx, async (tx) => {
    const groupId = await insertGroup(tx, tenant.schemaName, name);
    if (!groupId) {
      throw new AppError('ALREADY_EXISTS', `The group "${name}" already exists.`, {
        field: 'name',
      });
    }
    await replaceGroupPermissions(tx, tenant.schemaName, groupId, permissions);

    return requireGroup(tx, tenant, name);
  });
}

/** Deletes a group, so its members lose the permissions it gave them. */
export async function deleteGroup(
  ctx: ServiceContext,
  input: { tenant: string; group: string },
): Promise<boolean> {
  const tenant = await requireActiveTenant(ctx.em, input.tenant);
  await requireTenantPermission(ctx, tenant, CHANGE_GROUP);

  await inTransaction(ctx, async (tx) => {
    const groupId = await requireGroupId(tx, tenant, input.group);
    await deleteGroupRow(tx, tenant.schemaName, groupId);
  });

  return true;
}

/** Replaces the permissions of a group with the given list. */
export async function setGroupPermissions(
  ctx: ServiceContext,
  input: { tenant: string; group: string; permissions: readonly string[] },
): Promise<GroupRow> {
  const tenant = await requireActiveTenant(ctx.em, input.tenant);
  await requireTenantPermission(ctx, tenant, CHANGE_GROUP);
  const permissions = [...new Set(input.permissions)];
  await requireKnownPermissions(ctx.em, tenant, permissions, 'permissions');

  return inTransaction(ctx, async (tx) => {
    const groupId = await requireGroupId(tx, tenant, input.group);
    await replaceGroupPermissions(tx, tenant.schemaName, groupId, permissions);

    return requireGroup(tx, tenant, input.group);
  });
}

async function requireGroup(tx: EntityManager, tenant: Tenant, name: string): Promise<GroupRow> {
  const group = await selectGroup(tx, tenant.schemaName, name);
  if (!group) {
    throw new Error(`Group ${name} missing in ${tenant.schemaName} right after its change`);
  }

  return group;
}

function validateGroupName(raw: string): string {
  const name = raw.trim();
  if (name === '' || [...name].length > GROUP_NAME_MAX_LENGTH) {
    throw badInput('name', `A group name must have 1 to ${GROUP_NAME_MAX_LENGTH} characters.`);
  }

  return name;
}
