import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { ReflectMetadataProvider } from '@mikro-orm/core';

import { publicEntities } from '../entities/index.js';
import type { Logger } from '../logger.js';
import {
  attachTenantTypes,
  builtInTenantTypes,
  type TenantTypeRegistry,
} from '../services/tenant-types.js';

export interface OrmOptions {
  databaseUrl: string;
  logger: Logger;
  /** Maximum pooled connections. */
  poolMax?: number;
  /** Entities an application adds, such as its own tenant-schema tables. */
  extraEntities?: Options['entities'];
  /** Tenant types that the services and migrations of this ORM use, the built-in ones by default. */
  tenantTypes?: TenantTypeRegistry;
}

export async function createOrm(options: OrmOptions): Promise<MikroORM> {
  const log = options.logger.child({ module: 'orm' });

  const orm = await MikroORM.init({
    clientUrl: options.databaseUrl,
    entities: [...publicEntities, ...(options.extraEntities ?? [])],
    metadataProvider: ReflectMetadataProvider,
    discovery: { warnWhenNoEntities: false },
    pool: { min: 0, max: options.poolMax ?? 10 },
    allowGlobalContext: false,
    debug: options.logger.isLevelEnabled('trace') ? ['query'] : false,
    logger: (message) => log.trace(message),
  });
  attachTenantTypes(orm.config, options.tenantTypes ?? builtInTenantTypes);

  return orm;
}
