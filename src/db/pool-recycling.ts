import type { MikroORM } from '@mikro-orm/postgresql';

import type { Logger } from '../logger.js';

/**
 * Limits after which a pooled connection is closed and replaced by a new one. A PostgreSQL
 * backend keeps a catalog cache that grows with every tenant schema it touches, and closing
 * the connection is the one sure way to give that memory back.
 */
export interface PoolRecyclingLimits {
  /** Acquisitions a connection serves before it is closed; 0 turns this limit off. */
  maxUses: number;
  /** Age in seconds after which a connection is closed; 0 turns this limit off. */
  maxAgeSeconds: number;
}

/** The part of tarn's `Pool` (tarn 3, under knex 3) that recycling uses. */
interface TarnPool {
  validate: (connection: object) => unknown;
  on(event: 'createSuccess', listener: (eventId: number, connection: object) => void): void;
  on(event: 'acquireSuccess', listener: (eventId: number, connection: object) => void): void;
}

interface ConnectionUsage {
  uses: number;
  createdAt: number;
}

interface PoolState {
  limits: PoolRecyclingLimits;
  logger: Logger | undefined;
  /** Closed connections, counted since the limits were first applied. */
  recycled: number;
}

const states = new WeakMap<TarnPool, PoolState>();
const usage = new WeakMap<object, ConnectionUsage>();

/**
 * Applies `limits` to the connection pool of `orm`. Calling it again replaces the limits of the
 * same pool, also while it serves requests.
 *
 * tarn has no use limit, and knex's `maxConnectionLifetimeMillis` cannot change once the pool
 * exists, so both limits are checked in tarn's `validate` hook, which runs when a free
 * connection is about to be handed out. A rejected connection is destroyed and tarn creates a
 * new one for the same acquisition, so no caller sees an error.
 *
 * NOTE: a connection that reaches its limit stays open, idle, until its next acquisition or
 * until tarn's idle timeout (`idleTimeoutMillis`, 30 s by default) closes it.
 */
export function applyPoolRecycling(
  orm: MikroORM,
  limits: PoolRecyclingLimits,
  logger?: Logger,
): void {
  checkLimits(limits);
  const pool = tarnPoolOf(orm);
  const existing = states.get(pool);
  if (existing) {
    existing.limits = { ...limits };
    existing.logger = logger ?? existing.logger;
    return;
  }

  const state: PoolState = { limits: { ...limits }, logger, recycled: 0 };
  states.set(pool, state);

  pool.on('createSuccess', (_eventId, connection) => {
    usage.set(connection, { uses: 0, createdAt: Date.now() });
  });
  pool.on('acquireSuccess', (_eventId, connection) => {
    const record = usageOf(connection);
    record.uses += 1;
  });

  const knexValidate = pool.validate.bind(pool);
  pool.validate = async (connection) => {
    if (hasReachedLimit(state, connection)) {
      state.recycled += 1;
      return false;
    }

    return knexValidate(connection);
  };
}

/** Number of connections closed by the limits of `orm`'s pool; 0 when none were applied. */
export function recycledConnectionCount(orm: MikroORM): number {
  return states.get(tarnPoolOf(orm))?.recycled ?? 0;
}

function hasReachedLimit(state: PoolState, connection: object): boolean {
  const { maxUses, maxAgeSeconds } = state.limits;
  const record = usageOf(connection);
  const ageSeconds = (Date.now() - record.createdAt) / 1000;
  const overUses = maxUses > 0 && record.uses >= maxUses;
  const overAge = maxAgeSeconds > 0 && ageSeconds >= maxAgeSeconds;
  if (overUses || overAge) {
    state.logger?.debug(
      { uses: record.uses, ageSeconds: Math.round(ageSeconds) },
      overUses
        ? 'closing a pooled connection that reached its use limit'
        : 'closing a pooled connection that reached its age limit',
    );
  }

  return overUses || overAge;
}

/**
 * Returns the usage record of `connection`. A connection created before the limits were
 * applied gets a record on first sight, so its earlier uses and age are not counted.
 */
function usageOf(connection: object): ConnectionUsage {
  let record = usage.get(connection);
  if (!record) {
    record = { uses: 0, createdAt: Date.now() };
    usage.set(connection, record);
  }

  return record;
}

function tarnPoolOf(orm: MikroORM): TarnPool {
  const client = orm.em.getConnection().getKnex().client as { pool?: TarnPool };
  if (!client.pool) {
    throw new Error('The ORM has no connection pool; call applyPoolRecycling after MikroORM.init.');
  }

  return client.pool;
}

function checkLimits(limits: PoolRecyclingLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`Pool recycling ${name} must be 0 (off) or a positive number, got ${value}.`);
    }
  }
}
