import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { ReflectMetadataProvider } from '@mikro-orm/core';

import { publicEntities } from '../entities/index.js';
import type { Logger } from '../logger.js';
import { applyPoolRecycling } from './pool-recycling.js';
import {
  attachTenantTypes,
  builtInTenantTypes,
  type TenantTypeRegistry,
} from '../services/tenant-types.js';

/**
 * Default use limit of a pooled connection. A use is one acquisition: one query outside a
 * transaction, or one transaction. NOTE: an estimate. At about 150 KB of PostgreSQL catalog
 * cache per tenant schema a backend touches, 1,000 uses bound one backend to roughly 150 MB.
 */
export const DEFAULT_POOL_MAX_USES = 1_000;
/** Default age limit of a pooled connection, in seconds. */
export const DEFAULT_POOL_MAX_AGE_SECONDS = 3_600;

export interface OrmOptions {
  databaseUrl: string;
  logger: Logger;
  /** Maximum pooled connections. */
  poolMax?: number;
  /** Acquisitions after which a pooled connection is replaced; 0 turns the limit off. */
  poolMaxUses?: number;
  /** Age in seconds after which a pooled connection is replaced; 0 turns the limit off. */
  poolMaxAgeSeconds?: number;
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
    // NOTE: no client-side query timeout is set, so a database that stops responding without
    // closing its connections keeps requests waiting. Refused and closed connections fail fast.
    pool: { min: 0, max: options.poolMax ?? 10 },
    allowGlobalContext: false,
    debug: options.logger.isLevelEnabled('trace') ? ['query'] : false,
    logger: (message) => log.trace(message),
  });
  attachTenantTypes(orm.config, options.tenantTypes ?? builtInTenantTypes);
  applyPoolRecycling(
    orm,
    {
      maxUses: options.poolMaxUses ?? DEFAULT_POOL_MAX_USES,
      maxAgeSeconds: options.poolMaxAgeSeconds ?? DEFAULT_POOL_MAX_AGE_SECONDS,
    },
    log,
  );

  return orm;
}
