/**
 * One log line per GraphQL operation, and the optional human-readable log format for
 * development.
 */
import type { ApolloServerPlugin, GraphQLRequestContextWillSendResponse } from '@apollo/server';
import type { DestinationStream } from 'pino';

import type { RequestContext } from '../context/context.js';

/** Response header that carries the request id, the same id as in the request's log lines. */
export const REQUEST_ID_HEADER = 'x-request-id';

export const ANONYMOUS_OPERATION_LABEL = '(anonymous)';

/** Label of a request that failed before an operation was resolved (a parse or validation error). */
export const UNRESOLVED_OPERATION_LABEL = '(unresolved)';

export interface OperationSummary {
  /** The operation name as the document gives it, or as the client sent it when unresolved. */
  name: string | null;
  /** The name, or `(anonymous)`, or `(unresolved)` when no operation was resolved. */
  label: string;
  type: 'query' | 'mutation' | 'subscription' | 'unknown';
  /** `extensions.code` of each error in the response as the client gets it, in order. */
  errorCodes: string[];
}

/** Summarises a finished request for the log line and the metrics. */
export function describeOperation(
  requestContext: GraphQLRequestContextWillSendResponse<RequestContext>,
): OperationSummary {
  const { operation, response } = requestContext;
  const name = operation
    ? (operation.name?.value ?? null)
    : (requestContext.request.operationName ?? null);
  let label = UNRESOLVED_OPERATION_LABEL;
  if (operation) {
    label = name ?? ANONYMOUS_OPERATION_LABEL;
  }
  const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
  const errorCodes = errors.map((error) =>
    typeof error.extensions?.code === 'string' ? error.extensions.code : 'INTERNAL_SERVER_ERROR',
  );

  return { name, label, type: operation?.operation ?? 'unknown', errorCodes };
}

/**
 * Creates an Apollo plugin that writes one line per operation through the request's logger,
 * which already carries the request id, tenant and user id. The line adds the operation name
 * and type, the HTTP status, the duration in milliseconds and the first error code. Variables
 * and the query text are never logged, because variables can contain passwords.
 */
export function requestLogPlugin(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      const startedAt = performance.now();

      return {
        async willSendResponse(requestContext) {
          const { contextValue, response } = requestContext;
          const operation = describeOperation(requestContext);
          const distinctCodes = [...new Set(operation.errorCodes)];
          const line = {
            operationName: operation.name,
            operationType: operation.type,
            httpStatus: response.http.status ?? 200,
            durationMs: Math.round((performance.now() - startedAt) * 10) / 10,
            errorCode: operation.errorCodes[0],
            errorCodes: distinctCodes.length > 1 ? distinctCodes : undefined,
          };
          response.http.headers.set(REQUEST_ID_HEADER, contextValue.requestId);

          if (distinctCodes.includes('INTERNAL_SERVER_ERROR')) {
            contextValue.logger.error(line, 'operation failed');
          } else {
            contextValue.logger.info(line, 'operation finished');
          }
        },
      };
    },
  };
}

/**
 * Returns whether logs should be human-readable: `LOG_PRETTY` on, or `NODE_ENV=development`
 * without `LOG_PRETTY`. Never under vitest (`VITEST` set) or with `NODE_ENV=test`, so that test
 * output stays in the JSON format that tests parse.
 */
export function prettyLogsEnabled(env: Record<string, string | undefined>): boolean {
  if (env.VITEST || env.NODE_ENV === 'test') {
    return false;
  }

  const flag = env.LOG_PRETTY?.trim().toLowerCase();
  if (flag) {
    return ['1', 'true', 'yes', 'on'].includes(flag);
  }

  return env.NODE_ENV === 'development';
}

/**
 * Creates a pino-pretty stream to stdout. pino-pretty is a development dependency, so an
 * installation without dev dependencies gets undefined back, and stays with JSON lines.
 */
export async function createPrettyDestination(): Promise<DestinationStream | undefined> {
  try {
    const { default: pretty } = await import('pino-pretty');

    return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  } catch (error) {
    process.stderr.write(
      'Readable logs were requested (LOG_PRETTY or NODE_ENV=development), but pino-pretty ' +
        `failed to load (${String(error)}). Logging JSON lines instead; install the dev ` +
        'dependencies to get readable logs.\n',
    );

    return undefined;
  }
}
