import 'reflect-metadata';
import 'dotenv/config';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';

import { ConfigError, loadConfig, type Config, type LogLevel } from '../config.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { migratePublic, pendingPublicMigrations } from '../db/migrator.js';
import { createOrm } from '../db/orm.js';
import {
  DEFAULT_MIGRATION_CONCURRENCY,
  hasTenantTable,
  runTenantMigrations,
  type RunProgress,
  type SchemaOutcome,
  type TenantMigrationReport,
} from '../db/tenant-migration-runner.js';
import { createTenantTypes, type Extension } from '../extensions.js';
import { createLogger, type Logger } from '../logger.js';
import { TenantTypeConfigError, type TenantTypeMap } from '../services/tenant-types.js';

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Configuration and tenant types of the application that runs the command. */
export interface MigrateCommandSetup {
  config: Config;
  /** Extensions whose modules and tenant types the tenant schemas get, as in `createApp`. */
  extensions?: readonly Extension[];
  /** Tenant types that replace those of the same name, as in `createApp`. */
  tenantTypes?: TenantTypeMap;
}

// Each schema in progress uses one connection, and PostgreSQL allows 100 by default.
const MAX_CONCURRENCY = 64;

/** Exit status for invalid arguments or configuration. Status 1 means that migrating failed. */
const USAGE_ERROR = 2;

const USAGE = `Usage: tenant-users migrate [options]
       npm run migrate -- [options]

Applies pending migrations to the public schema, then to every tenant schema, soft-deleted
tenants included. Each tenant schema is migrated in its own transaction, so a failed or
interrupted run leaves the rest pending for the next run. Schemas that no tenant owns are
listed and never changed.

Options:
  --concurrency N  tenant schemas migrated at the same time, from 1 to ${MAX_CONCURRENCY}
                   (default ${DEFAULT_MIGRATION_CONCURRENCY}); the command opens at most N database connections
  --check          list the pending migrations of every schema and change nothing
  --json           print one JSON document instead of text
  -h, --help       print this help

Exit status: 0 when every schema is migrated (schemas that no tenant owns do not count),
1 when a schema failed, the run was interrupted or, with --check, a migration is pending,
2 for invalid arguments or configuration.
Without DATABASE_URL, the command starts the embedded PostgreSQL in TENANT_USERS_DATA_DIR.
`;

interface CommandOptions {
  concurrency: number;
  check: boolean;
  json: boolean;
}

interface PublicResult {
  applied: string[];
  pending: string[];
  error?: unknown;
}

interface CommandResult {
  publicSchema: PublicResult;
  reports: TenantMigrationReport[];
  orphanSchemas: string[];
  concurrency: number;
  interrupted: boolean;
}

/**
 * Runs `tenant-users migrate` with the configuration from the environment (and `.env`) and the
 * built-in tenant types. Returns the exit status.
 */
export async function runMigrateCommand(args: string[], io: CommandIo): Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`${error.message}\n`);
      return USAGE_ERROR;
    }
    throw error;
  }

  return runMigrateCommandWith(args, io, { config });
}

/**
 * Runs the migrate command with an application's configuration and tenant types, for an
 * application that registers its own tenant-schema modules. Returns the exit status.
 */
