import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import express, { type Request, type Response, type NextFunction } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';

import type { Config } from './config.js';
import { createRequestContext, type RequestContext } from './context/context.js';
import { startRoutingCache, type RoutingCacheOptions } from './context/routing-cache.js';
import { createOrm } from './db/orm.js';
import { migrateAllTenants, migratePublic, type TenantMigrationReport } from './db/migrator.js';
import { AppError, isAppError } from './errors.js';
import {
  createTenantTypes,
  extensionEntities,
  extensionResolvers,
  subscribeExtensions,
  type Extension,
} from './extensions.js';
import {
  UNAVAILABLE_RETRY_AFTER_SECONDS,
  createErrorFormatter,
  databaseUnavailableError,
  databaseUnavailablePlugin,
} from './http/format-error.js';
import { isDatabaseUnavailable } from './db/driver-errors.js';
import { graphiqlRouter, wantsGraphiql } from './http/graphiql.js';
import { clientAddress, graphqlLimits, jsonBodyParser } from './http/limits.js';
import { createMetrics, REQUEST_ERROR_CODE_KEY } from './http/metrics.js';
import { readinessHandler } from './http/readiness.js';
import { ProvisioningWorker } from './jobs/provisioning-worker.js';
import { requestLogPlugin } from './http/request-log.js';
import type { Logger } from './logger.js';
import { createMailer, type DevelopmentOutbox } from './mail/index.js';
import { createSchema } from './resolvers/schema.js';
import { EventBus } from './services/events.js';
import { PasswordHasher } from './services/passwords.js';
import { ensurePublicTenant } from './services/public-tenant.service.js';
import { createSystemContextFactory, type ServiceContext } from './services/service-context.js';
import type { TenantTypeMap, TenantTypeRegistry } from './services/tenant-types.js';

export interface AppOptions {
  config: Config;
  logger: Logger;
  /** Connection string; `config.databaseUrl` when omitted. */
  databaseUrl?: string;
  /** Tenant-schema modules, tenant types, entities, resolvers and subscribers to add. */
  extensions?: readonly Extension[];
  /**
   * Tenant types by name, each with the modules its tenants install. An entry replaces the type
   * of that name that the built-in set (`default` and `public`, both `core` only) or an
   * extension declares.
   */
  tenantTypes?: TenantTypeMap;
  /** Routing cache limits, and where its LISTEN connection goes (`databaseUrl` when omitted). */
  routingCache?: RoutingCacheOptions & { listenDatabaseUrl?: string };
  /**
   * Runs the provisioning worker in this process; `config.worker` (TENANT_USERS_WORKER) when
   * omitted. Turn it off when separate `tenant-users worker` processes run the queue.
   */
  worker?: boolean;
}

export interface App {
  orm: MikroORM;
  events: EventBus;
  config: Config;
  /** The tenant types this application provisions and migrates. */
  tenantTypes: TenantTypeRegistry;
  /** Base URL once `listen` has resolved, e.g. `http://127.0.0.1:4000`. */
  url: string;
  /** The admin password generated on first start, when the configuration gave none. */
  generatedAdminPassword: string | null;
  /** Mail kept in memory when no SMTP server is configured; undefined with `smtpUrl`. */
  outbox: DevelopmentOutbox | undefined;
  /** A service context for the system actor, as the CLI and tests use it. */
  systemContext(): ServiceContext;
  /** Runs queued provisioning jobs; started by `createApp` unless the `worker` option is false. */
  worker: ProvisioningWorker;
  /**
   * Applies pending migrations to every tenant schema, each with its tenant's type, and reports
   * per schema. The start migrates only `public` and the public tenant's schema.
   */
  migrateTenants(): Promise<TenantMigrationReport[]>;
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Validates the extensions' tenant types, connects to PostgreSQL, migrates `public`, creates the
 * public tenant on first start and builds the HTTP server. `listen` starts serving.
 */
export async function createApp(options: AppOptions): Promise<App> {
  const { config, logger } = options;
  const databaseUrl = options.databaseUrl ?? config.databaseUrl;
  if (!databaseUrl) {
    throw new Error('createApp needs a database URL; main starts the embedded server first.');
  }

  const extensions = options.extensions ?? [];
  const tenantTypes = createTenantTypes(extensions, options.tenantTypes);
  const orm = await createOrm({
    databaseUrl,
    logger,
    extraEntities: extensionEntities(extensions),
    tenantTypes,
    poolMax: config.poolMax,
    poolMaxUses: config.poolMaxUses,
    poolMaxAgeSeconds: config.poolMaxAgeSeconds,
  });
  const metrics = createMetrics(orm);
  const events = new EventBus(logger);
  const passwords = new PasswordHasher(config.bcryptCost);
  const { mailer, outbox } = createMailer(config, logger);
  const systemContext = createSystemContextFactory({
    em: orm.em,
    config,
    logger,
    events,
    passwords,
    mailer,
  });

  subscribeExtensions(events, extensions, { logger, systemContext });

  await metrics.timeMigration('public', () => migratePublic(orm.em.fork(), logger));
  const firstStart = await ensurePublicTenant(systemContext());
  if (firstStart) {
    logger.info({ email: firstStart.email }, 'created the public tenant and the platform admin');
  }

  // Node rejects HTTP/1.1 requests without Host on its own, with an empty 400. Routing rejects
  // them instead, with the BAD_REQUEST error body that every other malformed host gets.
  const httpServer = createServer({ requireHostHeader: false });
  const apollo = new ApolloServer<RequestContext>({
    schema: await createSchema(extensionResolvers(extensions)),
    formatError: createErrorFormatter(logger),
    includeStacktraceInErrorResponses: false,
    // The process owns shutdown (src/main.ts, the CLI): Apollo's own handler would stop the
    // server and send the signal again, which the process would take for a second signal.
    stopOnTerminationSignals: false,
    ...graphqlLimits(config),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // GraphiQL is served below; Apollo's own landing page would load Apollo Sandbox from a CDN.
      ApolloServerPluginLandingPageDisabled(),
      // Sets the HTTP status, so it comes before the plugins that record it.
      databaseUnavailablePlugin(),
      requestLogPlugin(),
      metrics.apolloPlugin,
    ],
  });
  await apollo.start();

