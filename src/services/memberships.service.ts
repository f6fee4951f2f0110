import type { EntityManager } from '@mikro-orm/postgresql';

import { Membership, type Tenant, type User } from '../entities/index.js';
import { AppError, badInput } from '../errors.js';
import {
  deleteMemberPermissions,
  findMissingGroups,
  insertMemberPermissions,
  type MemberFlags,
} from '../db/member-permissions.js';
import { forbidden } from '../errors.js';
import { isPlatformAdmin, requireTenantManager, requireUser } from './access.js';
import type { DomainEvent } from './events.js';
import { findMembership, requireActiveTenant, requireActiveUser } from './lookups.js';
import { inTransaction, type ServiceContext } from './service-context.js';

export interface AddUserToTenantInput {
  tenant: string;
  userEmail: string;
  isStaff?: boolean;
  isSuperuser?: boolean;
  groups?: string[];
}

/** A member of a tenant as the API shows it: the user, the tenant and the member's rights. */
export interface MemberView {
  user: User;
  tenant: Tenant;
  isStaff: boolean;
  isSuperuser: boolean;
  groups: string[];
  permissions: string[];
}

type RecordEvent = (event: DomainEvent) => void;

/** Adds a user to a tenant: the membership and the tenant permissions row, in one transaction. */
export async function addUserToTenant(
  ctx: ServiceContext,
  input: AddUserToTenantInput,
): Promise<MemberView> {
  const tenant = await requireActiveTenant(ctx.em, input.tenant);
  await requireTenantManager(ctx, tenant, 'tenant_users.add_member');
  await requireSuperuserToGrantSuperuser(ctx, tenant, input.isSuperuser ?? false);

  const user = await requireActiveUser(ctx.em, input.userEmail, 'userEmail');
  const groups = [...new Set(input.groups ?? [])];
  const missing = await findMissingGroups(ctx.em, tenant.schemaName, groups);
  if (missing.length > 0) {
    throw badInput('groups', `No group named ${missing.map((g) => `"${g}"`).join(', ')}.`);
  }

  const flags = {
    isStaff: input.isStaff ?? false,
    isSuperuser: input.isSuperuser ?? false,
    groups,
  };
  await inTransaction(ctx, async (tx, record) => {
    await addMember(tx, tenant, user, flags, record);
  });

  return toMemberView(user, tenant, await requireFlags(ctx, tenant, user));
}

/** Removes a user from one tenant; nothing in any other schema changes. */
export async function removeUserFromTenant(
  ctx: ServiceContext,
  tenantSlug: string,
  userEmail: string,
): Promise<boolean> {
  const tenant = await requireActiveTenant(ctx.em, tenantSlug);
  await requireTenantManager(ctx, tenant, 'tenant_users.remove_member');
  const user = await requireActiveUser(ctx.em, userEmail, 'userEmail');

  await inTransaction(ctx, async (tx, record) => {
    await removeMember(tx, tenant, user, record);
  });

  return true;
}

/** Writes the membership and permissions rows; `ALREADY_EXISTS` when the user is a member. */
export async function addMember(
  tx: EntityManager,
  tenant: Tenant,
  user: User,
  flags: { isStaff: boolean; isSuperuser: boolean; groups?: readonly string[] },
  record: RecordEvent,
): Promise<void> {
  if (await findMembership(tx, tenant.id, user.id)) {
    throw new AppError(
      'ALREADY_EXISTS',
      `"${user.email}" is already a member of "${tenant.slug}".`,
      {
        field: 'userEmail',
      },
    );
  }

  tx.persist(tx.create(Membership, { tenantId: tenant.id, userId: user.id }));
  await tx.flush();
  await insertMemberPermissions(tx, tenant.schemaName, user.id, flags);

  record({
    type: 'userAddedToTenant',
    tenantId: tenant.id,
    userId: user.id,
    payload: {
      tenant: tenant.slug,
      email: user.email,
      isStaff: flags.isStaff,
      isSuperuser: flags.isSuperuser,
    },
  });
}

/**
 * Deletes the membership and the permissions row in the tenant's schema. `NOT_FOUND` when the
 * user is not a member, `OWNER_CANNOT_BE_REMOVED` for the owner.
 */
export async function removeMember(
  tx: EntityManager,
  tenant: Tenant,
  user: User,
  record: RecordEvent,
): Promise<void> {
  if (tenant.ownerId === user.id) {
    throw new AppError(
      'OWNER_CANNOT_BE_REMOVED',
      `"${user.email}" owns "${tenant.slug}"; transfer the ownership first.`,
    );
  }

  await removeMembership(tx, tenant, user, record);
}

/**
 * Removes a membership with no owner check; callers that change the owner use it. The count of
 * deleted membership rows decides `NOT_FOUND`, so a concurrent second removal of the same member
 * waits on the row lock, then finds nothing and rolls back.
 */
export async function removeMembership(
  tx: EntityManager,
  tenant: Tenant,
  user: User,
  record: RecordEvent,
): Promise<void> {
  const deleted = await tx.nativeDelete(Membership, { tenantId: tenant.id, userId: user.id });
  if (deleted === 0) {
    throw new AppError('NOT_FOUND', `"${user.email}" is not a member of "${tenant.slug}".`, {
      field: 'userEmail',
    });
  }

  await deleteMemberPermissions(tx, tenant.schemaName, user.id);

  record({
    type: 'userRemovedFromTenant',
    tenantId: tenant.id,
    userId: user.id,
    payload: { tenant: tenant.slug, email: user.email },
  });
}

async function requireSuperuserToGrantSuperuser(
  ctx: ServiceContext,
  tenant: Tenant,
  grantsSuperuser: boolean,
): Promise<void> {
  if (!grantsSuperuser || (await isPlatformAdmin(ctx))) {
    return;
  }

  const flags = await ctx.loaders.memberFlags(tenant.schemaName, requireUser(ctx).id);
  if (!flags?.isSuperuser) {
    throw forbidden('Only a superuser of the tenant may grant superuser.');
  }
}

async function requireFlags(ctx: ServiceContext, tenant: Tenant, user: User): Promise<MemberFlags> {
  const flags = await ctx.loaders.memberFlags(tenant.schemaName, user.id);
  if (!flags) {
    throw new Error(`Permissions row of ${user.id} missing in ${tenant.schemaName} after commit`);
  }

  return flags;
}

export function toMemberView(user: User, tenant: Tenant, flags: MemberFlags): MemberView {
  return {
    user,
    tenant,
    isStaff: flags.isStaff,
    isSuperuser: flags.isSuperuser,
    groups: flags.groups,
    permissions: flags.permissions,
  };
}
