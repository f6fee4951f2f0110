import type { Configuration } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

import { tenantMigrations, tenantSnapshot } from '../db/migrations/tenant/index.js';
import type { InstallStep, Migration, Snapshot } from '../db/migrations/types.js';
import { AppError } from '../errors.js';

/**
 * Tenant types and the tenant-schema modules they install. A module is a named, ordered list of
 * migrations, and a type is the list of modules its tenants get. The `core` module (the permission
 * tables) is part of every type and always installed first.
 */

/** Name of the module with the permission tables that every tenant schema needs. */
export const CORE_MODULE = 'core';

/** The type a tenant gets when provisioning names none. It always exists. */
export const DEFAULT_TENANT_TYPE = 'default';

/** Type of the public tenant. It always exists and is never provisionable. */
export const PUBLIC_TENANT_TYPE = 'public';

/** A named, ordered list of migrations that create and change tables in a tenant schema. */
export interface TenantSchemaModule {
  /** Lowercase name, also the required prefix of its migration names (`crm-0001-contacts`). */
  name: string;
  /** Migrations in the order they apply. */
  migrations: readonly Migration[];
  /** SQL that a new schema runs in place of the module's first migrations. */
  snapshot?: Snapshot;
}

/** Tenant type names, each mapped to the names of the modules its tenants install. */
export type TenantTypeMap = Readonly<Record<string, readonly string[]>>;

export interface TenantTypeRegistryInput {
  /** Modules besides `core`. */
  modules?: readonly TenantSchemaModule[];
  /**
   * Types besides the built-in `default` and `public`, which both install `core` only. An entry
   * with one of those names replaces the built-in one.
   */
  tenantTypes?: TenantTypeMap;
}

/** The permission tables; their migration names predate modules and so carry no prefix. */
export const coreModule: TenantSchemaModule = {
  name: CORE_MODULE,
  migrations: tenantMigrations,
  snapshot: tenantSnapshot,
};

const NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

