import type { Command } from './command.js';
import { createPublicTenantCommand } from './create-public-tenant.js';
import { createSuperuserCommand } from './create-superuser.js';
import { createUserCommand } from './create-user.js';
import { deleteTenantCommand } from './delete-tenant.js';
import { deleteUserCommand } from './delete-user.js';
import { listTenantsCommand } from './list-tenants.js';
import { listUsersCommand } from './list-users.js';
import { migrateCommand } from './migrate.js';
import { provisionTenantCommand } from './provision-tenant.js';
import { workerCommand } from './worker.js';

/** Every command of the CLI, in the order the help text lists them. */
export const COMMANDS: readonly Command[] = [
  migrateCommand,
  createPublicTenantCommand,
  createSuperuserCommand,
  createUserCommand,
  deleteUserCommand,
  provisionTenantCommand,
  deleteTenantCommand,
  listTenantsCommand,
  listUsersCommand,
  workerCommand,
];
