import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface ScratchDatabase {
  /** Connection URL of the new database, with the credentials and options of the base URL. */
  url: string;
  /**
   * Drops the database with FORCE, which ends its open connections. Later calls do nothing.
   * Close pools and clients first: a pg client without an 'error' listener turns the ended
   * connection into an uncaught exception.
   */
  drop(): Promise<void>;
}

const DATABASE_NAME_PREFIX = 'tenant_users_test_';

/**
 * Creates an empty, uniquely named database on the server of `baseUrl`, so that a test file can
 * use it without seeing the data of other test files.
 *
 * The role in `baseUrl` needs the CREATEDB privilege.
 */
export async function createScratchDatabase(baseUrl: string): Promise<ScratchDatabase> {
  const name = `${DATABASE_NAME_PREFIX}${randomBytes(6).toString('hex')}`;
  await runAdminStatement(baseUrl, (client) => `CREATE DATABASE ${client.escapeIdentifier(name)}`);

  const url = new URL(baseUrl);
  url.pathname = `/${name}`;

  let dropping: Promise<void> | undefined;
  const drop = (): Promise<void> => {
    dropping ??= runAdminStatement(
      baseUrl,
      (client) => `DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`,
    );
    return dropping;
  };

  return { url: url.toString(), drop };
}

// CREATE DATABASE and DROP DATABASE cannot run inside a transaction, so each runs on its own
// short-lived connection to the base database.
async function runAdminStatement(
  baseUrl: string,
  buildStatement: (client: pg.Client) => string,
): Promise<void> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(buildStatement(client));
  } finally {
    await client.end();
  }
}