/** Error thrown at start when modules or tenant types are inconsistent, with every problem. */
export class TenantTypeConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid tenant types or modules:\n- ${problems.join('\n- ')}`);
    this.name = 'TenantTypeConfigError';
  }
}

/** The validated tenant types of one application, with the migrations each type installs. */
export class TenantTypeRegistry {
  private constructor(private readonly types: ReadonlyMap<string, readonly TenantSchemaModule[]>) {}

  /**
   * Validates modules and types and builds the registry. Module names and migration names must
   * be unique, every migration name of a module other than `core` must start with
   * `<module name>-`, and every type may name only registered modules. Throws
   * `TenantTypeConfigError` with every problem at once.
   */
  static create(input: TenantTypeRegistryInput = {}): TenantTypeRegistry {
    const problems: string[] = [];
    const modules = registerModules(input.modules ?? [], problems);
    const typeMap: Record<string, readonly string[]> = {
      [DEFAULT_TENANT_TYPE]: [CORE_MODULE],
      [PUBLIC_TENANT_TYPE]: [CORE_MODULE],
      ...input.tenantTypes,
    };

    const types = new Map<string, readonly TenantSchemaModule[]>();
    for (const [type, moduleNames] of Object.entries(typeMap)) {
      if (!NAME_PATTERN.test(type)) {
        problems.push(`tenant type "${type}" must match ${NAME_PATTERN}`);
      }
      types.set(type, resolveModules(type, moduleNames, modules, problems));
    }

    if (problems.length > 0) {
      throw new TenantTypeConfigError(problems);
    }

    return new TenantTypeRegistry(types);
  }

  /** Names of the types a tenant can be provisioned with, sorted. `public` is never one. */
  get provisionableTypes(): string[] {
    return [...this.types.keys()].filter((type) => type !== PUBLIC_TENANT_TYPE).sort();
  }

  /** Names of the modules a type installs, in install order, or none for an unknown type. */
  modulesOf(tenantType: string): string[] {
    return (this.types.get(tenantType) ?? []).map((module) => module.name);
  }

  /** True when tenants of `tenantType` have the tables of `moduleName`. */
  hasModule(tenantType: string, moduleName: string): boolean {
    return this.modulesOf(tenantType).includes(moduleName);
  }

  /**
   * Returns every migration of a configured type (`public` included), module by module. Throws
   * a plain `Error` for an unknown type, which is a deployment fault rather than a request error.
   */
  migrationsOf(tenantType: string): Migration[] {
    const modules = this.types.get(tenantType);
    if (!modules) {
      throw new Error(
        `Tenant type "${tenantType}" is not configured. Register the extension that declares it.`,
      );
    }

    return modules.flatMap((module) => module.migrations);
  }

  /**
   * Returns the steps that install a new schema of a provisionable type: each module's snapshot,
   * when it has one, then its later migrations. Throws `INVALID_TENANT_TYPE` for other types.
   */
  provisioningSteps(tenantType: string): InstallStep[] {
    if (tenantType === PUBLIC_TENANT_TYPE || !this.types.has(tenantType)) {
      const valid = this.provisionableTypes;
      throw new AppError(
        'INVALID_TENANT_TYPE',
        `Unknown tenant type "${tenantType}". Valid types: ${valid.join(', ')}.`,
        { field: 'tenantType', validTypes: valid },
      );
    }

    return (this.types.get(tenantType) ?? []).flatMap(installStepsOf);
  }
}

/** Returns a module's snapshot followed by the migrations it does not replace. */
export function installStepsOf(module: TenantSchemaModule): InstallStep[] {
  if (!module.snapshot) {
    return [...module.migrations];
  }
  const replaced = new Set(module.snapshot.replaces);

  return [
    module.snapshot,
    ...module.migrations.filter((migration) => !replaced.has(migration.name)),
  ];
}

function registerModules(
  extra: readonly TenantSchemaModule[],
  problems: string[],
): Map<string, TenantSchemaModule> {
  const modules = new Map([[CORE_MODULE, coreModule]]);
  const migrationOwners = new Map(
    tenantMigrations.map((migration) => [migration.name, CORE_MODULE]),
  );

  checkSnapshot(coreModule, problems);
  for (const module of extra) {
    checkSnapshot(module, problems);
    if (!NAME_PATTERN.test(module.name)) {
      problems.push(`module name "${module.name}" must match ${NAME_PATTERN}`);
    }
    if (modules.has(module.name)) {
      problems.push(`module "${module.name}" is registered more than once`);
      continue;
    }
    modules.set(module.name, module);

    for (const migration of module.migrations) {
      if (!migration.name.startsWith(`${module.name}-`)) {
        problems.push(
          `migration "${migration.name}" of module "${module.name}" must start with "${module.name}-"`,
        );
      }
      const owner = migrationOwners.get(migration.name);
      if (owner) {
        problems.push(`migration "${migration.name}" is in both "${owner}" and "${module.name}"`);
      }
      migrationOwners.set(migration.name, module.name);
    }
  }

  return modules;
}

/** Requires a module's snapshot to replace the module's first migrations, in order. */
function checkSnapshot(module: TenantSchemaModule, problems: string[]): void {
  const replaces = module.snapshot?.replaces;
  if (!replaces) {
    return;
  }
  if (replaces.length === 0) {
    problems.push(
      `the snapshot of module "${module.name}" replaces no migration; list the module's first ` +
        'migrations that it builds in one step',
    );
    return;
  }
  const first = module.migrations.slice(0, replaces.length).map((migration) => migration.name);
  if (first.join('\n') !== replaces.join('\n')) {
    problems.push(
      `the snapshot of module "${module.name}" must replace its first migrations in order ` +
        `(${first.join(', ') || 'none'}), not ${replaces.join(', ')}`,
    );
  }
}

/** Looks up a type's modules, with `core` first and each module once. */
function resolveModules(
  type: string,
  moduleNames: readonly string[],
  modules: ReadonlyMap<string, TenantSchemaModule>,
  problems: string[],
): TenantSchemaModule[] {
  const resolved: TenantSchemaModule[] = [];
  for (const name of new Set([CORE_MODULE, ...moduleNames])) {
    const module = modules.get(name);
    if (module) {
      resolved.push(module);
    } else {
      problems.push(`tenant type "${type}" names the unknown module "${name}"`);
    }
  }

  return resolved;
}

/** The registry with only the built-in types, for an ORM that was given none. */
export const builtInTenantTypes = TenantTypeRegistry.create();

/** Key under which the registry is stored on the MikroORM configuration. */
const REGISTRY_EXTENSION = 'tenant-users:tenant-types';

/**
 * Stores the registry on an ORM's configuration. Every EntityManager fork and transaction shares
 * that configuration, so services reach the application's types through `ctx.em` without any
 * module-scope state.
 */
export function attachTenantTypes(config: Configuration, registry: TenantTypeRegistry): void {
  config.registerExtension(REGISTRY_EXTENSION, () => registry);
}

/** Returns the registry of the ORM behind `em`, or the built-in types when none was attached. */
export function tenantTypesOf(em: EntityManager): TenantTypeRegistry {
  return em.config.getExtension<TenantTypeRegistry>(REGISTRY_EXTENSION) ?? builtInTenantTypes;
}

/** Returns the install steps of a provisionable type, and throws `INVALID_TENANT_TYPE` for others. */
export function provisioningStepsOf(em: EntityManager, tenantType: string): readonly InstallStep[] {
  return tenantTypesOf(em).provisioningSteps(tenantType);
}
