/**
 * Prometheus metrics of one application instance, served in the text format at `/metrics`.
 *
 * Each instance has its own registry instead of prom-client's global one, so several
 * applications in one process (as in tests) keep separate counts and never register the same
 * metric name twice.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { RequestContext } from '../context/context.js';
import { describeOperation } from './request-log.js';

const PREFIX = 'tenant_users_';

/** Buckets in seconds, from a cached read to a slow provisioning. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Buckets in seconds, wider than REQUEST_BUCKETS because provisioning and migrations create tables. */
const SCHEMA_CHANGE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * Operation names come from the client, so each distinct name would add series without limit.
 * Names beyond this many are counted under `(other)`.
 */
export const MAX_OPERATION_NAMES = 200;

export const OTHER_OPERATIONS_LABEL = '(other)';

/** Scope of a migration run: the shared tables in `public`, or one tenant schema. */
export type MigrationScope = 'public' | 'tenant';

type Outcome = 'success' | 'error';

/** The subset of tarn's Pool that the pool gauges read. */
interface ConnectionPool {
  max: number;
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

export interface AppMetrics {
  registry: Registry;
  /** Counts every HTTP request, with its duration, by route, method and status code. */
  httpMiddleware: RequestHandler;
  /** Serves the registry in the Prometheus text format. */
  handler: RequestHandler;
  /** Times GraphQL operations, counts their error codes and times `provisionTenant`. */
  apolloPlugin: ApolloServerPlugin<RequestContext>;
  /** Durations of migration runs, for the migrator; `timeMigration` records into it. */
  migrationDuration: Histogram<'scope' | 'outcome'>;
  /** Runs `work`, one migration run, and records its duration with its outcome. */
  timeMigration<T>(scope: MigrationScope, work: () => Promise<T>): Promise<T>;
}

/**
 * Key in `res.locals` where the handler of requests rejected before GraphQL execution (unknown
 * host, invalid body) stores the error code, which the HTTP middleware then counts.
 */
export const REQUEST_ERROR_CODE_KEY = 'errorCode';

type ErrorCounter = Counter<'code' | 'operation_name'>;

/**
 * Creates the registry and metrics of one application, including Node's process metrics and
 * gauges of the connection pool behind `orm`.
 */
export function createMetrics(orm: MikroORM): AppMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });

  const httpDuration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'Duration of HTTP requests in seconds, by route, method and status code.',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [registry],
  });
  const operationDuration = new Histogram({
    name: `${PREFIX}graphql_operation_duration_seconds`,
    help:
      'Duration of GraphQL operations in seconds, from request to response, by operation name ' +
      'and type. Anonymous operations are "(anonymous)", requests that named no valid ' +
      'operation "(unresolved)".',
    labelNames: ['operation_name', 'operation_type'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: `${PREFIX}graphql_errors_total`,
    help:
      'Errors returned to clients, by extensions.code and operation name. Errors raised ' +
      'before execution, such as an unknown host, have the operation name "(none)".',
    labelNames: ['code', 'operation_name'] as const,
    registers: [registry],
  });
  const provisioningDuration = new Histogram({
    name: `${PREFIX}tenant_provisioning_duration_seconds`,
    help: 'Duration of the provisionTenant resolver in seconds, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: SCHEMA_CHANGE_BUCKETS,
    registers: [registry],
  });
  const migrationDuration = new Histogram({
    name: `${PREFIX}migration_duration_seconds`,
    help: 'Duration of a migration run of one schema in seconds, by scope and outcome.',
    labelNames: ['scope', 'outcome'] as const,
    buckets: SCHEMA_CHANGE_BUCKETS,
    registers: [registry],
  });
  registerPoolGauges(registry, () => connectionPoolOf(orm));

  const operationLabel = boundedLabel(MAX_OPERATION_NAMES, OTHER_OPERATIONS_LABEL);

  return {
    registry,
    httpMiddleware: httpMetricsMiddleware(httpDuration, errors),
    handler: async (_req: Request, res: Response) => {
      res.type(registry.contentType).send(await registry.metrics());
    },
    apolloPlugin: {
      async requestDidStart() {
        const startedAt = performance.now();

        return {
          async executionDidStart() {
            return {
              willResolveField({ info }) {
                if (info.parentType.name !== 'Mutation' || info.fieldName !== 'provisionTenant') {
                  return;
                }
                const end = provisioningDuration.startTimer();

                return (error) => end({ outcome: error ? 'error' : 'success' });
              },
            };
          },
          async willSendResponse(requestContext) {
            const operation = describeOperation(requestContext);
            const name = operationLabel(operation.label);
            operationDuration.observe(
              { operation_name: name, operation_type: operation.type },
              (performance.now() - startedAt) / 1000,
            );
            for (const code of operation.errorCodes) {
              errors.inc({ code, operation_name: name });
            }
          },
        };
      },
    },
    migrationDuration,
    timeMigration: async (scope, work) => {
      const end = migrationDuration.startTimer({ scope });
      let outcome: Outcome = 'error';
      try {
        const result = await work();
        outcome = 'success';

        return result;
      } finally {
        end({ outcome });
      }
    },
  };
}

/**
 * Returns a function that passes the first `max` distinct values through and maps every later
 * new value to `overflow`.
 */
function boundedLabel(max: number, overflow: string): (value: string) => string {
  const seen = new Set<string>();

  return (value) => {
    if (seen.has(value)) {
      return value;
    }
    if (seen.size >= max) {
      return overflow;
    }
    seen.add(value);

    return value;
  };
}

function httpMetricsMiddleware(
  duration: Histogram<'route' | 'method' | 'status_code'>,
  errors: ErrorCounter,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const end = duration.startTimer({ route: routeOf(req.path), method: methodOf(req.method) });
    res.once('finish', () => {
      end({ status_code: res.statusCode });
      const code: unknown = res.locals[REQUEST_ERROR_CODE_KEY];
      if (typeof code === 'string') {
        errors.inc({ code, operation_name: '(none)' });
      }
    });
    next();
  };
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'OPTIONS']);

function methodOf(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

/** Maps a path to one of a fixed set of routes, so that unknown paths add no series. */
function routeOf(path: string): string {
  if (path === '/healthz' || path === '/readyz' || path === '/metrics') {
    return path;
  }
  if (/\/graphql\/assets\//.test(path)) {
    return '/graphql/assets';
  }
  if (/\/graphql\/?$/.test(path)) {
    return '/graphql';
  }

  return 'other';
}

function registerPoolGauges(registry: Registry, pool: () => ConnectionPool | undefined): void {
  new Gauge({
    name: `${PREFIX}db_pool_connections`,
    help: 'Open connections of the database pool, by state: used (lent to a query) or free.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const current = pool();
      this.set({ state: 'used' }, current?.numUsed() ?? 0);
      this.set({ state: 'free' }, current?.numFree() ?? 0);
    },
  });
  new Gauge({
    name: `${PREFIX}db_pool_pending_acquires`,
    help: 'Requests waiting for a connection of the database pool.',
    registers: [registry],
    collect() {
      this.set(pool()?.numPendingAcquires() ?? 0);
    },
  });
  new Gauge({
    name: `${PREFIX}db_pool_max_connections`,
    help: 'Maximum number of connections of the database pool.',
    registers: [registry],
    collect() {
      this.set(pool()?.max ?? 0);
    },
  });
}

/** Returns the tarn pool of the ORM's knex client; undefined once the ORM is closed. */
function connectionPoolOf(orm: MikroORM): ConnectionPool | undefined {
  const client = orm.em.getConnection().getKnex().client as { pool?: ConnectionPool };

  return client.pool;
}
