import type { Migration, Snapshot } from '../types.js';
import { permissionTablesSql, tenantPermissionTables } from './0001-permissions.js';
import { noUserForeignKey } from './0002-no-user-foreign-key.js';

/** Migrations of the tables inside every tenant schema, the public tenant's included. */
export const tenantMigrations: readonly Migration[] = [tenantPermissionTables, noUserForeignKey];

/**
 * The state of migrations 0001 and 0002 in one step, so that a new tenant schema never creates
 * the foreign key to `public.users` that 0002 drops. A test compares the two.
 */
export const tenantSnapshot: Snapshot = {
  name: 'core-snapshot',
  replaces: ['0001-permissions', '0002-no-user-foreign-key'],
  up: (schema) => permissionTablesSql(schema, { userForeignKey: false }),
};
