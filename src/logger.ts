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

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'tenant-users' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };

  return destination ? pino(options, destination) : pino(options);
}
