import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

import { Membership, Session, Tenant, User } from '../entities/index.js';
import { AppError, badInput } from '../errors.js';
import { deleteMemberPermissions, insertMemberPermissions } from '../db/member-permissions.js';
import { requirePlatformAdmin } from './access.js';
import type { DomainEvent } from './events.js';
import { findMembership, findUserByEmail, requirePublicTenant } from './lookups.js';
import { addMember, removeMember } from './memberships.service.js';
import { revokeTokens } from './single-use-tokens.js';
import { inTransaction, type ServiceContext } from './service-context.js';
import { createUserUnchecked } from './users.service.js';
import { normalizeEmail } from './validation.js';

type RecordEvent = (event: DomainEvent) => void;

/**
 * Reactivates a deleted user. They come back as a plain member of the public tenant only, with
 * no password until one is set, and every old session stays revoked. Platform admins only.
 * `NOT_FOUND` for an unknown email, `BAD_USER_INPUT` for a user who is active.
 */
export async function restoreUser(ctx: ServiceContext, rawEmail: string): Promise<User> {
  await requirePlatformAdmin(ctx);
  const email = normalizeEmail(rawEmail);

  const userId = await inTransaction(ctx, async (tx, record) => {
    const user = await lockUserByEmail(tx, email);
    if (user.isActive) {
      throw badInput(
        'email',
        `The user "${user.email}" is active; only a deleted user can be restored.`,
      );
    }

    const publicTenant = await requirePublicTenant(tx);
    await removeTenantMemberships(tx, user, publicTenant, record);
    await resetPublicMembership(tx, publicTenant, user, record);
    user.isActive = true;
    user.deletedAt = null;
    user.passwordHash = null;
    await tx.nativeUpdate(Session, { userId: user.id, revokedAt: null }, { revokedAt: new Date() });
    await tx.flush();
    await revokeTokens(tx, user.id);

    record({ type: 'userRestored', userId: user.id, payload: { email: user.email } });

    return user.id;
  });

  return ctx.em.findOneOrFail(User, { id: userId }, { refresh: true });
}

/**
 * Creates a verified user who is staff and superuser of the public tenant, that is a platform
 * admin. Allowed to platform admins and to the system actor, which the CLI uses.
 */
export async function createSuperuser(
  ctx: ServiceContext,
  email: string,
  password: string | null,
): Promise<User> {
  await requirePlatformAdmin(ctx);

  return createUserUnchecked(ctx, {
    email,
    password,
    isStaff: true,
    isSuperuser: true,
    isVerified: true,
  });
}

async function lockUserByEmail(tx: EntityManager, email: string): Promise<User> {
  const found = await findUserByEmail(tx, email);
  if (!found) {
    throw new AppError('NOT_FOUND', `The user "${email}" was not found.`, { field: 'email' });
  }

  return tx.findOneOrFail(
    User,
    { id: found.id },
    { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
  );
}

/**
 * Removes the user from every tenant but the public one. Deleting a user already does this, so
 * this finds memberships only when a user was deactivated some other way. A tenant the user
 * still owns stops the restore with `OWNER_CANNOT_BE_REMOVED`.
 */
async function removeTenantMemberships(
  tx: EntityManager,
  user: User,
  publicTenant: Tenant,
  record: RecordEvent,
): Promise<void> {
  const memberships = await tx.find(Membership, {
    userId: user.id,
    tenantId: { $ne: publicTenant.id },
  });
  const tenants = await tx.find(Tenant, { id: { $in: memberships.map((m) => m.tenantId) } });
  for (const tenant of tenants) {
    await removeMember(tx, tenant, user, record);
  }
}

/** Leaves the user a member of the public tenant with no staff, superuser, group or permission. */
async function resetPublicMembership(
  tx: EntityManager,
  publicTenant: Tenant,
  user: User,
  record: RecordEvent,
): Promise<void> {
  // A permissions row left without its membership would make the insert below fail.
  await deleteMemberPermissions(tx, publicTenant.schemaName, user.id);

  if (await findMembership(tx, publicTenant.id, user.id)) {
    await insertMemberPermissions(tx, publicTenant.schemaName, user.id, {
      isStaff: false,
      isSuperuser: false,
    });
    return;
  }

  await addMember(tx, publicTenant, user, { isStaff: false, isSuperuser: false }, record);
}
