import type { MiddlewareFn } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import { forbidden, unauthenticated } from '../errors.js';
import { isMemberOf, isPlatformStaff } from '../services/access.js';

/** Root fields anyone may call on any host. */
const OPEN_TO_ANONYMOUS = new Set(['login', 'currentTenant', '__typename']);

/** Root fields an authenticated user may call on the host of a tenant they do not belong to. */
const OPEN_TO_NON_MEMBERS = new Set([...OPEN_TO_ANONYMOUS, 'me', 'logout']);

/**
 * Applies the host access rule to every root field: anonymous callers reach only public fields,
 * and an authenticated user who is neither a member of the routed tenant nor platform staff gets
 * `FORBIDDEN` for everything but `me`, `login` and `logout`.
 */
export const tenantAccess: MiddlewareFn<RequestContext> = async ({ context, info }, next) => {
  const isRootField =
    info.parentType === info.schema.getQueryType() ||
    info.parentType === info.schema.getMutationType();
  if (!isRootField || OPEN_TO_ANONYMOUS.has(info.fieldName)) {
    return next();
  }

  if (context.actor.kind === 'anonymous') {
    throw unauthenticated();
  }
  if (OPEN_TO_NON_MEMBERS.has(info.fieldName)) {
    return next();
  }
  if ((await isMemberOf(context, context.tenant)) || (await isPlatformStaff(context))) {
    return next();
  }

  throw forbidden(`You are not a member of the tenant "${context.tenant.slug}".`);
};
