import type { EntityManager } from '@mikro-orm/postgresql';

import { Membership, Session, Tenant, User } from '../entities/index.js';
import { AppError, forbidden, notFound } from '../errors.js';
import { insertMemberPermissions } from '../db/member-permissions.js';
import { runSql } from '../db/sql.js';
import {
  inactiveUser,
  isPlatformAdmin,
  requirePlatformAdmin,
  requirePlatformAdminOrScope,
  requireTokenAccess,
  requireTokenCoversMember,
} from './access.js';
import { findUserByEmail, requirePublicTenant } from './lookups.js';
import { removeMember } from './memberships.service.js';
import { revokeTokens } from './single-use-tokens.js';
import { inTransaction, type ServiceContext } from './service-context.js';
import { deleteTenantInTransaction } from './tenants.service.js';
import { normalizeEmail, validatePassword } from './validation.js';

export interface CreateUserInput {
  email: string;
  password?: string | null;
  isStaff?: boolean;
  isSuperuser?: boolean;
  isVerified?: boolean;
  metadata?: Record<string, unknown> | null;
}

/**
 * Creates a user and makes them a member of the public tenant, where `isStaff` and
 * `isSuperuser` make them platform staff or a platform admin.
 */
export async function createUser(ctx: ServiceContext, input: CreateUserInput): Promise<User> {
  await requireUserCreator(ctx, input);

  return createUserUnchecked(ctx, input);
}

/**
 * Platform admins may create any user. A service token needs `users:write` and may not create
 * platform staff or admins. With self sign-up on, anyone else may create an unverified user
 * without platform rights, and an input asking for more is `FORBIDDEN` rather than trimmed.
 * With self sign-up off, anonymous callers get `UNAUTHENTICATED` and others `FORBIDDEN`.
 */
async function requireUserCreator(ctx: ServiceContext, input: CreateUserInput): Promise<void> {
  if (await isPlatformAdmin(ctx)) {
    return;
  }

  const grantsPlatformRights = Boolean(input.isStaff || input.isSuperuser);
  if (ctx.actor.kind === 'service') {
    requireTokenAccess(ctx.actor.token, 'users:write', []);
    if (grantsPlatformRights) {
      throw forbidden('Only a platform admin may create platform staff or admins.');
    }
    return;
  }
  if (!ctx.config.selfSignup) {
    await requirePlatformAdmin(ctx);
  }
  if (grantsPlatformRights || input.isVerified) {
    throw forbidden(
      'Self sign-up creates an unverified user without platform rights; ' +
        'leave isStaff, isSuperuser and isVerified unset.',
    );
  }
}

/** Creates a user without an authorization check, for the CLI and the first start. */
export async function createUserUnchecked(
  ctx: ServiceContext,
  input: CreateUserInput,
): Promise<User> {
  const email = normalizeEmail(input.email);
  if (input.password != null) {
    validatePassword(input.password, ctx.config);
  }
  await requireNewEmail(ctx, email);
  const passwordHash = input.password == null ? null : await ctx.passwords.hash(input.password);

  return inTransaction(ctx, async (tx, record) => {
    const publicTenant = await requirePublicTenant(tx);
    const user = tx.create(User, {
      email,
      passwordHash,
      isVerified: input.isVerified ?? false,
      metadata: input.metadata ?? {},
    });
    await tx.flush();
    tx.create(Membership, { tenantId: publicTenant.id, userId: user.id });
    await tx.flush();
    await insertMemberPermissions(tx, 'public', user.id, {
      isStaff: input.isStaff ?? false,
      isSuperuser: input.isSuperuser ?? false,
    });

    record({ type: 'userCreated', userId: user.id, payload: { email } });

    return user;
  });
}

/**
 * Soft-deletes a user: deletes every tenant they own, removes them from every other tenant,
 * deactivates the account and revokes its sessions, all in one transaction. Allowed to the user
 * themself, platform admins and service tokens with `users:write`. A token limited to listed
 * tenants may delete only a user whose tenants are all on its list.
 */
export async function deleteUser(ctx: ServiceContext, rawEmail: string): Promise<User> {
  const email = normalizeEmail(rawEmail);
  const isSelf =
    ctx.actor.kind === 'user' && ctx.actor.user.email.toLowerCase() === email.toLowerCase();
  if (!isSelf) {
    await requirePlatformAdminOrScope(ctx, 'users:write');
  }

  const user = await findUserByEmail(ctx.em, email);
  if (!user) {
    throw notFound('User', email);
  }
  if (!user.isActive) {
    throw inactiveUser(email);
  }

  await inTransaction(ctx, async (tx, record) => {
    const publicTenant = await requirePublicTenant(tx);
    if (publicTenant.ownerId === user.id) {
      throw new AppError('PUBLIC_OWNER_PROTECTED', "The public tenant's owner cannot be deleted.");
    }

    await lockActiveUser(tx, user);
    await requireTokenCoversMember(ctx, tx, user);
    const managed = await tx.findOneOrFail(User, { id: user.id });
    const owned = await tx.find(Tenant, { ownerId: user.id, isActive: true });
    for (const tenant of owned) {
      await deleteTenantInTransaction(tx, tenant, record);
    }

    const memberships = await tx.find(Membership, { userId: user.id });
    const tenants = await tx.find(Tenant, { id: { $in: memberships.map((m) => m.tenantId) } });
    for (const tenant of tenants) {
      await removeMember(tx, tenant, managed, record);
    }

    managed.isActive = false;
    managed.deletedAt = new Date();
    await tx.nativeUpdate(Session, { userId: user.id, revokedAt: null }, { revokedAt: new Date() });
    await tx.flush();
    await revokeTokens(tx, user.id);

    record({ type: 'userDeleted', userId: user.id, payload: { email: managed.email } });
  });

  return ctx.em.findOneOrFail(User, { id: user.id }, { refresh: true });
}

/**
 * Locks the user's row for the rest of the transaction and checks that it is still active. A
 * concurrent deletion of the same user waits here and then gets `INACTIVE_USER`.
 */
async function lockActiveUser(tx: EntityManager, user: User): Promise<void> {
  const [row] = await runSql<{ is_active: boolean }>(
    tx,
    'select is_active from public.users where id = ? for update',
    [user.id],
  );
  if (!row?.is_active) {
    throw inactiveUser(user.email);
  }
}

async function requireNewEmail(ctx: ServiceContext, email: string): Promise<void> {
  const existing = await findUserByEmail(ctx.em, email);
  if (!existing) {
    return;
  }

  const reason = existing.isActive ? undefined : 'INACTIVE_USER';
  throw new AppError('ALREADY_EXISTS', `A user with the email "${email}" already exists.`, {
    field: 'email',
    ...(reason ? { reason } : {}),
  });
}
