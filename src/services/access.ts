import type { EntityManager } from '@mikro-orm/postgresql';

import { Membership, Tenant, type ServiceToken, type User } from '../entities/index.js';
import { AppError, forbidden, unauthenticated } from '../errors.js';
import { loadMemberFlags } from '../db/member-permissions.js';
import type { ServiceContext } from './service-context.js';

/**
 * Authorization rules. Rights in a tenant are read from that tenant's own schema, so an argument
 * naming another tenant is checked there and never borrows the rights of the routed tenant.
 */

const PUBLIC_SCHEMA = 'public';

/**
 * Scopes a service token may carry:
 * - `users:read`: read users.
 * - `users:write`: create and delete users, never with platform staff or admin rights.
 * - `tenants:read`: read a tenant and its members.
 * - `tenants:write`: provision a tenant for any owner.
 * - `members:write`: add users to a tenant and remove them, never as superusers.
 * A write scope includes the read scope of the same resource.
 */
export const SERVICE_TOKEN_SCOPES = [
  'users:read',
  'users:write',
  'tenants:read',
  'tenants:write',
  'members:write',
] as const;

export type ServiceTokenScope = (typeof SERVICE_TOKEN_SCOPES)[number];

/**
 * Returns the calling user. Throws `UNAUTHENTICATED` for anonymous callers and `FORBIDDEN` for
 * service tokens, which act for no user.
 */
export function requireUser(ctx: ServiceContext): User {
  if (ctx.actor.kind === 'service') {
    throw forbidden('A service token cannot do this; log in as a user.');
  }
  if (ctx.actor.kind !== 'user') {
    throw unauthenticated();
  }

  return ctx.actor.user;
}

