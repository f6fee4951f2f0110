import nodemailer, { type Transporter } from 'nodemailer';

import type { Logger } from '../logger.js';
import type { Mailer, MailMessage } from './mailer.js';

/** Sends mail through an SMTP server with nodemailer, over a pool of reused connections. */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;

  /**
   * `smtpUrl` is a URL such as `smtps://user:pass@mail.example.com:465`; nodemailer reads the
   * host, port, credentials and TLS mode from it.
   */
  constructor(
    smtpUrl: string,
    private readonly from: string,
    private readonly logger: Logger,
  ) {
    const url = new URL(smtpUrl);
    url.searchParams.set('pool', 'true');
    this.transport = nodemailer.createTransport(url.toString());
  }

  async send(message: MailMessage): Promise<void> {
    const info = await this.transport.sendMail({ from: this.from, ...message });

    this.logger.info(
      { to: message.to, subject: message.subject, messageId: info.messageId },
      'mail sent',
    );
  }

  close(): Promise<void> {
    this.transport.close();

    return Promise.resolve();
  }
}
