import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { Session, User } from '../entities/index.js';
import { AppError, unauthenticated } from '../errors.js';
import { requireUser } from './access.js';
import { findUserByEmail } from './lookups.js';
import { inTransaction, type Actor, type ServiceContext } from './service-context.js';

export interface LoginResult {
  token: string;
  expiresAt: Date;
  user: User;
}

/**
 * Checks an email and password and opens a session. Unknown emails, inactive users, accounts
 * without a password and wrong passwords all cost one bcrypt comparison and get the same error.
 */
export async function login(
  ctx: ServiceContext,
  email: string,
  password: string,
): Promise<LoginResult> {
  const user = await findUserByEmail(ctx.em, email.trim());
  const usable = user !== null && user.isActive ? user.passwordHash : null;
  const valid = await ctx.passwords.verify(password, usable);
  if (!user || !valid) {
    throw new AppError('UNAUTHENTICATED', 'The email or password is wrong.');
  }

  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + ctx.config.sessionTtlSeconds * 1000);
  await inTransaction(ctx, async (tx) => {
    tx.create(Session, { userId: user.id, tokenHash: hashToken(token), expiresAt });
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
 * Resolves a bearer token to its actor. A token that is unknown, expired, revoked or whose user
 * is inactive is `UNAUTHENTICATED`; no token at all is the anonymous actor.
 */
export async function authenticate(em: EntityManager, token: string | undefined): Promise<Actor> {
  if (token === undefined) {
    return { kind: 'anonymous' };
  }

  const session = await em.findOne(Session, {
    tokenHash: hashToken(token),
    revokedAt: null,
    expiresAt: { $gt: new Date() },
  });
  const user = session ? await em.findOne(User, { id: session.userId, isActive: true }) : null;
  if (!session || !user) {
    throw unauthenticated();
  }

  return { kind: 'user', user, sessionId: session.id };
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
