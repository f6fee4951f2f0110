/**
 * The library API: what an application imports to run the server with its own tenant-scoped
 * entities, migrations, tenant types, resolvers and event subscribers. examples/notes-app shows
 * one such application.
 */
import 'reflect-metadata';

export { createApp, type App, type AppOptions } from './app.js';
export { ConfigError, loadConfig, type Config, type LogLevel } from './config.js';
export { createLogger, type Logger } from './logger.js';

export {
  createTenantTypes,
  requireTenantModule,
  type Extension,
  type ExtensionListener,
  type ExtensionSubscribers,
  type SubscriberContext,
} from './extensions.js';
export {
  CORE_MODULE,
  DEFAULT_TENANT_TYPE,
  PUBLIC_TENANT_TYPE,
  TenantTypeConfigError,
  TenantTypeRegistry,
  coreModule,
  tenantTypesOf,
  type TenantSchemaModule,
  type TenantTypeMap,
  type TenantTypeRegistryInput,
} from './services/tenant-types.js';

export type { InstallStep, Migration, Snapshot } from './db/migrations/types.js';
export {
  migrateAllTenants,
  migratePublic,
  migrateTenantSchema,
  type TenantMigrationReport,
} from './db/migrator.js';
export { createOrm, type OrmOptions } from './db/orm.js';
export {
  startEmbeddedPostgres,
  type EmbeddedPostgresOptions,
  type EmbeddedPostgresServer,
} from './db/embedded.js';
export { quoteIdent, runSql } from './db/sql.js';

export type { RequestContext } from './context/context.js';
export { inTransaction, type Actor, type ServiceContext } from './services/service-context.js';
export {
  AppError,
  ERROR_CODES,
  badInput,
  forbidden,
  isAppError,
  notFound,
  unauthenticated,
  type ErrorCode,
} from './errors.js';
export {
  isMemberOf,
  isPlatformAdmin,
  isPlatformStaff,
  requirePlatformAdmin,
  requireTenantManager,
  requireTenantReader,
  requireUser,
} from './services/access.js';
export {
  hasModulePermission,
  hasPermission,
  requireTenantPermission,
} from './services/permissions.service.js';
export {
  EventBus,
  type DomainEvent,
  type DomainEventType,
  type EventListener,
} from './services/events.js';

export { Domain, Membership, Tenant, User } from './entities/index.js';
export type { TenantStatus } from './entities/tenant.entity.js';
export { findUserByEmail, requireActiveTenant } from './services/lookups.js';
export { createUser, deleteUser, type CreateUserInput } from './services/users.service.js';
export { createSuperuser, restoreUser } from './services/user-lifecycle.service.js';
export {
  deleteTenant,
  getTenant,
  provisionTenant,
  type ProvisionTenantInput,
} from './services/tenants.service.js';
export { purgeTenant, restoreTenant } from './services/tenant-lifecycle.service.js';
export {
  addUserToTenant,
  removeUserFromTenant,
  type AddUserToTenantInput,
} from './services/memberships.service.js';
export {
  transferTenantOwnership,
  type TransferOwnershipInput,
} from './services/ownership.service.js';
