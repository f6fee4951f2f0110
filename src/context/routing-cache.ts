import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';

import type { Logger } from '../logger.js';
import type { DomainEventType, EventBus } from '../services/events.js';

/**
 * A per-process cache of routed tenants, kept fresh across processes by PostgreSQL
 * LISTEN/NOTIFY. Triggers on `public.domains` and `public.tenants` notify ROUTING_CHANNEL with
 * the changed domain or tenant id, and every process evicts the matching entries.
 *
 * Eviction in another process is asynchronous. Until the notification arrives, that process may
 * still route by the old entry: bench/reads.ts measured a median below 0.1 ms after the commit,
 * and a 99th percentile of a few milliseconds on a loaded 2-CPU host. `RoutingCache.sync` waits
 * for it. The committing process evicts on its own domain events before it replies. Where every
 * request must see the latest routing, a size of 0 turns the cache off, and routing then costs
 * one statement per request.
 *
 * Entries are served only while the listener connection is listening, because a notification
 * sent while it is down is lost, so a reconnect starts from an empty cache. LISTEN needs a
 * session of its own: behind PgBouncer in transaction mode, the listener must connect to
 * PostgreSQL directly or through a session-mode pool.
 */

/** Channel that the routing triggers of migration 0005 notify. */
export const ROUTING_CHANNEL = 'tenant_users_routing';

/** Notification payload that clears every entry. The triggers send it after a TRUNCATE. */
export const CLEAR_ALL = '*';

/** `application_name` of the listener connection, so operators can find it in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'tenant-users-routing-listener';

const EXTENSION_NAME = 'tenant-users:routing-cache';

/** A `public.tenants` row as the driver returned it: column names and parsed values. */
export type TenantRow = Readonly<Record<string, unknown>> & { readonly id: string };

export interface RoutingCacheOptions {
  /** Maximum number of cached domains; the least recently used one goes first. */
  maxEntries?: number;
  /** Lifetime of an entry in milliseconds, a safety net for a notification that never came. */
  ttlMs?: number;
}

interface Entry {
  row: TenantRow;
  expiresAt: number;
}

/**
 * Maps a normalised domain to the row of the tenant it routes to. Only found tenants are
 * cached: an unknown domain is looked up again on every request, so a domain added by any
 * process routes at once without waiting for a notification.
 */
export class RoutingCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<TenantRow | null>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  /** Incremented by every invalidation, so a lookup that started before it is not stored. */
  private generation = 0;
  /** Round trip on the listener connection, or undefined while the listener is not listening. */
  private barrier: (() => Promise<void>) | undefined;

  constructor(options: RoutingCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.ttlMs = options.ttlMs ?? 60_000;
  }

  /** True while the listener listens, which is the only time entries are served. */
  get isListening(): boolean {
    return this.barrier !== undefined;
  }

  /** Number of cached domains. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Returns the cached row of `key`, or runs `load` and caches the row it finds. Concurrent misses
   * of one key share a single `load`. While the listener is down, every call runs `load`.
   */
  lookup(key: string, load: () => Promise<TenantRow | null>): Promise<TenantRow | null> {
    if (!this.barrier || this.maxEntries === 0) {
      return load();
    }

    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > Date.now()) {
      // Re-inserting moves the key to the end of the Map, which keeps it in LRU order.
      this.entries.delete(key);
      this.entries.set(key, entry);
      return Promise.resolve(entry.row);
    }

    return this.pending.get(key) ?? this.loadAndStore(key, load);
  }

  /**
   * Evicts the entry of a domain and every entry of a tenant id, or all entries for `CLEAR_ALL`.
   * The argument may be either kind because a notification payload carries either.
   */
  invalidate(domainOrTenantId: string): void {
    this.generation += 1;
    this.pending.clear();
    if (domainOrTenantId === CLEAR_ALL) {
      this.entries.clear();
      return;
    }

    this.entries.delete(domainOrTenantId);
    for (const [key, entry] of this.entries) {
      if (entry.row.id === domainOrTenantId) {
        this.entries.delete(key);
      }
    }
  }

  /**
   * Turns caching on once the listener listens, with `barrier` as its round trip, or off with
   * undefined. Both directions drop every entry.
   */
  setBarrier(barrier: (() => Promise<void>) | undefined): void {
    this.invalidate(CLEAR_ALL);
    this.barrier = barrier;
  }

  /**
   * Resolves once every routing change committed before the call has evicted its entries here.
   * A change made by another process reaches this cache asynchronously, usually within a
   * millisecond, so a caller that needs to read its own write across processes waits on this.
   * It costs one round trip on the listener connection, because PostgreSQL sends pending
   * notifications before the result of the next statement on that connection.
   */
  async sync(): Promise<void> {
    await this.barrier?.();
  }

  private loadAndStore(
    key: string,
    load: () => Promise<TenantRow | null>,
  ): Promise<TenantRow | null> {
    const generation = this.generation;
    const lookup = load()
      .then((row) => {
        if (row && generation === this.generation && this.barrier) {
          this.store(key, Object.freeze(row));
        }

        return row;
      })
      .finally(() => {
        if (this.pending.get(key) === lookup) {
          this.pending.delete(key);
        }
      });
    this.pending.set(key, lookup);

    return lookup;
  }

  private store(key: string, row: TenantRow): void {
    this.entries.set(key, { row, expiresAt: Date.now() + this.ttlMs });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}

