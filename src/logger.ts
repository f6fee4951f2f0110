import { pino, type Logger } from 'pino';

import type { LogLevel } from './config.js';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
const REDACTED_PATHS = [
  'password',
  'passwordHash',
  'token',
  'authorization',
  '*.password',
  '*.passwordHash',
  '*.token',
  '*.authorization',
  'req.headers.authorization',
  'variables.*.password',
  'variables.password',
];

/** Five-character SQLSTATE code that PostgreSQL errors carry. */
const SQL_STATE = /^[0-9A-Z]{5}$/;

/**
 * Serializes an error like pino's standard serializer, but drops the SQL text that knex puts in
 * front of a database error's message: its inlined values can hold a password hash or a token.
 */
function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  const sqlState = (error as { code?: unknown })?.code;
  if (typeof sqlState !== 'string' || !SQL_STATE.test(sqlState)) {
    return serialized;
  }

  const message = String(serialized.message ?? '');
  const databaseMessage = message.includes(' - ')
    ? message.slice(message.lastIndexOf(' - ') + 3)
    : message;
  const stack = String(serialized.stack ?? '').replace(message, databaseMessage);
  const { sql: _sql, ...rest } = serialized;

  return { ...rest, message: databaseMessage, stack };
}

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'tenant-users' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError, error: serializeError },
  };

  return destination ? pino(options, destination) : pino(options);
}
