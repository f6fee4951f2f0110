import { User } from '../entities/index.js';
import type { MailMessage } from '../mail/mailer.js';
import { replacePassword } from './auth.service.js';
import { clearAttempts, countAttempt, loginEmailKey, mailKeys } from './login-throttle.js';
import { findUserByEmail } from './lookups.js';
import { checkPasswordPolicy } from './passwords.js';
import { inTransaction, type ServiceContext } from './service-context.js';
import {
  consumeToken,
  describeLifetime,
  findTokenUser,
  invalidToken,
  issueToken,
  tokenLink,
} from './single-use-tokens.js';
import { normalizeEmail } from './validation.js';

/**
 * Sends a password reset link to an active user with this email, and returns true whether or
 * not such a user exists, so the response does not tell who has an account. The mail is sent in
 * the background for the same reason: the response does not wait for the SMTP server.
 * Requests count against the email and the client address (`TOO_MANY_REQUESTS` over the limit)
 * whether or not the email has an account.
 */
export async function requestPasswordReset(
  ctx: ServiceContext,
  rawEmail: string,
): Promise<boolean> {
  const email = normalizeEmail(rawEmail);
  await countAttempt(
    ctx.em,
    ctx.config,
    ctx.logger,
    mailKeys(ctx.config, email, ctx.clientAddress),
  );

  const user = await findUserByEmail(ctx.em, email);
  if (!user || !user.isActive) {
    ctx.logger.info('password reset requested for an email without an active user; no mail sent');
    return true;
  }

  // NOTE: only this branch inserts a token row, so its response comes later, by the time of that
  // insert, than the response for an unknown email. Both bodies are the same.
  const ttlSeconds = ctx.config.passwordResetTokenTtlSeconds;
  const token = await issueToken(ctx.em, user.id, 'reset_password', ttlSeconds);
  sendInBackground(ctx, user.id, resetMessage(ctx, user.email, token, ttlSeconds));
  ctx.logger.info({ targetUserId: user.id }, 'password reset link issued');

  return true;
}

/**
 * Sets a new password with a reset token, once. Revokes every session and every other reset
 * token of the user, marks the email verified (the token reached that mailbox) and clears the
 * email's login counter. A bad token is `BAD_USER_INPUT` on `token`.
 */
export async function resetPassword(
  ctx: ServiceContext,
  token: string,
  newPassword: string,
): Promise<boolean> {
  checkPasswordPolicy(newPassword, ctx.config.passwordMinLength, 'newPassword');
  // A cheap read first, so that a guessed token costs no bcrypt work.
  if ((await findTokenUser(ctx.em, token, 'reset_password')) === null) {
    throw invalidToken();
  }

  const passwordHash = await ctx.passwords.hash(newPassword);
  const userId = await inTransaction(ctx, async (tx) => {
    const id = await consumeToken(tx, token, 'reset_password');
    if (id === null) {
      throw invalidToken();
    }

    await replacePassword(tx, id, passwordHash);
    await tx.nativeUpdate(User, { id }, { isVerified: true });

    return id;
  });

  const user = await ctx.em.findOneOrFail(User, { id: userId }, { refresh: true });
  await clearAttempts(ctx.em, loginEmailKey(ctx.config, user.email));
  ctx.logger.info({ targetUserId: userId }, 'password reset; sessions revoked');

  return true;
}

function resetMessage(
  ctx: ServiceContext,
  to: string,
  token: string,
  ttlSeconds: number,
): MailMessage {
  const link = tokenLink(ctx.config.publicUrl, 'reset-password', token);

  return {
    to,
    subject: 'Reset your password',
    text:
      `Someone asked to reset the password of ${to}.\n\n` +
      `To choose a new password, open this link within ${describeLifetime(ttlSeconds)}:\n\n${link}\n\n` +
      'The link works once. If you did not ask for it, ignore this mail; your password stays.\n',
  };
}

/** Sends a mail without waiting for it; a failure is logged with the user id. */
function sendInBackground(ctx: ServiceContext, userId: string, message: MailMessage): void {
  ctx.mailer.send(message).catch((error: unknown) => {
    ctx.logger.error(
      { err: error, targetUserId: userId, subject: message.subject },
      'sending mail failed',
    );
  });
}
