import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import { runSql } from '../db/sql.js';
import { badInput, type AppError } from '../errors.js';

/**
 * Single-use tokens sent by email, in `public.single_use_tokens`. A token is 32 random bytes in
 * base64url; only its SHA-256 hash is stored. A token works once, before it expires, and only
 * while its user is active.
 */

export type TokenPurpose = 'verify_email' | 'reset_password';

/**
 * Creates a token for `userId` that expires after `ttlSeconds` and returns it; this is the only
 * time the token exists in clear. Deletes the user's used and expired tokens of that purpose.
 */
export async function issueToken(
  em: EntityManager,
  userId: string,
  purpose: TokenPurpose,
  ttlSeconds: number,
): Promise<string> {
  const token = randomBytes(32).toString('base64url');

  await runSql(
    em,
    `delete from public.single_use_tokens
     where user_id = ? and purpose = ? and (used_at is not null or expires_at <= now());
     insert into public.single_use_tokens (user_id, purpose, token_hash, expires_at)
     values (?, ?, ?, now() + make_interval(secs => ?))`,
    [userId, purpose, userId, purpose, hashToken(token), ttlSeconds],
  );

  return token;
}

/**
 * Returns the id of the user a token was issued to, when the token is unused, unexpired and its
 * user active; null otherwise. Reads only, so a caller can reject a bad token before costly work.
 */
export async function findTokenUser(
  em: EntityManager,
  token: string,
  purpose: TokenPurpose,
): Promise<string | null> {
  const rows = await runSql<{ user_id: string }>(
    em,
    `select t.user_id from public.single_use_tokens t
     join public.users u on u.id = t.user_id and u.is_active
     where t.token_hash = ? and t.purpose = ? and t.used_at is null and t.expires_at > now()`,
    [hashToken(token), purpose],
  );

  return rows[0]?.user_id ?? null;
}

/**
 * Marks a token used and returns its user's id, or null when the token is unknown, used,
 * expired or its user inactive. One atomic update: of two concurrent uses, one gets null.
 */
export async function consumeToken(
  tx: EntityManager,
  token: string,
  purpose: TokenPurpose,
): Promise<string | null> {
  const rows = await runSql<{ user_id: string }>(
    tx,
    `update public.single_use_tokens t set used_at = now(), updated_at = now()
     from public.users u
     where u.id = t.user_id and u.is_active
       and t.token_hash = ? and t.purpose = ? and t.used_at is null and t.expires_at > now()
     returning t.user_id`,
    [hashToken(token), purpose],
  );

  return rows[0]?.user_id ?? null;
}

/**
 * Marks every unused token of a user used, of one purpose or of all. Password changes and
 * resets call this, so that no reset link sent earlier still works.
 */
export async function revokeTokens(
  tx: EntityManager,
  userId: string,
  purpose?: TokenPurpose,
): Promise<void> {
  await runSql(
    tx,
    `update public.single_use_tokens set used_at = now(), updated_at = now()
     where user_id = ? and used_at is null and (?::text is null or purpose = ?)`,
    [userId, purpose ?? null, purpose ?? null],
  );
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Builds the link a mail carries: `<publicUrl>/<path>?token=<token>`. */
export function tokenLink(publicUrl: string, path: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/${path}?token=${encodeURIComponent(token)}`;
}

/** Writes a token lifetime for a mail: whole minutes up to two hours, whole hours above. */
export function describeLifetime(seconds: number): string {
  const minutes = Math.round(seconds / 60);

  return minutes <= 120 ? `${minutes} minutes` : `${Math.round(minutes / 60)} hours`;
}

/** Creates the error for a token that is unknown, used or expired, or whose user is inactive. */
export function invalidToken(): AppError {
  return badInput('token', 'The link is invalid, expired or already used; request a new one.');
}
