import type { Options } from '@mikro-orm/postgresql';
import type { ClassType } from 'type-graphql';

import type { Tenant } from './entities/index.js';
import { AppError } from './errors.js';
import type { Logger } from './logger.js';
import type { DomainEvent, DomainEventType, EventBus } from './services/events.js';
import type { ServiceContext } from './services/service-context.js';
import {
  TenantTypeRegistry,
  tenantTypesOf,
  type TenantSchemaModule,
  type TenantTypeMap,
} from './services/tenant-types.js';

/**
 * Parts that an application adds to the server, passed to `createApp({ extensions })`. Every
 * part is optional.
 */
export interface Extension {
  /** Name of the extension, which the log lines of its subscribers carry as `extension`. */
  name: string;
  /** Tenant-schema modules: the migrations of the application's tenant-scoped tables. */
  modules?: readonly TenantSchemaModule[];
  /**
   * Tenant types and the modules they install. When several extensions name the same type,
   * its module lists are joined in registration order, so each extension can add its module
   * to `default`. The `tenantTypes` option of `createApp` replaces a type outright.
   */
  tenantTypes?: TenantTypeMap;
  /**
   * MikroORM entities. A tenant-scoped entity declares `schema: '*'` and is used through the
   * request's `ctx.em`, which is bound to the routed tenant's schema.
   */
  entities?: Options['entities'];
  /** type-graphql resolver classes, served next to the built-in ones. */
  resolvers?: readonly ClassType[];
  /** Listeners of domain events, by event type or `*` for every type. */
  subscribers?: ExtensionSubscribers;
}

/** Values that an extension's listener receives next to the event. */
export interface SubscriberContext {
  /** The application's logger, with the extension's name on every line. */
  logger: Logger;
  /** Builds a service context for the system actor, for work done in reaction to an event. */
  systemContext(): ServiceContext;
}

/**
 * A listener of committed domain events. It runs after the transaction has committed, and a
 * listener that throws is logged without affecting the operation or the other listeners.
 */
export type ExtensionListener = (
  event: DomainEvent,
  context: SubscriberContext,
) => void | Promise<void>;

export type ExtensionSubscribers = { readonly [type in DomainEventType | '*']?: ExtensionListener };

/**
 * Builds the tenant types of an application: the built-in ones, then the extensions' modules and
 * types, then `overrides`, whose entries replace the type of the same name. Throws
 * `TenantTypeConfigError` listing every problem.
 */
export function createTenantTypes(
  extensions: readonly Extension[],
  overrides: TenantTypeMap = {},
): TenantTypeRegistry {
  const joined = new Map<string, string[]>();
  for (const extension of extensions) {
    for (const [type, modules] of Object.entries(extension.tenantTypes ?? {})) {
      joined.set(type, [...(joined.get(type) ?? []), ...modules]);
    }
  }

  return TenantTypeRegistry.create({
    modules: extensions.flatMap((extension) => extension.modules ?? []),
    tenantTypes: { ...Object.fromEntries(joined), ...overrides },
  });
}

/** Returns the entities of every extension, in registration order. */
export function extensionEntities(
  extensions: readonly Extension[],
): NonNullable<Options['entities']> {
  return extensions.flatMap((extension) => extension.entities ?? []);
}

/** Returns the resolver classes of every extension, in registration order. */
export function extensionResolvers(extensions: readonly Extension[]): ClassType[] {
  return extensions.flatMap((extension) => extension.resolvers ?? []);
}

/** Subscribes every extension's listeners to `events`. */
export function subscribeExtensions(
  events: EventBus,
  extensions: readonly Extension[],
  app: { logger: Logger; systemContext(): ServiceContext },
): void {
  for (const extension of extensions) {
    const context: SubscriberContext = {
      logger: app.logger.child({ extension: extension.name }),
      systemContext: app.systemContext,
    };
    for (const [type, listener] of Object.entries(extension.subscribers ?? {})) {
      if (listener) {
        events.subscribe(type as DomainEventType | '*', (event) => listener(event, context));
      }
    }
  }
}

/**
 * Throws `FORBIDDEN` unless tenants of `tenant`'s type have the tables of `moduleName`. An
 * extension's resolver calls it before using its entities, so a tenant of another type gets a
 * clear error in place of a missing-table failure.
 */
export function requireTenantModule(ctx: ServiceContext, tenant: Tenant, moduleName: string): void {
  if (tenantTypesOf(ctx.em).hasModule(tenant.tenantType, moduleName)) {
    return;
  }

  throw new AppError(
    'FORBIDDEN',
    `The tenant "${tenant.slug}" is of type "${tenant.tenantType}", which does not include ` +
      `the module "${moduleName}".`,
    { module: moduleName, tenantType: tenant.tenantType },
  );
}
