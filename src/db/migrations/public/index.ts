import type { Migration } from '../types.js';
import { initialPublicSchema } from './0001-initial.js';
import { auditAppendOnly } from './0002-audit-append-only.js';
import { serviceTokens } from './0003-service-tokens.js';
import { loginDefences } from './0004-login-defences.js';
import { routingNotify } from './0005-routing-notify.js';
import { provisioningJobs } from './0006-provisioning-jobs.js';

/** Migrations of the shared tables in `public`, in the order they apply. */
export const publicMigrations: readonly Migration[] = [
  initialPublicSchema,
  auditAppendOnly,
  serviceTokens,
  loginDefences,
  routingNotify,
  provisioningJobs,
];