export interface RoutingListenerOptions {
  /** Connection string of a direct or session-pooled connection, because LISTEN needs a session. */
  connectionString: string;
  logger: Logger;
  /** First retry delay after a failure, in milliseconds. It doubles up to `maxRetryDelayMs`. */
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
}

/**
 * Holds one dedicated pg connection, outside the ORM pool, that LISTENs on ROUTING_CHANNEL and
 * evicts cache entries. A lost connection turns the cache off and is retried with exponential
 * backoff. The cache comes back on, empty, once LISTEN succeeds again.
 */
export class RoutingListener {
  private client: pg.Client | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private readonly logger: Logger;

  constructor(
    private readonly cache: RoutingCache,
    private readonly options: RoutingListenerOptions,
  ) {
    this.logger = options.logger.child({ module: 'routing-listener' });
  }

  /** Connects and listens. Resolves after the first attempt, and a failed one is logged and retried. */
  start(): Promise<void> {
    this.stopped = false;

    return this.connect();
  }

  /** Stops retrying, closes the connection and turns the cache off. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.cache.setBarrier(undefined);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: LISTENER_APPLICATION_NAME,
      keepAlive: true,
    });
    let lost = false;
    const onLoss = (error?: unknown) => {
      if (!lost) {
        lost = true;
        this.handleLoss(client, error);
      }
    };
    client.on('error', onLoss);
    client.on('end', () => onLoss());
    client.on('notification', (message) => {
      if (message.channel === ROUTING_CHANNEL) {
        // A bare `NOTIFY tenant_users_routing` has an empty payload and clears everything.
        this.cache.invalidate(message.payload || CLEAR_ALL);
      }
    });

    try {
      await client.connect();
      await client.query(`LISTEN ${ROUTING_CHANNEL}`);
    } catch (error) {
      onLoss(error);
      return;
    }
    if (this.stopped || lost) {
      await client.end().catch(() => undefined);
      return;
    }

    this.client = client;
    // Notifications sent before LISTEN took effect were missed, so the cache starts empty.
    this.cache.setBarrier(async () => {
      // A failed round trip means a lost connection, after which no entry can be trusted.
      await client.query('select 1').catch(() => this.cache.invalidate(CLEAR_ALL));
    });
    this.logger.info({ previousFailures: this.failures }, 'routing listener is listening');
    this.failures = 0;
  }

  private handleLoss(client: pg.Client, error: unknown): void {
    if (this.client === client) {
      this.client = undefined;
    }
    this.cache.setBarrier(undefined);
    client.end().catch(() => undefined);
    if (this.stopped) {
      return;
    }

    this.failures += 1;
    const delay = this.retryDelay();
    this.logger.warn(
      { err: error, failures: this.failures, retryInMs: delay },
      'routing listener connection failed; routing reads the database until it reconnects',
    );
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  /** Exponential backoff with jitter: half the nominal delay plus a random part of the rest. */
  private retryDelay(): number {
    const min = this.options.minRetryDelayMs ?? 100;
    const max = this.options.maxRetryDelayMs ?? 30_000;
    const nominal = Math.min(max, min * 2 ** (this.failures - 1));

    return Math.round(nominal / 2 + (Math.random() * nominal) / 2);
  }
}

/** Events after which this process evicts the tenant's entries without waiting for NOTIFY. */
const ROUTING_EVENTS: readonly DomainEventType[] = [
  'tenantProvisioned',
  'tenantDeleted',
  'tenantRestored',
  'tenantPurged',
  'tenantOwnershipTransferred',
  'domainAdded',
  'domainRemoved',
  'primaryDomainChanged',
];

export interface StartRoutingCacheOptions extends RoutingCacheOptions {
  orm: MikroORM;
  events: EventBus;
  logger: Logger;
  /** Connection string of the listener. LISTEN does not work through PgBouncer in transaction mode. */
  listenDatabaseUrl: string;
}

export interface RunningRoutingCache {
  cache: RoutingCache;
  stop(): Promise<void>;
}

/**
 * Creates the routing cache of an application, attaches it to the ORM so that `routeRequest`
 * finds it, and starts its listener. The committing process also evicts on its own domain
 * events, because its listener receives the notification asynchronously.
 */
export async function startRoutingCache(
  options: StartRoutingCacheOptions,
): Promise<RunningRoutingCache> {
  const cache = new RoutingCache(options);
  options.orm.config.registerExtension(EXTENSION_NAME, () => cache);
  if (options.maxEntries === 0) {
    // A cache that stores nothing needs neither a listener nor event subscriptions.
    return { cache, stop: async () => undefined };
  }

  const unsubscribe = ROUTING_EVENTS.map((type) =>
    options.events.subscribe(type, (event) => {
      if (event.tenantId) {
        cache.invalidate(event.tenantId);
      }
    }),
  );
  const listener = new RoutingListener(cache, {
    connectionString: options.listenDatabaseUrl,
    logger: options.logger,
  });
  await listener.start();

  return {
    cache,
    stop: async () => {
      unsubscribe.forEach((undo) => undo());
      await listener.stop();
    },
  };
}

/** Returns the routing cache attached to the ORM behind `em`, if any. */
export function routingCacheOf(em: EntityManager): RoutingCache | undefined {
  return em.config.getExtension<RoutingCache>(EXTENSION_NAME);
}
