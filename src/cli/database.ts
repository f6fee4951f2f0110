import type { Config } from '../config.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import type { Logger } from '../logger.js';

export interface DatabaseConnection {
  /** Connection string of the database to use. */
  url: string;
  /** Stops the embedded server when one was started, and does nothing for `DATABASE_URL`. */
  stop(): Promise<void>;
}

/**
 * Connects to the database the way `npm start` does: `DATABASE_URL` when it is set, otherwise
 * the embedded PostgreSQL whose cluster is in `TENANT_USERS_DATA_DIR`, started for this process.
 */
export async function connectDatabase(config: Config, logger: Logger): Promise<DatabaseConnection> {
  if (config.databaseUrl) {
    return { url: config.databaseUrl, stop: async () => undefined };
  }

  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    logger: logger.child({ module: 'embedded-postgres' }),
  });

  return { url: embedded.url, stop: embedded.stop };
}
