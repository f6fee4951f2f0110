import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';

import { isAppError } from '../errors.js';
import type { Logger } from '../logger.js';

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

    logger.error({ err: original, path: formatted.path }, 'unexpected error');

    return {
      message: 'Internal server error.',
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}
