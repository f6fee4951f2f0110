import type { Migration } from '../types.js';
import { tenantPermissionTables } from './0001-permissions.js';

/** Migrations of the tables inside every tenant schema, the public tenant's included. */
export const tenantMigrations: readonly Migration[] = [tenantPermissionTables];
