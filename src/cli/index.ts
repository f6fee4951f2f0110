/**
 * The `tenant-users` operator CLI: management commands that run the services as the system
 * actor. bin/tenant-users.js starts it through tsx. An application with extensions can call
 * `runCli` from its own entry point, so that the commands know its tenant types.
 */
import 'reflect-metadata';

import { loadConfig, type Config } from '../config.js';
import { createLogger } from '../logger.js';
import {
  parseOptions,
  UsageError,
  type CliIo,
  type CliOptions,
  type ServiceCommand,
} from './commands/command.js';
import { renderCommandHelp, renderProgramHelp } from './commands/help.js';
import { COMMANDS } from './commands/index.js';
import { describeFailure, loggableError, writeFailure, writeResult } from './commands/output.js';
import { openSystemServices } from './system-context.js';

export type { CliIo, CliOptions } from './commands/command.js';

/** Runs one CLI invocation and returns its exit status: 0, 1 (failure) or 2 (usage). */
export async function runCli(args: string[], io: CliIo, options: CliOptions = {}): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    return printHelp(rest[0], io, options);
  }

  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    const failure = describeFailure(
      new UsageError(`Unknown command "${name}". Commands: ${commandNames()}.`),
    );
    writeFailure(io, failure, { json: rest.includes('--json') });
    return failure.exitCode;
  }
  if (command.kind === 'passthrough') {
    return command.run(rest, io, options);
  }

  return runServiceCommand(command, rest, io, options);
}

async function runServiceCommand(
  command: ServiceCommand,
  args: string[],
  io: CliIo,
  options: CliOptions,
): Promise<number> {
  // Until the options are parsed, an error is printed as JSON when `--json` is anywhere.
  let json = args.includes('--json');
  let logger = options.logger;
  try {
    const values = parseOptions(command, args);
    if (values.help === true) {
      io.stdout.write(renderCommandHelp(command));
      return 0;
    }
    json = values.json === true;

    const input = await command.parse(values, io);
    const config = loadCliConfig(io.env);
    logger ??= createLogger(config.logLevel, io.stderr);
    const services = await openSystemServices({ ...options, config, logger });
    try {
      const result = await command.run(services.systemContext(), input);
      writeResult(io, result, command.render(result), json);
    } finally {
      await services.close();
    }

    return 0;
  } catch (error) {
    const failure = describeFailure(error);
    if (failure.code === 'INTERNAL_SERVER_ERROR') {
      logger?.debug({ error: loggableError(error), command: command.name }, 'command failed');
    }
    writeFailure(io, failure, { json, command });
    return failure.exitCode;
  }
}

/** Loads the configuration with `warn` as the log level when LOG_LEVEL is unset. */
function loadCliConfig(env: CliIo['env']): Config {
  const overrides: Partial<Config> = env.LOG_LEVEL?.trim() ? {} : { logLevel: 'warn' };

  return loadConfig({ ...env }, overrides);
}

async function printHelp(
  commandName: string | undefined,
  io: CliIo,
  options: CliOptions,
): Promise<number> {
  if (commandName === undefined) {
    io.stdout.write(renderProgramHelp(COMMANDS));
    return 0;
  }

  const command = COMMANDS.find((candidate) => candidate.name === commandName);
  if (!command) {
    const failure = describeFailure(
      new UsageError(`Unknown command "${commandName}". Commands: ${commandNames()}.`),
    );
    writeFailure(io, failure, { json: false });
    return failure.exitCode;
  }
  if (command.kind === 'passthrough') {
    return command.run(['--help'], io, options);
  }

  io.stdout.write(renderCommandHelp(command));
  return 0;
}

function commandNames(): string {
  return COMMANDS.map((command) => command.name).join(', ');
}

/** Runs the CLI on this process's arguments and streams, and sets the exit code. */
export async function main(): Promise<void> {
  // Loaded here rather than at module scope, so that `runCli` never reads a .env file.
  await import('dotenv/config');
  const exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
  });
  // Exits explicitly: a pool or listener a command left open must not keep the process alive,
  // and nothing after this may replace the exit code.
  process.exit(exitCode);
}
