import { User } from '../entities/index.js';
import type { MailMessage } from '../mail/mailer.js';
import { requireUser } from './access.js';
import { countAttempt, mailKeys } from './login-throttle.js';
import { inTransaction, type ServiceContext } from './service-context.js';
import {
  consumeToken,
  describeLifetime,
  invalidToken,
  issueToken,
  revokeTokens,
  tokenLink,
} from './single-use-tokens.js';

/**
 * Sends the caller a link that verifies their email address. Returns false, and sends nothing,
 * when the address is already verified. Requests count against the email and the client
 * address like password reset requests.
 */
export async function requestEmailVerification(ctx: ServiceContext): Promise<boolean> {
  const caller = requireUser(ctx);
  const user = await ctx.em.findOneOrFail(User, { id: caller.id }, { refresh: true });
  if (user.isVerified) {
    return false;
  }

  await countAttempt(
    ctx.em,
    ctx.config,
    ctx.logger,
    mailKeys(ctx.config, user.email, ctx.clientAddress),
  );
  const ttlSeconds = ctx.config.verificationTokenTtlSeconds;
  const token = await issueToken(ctx.em, user.id, 'verify_email', ttlSeconds);
  await ctx.mailer.send(verificationMessage(ctx, user.email, token, ttlSeconds));
  ctx.logger.info('email verification link sent');

  return true;
}

/**
 * Marks the email of the token's user verified, once; any caller may send the token. A bad
 * token is `BAD_USER_INPUT` on `token`.
 */
export async function verifyEmail(ctx: ServiceContext, token: string): Promise<boolean> {
  const userId = await inTransaction(ctx, async (tx) => {
    const id = await consumeToken(tx, token, 'verify_email');
    if (id === null) {
      throw invalidToken();
    }

    await tx.nativeUpdate(User, { id }, { isVerified: true, updatedAt: new Date() });
    await revokeTokens(tx, id, 'verify_email');

    return id;
  });
  ctx.logger.info({ targetUserId: userId }, 'email verified');

  return true;
}

function verificationMessage(
  ctx: ServiceContext,
  to: string,
  token: string,
  ttlSeconds: number,
): MailMessage {
  const link = tokenLink(ctx.config.publicUrl, 'verify-email', token);

  return {
    to,
    subject: 'Verify your email address',
    text:
      `To confirm that ${to} is your address, open this link within ${describeLifetime(ttlSeconds)}:\n\n` +
      `${link}\n\nThe link works once. If you did not ask for it, ignore this mail.\n`,
  };
}
