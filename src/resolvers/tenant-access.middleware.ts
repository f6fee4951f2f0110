import type { MiddlewareFn } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import { forbidden, unauthenticated } from '../errors.js';
import { isMemberOf, isPlatformStaff, tokenCoversTenant } from '../services/access.js';

/**
 * Root fields anyone may call on any host. The password reset and email verification fields
 * carry their own proof, an email address or a single-use token, and belong to no tenant.
 */
const OPEN_TO_ANONYMOUS = new Set([
  'login',
  'currentTenant',
  'requestPasswordReset',
  'resetPassword',
  'verifyEmail',
  '__typename',
]);

/** Root fields an authenticated user may call on the host of a tenant they do not belong to. */
const OPEN_TO_NON_MEMBERS = new Set([...OPEN_TO_ANONYMOUS, 'me', 'logout']);

/**
 * Applies the host access rule to every root field: anonymous callers reach only public fields,
 * and an authenticated user who is neither a member of the routed tenant nor platform staff gets
 * `FORBIDDEN` for everything but `me`, `login` and `logout`. With self sign-up on, anonymous
 * callers may also call `createUser`, on any host.
 *
 * A service token belongs to no tenant. One that lists no tenants passes on every host, and one
 * limited to listed tenants passes only on their hosts. Either way each operation then checks
 * the token's scopes and its tenant list against the tenant it touches.
 */
export const tenantAccess: MiddlewareFn<RequestContext> = async ({ context, info }, next) => {
  const isRootField =
    info.parentType === info.schema.getQueryType() ||
    info.parentType === info.schema.getMutationType();
  if (!isRootField || OPEN_TO_ANONYMOUS.has(info.fieldName)) {
    return next();
  }

  if (context.actor.kind === 'anonymous') {
    if (info.fieldName === 'createUser' && context.config.selfSignup) {
      return next();
    }
    throw unauthenticated();
  }
  if (OPEN_TO_NON_MEMBERS.has(info.fieldName)) {
    return next();
  }
  if (context.actor.kind === 'service') {
    if (tokenCoversTenant(context.actor.token, context.tenant)) {
      return next();
    }
    throw forbidden(`This service token is not allowed in the tenant "${context.tenant.slug}".`);
  }
  if ((await isMemberOf(context, context.tenant)) || (await isPlatformStaff(context))) {
    return next();
  }

  throw forbidden(`You are not a member of the tenant "${context.tenant.slug}".`);
};
