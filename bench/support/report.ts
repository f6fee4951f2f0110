import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

/** Parses a command-line option that must be a positive integer. */
export function positiveInteger(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  }

  return value;
}

/** Runs `work` and returns its duration in milliseconds. */
export async function timed(work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();

  return performance.now() - start;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);

  return sorted.length % 2 === 0 ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle];
}

/** Returns the `server_version` setting of the database server behind `queryable`. */
export async function serverVersion(queryable: pg.Pool | pg.Client): Promise<string> {
  const version = await queryable.query<{ server_version: string }>('show server_version');

  return version.rows[0].server_version;
}

/** Describes the machine a bench ran on, with `postgres` as the caller reads it. */
export function describeMachine<T>(postgres: T, loadAtStart: number) {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    postgres,
    /** One-minute load averages. Other processes on the machine add noise. */
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] },
  };
}

export function formatLoadAverage(loadAverage: { start: number; end: number }): string {
  return (
    `one-minute load average: ${loadAverage.start.toFixed(2)} at start, ` +
    `${loadAverage.end.toFixed(2)} at end`
  );
}

/**
 * Writes the report to bench/results/<bench>-<timestamp>.json, which git ignores, and prints
 * the path after `label`.
 */
export async function saveReport(bench: string, label: string, report: object): Promise<void> {
  const resultsDir = path.join(import.meta.dirname, '..', 'results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(':', '-');
  const file = path.join(resultsDir, `${bench}-${stamp}.json`);
  await writeFile(file, JSON.stringify(report, null, 2));

  process.stdout.write(`${label}: ${path.relative(process.cwd(), file)}\n`);
}

/** Runs a bench's entry point and sets a failing exit code when it throws. */
export function runBenchmark(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(
      `The benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exitCode = 1;
  });
}
