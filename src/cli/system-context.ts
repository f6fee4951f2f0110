import type { Config } from '../config.js';
import { migratePublic } from '../db/migrator.js';
import { createOrm } from '../db/orm.js';
import {
  createTenantTypes,
  extensionEntities,
  subscribeExtensions,
  type Extension,
} from '../extensions.js';
import type { Logger } from '../logger.js';
import { createMailer } from '../mail/index.js';
import { EventBus } from '../services/events.js';
import { PasswordHasher } from '../services/passwords.js';
import { createSystemContextFactory, type ServiceContext } from '../services/service-context.js';
import type { TenantTypeMap } from '../services/tenant-types.js';
import { connectDatabase } from './database.js';

export interface SystemServicesOptions {
  config: Config;
  logger: Logger;
  /** Tenant-schema modules, tenant types, entities and subscribers of the application. */
  extensions?: readonly Extension[];
  /** Tenant types that replace the built-in or extension types of the same name. */
  tenantTypes?: TenantTypeMap;
}

export interface SystemServices {
  /** Builds a service context for the system actor, with its own EntityManager fork. */
  systemContext(): ServiceContext;
  /** Closes the connection pool, then stops the embedded PostgreSQL if this process started it. */
  close(): Promise<void>;
}

/**
 * Connects to the database, applies pending `public` migrations and returns service contexts
 * for the system actor, which every authorization check lets through.
 *
 * Unlike `createApp`, this never creates the public tenant, so that `create-public-tenant` can
 * create it with the values given on the command line.
 */
export async function openSystemServices(options: SystemServicesOptions): Promise<SystemServices> {
  const { config, logger } = options;
  const extensions = options.extensions ?? [];
  const tenantTypes = createTenantTypes(extensions, options.tenantTypes);

  const database = await connectDatabase(config, logger);
  try {
    const orm = await createOrm({
      databaseUrl: database.url,
      logger,
      extraEntities: extensionEntities(extensions),
      tenantTypes,
      poolMax: config.poolMax,
      poolMaxUses: config.poolMaxUses,
      poolMaxAgeSeconds: config.poolMaxAgeSeconds,
    });
    const events = new EventBus(logger);
    const passwords = new PasswordHasher(config.bcryptCost);
    const { mailer } = createMailer(config, logger);
    const systemContext = createSystemContextFactory({
      em: orm.em,
      config,
      logger,
      events,
      passwords,
      mailer,
    });
    subscribeExtensions(events, extensions, { logger, systemContext });

    try {
      await migratePublic(orm.em.fork(), logger);
    } catch (error) {
      await mailer.close();
      await orm.close();
      throw error;
    }

    return {
      systemContext,
      close: async () => {
        try {
          await mailer.close();
          await orm.close();
        } finally {
          await database.stop();
        }
      },
    };
  } catch (error) {
    await database.stop();
    throw error;
  }
}
