import { loadConfig } from '../../config.js';
import { ProvisioningWorker } from '../../jobs/provisioning-worker.js';
import { createLogger } from '../../logger.js';
import { openSystemServices } from '../system-context.js';
import { UsageError, type CliIo, type CliOptions, type PassthroughCommand } from './command.js';
import { describeFailure, writeFailure } from './output.js';

const HELP = `Usage: tenant-users worker

Runs queued tenant provisioning jobs (provisionTenant with wait: false) until it receives
SIGINT or SIGTERM, then finishes the job in progress and exits. Any number of workers may run
beside the servers; each job runs once at a time. Start the servers without their in-process
worker when these processes do the work.

Reads DATABASE_URL and LOG_LEVEL (default info) from the environment. Without DATABASE_URL it
starts the embedded PostgreSQL in TENANT_USERS_DATA_DIR and polls the queue every 5 s instead of
waiting for notifications.
`;

export const workerCommand: PassthroughCommand = {
  kind: 'passthrough',
  name: 'worker',
  summary: 'Run queued tenant provisioning jobs until stopped with SIGINT or SIGTERM.',

  async run(args: string[], io: CliIo, options: CliOptions): Promise<number> {
    if (args.includes('--help') || args.includes('-h')) {
      io.stdout.write(HELP);
      return 0;
    }

    try {
      if (args.length > 0) {
        throw new UsageError(`The worker command takes no arguments; got "${args.join(' ')}".`);
      }
      const config = loadConfig({ ...io.env });
      const logger = options.logger ?? createLogger(config.logLevel, io.stderr);
      const services = await openSystemServices({ ...options, config, logger });
      const worker = new ProvisioningWorker({
        systemContext: services.systemContext,
        logger,
        listenDatabaseUrl: config.databaseUrl,
      });
      try {
        await worker.start();
        io.stdout.write('worker started\n');
        await nextStopSignal();
        await worker.stop();
      } finally {
        await services.close();
      }

      return 0;
    } catch (error) {
      const failure = describeFailure(error);
      writeFailure(io, failure, { json: false, command: workerCommand });
      return failure.exitCode;
    }
  },
};

function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
