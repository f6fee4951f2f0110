import type { Logger } from '../logger.js';
import type { Mailer, MailMessage } from './mailer.js';

/** Number of messages the outbox keeps; older ones are dropped first. */
export const OUTBOX_CAPACITY = 100;

/**
 * A mailer for development and tests that keeps messages in memory instead of sending them.
 * It logs the recipient and subject of each message, never its text, because the text carries
 * a single-use token.
 */
export class DevelopmentOutbox implements Mailer {
  private readonly stored: MailMessage[] = [];

  constructor(private readonly logger: Logger) {}

  /** Stored messages, oldest first. */
  get messages(): readonly MailMessage[] {
    return this.stored;
  }

  // Stores the message before the returned promise settles, so a caller that does not await
  // it still finds the message in the outbox as soon as `send` returns.
  send(message: MailMessage): Promise<void> {
    this.stored.push({ ...message });
    if (this.stored.length > OUTBOX_CAPACITY) {
      this.stored.shift();
    }
    this.logger.info(
      { to: message.to, subject: message.subject },
      'mail queued in the development outbox; set SMTP_URL to send it',
    );

    return Promise.resolve();
  }

  /** Returns the newest message sent to `to`, compared without regard to case. */
  lastTo(to: string): MailMessage | undefined {
    const recipient = to.toLowerCase();

    return this.stored.findLast((message) => message.to.toLowerCase() === recipient);
  }

  clear(): void {
    this.stored.length = 0;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
