/**
 * The readiness check behind `/readyz`. It passes when the database responds and the ledger
 * `public.platform_migrations` records every `public` migration that this code ships.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Request, RequestHandler, Response } from 'express';

import { publicMigrations } from '../db/migrations/public/index.js';
import type { Migration } from '../db/migrations/types.js';
import { runSql } from '../db/sql.js';
import type { Logger } from '../logger.js';

/**
 * How long the check waits for the database, in milliseconds. A pool whose connections are all
 * busy for this long cannot serve requests either, so the timeout also reports not ready.
 */
export const READINESS_TIMEOUT_MS = 5_000;

/** SQL state of a missing table: the ledger does not exist before the first migration. */
const UNDEFINED_TABLE = '42P01';

export type NotReadyReason = 'DATABASE_UNREACHABLE' | 'MIGRATIONS_PENDING';

export type Readiness =
  | {
      ready: true;
      /**
       * Ledger entries this code does not know, written by a newer version of the server. They
       * do not make the server unready, because during a rolling deployment the older processes
       * keep serving until they are replaced.
       */
      unknownMigrations: string[];
    }
  | { ready: false; reason: 'MIGRATIONS_PENDING'; pendingMigrations: string[] }
  | { ready: false; reason: 'DATABASE_UNREACHABLE'; error: unknown };

/** Compares the ledger of `public` with `migrations`, the ones this code applies. */
export async function checkReadiness(
  orm: MikroORM,
  migrations: readonly Migration[] = publicMigrations,
  timeoutMs = READINESS_TIMEOUT_MS,
): Promise<Readiness> {
  let applied: Set<string>;
  try {
    applied = new Set(await withTimeout(readLedger(orm), timeoutMs));
  } catch (error) {
    return { ready: false, reason: 'DATABASE_UNREACHABLE', error };
  }

  const known = new Set(migrations.map((migration) => migration.name));
  const pendingMigrations = [...known].filter((name) => !applied.has(name));
  if (pendingMigrations.length > 0) {
    return { ready: false, reason: 'MIGRATIONS_PENDING', pendingMigrations };
  }

  return { ready: true, unknownMigrations: [...applied].filter((name) => !known.has(name)) };
}

/**
 * Creates the `/readyz` handler: 200 when ready, 503 with the reason otherwise. It logs when the
 * state changes, not on every probe, so that a database outage does not flood the log.
 */
export function readinessHandler(orm: MikroORM, logger: Logger): RequestHandler {
  let lastReason: NotReadyReason | 'READY' | undefined;

  return async (_req: Request, res: Response) => {
    const readiness = await checkReadiness(orm);
    const reason = readiness.ready ? 'READY' : readiness.reason;
    if (reason !== lastReason) {
      logReadinessChange(logger, readiness);
      lastReason = reason;
    }

    res.set('Cache-Control', 'no-store');
    if (readiness.ready) {
      res.json({ status: 'ready', unknownMigrations: readiness.unknownMigrations });
    } else if (readiness.reason === 'MIGRATIONS_PENDING') {
      res.status(503).json({
        status: 'unavailable',
        reason: readiness.reason,
        pendingMigrations: readiness.pendingMigrations,
      });
    } else {
      res.status(503).json({ status: 'unavailable', reason: readiness.reason });
    }
  };
}

async function readLedger(orm: MikroORM): Promise<string[]> {
  try {
    const rows = await runSql<{ name: string }>(
      orm.em.fork(),
      'select name from public.platform_migrations',
    );

    return rows.map((row) => row.name);
  } catch (error) {
    if ((error as { code?: string }).code === UNDEFINED_TABLE) {
      return [];
    }
    throw error;
  }
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`The readiness query timed out after ${timeoutMs} ms.`)),
      timeoutMs,
    );
  });

  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function logReadinessChange(logger: Logger, readiness: Readiness): void {
  if (readiness.ready) {
    logger.info({ unknownMigrations: readiness.unknownMigrations }, 'ready');
  } else if (readiness.reason === 'MIGRATIONS_PENDING') {
    logger.warn(
      { reason: readiness.reason, pendingMigrations: readiness.pendingMigrations },
      'not ready: public migrations are pending',
    );
  } else {
    logger.warn(
      { reason: readiness.reason, err: readiness.error },
      'not ready: the database is unreachable',
    );
  }
}
