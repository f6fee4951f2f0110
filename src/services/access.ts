import type { Tenant, User } from '../entities/index.js';
import { AppError, forbidden, unauthenticated } from '../errors.js';
import type { ServiceContext } from './service-context.js';

/**
 * Authorization rules. Rights in a tenant are read from that tenant's own schema, so an argument
 * naming another tenant is checked there and never borrows the rights of the routed tenant.
 */

const PUBLIC_SCHEMA = 'public';

/** Returns the calling user, or throws `UNAUTHENTICATED` for anonymous callers. */
export function requireUser(ctx: ServiceContext): User {
  if (ctx.actor.kind !== 'user') {
    throw unauthenticated();
  }

  return ctx.actor.user;
}

/** True for the system actor and for a superuser of the public tenant. */
export async function isPlatformAdmin(ctx: ServiceContext): Promise<boolean> {
  if (ctx.actor.kind === 'system') {
    return true;
  }
  if (ctx.actor.kind === 'anonymous') {
    return false;
  }

  const flags = await ctx.loaders.memberFlags(PUBLIC_SCHEMA, ctx.actor.user.id);

  return flags?.isSuperuser ?? false;
}

/** True for platform admins and for staff members of the public tenant. */
export async function isPlatformStaff(ctx: ServiceContext): Promise<boolean> {
  if (ctx.actor.kind !== 'user') {
    return ctx.actor.kind === 'system';
  }

  const flags = await ctx.loaders.memberFlags(PUBLIC_SCHEMA, ctx.actor.user.id);

  return (flags?.isStaff ?? false) || (flags?.isSuperuser ?? false);
}

export async function requirePlatformAdmin(ctx: ServiceContext): Promise<void> {
  requireCaller(ctx);
  if (!(await isPlatformAdmin(ctx))) {
    throw forbidden('Only a platform admin may do this.');
  }
}

/** True when the caller is a member of `tenant`, read from the tenant's own schema. */
export async function isMemberOf(ctx: ServiceContext, tenant: Tenant): Promise<boolean> {
  if (ctx.actor.kind !== 'user') {
    return false;
  }

  return (await ctx.loaders.memberFlags(tenant.schemaName, ctx.actor.user.id)) !== null;
}

/** Members of a tenant and platform staff may read it and its members. */
export async function requireTenantReader(ctx: ServiceContext, tenant: Tenant): Promise<void> {
  requireCaller(ctx);
  if ((await isMemberOf(ctx, tenant)) || (await isPlatformStaff(ctx))) {
    return;
  }

  throw forbidden(`You are not a member of the tenant "${tenant.slug}".`);
}

/**
 * A superuser of the tenant, a member holding `permission` there (such as
 * `tenant_users.add_member`) or a platform admin may manage the tenant's members.
 */
export async function requireTenantManager(
  ctx: ServiceContext,
  tenant: Tenant,
  permission: string,
): Promise<void> {
  requireCaller(ctx);
  if (await isPlatformAdmin(ctx)) {
    return;
  }

  const user = requireUser(ctx);
  const flags = await ctx.loaders.memberFlags(tenant.schemaName, user.id);
  if (flags?.isSuperuser || flags?.permissions.includes(permission)) {
    return;
  }

  throw forbidden(
    `Only a superuser of the tenant "${tenant.slug}" or a member with ${permission} may do this.`,
  );
}

function requireCaller(ctx: ServiceContext): void {
  if (ctx.actor.kind === 'anonymous') {
    throw unauthenticated();
  }
}

export function inactiveUser(email: string): AppError {
  return new AppError('INACTIVE_USER', `The user "${email}" is deactivated.`);
}
