import 'reflect-metadata';
import 'dotenv/config';

import { loadConfig } from '../config.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { migrateAllTenants, migratePublic } from '../db/migrator.js';
import { createOrm } from '../db/orm.js';
import { createLogger } from '../logger.js';

/**
 * Migrates `public` and every tenant schema, then prints one line per schema. Exits with 1 when
 * any schema failed.
 */
async function migrate(): Promise<number> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
  const orm = await createOrm({ databaseUrl: config.databaseUrl ?? embedded!.url, logger });

  try {
    await migratePublic(orm.em.fork(), logger);
    const reports = await migrateAllTenants(orm.em.fork(), logger);
    for (const report of reports) {
      const outcome = report.error
        ? `failed: ${report.error instanceof Error ? report.error.message : String(report.error)}`
        : `applied ${report.applied.length ? report.applied.join(', ') : 'nothing'}`;
      process.stdout.write(`${report.schemaName}: ${outcome}\n`);
    }

    return reports.some((report) => report.error) ? 1 : 0;
  } finally {
    await orm.close();
    await embedded?.stop();
  }
}

process.exitCode = await migrate();
