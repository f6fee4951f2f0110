import pg from 'pg';

import type { Logger } from '../logger.js';
import {
  PROVISIONING_CHANNEL,
  claimProvisioningJob,
  nextJobDelay,
  runProvisioningJob,
} from '../services/provisioning-jobs.js';
import type { ServiceContext } from '../services/service-context.js';

/** `application_name` of the worker's LISTEN connection, to find it in pg_stat_activity. */
export const WORKER_LISTENER_APPLICATION_NAME = 'tenant-users-provisioning-worker';

export interface ProvisioningWorkerOptions {
  /** Builds a system-actor service context with its own EntityManager fork. */
  systemContext: () => ServiceContext;
  logger: Logger;
  /**
   * Connection string for LISTEN, which needs a session of its own (not PgBouncer in
   * transaction mode). Without it the worker only polls.
   */
  listenDatabaseUrl?: string;
  /**
   * Maximum wait between two polls of an empty queue while LISTEN works, in milliseconds.
   * Default 30000. Without a LISTEN connection the worker polls at least every 5000 ms.
   */
  pollIntervalMs?: number;
  /**
   * Delay before the second attempt of a job, doubled for each later one, in ms. Default: the
   * `provisioningRetryDelayMs` setting of the system context's configuration.
   */
  retryDelayMs?: number;
}

/**
 * Runs queued provisioning jobs one at a time. It wakes on the queue's NOTIFY, when a retry is
 * due, and at the poll interval in any case, so a lost notification delays a job but never
 * strands it. Any number of workers, in the server or in `tenant-users worker` processes, may
 * share one queue, because each job is claimed with `FOR UPDATE SKIP LOCKED`.
 */
export class ProvisioningWorker {
  private readonly logger: Logger;
  private running = false;
  private loop: Promise<void> | undefined;
  private listener: pg.Client | undefined;
  /** Set by a notification, so one that arrives while a claim runs is not lost. */
  private woken = false;
  private wake: (() => void) | undefined;

  constructor(private readonly options: ProvisioningWorkerOptions) {
    this.logger = options.logger.child({ module: 'provisioning-worker' });
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts listening and working; resolves once the first LISTEN attempt is done. */
  async start(): Promise<void> {
    if (this.running) {
      return;
    }
    this.running = true;
    await this.listen();
    this.loop = this.work();
    this.logger.info({ listening: this.listener !== undefined }, 'provisioning worker started');
  }

  /** Stops after the job in progress, if any, has finished. */
  async stop(): Promise<void> {
    if (!this.running) {
      return;
    }
    this.running = false;
    this.wake?.();
    await this.loop;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    this.logger.info('provisioning worker stopped');
  }

  private async work(): Promise<void> {
    while (this.running) {
      let delay: number;
      try {
        delay = await this.runNext();
      } catch (error) {
        this.logger.error({ err: error }, 'provisioning worker failed to read the queue');
        delay = this.pollIntervalMs;
      }
      if (delay > 0 && this.running) {
        await this.sleep(delay);
      }
    }
  }

  /** Runs one due job, if any, and returns how long to wait before looking again. */
  private async runNext(): Promise<number> {
    this.woken = false;
    if (!this.listener && this.options.listenDatabaseUrl) {
      await this.listen();
    }

    const ctx = this.options.systemContext();
    const retryDelayMs = this.options.retryDelayMs ?? ctx.config.provisioningRetryDelayMs;
    const job = await claimProvisioningJob(ctx.em, retryDelayMs);
    if (!job) {
      const due = await nextJobDelay(ctx.em);
      return Math.min(due ?? this.pollIntervalMs, this.pollIntervalMs);
    }

    const outcome = await runProvisioningJob(ctx, job);
    this.logger.info(
      { jobId: job.id, tenantId: job.tenantId, attempt: job.attempts, outcome },
      'provisioning job ran',
    );

    return 0;
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      return Promise.resolve();
    }

    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async listen(): Promise<void> {
    const url = this.options.listenDatabaseUrl;
    if (!url) {
      return;
    }

    const client = new pg.Client({
      connectionString: url,
      application_name: WORKER_LISTENER_APPLICATION_NAME,
      keepAlive: true,
    });
    const onLoss = (error?: unknown) => {
      if (this.listener === client) {
        this.listener = undefined;
        this.logger.warn({ err: error }, 'provisioning listener lost; polling until it reconnects');
      }
      client.end().catch(() => undefined);
    };
    client.on('error', onLoss);
    client.on('end', () => onLoss());
    client.on('notification', (message) => {
      if (message.channel === PROVISIONING_CHANNEL) {
        this.woken = true;
        this.wake?.();
      }
    });

    try {
      await client.connect();
      await client.query(`LISTEN ${PROVISIONING_CHANNEL}`);
    } catch (error) {
      this.logger.warn({ err: error }, 'provisioning listener failed to connect; polling');
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    // A job queued before LISTEN took effect sent a notification that no connection received.
    this.woken = true;
  }

  private get pollIntervalMs(): number {
    const interval = this.options.pollIntervalMs ?? 30_000;

    return this.listener ? interval : Math.min(interval, 5000);
  }
}
