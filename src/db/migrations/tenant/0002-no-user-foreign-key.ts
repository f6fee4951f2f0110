import type { Migration } from '../types.js';

/**
 * Drops the foreign key from `user_tenant_permissions.user_id` to `public.users`.
 *
 * PostgreSQL enforces a foreign key with two triggers on the referenced table, so every tenant
 * schema added two triggers to `public.users`, and creating a key gets slower as they accumulate:
 * provisioning took 1.7 times as long at 10,000 tenants (docs/benchmarks.md, Flatness).
 * Integrity stays: a permissions row is written only with a membership in `public.memberships`,
 * whose foreign key checks the user in the same transaction, and users are never deleted, only
 * deactivated.
 */
export const noUserForeignKey: Migration = {
  name: '0002-no-user-foreign-key',
  // Dropping the key locks public.users exclusively until the schema's migration commits, and
  // requests queue behind that lock. The timeout bounds the wait: a schema that cannot get the
  // lock in time fails, is reported, and is migrated by the next run.
  up: (schema) => `
    set local lock_timeout = '2s';
    alter table ${schema}.user_tenant_permissions
      drop constraint if exists user_tenant_permissions_user_id_fkey;
  `,
};
