import { DriverException, UniqueConstraintViolationException } from '@mikro-orm/core';

import { AppError } from '../errors.js';

/** Unique indexes of the public tables, and the input field that each one protects. */
const UNIQUE_FIELDS: Record<string, string> = {
  users_email_lower_key: 'email',
  tenants_slug_key: 'slug',
  tenants_schema_name_lower_key: 'schemaName',
  domains_domain_key: 'domain',
  memberships_tenant_user_key: 'userEmail',
};

/** SQL state of `CREATE SCHEMA` on a name that exists. */
const DUPLICATE_SCHEMA = '42P06';

/**
 * Maps a driver error to an `AppError` when it is an expected conflict, and returns any other
 * error unchanged so that it is masked and logged as unexpected.
 */
export function mapDriverError(error: unknown): unknown {
  if (error instanceof UniqueConstraintViolationException) {
    const constraint = (error as DriverException & { constraint?: string }).constraint ?? '';
    const field = UNIQUE_FIELDS[constraint];

    return new AppError('ALREADY_EXISTS', `The ${field ?? 'value'} is already taken.`, {
      field: field ?? null,
    });
  }

  if (error instanceof DriverException && error.code === DUPLICATE_SCHEMA) {
    return new AppError('ALREADY_EXISTS', 'The schema name is already taken.', {
      field: 'schemaName',
    });
  }

  return error;
}
