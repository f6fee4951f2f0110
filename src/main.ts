import 'reflect-metadata';
import 'dotenv/config';

import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { createLogger } from './logger.js';

/** Starts the server: the embedded PostgreSQL when no DATABASE_URL is set, then HTTP. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);

  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({
        dataDir: config.dataDir,
        logger: logger.child({ module: 'embedded-postgres' }),
      });
  const app = await createApp({ config, logger, databaseUrl: config.databaseUrl ?? embedded?.url });
  const url = await app.listen();

  if (app.generatedAdminPassword) {
    // Printed once, on the first start only; it is stored hashed and cannot be shown again.
    process.stdout.write(
      `\nPlatform admin: ${config.adminEmail}\nGenerated password: ${app.generatedAdminPassword}\n` +
        'Store it now; it is not shown again.\n\n',
    );
  }
  process.stdout.write(`GraphiQL: ${url.replace('127.0.0.1', 'localhost')}/graphql\n`);

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await app.close();
      await embedded?.stop();
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // embedded-postgres registers its own handlers that stop PostgreSQL and exit at once; this
    // handler closes the HTTP server and the pool first, then stops PostgreSQL itself.
    process.removeAllListeners(signal);
    process.on(signal, stop);
  }
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
