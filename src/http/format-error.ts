import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';

import type { ApolloServerPlugin } from '@apollo/server';

import { isDatabaseUnavailable } from '../db/driver-errors.js';
import { isAppError } from '../errors.js';
import type { Logger } from '../logger.js';

/** `extensions.reason` of an error caused by a database that cannot be reached. */
export const DATABASE_UNREACHABLE = 'DATABASE_UNREACHABLE';

/** Seconds a client should wait before retrying a request that met an unreachable database. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/** Body of the error sent while the database cannot be reached. The code stays masked. */
export const databaseUnavailableError = {
  message: 'The database is unavailable. Retry the request in a moment.',
  extensions: { code: 'INTERNAL_SERVER_ERROR', reason: DATABASE_UNREACHABLE },
};

/** Codes Apollo Server sets itself for malformed requests; their messages are safe to show. */
const APOLLO_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

// graphql-js prints the whole rejected variable value into this message, passwords included.
const VARIABLE_VALUE_MESSAGE = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" (?:got|has) invalid value /;

/** Replaces a coercion message that would echo a variable's value with one that names it only. */
function redactVariableValue(message: string): string {
  const match = VARIABLE_VALUE_MESSAGE.exec(message);

  return match ? `Variable "$${match[1]}" got an invalid value.` : message;
}

/**
 * Keeps expected errors as they are and masks everything else as `INTERNAL_SERVER_ERROR`,
 * logging the original. Stack traces never reach a response.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};

    if (isAppError(original)) {
      return { ...formatted, extensions: { ...extensions, code: original.code } };
    }
    if (typeof extensions.code === 'string' && APOLLO_REQUEST_CODES.has(extensions.code)) {
      return { ...formatted, message: redactVariableValue(formatted.message), extensions };
    }

    if (isDatabaseUnavailable(original)) {
      logger.warn({ err: original, path: formatted.path }, 'database unavailable');
      return { ...databaseUnavailableError, path: formatted.path, locations: formatted.locations };
    }

    logger.error({ err: original, path: formatted.path }, 'unexpected error');

    return {
      message: 'Internal server error.',
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

/**
 * Sets HTTP 503 and `Retry-After` when a request produced no data because the database
 * could not be reached, so that proxies and clients retry it. Partial data keeps HTTP 200.
 */
export function databaseUnavailablePlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') {
            return;
          }
          const { data, errors } = response.body.singleResult;
          const unavailable = errors?.some(
            (error) => error.extensions?.reason === DATABASE_UNREACHABLE,
          );
          // NOTE: only requests without data are covered by a test (the restart test). The
          // partial-data case, which keeps HTTP 200, has not been produced in a test.
          if (unavailable && data == null) {
            response.http.status = 503;
            response.http.headers.set('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
          }
        },
      };
    },
  };
}