/** True for the system actor and for a superuser of the public tenant. */
export async function isPlatformAdmin(ctx: ServiceContext): Promise<boolean> {
  if (ctx.actor.kind !== 'user') {
    return ctx.actor.kind === 'system';
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
  // A tenant that is still provisioning, or whose provisioning failed, has no schema and so no
  // members yet.
  if (tenant.status !== 'ACTIVE') {
    return false;
  }

  return (await ctx.loaders.memberFlags(tenant.schemaName, ctx.actor.user.id)) !== null;
}

/**
 * Lets platform admins and service tokens with `scope` pass. A token limited to listed tenants
 * reaches this only in a request on one of their hosts, which the host access rule checks.
 */
export async function requirePlatformAdminOrScope(
  ctx: ServiceContext,
  scope: ServiceTokenScope,
): Promise<void> {
  requireCaller(ctx);
  if (ctx.actor.kind === 'service') {
    requireTokenAccess(ctx.actor.token, scope, []);
    return;
  }
  if (!(await isPlatformAdmin(ctx))) {
    throw forbidden(`Only a platform admin or a service token with ${scope} may do this.`);
  }
}

/** True when the token has `scope`, itself or through the write scope of the same resource. */
export function tokenHasScope(token: ServiceToken, scope: ServiceTokenScope): boolean {
  const write = scope.replace(/:read$/, ':write');

  return token.scopes.includes(scope) || token.scopes.includes(write);
}

/** True when the token may touch `tenant`: it lists no tenants, or lists this one. */
export function tokenCoversTenant(token: ServiceToken, tenant: Pick<Tenant, 'id'>): boolean {
  return token.tenantIds === null || token.tenantIds.includes(tenant.id);
}

/** Throws `FORBIDDEN` unless the token has `scope` and may touch each of `tenants`. */
export function requireTokenAccess(
  token: ServiceToken,
  scope: ServiceTokenScope,
  tenants: readonly Pick<Tenant, 'id' | 'slug'>[],
): void {
  if (!tokenHasScope(token, scope)) {
    throw forbidden(`This service token lacks the scope ${scope}.`);
  }

  const outside = tenants.find((tenant) => !tokenCoversTenant(token, tenant));
  if (outside) {
    throw forbidden(`This service token is not allowed in the tenant "${outside.slug}".`);
  }
}

/**
 * For a service token limited to listed tenants, throws `FORBIDDEN` unless every tenant `user`
 * belongs to is listed. The public tenant counts only when the user is staff or superuser
 * there, because every user is a member of it. Other callers pass. Call it in the transaction
 * that holds the user's row lock, so that no membership appears between check and change.
 */
export async function requireTokenCoversMember(
  ctx: ServiceContext,
  em: EntityManager,
  user: User,
): Promise<void> {
  if (ctx.actor.kind !== 'service' || ctx.actor.token.tenantIds === null) {
    return;
  }

  const token = ctx.actor.token;
  const memberships = await em.find(Membership, { userId: user.id });
  const tenants = await em.find(Tenant, { id: { $in: memberships.map((m) => m.tenantId) } });
  for (const tenant of tenants.filter((each) => !tokenCoversTenant(token, each))) {
    const flags = tenant.isPublic
      ? (await loadMemberFlags(em, PUBLIC_SCHEMA, [user.id])).get(user.id)
      : undefined;
    if (tenant.isPublic && !flags?.isStaff && !flags?.isSuperuser) {
      continue;
    }

    throw forbidden(
      `"${user.email}" belongs to the tenant "${tenant.slug}", ` +
        'which this service token may not touch.',
    );
  }
}

/**
 * Lets members of a tenant, platform staff and service tokens with `tenants:read` that may touch
 * the tenant pass, to read the tenant and its members.
 */
export async function requireTenantReader(ctx: ServiceContext, tenant: Tenant): Promise<void> {
  requireCaller(ctx);
  if (ctx.actor.kind === 'service') {
    requireTokenAccess(ctx.actor.token, 'tenants:read', [tenant]);
    return;
  }
  // The owner of a tenant still provisioning is no member yet, but may follow its status.
  if (ctx.actor.kind === 'user' && ctx.actor.user.id === tenant.ownerId) {
    return;
  }
  if ((await isMemberOf(ctx, tenant)) || (await isPlatformStaff(ctx))) {
    return;
  }

  throw forbidden(`You are not a member of the tenant "${tenant.slug}".`);
}

/**
 * Lets the user themself, platform staff and service tokens with `users:read` pass, to read a
 * user's details and tenants. A token limited to listed tenants reads only users who belong to
 * one of them.
 */
export async function requireUserReader(ctx: ServiceContext, user: User): Promise<void> {
  if (ctx.loggedInUserId === user.id) {
    return;
  }
  requireCaller(ctx);
  if (ctx.actor.kind === 'service') {
    requireTokenAccess(ctx.actor.token, 'users:read', []);
    const tenantIds = ctx.actor.token.tenantIds;
    const sharesTenant =
      tenantIds === null ||
      (await ctx.em.count(Membership, { userId: user.id, tenantId: { $in: tenantIds } })) > 0;
    if (!sharesTenant) {
      throw forbidden(`"${user.email}" belongs to no tenant this service token may touch.`);
    }
    return;
  }

  const isSelf = ctx.actor.kind === 'user' && ctx.actor.user.id === user.id;
  if (isSelf || ctx.loggedInUserId === user.id || (await isPlatformStaff(ctx))) {
    return;
  }

  throw forbidden("Only the user and platform staff may read a user's details.");
}

/**
 * Lets pass those who may manage the tenant's members: a superuser of the tenant, a member
 * holding `permission` there (such as `tenant_users.add_member`), a platform admin, or a service
 * token with `members:write` that may touch the tenant.
 */
export async function requireTenantManager(
  ctx: ServiceContext,
  tenant: Tenant,
  permission: string,
): Promise<void> {
  requireCaller(ctx);
  if (ctx.actor.kind === 'service') {
    requireTokenAccess(ctx.actor.token, 'members:write', [tenant]);
    return;
  }
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

/**
 * Lets platform staff pass, and service tokens that hold `scope` and are not limited to listed
 * tenants, to read the whole directory of users or tenants.
 */
export async function requireDirectoryReader(
  ctx: ServiceContext,
  scope: ServiceTokenScope,
): Promise<void> {
  requireCaller(ctx);
  if (ctx.actor.kind === 'service') {
    requireTokenAccess(ctx.actor.token, scope, []);
    if (ctx.actor.token.tenantIds !== null) {
      throw forbidden('A service token limited to listed tenants cannot read the directory.');
    }
    return;
  }
  if (await isPlatformStaff(ctx)) {
    return;
  }

  throw forbidden('Only platform staff may list every user or tenant.');
}