  const deps = { orm, config, logger, events, passwords, mailer };
  const expressApp = express();
  expressApp.disable('x-powered-by');
  expressApp.use(metrics.httpMiddleware);
  expressApp.get('/metrics', metrics.handler);
  expressApp.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  expressApp.get('/readyz', readinessHandler(orm, logger));

  const graphql = express.Router();
  if (config.graphiql) {
    graphql.use(graphiqlRouter());
  }
  graphql.use(jsonBodyParser(config));
  graphql.use(async (req: Request, res: Response, next: NextFunction) => {
    if (config.graphiql && wantsGraphiql(req)) {
      return next();
    }
    try {
      res.locals.context = await createRequestContext(deps, {
        path: req.originalUrl.split('?')[0],
        headers: req.headers,
      });
      res.locals.context.clientAddress = clientAddress(req, config.trustProxy);
      next();
    } catch (error) {
      sendRequestError(res, error, logger);
    }
  });
  graphql.use(
    expressMiddleware(apollo, { context: async ({ res }) => res.locals.context as RequestContext }),
  );

  expressApp.use('/graphql', graphql);
  if (config.subfolderPrefix) {
    expressApp.use(`/${config.subfolderPrefix}/:slug/graphql`, graphql);
  }
  expressApp.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    sendRequestError(res, error, logger);
  });
  httpServer.on('request', expressApp);

  const routing = await startRoutingCache({
    maxEntries: config.routingCacheSize,
    ttlMs: config.routingCacheTtlSeconds * 1000,
    ...options.routingCache,
    orm,
    events,
    logger,
    listenDatabaseUrl:
      options.routingCache?.listenDatabaseUrl ?? config.listenDatabaseUrl ?? databaseUrl,
  });

  const worker = new ProvisioningWorker({ systemContext, logger, listenDatabaseUrl: databaseUrl });
  if (options.worker ?? config.worker) {
    await worker.start();
  }

  let url = '';
  return {
    orm,
    events,
    config,
    tenantTypes,
    get url() {
      return url;
    },
    generatedAdminPassword: firstStart?.generatedPassword ?? null,
    outbox,
    systemContext,
    worker,
    migrateTenants: () =>
      metrics.timeMigration('tenant', () => migrateAllTenants(orm.em.fork(), logger, tenantTypes)),
    listen: (port = config.port, host = config.host) =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          const address = httpServer.address() as AddressInfo;
          url = `http://${host}:${address.port}`;
          logger.info({ url }, 'listening');
          resolve(url);
        });
      }),
    close: async () => {
      await worker.stop();
      await apollo.stop();
      if (httpServer.listening) {
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      }
      await routing.stop();
      await mailer.close();
      await orm.close();
    },
  };
}

/** Sends the error of a request that failed before GraphQL execution, in the GraphQL format. */
function sendRequestError(res: Response, error: unknown, logger: Logger): void {
  if (isDatabaseUnavailable(error)) {
    logger.warn({ err: error }, 'database unavailable before execution');
    res.locals[REQUEST_ERROR_CODE_KEY] = databaseUnavailableError.extensions.code;
    res
      .status(503)
      .set('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS))
      .json({ errors: [databaseUnavailableError] });
    return;
  }

  const appError = isAppError(error) ? error : bodyError(error);
  if (!appError) {
    logger.error({ err: error }, 'request failed before execution');
  }

  const code = appError?.code ?? 'INTERNAL_SERVER_ERROR';
  res.locals[REQUEST_ERROR_CODE_KEY] = code;
  const message = appError?.message ?? 'Internal server error.';
  res
    .status(appError?.httpStatus ?? 500)
    .json({ errors: [{ message, extensions: { ...(appError?.extensions ?? {}), code } }] });
}

/** Maps body parser failures (invalid JSON, too large) to `BAD_REQUEST`. */
function bodyError(error: unknown): AppError | undefined {
  const status = (error as { status?: number; type?: string })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AppError('BAD_REQUEST', 'The request body is invalid or too large.');
  }

  return undefined;
}
