import { DriverException } from '@mikro-orm/core';
import pg from 'pg';

import { AppError } from '../errors.js';

/** Unique indexes of the public tables, and the input field that each one protects. */
const UNIQUE_FIELDS: Record<string, string> = {
  users_email_lower_key: 'email',
  tenants_slug_key: 'slug',
  tenants_schema_name_lower_key: 'schemaName',
  domains_domain_key: 'domain',
  memberships_tenant_user_key: 'userEmail',
  // The catalog index that a `CREATE SCHEMA` hits when another session created the same schema
  // and committed while this one waited.
  pg_namespace_nspname_index: 'schemaName',
};

/** SQL state of a unique violation. */
export const UNIQUE_VIOLATION = '23505';

/** SQL state of `CREATE SCHEMA` on a name that exists. */
export const DUPLICATE_SCHEMA = '42P06';

/** The fields that PostgreSQL reports on an error, as node-postgres and MikroORM expose them. */
interface DatabaseErrorFields {
  /** SQL state, e.g. `23505`. */
  code?: string;
  /** Name of the violated constraint or unique index. */
  constraint?: string;
}

/**
 * Maps a driver error to an `AppError` when it is an expected conflict, and returns any other
 * error unchanged so that it is masked and logged as unexpected.
 *
 * Errors of ORM operations arrive as MikroORM's `DriverException`, which copies the fields of the
 * node-postgres error. Raw SQL through `runSql` bypasses MikroORM's conversion, so its errors arrive
 * as node-postgres `DatabaseError`. Both are matched by SQL state.
 */
export function mapDriverError(error: unknown): unknown {
  const fields = databaseErrorFields(error);

  if (fields?.code === UNIQUE_VIOLATION) {
    const field = UNIQUE_FIELDS[fields.constraint ?? ''];

    return new AppError('ALREADY_EXISTS', `The ${field ?? 'value'} is already taken.`, {
      field: field ?? null,
    });
  }

  if (fields?.code === DUPLICATE_SCHEMA) {
    return new AppError('ALREADY_EXISTS', 'The schema name is already taken.', {
      field: 'schemaName',
    });
  }

  return error;
}

function databaseErrorFields(error: unknown): DatabaseErrorFields | undefined {
  if (error instanceof DriverException || error instanceof pg.DatabaseError) {
    return error as DatabaseErrorFields;
  }

  return undefined;
}

/**
 * SQL states of a server that is shutting down, starting or full: admin_shutdown,
 * crash_shutdown, cannot_connect_now and too_many_connections. Class `08` (connection
 * exceptions) is matched by prefix.
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** Socket errors of Node.js when the server cannot be reached. */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Messages of node-postgres and its pool for a connection that closed or never opened. Knex
 * puts the SQL text in front of the driver's message, so they are not anchored.
 */
const UNAVAILABLE_MESSAGES = [
  /Connection terminated/,
  /timeout exceeded when trying to connect/,
  /Client has encountered a connection error and is not queryable/,
];

/**
 * Returns true when `error`, or an error it wraps, means that PostgreSQL cannot be reached right
 * now, so that the request may succeed when retried.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const { code, message, cause, previous } = current as Error & {
      code?: unknown;
      previous?: unknown;
    };
    if (typeof code === 'string' && isUnavailableCode(code)) {
      return true;
    }
    if (UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) {
      return true;
    }
    // MikroORM keeps the driver's error as `previous`, and other wrappers use `cause`.
    current = cause ?? previous;
  }

  return false;
}

function isUnavailableCode(code: string): boolean {
  return (
    code.startsWith('08') || UNAVAILABLE_STATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code)
  );
}
