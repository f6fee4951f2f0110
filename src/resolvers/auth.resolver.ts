import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import { changePassword, login, logout, setPassword } from '../services/auth.service.js';
import { requestEmailVerification, verifyEmail } from '../services/email-verification.service.js';
import { requestPasswordReset, resetPassword } from '../services/password-reset.service.js';
import { LoginResultType } from './types/login-result.type.js';
import { UserType } from './types/user.type.js';

@Resolver()
export class AuthResolver {
  @Query(() => UserType, { nullable: true, description: 'The calling user; needs a bearer token.' })
  me(@Ctx() ctx: RequestContext) {
    return ctx.actor.kind === 'user' ? ctx.actor.user : null;
  }

  @Mutation(() => LoginResultType, {
    description:
      'Opens a session with an email and password. UNAUTHENTICATED for any wrong pair; ' +
      'TOO_MANY_REQUESTS, with extensions.retryAfter in seconds, after too many failures.',
  })
  login(
    @Arg('email', () => String) email: string,
    @Arg('password', () => String) password: string,
    @Ctx() ctx: RequestContext,
  ) {
    return login(ctx, email, password);
  }

  @Mutation(() => Boolean, { description: 'Revokes the session of the bearer token at once.' })
  logout(@Ctx() ctx: RequestContext) {
    return logout(ctx);
  }

  @Mutation(() => Boolean, {
    description:
      "Changes the caller's password and revokes every other session of the caller. " +
      'BAD_USER_INPUT on currentPassword when it is wrong.',
  })
  changePassword(
    @Arg('currentPassword', () => String) currentPassword: string,
    @Arg('newPassword', () => String, {
      description: 'At least the minimum length, at most 72 bytes.',
    })
    newPassword: string,
    @Ctx() ctx: RequestContext,
  ) {
    return changePassword(ctx, currentPassword, newPassword);
  }

  @Mutation(() => UserType, {
    description: "Sets a user's password and revokes all of their sessions; for platform admins.",
  })
  setPassword(
    @Arg('email', () => String, { description: 'Email of an active user.' }) email: string,
    @Arg('password', () => String, {
      description: 'At least the minimum length, at most 72 bytes.',
    })
    password: string,
    @Ctx() ctx: RequestContext,
  ) {
    return setPassword(ctx, email, password);
  }

  @Mutation(() => Boolean, {
    description:
      'Mails the caller a single-use link that verifies their email address. False when the ' +
      'address is already verified, and then nothing is sent.',
  })
  requestEmailVerification(@Ctx() ctx: RequestContext) {
    return requestEmailVerification(ctx);
  }

  @Mutation(() => Boolean, {
    description: 'Marks an email address verified with the token of a verification link.',
  })
  verifyEmail(
    @Arg('token', () => String, { description: 'The token of the link.' }) token: string,
    @Ctx() ctx: RequestContext,
  ) {
    return verifyEmail(ctx, token);
  }

  @Mutation(() => Boolean, {
    description:
      'Mails a single-use password reset link when an active user has this email. Always ' +
      'true, so the answer does not tell whether the email has an account.',
  })
  requestPasswordReset(@Arg('email', () => String) email: string, @Ctx() ctx: RequestContext) {
    return requestPasswordReset(ctx, email);
  }

  @Mutation(() => Boolean, {
    description:
      'Sets a new password with the token of a reset link, and revokes every session of ' +
      'the user. BAD_USER_INPUT on token when the link is invalid, used or expired.',
  })
  resetPassword(
    @Arg('token', () => String, { description: 'The token of the link.' }) token: string,
    @Arg('newPassword', () => String, {
      description: 'At least the minimum length, at most 72 bytes.',
    })
    newPassword: string,
    @Ctx() ctx: RequestContext,
  ) {
    return resetPassword(ctx, token, newPassword);
  }
}
