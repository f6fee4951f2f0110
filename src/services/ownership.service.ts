import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

import { Tenant, User } from '../entities/index.js';
import { badInput, forbidden, notFound, unauthenticated } from '../errors.js';
import { loadMemberFlags, setMemberSuperuser } from '../db/member-permissions.js';
import { inactiveUser, isPlatformAdmin } from './access.js';
import type { DomainEvent } from './events.js';
import { findMembership, requireActiveUser } from './lookups.js';
import { addMember, removeMembership } from './memberships.service.js';
import { inTransaction, type ServiceContext } from './service-context.js';

export interface TransferOwnershipInput {
  /** Slug of the tenant. */
  tenant: string;
  newOwnerEmail: string;
  /** Keep the previous owner as a member without superuser, even when they are in no group. */
  keepPreviousOwner?: boolean;
}

type RecordEvent = (event: DomainEvent) => void;

/**
 * Transfers a tenant to another active user. Only the owner and platform admins may do it. The
 * new owner becomes a superuser member. The previous owner loses superuser there and is removed
 * unless they belong to a group there or `keepPreviousOwner` is set.
 */
export async function transferTenantOwnership(
  ctx: ServiceContext,
  input: TransferOwnershipInput,
): Promise<Tenant> {
  if (ctx.actor.kind === 'anonymous') {
    throw unauthenticated();
  }
  // Read before the transaction opens, so that the transaction does not keep one pooled
  // connection while it waits for another.
  const callerIsAdmin = await isPlatformAdmin(ctx);

  const tenantId = await inTransaction(ctx, async (tx, record) => {
    const tenant = await lockTenantBySlug(tx, input.tenant);
    if (!tenant.isActive) {
      throw notFound('Tenant', input.tenant);
    }
    const callerIsOwner = ctx.actor.kind === 'user' && ctx.actor.user.id === tenant.ownerId;
    if (!callerIsOwner && !callerIsAdmin) {
      throw forbidden(`Only the owner of "${tenant.slug}" or a platform admin may transfer it.`);
    }

    const newOwner = await lockActiveUser(tx, input.newOwnerEmail, 'newOwnerEmail');
    if (newOwner.id === tenant.ownerId) {
      throw badInput('newOwnerEmail', `"${newOwner.email}" already owns "${tenant.slug}".`);
    }

    await handOverOwnership(tx, tenant, newOwner, input.keepPreviousOwner ?? false, record);

    return tenant.id;
  });

  return ctx.em.findOneOrFail(Tenant, { id: tenantId }, { refresh: true });
}

/**
 * Makes `newOwner` the owner and a superuser member of `tenant`, then takes superuser from the
 * previous owner and removes them unless they are in a group there or `keepPreviousOwner` is
 * set. The previous owner always stays in the public tenant, to which every user belongs.
 */
export async function handOverOwnership(
  tx: EntityManager,
  tenant: Tenant,
  newOwner: User,
  keepPreviousOwner: boolean,
  record: RecordEvent,
): Promise<void> {
  const previousOwner = await tx.findOneOrFail(User, { id: tenant.ownerId });

  await makeSuperuserMember(tx, tenant, newOwner, record);
  tenant.ownerId = newOwner.id;
  await tx.flush();

  const previousOwnerKept = await demotePreviousOwner(
    tx,
    tenant,
    previousOwner,
    keepPreviousOwner || tenant.isPublic,
    record,
  );

  record({
    type: 'tenantOwnershipTransferred',
    tenantId: tenant.id,
    userId: newOwner.id,
    payload: {
      tenant: tenant.slug,
      previousOwner: previousOwner.email,
      newOwner: newOwner.email,
      previousOwnerKept,
    },
  });
}

/** Adds `user` to `tenant` as a superuser, or sets superuser on their existing permissions row. */
export async function makeSuperuserMember(
  tx: EntityManager,
  tenant: Tenant,
  user: User,
  record: RecordEvent,
): Promise<void> {
  if (!(await findMembership(tx, tenant.id, user.id))) {
    await addMember(tx, tenant, user, { isStaff: false, isSuperuser: true }, record);
    return;
  }

  await setSuperuser(tx, tenant.schemaName, user.id, true);
}

/**
 * Loads a tenant by slug, active or deleted, and locks its row until the transaction ends, so
 * that concurrent changes to its owner or state wait for each other. `NOT_FOUND` if no tenant
 * has that slug.
 */
export async function lockTenantBySlug(tx: EntityManager, slug: string): Promise<Tenant> {
  const tenant = await tx.findOne(
    Tenant,
    { slug: slug.trim().toLowerCase() },
    { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
  );
  if (!tenant) {
    throw notFound('Tenant', slug);
  }

  return tenant;
}

/**
 * Loads an active user by email and keeps a share lock on their row until the transaction ends.
 * A concurrent deletion locks the row for update, so it either finishes first and is reported
 * here as `INACTIVE_USER`, or waits until this transaction commits.
 */
export async function lockActiveUser(
  tx: EntityManager,
  email: string,
  field: string,
): Promise<User> {
  const found = await requireActiveUser(tx, email, field);
  const user = await tx.findOneOrFail(
    User,
    { id: found.id },
    { lockMode: LockMode.PESSIMISTIC_READ, refresh: true },
  );
  if (!user.isActive) {
    throw inactiveUser(user.email);
  }

  return user;
}

/** Returns whether the previous owner is still a member afterwards. */
async function demotePreviousOwner(
  tx: EntityManager,
  tenant: Tenant,
  previousOwner: User,
  keep: boolean,
  record: RecordEvent,
): Promise<boolean> {
  const flags = (await loadMemberFlags(tx, tenant.schemaName, [previousOwner.id])).get(
    previousOwner.id,
  );
  if (!flags) {
    return false;
  }

  await setSuperuser(tx, tenant.schemaName, previousOwner.id, false);
  if (keep || flags.groups.length > 0) {
    return true;
  }

  await removeMembership(tx, tenant, previousOwner, record);

  return false;
}

async function setSuperuser(
  tx: EntityManager,
  schemaName: string,
  userId: string,
  isSuperuser: boolean,
): Promise<void> {
  if (!(await setMemberSuperuser(tx, schemaName, userId, isSuperuser))) {
    throw new Error(`Member ${userId} has no permissions row in schema ${schemaName}`);
  }
}
