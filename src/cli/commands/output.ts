import { ConfigError } from '../../config.js';
import { isAppError } from '../../errors.js';
import { TenantTypeConfigError } from '../../services/tenant-types.js';
import { UsageError, type CliIo, type PassthroughCommand, type ServiceCommand } from './command.js';
import { PROGRAM_NAME } from './help.js';

/** Exit status of a failed operation: a service error, a configuration or database fault. */
export const EXIT_FAILURE = 1;
/** Exit status of an invalid command line, as argparse and most Unix tools use it. */
export const EXIT_USAGE = 2;
/** Exit status after Ctrl-C, as a shell reports a process ended by SIGINT. */
export const EXIT_INTERRUPTED = 130;

/** The prompt was ended with Ctrl-C or the end of input. */
export class PromptAbortedError extends Error {
  constructor() {
    super('Cancelled at the password prompt.');
    this.name = 'PromptAbortedError';
  }
}

/** An error as the CLI prints it: the API's error code, the message and the details. */
export interface CliFailure {
  code: string;
  message: string;
  /** `extensions` of a service error without `code`, or the option of a usage error. */
  details: Record<string, unknown>;
  exitCode: number;
}

/**
 * Classifies an error. Service errors keep their code and details. Errors the services did not
 * expect are `INTERNAL_SERVER_ERROR`, as in the API, but keep their message, because the
 * operator who runs the CLI may see what the server would log.
 */
export function describeFailure(error: unknown): CliFailure {
  if (error instanceof UsageError) {
    return {
      code: 'BAD_USER_INPUT',
      message: error.message,
      details: error.option ? { option: error.option } : {},
      exitCode: EXIT_USAGE,
    };
  }
  if (isAppError(error)) {
    const { code: _code, ...details } = error.extensions;
    return { code: error.code, message: error.message, details, exitCode: EXIT_FAILURE };
  }
  if (error instanceof ConfigError || error instanceof TenantTypeConfigError) {
    return {
      code: 'INVALID_CONFIGURATION',
      message: error.message,
      details: { problems: error.problems },
      exitCode: EXIT_FAILURE,
    };
  }
  if (error instanceof PromptAbortedError) {
    return { code: 'ABORTED', message: error.message, details: {}, exitCode: EXIT_INTERRUPTED };
  }

  return {
    code: 'INTERNAL_SERVER_ERROR',
    message: safeErrorMessage(error),
    details: {},
    exitCode: EXIT_FAILURE,
  };
}

/**
 * Returns an unexpected error's message without the SQL text that knex puts in front of a
 * database error's message (`<sql> - <message>`). That text contains the inserted values, a
 * password hash among them, which must never be printed or logged. The SQLSTATE is kept.
 */
export function safeErrorMessage(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }

  const sqlState = sqlStateOf(error);
  if (sqlState === undefined) {
    return error.message;
  }
  const separator = error.message.lastIndexOf(' - ');
  const message = separator >= 0 ? error.message.slice(separator + 3) : error.message;

  return `${message} (SQLSTATE ${sqlState})`;
}

/**
 * Returns what the log may hold of an unexpected error: its name, safe message, SQLSTATE and
 * stack frames, but not the first line of the stack, which repeats the unsafe message.
 */
export function loggableError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) {
    return { message: String(error) };
  }

  const frames = (error.stack ?? '').split('\n').filter((line) => line.trim().startsWith('at '));

  return {
    type: error.name,
    message: safeErrorMessage(error),
    sqlState: sqlStateOf(error),
    stack: frames.join('\n'),
  };
}

/** Returns the SQLSTATE that node-postgres errors and MikroORM's exceptions carry. */
function sqlStateOf(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;

  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Writes a failure to stderr: `error CODE: message` and one line per detail, or a JSON object
 * `{"error": {"code", "message", ...details}}` with `--json`.
 */
export function writeFailure(
  io: CliIo,
  failure: CliFailure,
  options: { json: boolean; command?: ServiceCommand | PassthroughCommand },
): void {
  if (options.json) {
    const body = { error: { code: failure.code, message: failure.message, ...failure.details } };
    io.stderr.write(`${JSON.stringify(body)}\n`);
    return;
  }

  const lines = [`error ${failure.code}: ${failure.message}`];
  for (const [key, value] of Object.entries(failure.details)) {
    if (key === 'problems') {
      continue;
    }
    const option = key === 'field' ? optionOfField(options.command, value) : undefined;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    lines.push(`  ${key}: ${text}${option ? ` (option --${option})` : ''}`);
  }
  if (failure.exitCode === EXIT_USAGE) {
    const target = options.command ? `${PROGRAM_NAME} ${options.command.name}` : PROGRAM_NAME;
    lines.push(`Run "${target} --help" for usage.`);
  }
  if (failure.code === 'INTERNAL_SERVER_ERROR') {
    lines.push('Run again with LOG_LEVEL=debug to log the stack trace.');
  }
  io.stderr.write(`${lines.join('\n')}\n`);
}

/**
 * Returns the command-line option behind a service error's `field`: `ownerEmail` comes from
 * `--owner-email`, and `ownerPassword` from `--owner-password-env`.
 */
function optionOfField(
  command: ServiceCommand | PassthroughCommand | undefined,
  field: unknown,
): string | undefined {
  if (command?.kind !== 'service' || typeof field !== 'string') {
    return undefined;
  }

  const kebab = field.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  const names = new Set(command.options.map((option) => option.name));
  for (const candidate of [kebab, `${kebab}-env`]) {
    if (names.has(candidate)) {
      return candidate;
    }
  }

  return undefined;
}

/** Writes a command's result to stdout: as JSON with `--json`, else the rendered text. */
export function writeResult(io: CliIo, result: unknown, text: string, json: boolean): void {
  io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : ensureNewline(text));
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** Formats rows as columns separated by two spaces, with a header row. */
export function renderTable(headers: readonly string[], rows: readonly string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const format = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();

  return [format(headers), ...rows.map(format)].join('\n');
}
