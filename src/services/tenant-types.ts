import { tenantMigrations } from '../db/migrations/tenant/index.js';
import type { Migration } from '../db/migrations/types.js';
import { AppError } from '../errors.js';

/** The type a tenant gets when provisioning names none. */
export const DEFAULT_TENANT_TYPE = 'default';

/** Type of the public tenant; never provisionable. */
export const PUBLIC_TENANT_TYPE = 'public';

/** The migrations that make up each tenant type's schema. */
const TENANT_TYPES: ReadonlyMap<string, readonly Migration[]> = new Map([
  [DEFAULT_TENANT_TYPE, tenantMigrations],
  [PUBLIC_TENANT_TYPE, tenantMigrations],
]);

/** Returns the migrations of a provisionable type; `INVALID_TENANT_TYPE` for any other. */
export function migrationsOfType(tenantType: string): readonly Migration[] {
  const migrations = TENANT_TYPES.get(tenantType);
  if (!migrations || tenantType === PUBLIC_TENANT_TYPE) {
    const valid = [...TENANT_TYPES.keys()].filter((type) => type !== PUBLIC_TENANT_TYPE);
    throw new AppError(
      'INVALID_TENANT_TYPE',
      `Unknown tenant type "${tenantType}"; valid types: ${valid.join(', ')}.`,
      { field: 'tenantType', validTypes: valid },
    );
  }

  return migrations;
}