export async function runMigrateCommandWith(
  args: string[],
  io: CommandIo,
  setup: MigrateCommandSetup,
): Promise<number> {
  const options = parseOptions(args, io);
  if (typeof options === 'number') {
    return options;
  }
  let tenantTypes;
  try {
    tenantTypes = createTenantTypes(setup.extensions ?? [], setup.tenantTypes);
  } catch (error) {
    if (error instanceof TenantTypeConfigError) {
      io.stderr.write(`${error.message}\n`);
      return USAGE_ERROR;
    }
    throw error;
  }

  const { config } = setup;
  const logger = createLogger(commandLogLevel(config.logLevel), io.stderr);
  const interrupt = handleInterrupts(io);
  const started = performance.now();
  let embedded;
  let orm;
  try {
    embedded = config.databaseUrl
      ? undefined
      : await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
    orm = await createOrm({
      databaseUrl: config.databaseUrl ?? embedded!.url,
      logger,
      poolMax: options.concurrency,
      poolMaxUses: config.poolMaxUses,
      poolMaxAgeSeconds: config.poolMaxAgeSeconds,
      tenantTypes,
    });

    const reporter = new Reporter(io, options);
    const run = options.check ? checkAll : migrateAll;
    const result = await run(orm.em.fork(), logger, options, interrupt.signal, reporter);
    const exitCode = exitCodeOf(result, options);
    reporter.finish(result, exitCode, performance.now() - started);

    return exitCode;
  } catch (error) {
    logger.error({ err: error }, 'migrate command failed');
    io.stderr.write(`Migration failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    interrupt.dispose();
    await orm?.close();
    await embedded?.stop();
  }
}

/**
 * Turns the first SIGINT or SIGTERM into an abort, so the schemas in progress can commit and
 * no new one starts. The handlers are then removed, so a second signal ends the process.
 */
function handleInterrupts(io: CommandIo): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const dispose = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    io.stderr.write(
      `${signal} received: finishing the schemas in progress. Send it again to stop at once.\n`,
    );
    controller.abort();
    dispose();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  return { signal: controller.signal, dispose };
}

function parseOptions(args: string[], io: CommandIo): CommandOptions | number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        concurrency: { type: 'string', default: String(DEFAULT_MIGRATION_CONCURRENCY) },
        check: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return USAGE_ERROR;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }

  const concurrency = Number(values.concurrency);
  if (!/^\d+$/.test(values.concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    io.stderr.write(
      `--concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, got "${values.concurrency}".\n`,
    );
    return USAGE_ERROR;
  }

  return { concurrency, check: values.check, json: values.json };
}

/**
 * Raises the default `info` level to `warn`, because the report on stdout already covers every
 * schema. An explicit `debug` or `trace` still reaches stderr.
 */
function commandLogLevel(level: LogLevel): LogLevel {
  return level === 'info' ? 'warn' : level;
}

async function migrateAll(
  em: EntityManager,
  logger: Logger,
  options: CommandOptions,
  signal: AbortSignal,
  reporter: Reporter,
): Promise<CommandResult> {
  const publicSchema: PublicResult = { applied: [], pending: [] };
  try {
    publicSchema.applied = await migratePublic(em, logger);
  } catch (error) {
    // Tenant schemas depend on the public tables, so they wait for the next run.
    logger.error({ err: error }, 'public schema migration failed');
    publicSchema.error = error;
    return { publicSchema, reports: [], orphanSchemas: [], concurrency: 0, interrupted: false };
  }

  const run = await runTenantMigrations(em, logger, {
    concurrency: options.concurrency,
    signal,
    onReport: (report, progress) => reporter.schemaDone(report, progress),
  });

  return { publicSchema, ...run, interrupted: signal.aborted };
}

async function checkAll(
  em: EntityManager,
  logger: Logger,
  options: CommandOptions,
  _signal: AbortSignal,
  reporter: Reporter,
): Promise<CommandResult> {
  const publicSchema: PublicResult = { applied: [], pending: await pendingPublicMigrations(em) };
  if (!(await hasTenantTable(em))) {
    return { publicSchema, reports: [], orphanSchemas: [], concurrency: 0, interrupted: false };
  }

  const run = await runTenantMigrations(em, logger, {
    checkOnly: true,
    concurrency: options.concurrency,
    onReport: (report, progress) => reporter.schemaDone(report, progress),
  });

  return { publicSchema, ...run, interrupted: false };
}

function exitCodeOf(result: CommandResult, options: CommandOptions): number {
  const failed =
    result.publicSchema.error !== undefined ||
    result.interrupted ||
    result.reports.some((report) => report.outcome === 'failed');
  const pending =
    result.publicSchema.pending.length > 0 ||
    result.reports.some((report) => report.outcome === 'pending');

  return failed || (options.check && pending) ? 1 : 0;
}

/**
 * Writes the command's output: on a terminal a progress bar and the schemas that failed, were
 * skipped or have pending migrations as they are known, otherwise one line per schema, then a
 * summary. With `--json` it writes one document at the end.
 */
class Reporter {
  private readonly tty: boolean;
  private failed = 0;
  private lastDrawn = 0;

  constructor(
    private readonly io: CommandIo,
    private readonly options: CommandOptions,
  ) {
    this.tty = !options.json && (io.stdout as { isTTY?: boolean }).isTTY === true;
  }

  schemaDone(report: TenantMigrationReport, progress: RunProgress): void {
    if (this.options.json) {
      return;
    }
    if (!this.tty) {
      this.io.stdout.write(`${schemaLine(report)}\n`);
      return;
    }

    if (report.outcome === 'failed') {
      this.failed += 1;
    }
    // Up-to-date and migrated schemas only move the bar; a run may cover thousands of them.
    const pendingInCheck = this.options.check && report.outcome === 'pending';
    if (report.outcome === 'failed' || report.outcome === 'skipped' || pendingInCheck) {
      this.io.stdout.write(`\r\x1b[2K${schemaLine(report)}\n`);
      this.lastDrawn = 0;
    }
    // Redraw at most 10 times a second, and always for the last schema.
    const now = performance.now();
    if (now - this.lastDrawn >= 100 || progress.done === progress.total) {
      this.lastDrawn = now;
      this.drawBar(progress);
    }
  }

  finish(result: CommandResult, exitCode: number, durationMs: number): void {
    if (this.options.json) {
      this.io.stdout.write(
        `${JSON.stringify(jsonReport(result, exitCode, durationMs, this.options), null, 2)}\n`,
      );
      return;
    }
    if (this.tty) {
      this.io.stdout.write('\r\x1b[2K');
    }

    this.io.stdout.write(summaryLines(result, durationMs, this.options).join('\n') + '\n');
  }

  private drawBar(progress: RunProgress): void {
    const columns = (this.io.stdout as { columns?: number }).columns ?? 80;
    const verb = this.options.check ? 'Checking' : 'Migrating';
    const failed = this.failed > 0 ? `, ${this.failed} failed` : '';
    const label = ` ${progress.done}/${progress.total} schemas${failed}`;
    const width = Math.max(10, Math.min(40, columns - verb.length - label.length - 4));
    const filled =
      progress.total === 0 ? width : Math.floor((progress.done / progress.total) * width);

    this.io.stdout.write(
      `\r\x1b[2K${verb} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${label}`,
    );
  }
}

function schemaLine(report: TenantMigrationReport): string {
  const tenant = `${report.slug}${report.isActive ? '' : ', deleted'}, ${report.tenantType}`;

  return `${report.schemaName} (${tenant}): ${outcomeText(report)}`;
}

function outcomeText(report: TenantMigrationReport): string {
  switch (report.outcome) {
    case 'migrated':
      return `applied ${report.applied.join(', ')}`;
    case 'current':
      return 'up to date';
    case 'pending':
      return `pending ${report.pending.join(', ')}`;
    case 'failed':
      return `failed: ${describeError(report.error)}`;
    case 'skipped':
      return `skipped: ${report.reason}`;
  }
}

function summaryLines(
  result: CommandResult,
  durationMs: number,
  options: CommandOptions,
): string[] {
  const { publicSchema, reports } = result;
  const lines = [`public: ${publicText(publicSchema)}`];
  const counts = countOutcomes(reports);
  const parts = (Object.entries(counts) as [SchemaOutcome, number][])
    .filter(([, count]) => count > 0)
    .map(([outcome, count]) => `${count} ${OUTCOME_LABELS[outcome]}`);
  lines.push(
    `Tenant schemas: ${reports.length} in all${parts.length > 0 ? `: ${parts.join(', ')}` : ''}` +
      ` (${options.check ? 'checked' : `concurrency ${result.concurrency}`}, ` +
      `${(durationMs / 1000).toFixed(1)} s).`,
  );

  if (result.orphanSchemas.length > 0) {
    lines.push(`Schemas that no tenant owns, left unchanged: ${result.orphanSchemas.join(', ')}.`);
  }
  for (const report of reports.filter((item) => item.outcome === 'failed')) {
    lines.push(`Failed: ${schemaLine(report)}`);
  }
  if (result.interrupted) {
    lines.push(`Interrupted: ${counts.pending} schemas were not migrated; run the command again.`);
  }

  return lines;
}

const OUTCOME_LABELS: Record<SchemaOutcome, string> = {
  migrated: 'migrated',
  current: 'up to date',
  pending: 'with pending migrations',
  failed: 'failed',
  skipped: 'skipped',
};

function publicText(result: PublicResult): string {
  if (result.error !== undefined) {
    return `failed: ${describeError(result.error)}. Tenant schemas were not migrated.`;
  }
  if (result.pending.length > 0) {
    return `pending ${result.pending.join(', ')}`;
  }

  return result.applied.length > 0 ? `applied ${result.applied.join(', ')}` : 'up to date';
}

function countOutcomes(reports: readonly TenantMigrationReport[]): Record<SchemaOutcome, number> {
  const counts: Record<SchemaOutcome, number> = {
    migrated: 0,
    current: 0,
    pending: 0,
    failed: 0,
    skipped: 0,
  };
  for (const report of reports) {
    counts[report.outcome] += 1;
  }

  return counts;
}

function jsonReport(
  result: CommandResult,
  exitCode: number,
  durationMs: number,
  options: CommandOptions,
) {
  const errorOf = (error: unknown) =>
    error === undefined ? undefined : { message: describeError(error), code: sqlStateOf(error) };

  return {
    mode: options.check ? 'check' : 'migrate',
    exitCode,
    durationMs: Math.round(durationMs),
    concurrency: result.concurrency,
    interrupted: result.interrupted,
    public: { ...result.publicSchema, error: errorOf(result.publicSchema.error) },
    counts: countOutcomes(result.reports),
    schemas: result.reports.map((report) => ({ ...report, error: errorOf(report.error) })),
    orphanSchemas: result.orphanSchemas,
  };
}

function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;

  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Returns the error's message on one line. knex puts the SQL text in front of the driver's
 * message (`<sql> - <message>`), and a migration's SQL is long, so only the message is kept,
 * with the SQLSTATE code.
 */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }
  const code = sqlStateOf(error);
  const separator = error.message.lastIndexOf(' - ');
  const message = code && separator >= 0 ? error.message.slice(separator + 3) : error.message;
  const oneLine = message.replace(/\s+/g, ' ').trim();

  return code ? `${oneLine} (SQLSTATE ${code})` : oneLine;
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  process.exitCode = await runMigrateCommand(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
  });
}
