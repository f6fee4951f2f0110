import 'reflect-metadata';
import 'dotenv/config';

import { setTimeout as delay } from 'node:timers/promises';

import { createApp, type App } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from './db/embedded.js';
import { createPrettyDestination, prettyLogsEnabled } from './http/request-log.js';
import { createLogger, type Logger } from './logger.js';

/**
 * Time from the first SIGINT or SIGTERM until the process exits even though the shutdown has not
 * finished, in milliseconds. It covers Apollo's drain of in-flight requests (10 s by default) and
 * the release of the pool's connections, and stays below the 30 s that Kubernetes waits by
 * default before it kills a container.
 */
const SHUTDOWN_TIMEOUT_MS = 25_000;

/** Time a forced exit waits for the embedded PostgreSQL's fast shutdown, in milliseconds. */
const EMBEDDED_STOP_TIMEOUT_MS = 5_000;

/** Starts the server: the embedded PostgreSQL when no DATABASE_URL is set, then HTTP. */
async function main(): Promise<void> {
  const config = loadConfig();
  // NOTE: LOG_PRETTY and NODE_ENV are read here because Config has no field for the log format.
  const destination = prettyLogsEnabled(process.env) ? await createPrettyDestination() : undefined;
  const logger = createLogger(config.logLevel, destination);

  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({
        dataDir: config.dataDir,
        logger: logger.child({ module: 'embedded-postgres' }),
      });
  let app: App | undefined;
  try {
    app = await createApp({ config, logger, databaseUrl: config.databaseUrl ?? embedded?.url });
    if (app.generatedAdminPassword) {
      // Printed once, on the first start only, and before listening, so that a port already in
      // use does not lose it. It is stored hashed and cannot be shown again.
      process.stdout.write(
        `\nPlatform admin: ${config.adminEmail}\n` +
          `Generated password: ${app.generatedAdminPassword}\n` +
          'Store it now; it is not shown again.\n\n',
      );
    }
    const url = await app.listen();
    process.stdout.write(`GraphiQL: ${url.replace('127.0.0.1', 'localhost')}/graphql\n`);
  } catch (error) {
    // The embedded PostgreSQL is a child process that outlives this one unless it is stopped.
    await app?.close().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw error;
  }

  handleShutdownSignals(app, embedded, logger);
}

/**
 * Shuts down on the first SIGINT or SIGTERM: the server stops accepting connections, in-flight
 * requests finish, the pool closes and then the embedded PostgreSQL stops. A second signal, or
 * a shutdown that outlasts SHUTDOWN_TIMEOUT_MS, exits at once with code 1.
 */
function handleShutdownSignals(
  app: App,
  embedded: EmbeddedPostgresServer | undefined,
  logger: Logger,
): void {
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal: exiting without waiting for in-flight requests');
      void forceExit(embedded, logger);
      return;
    }

    shuttingDown = true;
    logger.info({ signal }, 'shutting down: waiting for in-flight requests');
    setTimeout(() => {
      logger.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; exiting');
      void forceExit(embedded, logger);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    stopGracefully(app, embedded, logger).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, onSignal);
  }
}

async function stopGracefully(
  app: App,
  embedded: EmbeddedPostgresServer | undefined,
  logger: Logger,
): Promise<void> {
  const startedAt = performance.now();
  // Apollo's drain plugin closes the listening socket, waits for in-flight requests and then
  // ends the connections; then the ORM closes the pool.
  await app.close();
  logger.info(
    { durationMs: Math.round(performance.now() - startedAt) },
    'HTTP server and database pool closed',
  );

  await embedded?.stop();
  logger.info('stopped');
}

/**
 * Exits with code 1 without waiting for requests. The embedded PostgreSQL still gets a fast
 * shutdown, which ends its connections, because a postmaster left running would make the next
 * start fail on the same data directory.
 */
async function forceExit(
  embedded: EmbeddedPostgresServer | undefined,
  logger: Logger,
): Promise<never> {
  if (embedded) {
    const stopped = embedded.stop().then(
      () => true,
      (error: unknown) => {
        logger.error({ err: error }, 'embedded PostgreSQL failed to stop');
        return false;
      },
    );
    await Promise.race([stopped, delay(EMBEDDED_STOP_TIMEOUT_MS, false)]);
  }

  process.exit(1);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(
      `Failed to start: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
  }
  process.exit(1);
});
