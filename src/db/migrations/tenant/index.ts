import type { Migration } from '../types.js';
import { tenantPermissionTables } from './0001-permissions.js';
import { noUserForeignKey } from './0002-no-user-foreign-key.js';

/** Migrations of the tables inside every tenant schema, the public tenant's included. */
export const tenantMigrations: readonly Migration[] = [tenantPermissionTables, noUserForeignKey];
