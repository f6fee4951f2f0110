import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

import type { Config } from '../config.js';
import { runSql } from '../db/sql.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * Attempt counters in `public.login_attempts`, shared by every server process that uses the
 * database. Each key counts attempts in a fixed window of `loginWindowSeconds` that starts with
 * its first attempt. An attempt is counted before the work it guards, in one atomic statement,
 * so concurrent requests cannot slip past the limit together.
 */

// About one call in this many also deletes the counters whose window ended, so the table contains
// roughly the keys seen in the last window instead of every key ever seen.
const PURGE_PROBABILITY = 0.01;

/** Kind of counter: login attempts, or requests for verification and reset mails. */
export type ThrottleScope = 'login:email' | 'login:address' | 'mail:email' | 'mail:address';

export interface ThrottleKey {
  scope: ThrottleScope;
  /** The email address (lowercased) or client address; only its SHA-256 hash is stored. */
  value: string;
  /** Attempts allowed in one window; the next one is rejected. */
  limit: number;
}

/** Returns the counters of a login, or of a password check for a logged-in user. */
export function loginKeys(
  config: Config,
  email: string,
  clientAddress: string | undefined,
): ThrottleKey[] {
  return keysFor('login', config, email, clientAddress);
}

/** Returns the login counter of an email address alone, which password resets clear. */
export function loginEmailKey(config: Config, email: string): ThrottleKey {
  return keysFor('login', config, email, undefined)[0];
}

/** Returns the counters of a request for a verification or reset mail. */
export function mailKeys(
  config: Config,
  email: string,
  clientAddress: string | undefined,
): ThrottleKey[] {
  return keysFor('mail', config, email, clientAddress);
}

function keysFor(
  kind: 'login' | 'mail',
  config: Config,
  email: string,
  clientAddress: string | undefined,
): ThrottleKey[] {
  const keys: ThrottleKey[] = [
    {
      scope: `${kind}:email`,
      value: email.trim().toLowerCase(),
      limit: config.loginMaxAttemptsPerEmail,
    },
  ];
  if (clientAddress !== undefined) {
    keys.push({
      scope: `${kind}:address`,
      value: clientAddress,
      limit: config.loginMaxAttemptsPerAddress,
    });
  }

  return keys;
}

/**
 * Counts one attempt on every key and throws `TOO_MANY_REQUESTS`, with `retryAfter` in seconds
 * in the extensions, when any key is over its limit. Runs outside any transaction, so the count
 * stays when the guarded work fails.
 */
export async function countAttempt(
  em: EntityManager,
  config: Config,
  logger: Logger,
  keys: readonly ThrottleKey[],
): Promise<void> {
  if (Math.random() < PURGE_PROBABILITY) {
    await purgeEndedWindows(em, config);
  }

  const window = config.loginWindowSeconds;
  const values = keys.flatMap((key) => [key.scope, hashKey(key.value)]);
  const rows = await runSql<{ scope: ThrottleScope; attempts: number; retry_after: number }>(
    em.fork(),
    `insert into public.login_attempts as a (scope, key_hash, attempts, window_started_at)
     values ${keys.map(() => '(?, ?, 1, now())').join(', ')}
     on conflict (scope, key_hash) do update set
       attempts = case when a.window_started_at <= now() - make_interval(secs => ?)
         then 1 else a.attempts + 1 end,
       window_started_at = case when a.window_started_at <= now() - make_interval(secs => ?)
         then now() else a.window_started_at end,
       updated_at = now()
     returning a.scope, a.attempts,
       ceil(extract(epoch from a.window_started_at + make_interval(secs => ?) - now()))::int
         as retry_after`,
    [...values, window, window, window],
  );

  const over = rows.filter((row) => {
    const key = keys.find((candidate) => candidate.scope === row.scope);
    return key !== undefined && row.attempts > key.limit;
  });
  if (over.length === 0) {
    return;
  }

  const retryAfter = Math.max(1, ...over.map((row) => row.retry_after));
  logger.warn({ scopes: over.map((row) => row.scope), retryAfter }, 'attempt limit reached');
  throw new AppError(
    'TOO_MANY_REQUESTS',
    `Too many attempts; try again in ${retryAfter} seconds.`,
    {
      retryAfter,
    },
  );
}

/** Takes back one counted attempt, as a successful login does for its client address. */
export async function refundAttempt(em: EntityManager, key: ThrottleKey): Promise<void> {
  await runSql(
    em.fork(),
    `update public.login_attempts set attempts = greatest(attempts - 1, 0), updated_at = now()
     where scope = ? and key_hash = ?`,
    [key.scope, hashKey(key.value)],
  );
}

/** Deletes a key's counter, as a successful login does for its email address. */
export async function clearAttempts(em: EntityManager, key: ThrottleKey): Promise<void> {
  await runSql(em.fork(), 'delete from public.login_attempts where scope = ? and key_hash = ?', [
    key.scope,
    hashKey(key.value),
  ]);
}

/** Deletes counters whose window ended; they would start from 1 on their next attempt anyway. */
export async function purgeEndedWindows(em: EntityManager, config: Config): Promise<number> {
  const rows = await runSql<{ count: string }>(
    em.fork(),
    `with ended as (
       delete from public.login_attempts
       where window_started_at <= now() - make_interval(secs => ?) returning 1
     ) select count(*) from ended`,
    [config.loginWindowSeconds],
  );

  return Number(rows[0]?.count ?? 0);
}

function hashKey(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
