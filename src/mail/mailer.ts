/** A plain-text email. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Sends email; the SMTP mailer in production, the development outbox otherwise. */
export interface Mailer {
  /** Sends one message; rejects when the message could not be handed over. */
  send(message: MailMessage): Promise<void>;
  /** Releases connections; the mailer is unusable afterwards. */
  close(): Promise<void>;
}
