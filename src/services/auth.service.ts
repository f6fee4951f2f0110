import { createHash, randomBytes } from 'node:crypto';
import type { EntityDictionary } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

import { runSql } from '../db/sql.js';
import { Session, User } from '../entities/index.js';
import { AppError, badInput, unauthenticated } from '../errors.js';
import { requirePlatformAdmin, requireUser } from './access.js';
import {
  clearAttempts,
  countAttempt,
  loginEmailKey,
  loginKeys,
  refundAttempt,
  type ThrottleKey,
} from './login-throttle.js';
import { findUserByEmail, requireActiveUser } from './lookups.js';
import { checkPasswordPolicy } from './passwords.js';
import { inTransaction, type Actor, type ServiceContext } from './service-context.js';
import { revokeTokens } from './single-use-tokens.js';

export interface LoginResult {
  token: string;
  expiresAt: Date;
  user: User;
}

/**
 * Checks an email and password and opens a session. Unknown emails, inactive users, accounts
 * without a password and wrong passwords all cost one bcrypt comparison and get the same error.
 * Each attempt counts against the email and the client address first, and an attempt over
 * either limit is `TOO_MANY_REQUESTS` without a comparison. A successful login clears the
 * email's counter and takes its attempt back from the address's counter.
 */
export async function login(
  ctx: ServiceContext,
  email: string,
  password: string,
): Promise<LoginResult> {
  const keys = loginKeys(ctx.config, email, ctx.clientAddress);
  await countAttempt(ctx.em, ctx.config, ctx.logger, keys);

  const user = await findUserByEmail(ctx.em, email.trim());
  const usable = user !== null && user.isActive ? user.passwordHash : null;
  const valid = await ctx.passwords.verify(password, usable);
  if (!user || !valid) {
    // The attempted email is not logged: users sometimes type their password into that field.
    ctx.logger.info({ targetUserId: user?.id }, 'login failed: unknown email or wrong password');
    throw new AppError('UNAUTHENTICATED', 'The email or password is wrong.');
  }
  await settleAttempts(ctx, keys);

  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + ctx.config.sessionTtlSeconds * 1000);
  const rehashed = ctx.passwords.needsRehash(usable!) ? await ctx.passwords.hash(password) : null;
  await inTransaction(ctx, async (tx) => {
    tx.create(Session, { userId: user.id, tokenHash: hashToken(token), expiresAt });
    if (rehashed !== null) {
      await tx.nativeUpdate(
        User,
        { id: user.id },
        { passwordHash: rehashed, updatedAt: new Date() },
      );
    }
    await tx.flush();
  });
  ctx.loggedInUserId = user.id;

  return { token, expiresAt, user };
}

/** Revokes the caller's session at once. */
export async function logout(ctx: ServiceContext): Promise<boolean> {
  requireUser(ctx);
  if (ctx.actor.kind !== 'user') {
    return false;
  }

  const sessionId = ctx.actor.sessionId;
  await ctx.em.nativeUpdate(Session, { id: sessionId, revokedAt: null }, { revokedAt: new Date() });

  return true;
}

/**
 * Changes the caller's password after checking the current one, and revokes every other
 * session of the caller; the session of this request stays open. A wrong current password is
 * `BAD_USER_INPUT` on `currentPassword` and counts as a failed login for the caller's email.
 */
export async function changePassword(
  ctx: ServiceContext,
  currentPassword: string,
  newPassword: string,
): Promise<boolean> {
  const caller = requireUser(ctx);
  const sessionId = ctx.actor.kind === 'user' ? ctx.actor.sessionId : undefined;
  checkPasswordPolicy(newPassword, ctx.config.passwordMinLength, 'newPassword');

  const keys = loginKeys(ctx.config, caller.email, ctx.clientAddress);
  await countAttempt(ctx.em, ctx.config, ctx.logger, keys);
  const user = await ctx.em.findOneOrFail(User, { id: caller.id }, { refresh: true });
  if (!(await ctx.passwords.verify(currentPassword, user.passwordHash))) {
    throw badInput('currentPassword', 'The current password is wrong.');
  }
  await settleAttempts(ctx, keys);

  const passwordHash = await ctx.passwords.hash(newPassword);
  await inTransaction(ctx, (tx) => replacePassword(tx, user.id, passwordHash, sessionId));
  ctx.logger.info('password changed; other sessions revoked');

  return true;
}

/**
 * Sets the password of an active user and revokes all of their sessions at once; for platform
 * admins. It also clears the login counter of the user's email.
 */
export async function setPassword(
  ctx: ServiceContext,
  email: string,
  password: string,
): Promise<User> {
  await requirePlatformAdmin(ctx);
  checkPasswordPolicy(password, ctx.config.passwordMinLength, 'password');
  const user = await requireActiveUser(ctx.em, email, 'email');

  const passwordHash = await ctx.passwords.hash(password);
  await inTransaction(ctx, (tx) => replacePassword(tx, user.id, passwordHash));
  await clearAttempts(ctx.em, loginEmailKey(ctx.config, user.email));
  ctx.logger.info({ targetUserId: user.id }, 'password set by an admin; sessions revoked');

  return ctx.em.findOneOrFail(User, { id: user.id }, { refresh: true });
}

/**
 * Stores a new password hash and revokes, inside `tx`, every session of the user except
 * `keepSessionId` and every unused password reset token of the user.
 */
export async function replacePassword(
  tx: EntityManager,
  userId: string,
  passwordHash: string,
  keepSessionId?: string,
): Promise<void> {
  const now = new Date();
  await tx.nativeUpdate(User, { id: userId }, { passwordHash, updatedAt: now });
  await tx.nativeUpdate(
    Session,
    { userId, revokedAt: null, ...(keepSessionId ? { id: { $ne: keepSessionId } } : {}) },
    { revokedAt: now },
  );
  await revokeTokens(tx, userId, 'reset_password');
}

/**
 * Resolves a bearer token to its actor. A token that is unknown, expired, revoked or whose user
 * is inactive is `UNAUTHENTICATED`; no token at all is the anonymous actor.
 */
export async function authenticate(em: EntityManager, token: string | undefined): Promise<Actor> {
  if (token === undefined) {
    return { kind: 'anonymous' };
  }

  // One statement for the session and its user; expiry is checked on the database clock.
  const [row] = await runSql<EntityDictionary<User> & { session_id: string }>(
    em,
    `select s.id as session_id, u.* from public.sessions s
     join public.users u on u.id = s.user_id
     where s.token_hash = ? and s.revoked_at is null and s.expires_at > now() and u.is_active`,
    [hashToken(token)],
  );
  if (!row) {
    throw unauthenticated();
  }

  const { session_id: sessionId, ...user } = row;

  return { kind: 'user', user: em.map(User, user), sessionId };
}

/** Clears the email's counter and takes the attempt back from the client address's counter. */
async function settleAttempts(ctx: ServiceContext, keys: readonly ThrottleKey[]): Promise<void> {
  for (const key of keys) {
    if (key.scope === 'login:email') {
      await clearAttempts(ctx.em, key);
    } else {
      await refundAttempt(ctx.em, key);
    }
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
