import type { Migration } from '../types.js';
import { initialPublicSchema } from './0001-initial.js';
import { auditAppendOnly } from './0002-audit-append-only.js';

/** Migrations of the shared tables in `public`, in the order they apply. */
export const publicMigrations: readonly Migration[] = [initialPublicSchema, auditAppendOnly];
