import { parseArgs, type ParseArgsConfig } from 'node:util';

import type { Extension } from '../../extensions.js';
import type { Logger } from '../../logger.js';
import type { ServiceContext } from '../../services/service-context.js';
import type { TenantTypeMap } from '../../services/tenant-types.js';

/** Streams and environment that a CLI run reads and writes, those of `process` in production. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadStream;
  env: Readonly<Record<string, string | undefined>>;
}

/** Options that an application passes to `runCli` besides the arguments. */
export interface CliOptions {
  /** Tenant-schema modules, tenant types, entities and subscribers of the application. */
  extensions?: readonly Extension[];
  /** Tenant types that replace the built-in or extension types of the same name. */
  tenantTypes?: TenantTypeMap;
  /** Logger. By default, pino on stderr at LOG_LEVEL, or at `warn` when LOG_LEVEL is unset. */
  logger?: Logger;
}

export interface OptionSpec {
  /** Long name without the leading dashes, such as `owner-email`. */
  name: string;
  /**
   * `string` takes a value. `flag` is true when given and false otherwise. `switch` also has a
   * `--no-<name>` form and is undefined when neither form is given, so the service default holds.
   */
  kind: 'string' | 'flag' | 'switch';
  /** Placeholder of the value in help text, such as `EMAIL`. */
  valueName?: string;
  required?: boolean;
  /** One sentence for the help text: what the option sets, and in which unit or format. */
  description: string;
}

export type OptionValues = Readonly<Record<string, string | boolean | undefined>>;

/**
 * A command that runs one service operation as the system actor. `parse` reads and checks the
 * command line, environment variables and prompts before the database is opened, so a usage
 * error never touches the database.
 */
export interface ServiceCommand<Input = unknown, Result = unknown> {
  kind: 'service';
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Paragraphs for the command's own help, after the usage line. */
  description: string;
  options: readonly OptionSpec[];
  parse(values: OptionValues, io: CliIo): Promise<Input>;
  run(ctx: ServiceContext, input: Input): Promise<Result>;
  /** Formats the result for people. With `--json`, the CLI prints the result object itself. */
  render(result: Result): string;
}

/** A command that parses its own arguments and writes its own output, such as `migrate`. */
export interface PassthroughCommand {
  kind: 'passthrough';
  name: string;
  summary: string;
  run(args: string[], io: CliIo, options: CliOptions): Promise<number>;
}

export type Command = ServiceCommand | PassthroughCommand;

/** Defines a service command. The generic parameters tie `parse`, `run` and `render` together. */
export function serviceCommand<Input, Result>(
  command: Omit<ServiceCommand<Input, Result>, 'kind'>,
): ServiceCommand {
  return { kind: 'service', ...command } as ServiceCommand;
}

/** An invalid command line: unknown command or option, a missing or malformed value. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The option at fault, without dashes, when there is one. */
    readonly option?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Options that every service command accepts. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'json',
    kind: 'flag',
    description: 'Print the result as JSON on stdout, and an error as JSON on stderr.',
  },
  { name: 'help', kind: 'flag', description: 'Print this help and exit.' },
];

/**
 * Parses `args` against the command's options plus the common ones. Throws `UsageError` for an
 * invalid command line.
 */
export function parseOptions(command: ServiceCommand, args: string[]): OptionValues {
  const specs = [...command.options, ...COMMON_OPTIONS];
  const parsed = parseWithNodeUtil(specs, args);
  if (parsed.help === true) {
    return parsed;
  }

  const values: Record<string, string | boolean | undefined> = { json: parsed.json === true };
  for (const spec of command.options) {
    values[spec.name] = readOption(spec, parsed);
  }

  return values;
}

function parseWithNodeUtil(specs: readonly OptionSpec[], args: string[]): OptionValues {
  const config: NonNullable<ParseArgsConfig['options']> = {};
  for (const spec of specs) {
    config[spec.name] = { type: spec.kind === 'string' ? 'string' : 'boolean' };
    if (spec.kind === 'switch') {
      config[`no-${spec.name}`] = { type: 'boolean' };
    }
  }
  config.help = { type: 'boolean', short: 'h' };

  try {
    // No option sets `multiple`, so no value is an array.
    return parseArgs({ args, options: config, strict: true, allowPositionals: false })
      .values as OptionValues;
  } catch (error) {
    // node:util reports unknown options, missing values and stray arguments with an
    // ERR_PARSE_ARGS_* code and a message that names the argument.
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('ERR_PARSE_ARGS_')) {
      throw new UsageError((error as Error).message);
    }
    throw error;
  }
}

function readOption(spec: OptionSpec, parsed: OptionValues): string | boolean | undefined {
  const value = parsed[spec.name];

  if (spec.kind === 'switch') {
    const negated = parsed[`no-${spec.name}`] === true;
    if (value === true && negated) {
      throw new UsageError(`Give either --${spec.name} or --no-${spec.name}, not both.`, spec.name);
    }
    if (negated) {
      return false;
    }
    return value === true ? true : undefined;
  }
  if (spec.kind === 'flag') {
    return value === true;
  }

  if (value === undefined && spec.required) {
    throw new UsageError(`The option --${spec.name} is required.`, spec.name);
  }
  if (typeof value === 'string' && value.trim() === '') {
    throw new UsageError(`The option --${spec.name} needs a non-empty value.`, spec.name);
  }

  return value;
}

/** Returns a string option that `parseOptions` has already checked to be present. */
export function requiredString(values: OptionValues, name: string): string {
  const value = values[name];
  if (typeof value !== 'string') {
    throw new UsageError(`The option --${name} is required.`, name);
  }

  return value;
}

export function optionalString(values: OptionValues, name: string): string | undefined {
  const value = values[name];

  return typeof value === 'string' ? value : undefined;
}

/** Returns a flag (false when absent) or a switch (undefined when neither form was given). */
export function booleanOption(values: OptionValues, name: string): boolean | undefined {
  const value = values[name];

  return typeof value === 'boolean' ? value : undefined;
}

/** Parses an option whose value is a JSON object, such as `--metadata '{"plan":"pro"}'`. */
export function jsonObjectOption(
  values: OptionValues,
  name: string,
): Record<string, unknown> | undefined {
  const raw = optionalString(values, name);
  if (raw === undefined) {
    return undefined;
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new UsageError(
      `The option --${name} must be a JSON object, such as '{"plan":"pro"}': ` +
        `${(error as Error).message}.`,
      name,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(
      `The option --${name} must be a JSON object, such as '{"plan":"pro"}', not ` +
        `${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}.`,
      name,
    );
  }

  return parsed as Record<string, unknown>;
}
