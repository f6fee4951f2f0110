import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Mailer } from './mailer.js';
import { DevelopmentOutbox } from './outbox.js';
import { SmtpMailer } from './smtp-mailer.js';

export type { Mailer, MailMessage } from './mailer.js';
export { DevelopmentOutbox } from './outbox.js';
export { SmtpMailer } from './smtp-mailer.js';

/**
 * Builds the mailer that the configuration selects: SMTP when `smtpUrl` is set, otherwise the
 * in-memory development outbox, which is also returned as `outbox`.
 */
export function createMailer(
  config: Config,
  logger: Logger,
): { mailer: Mailer; outbox: DevelopmentOutbox | undefined } {
  const log = logger.child({ module: 'mail' });
  if (config.smtpUrl) {
    return { mailer: new SmtpMailer(config.smtpUrl, config.mailFrom, log), outbox: undefined };
  }

  const outbox = new DevelopmentOutbox(log);

  return { mailer: outbox, outbox };
}
