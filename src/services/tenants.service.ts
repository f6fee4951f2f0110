import { randomBytes } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

import { Domain, Membership, Tenant, User } from '../entities/index.js';
import { AppError, forbidden, notFound } from '../errors.js';
import { setMemberSuperuser } from '../db/member-permissions.js';
import {
  isPlatformAdmin,
  requirePlatformAdmin,
  requireTenantReader,
  requireTokenAccess,
  requireUser,
} from './access.js';
import type { DomainEvent } from './events.js';
import { removeMembership, addMember } from './memberships.service.js';
import {
  findMembership,
  requireActiveTenant,
  requireActiveUser,
  requirePublicTenant,
} from './lookups.js';
import { enqueueProvisioning, installTenantSchema } from './provisioning-jobs.js';
import { actorId, inTransaction, type ServiceContext } from './service-context.js';
import { DEFAULT_TENANT_TYPE, provisioningStepsOf } from './tenant-types.js';
import { validateSchemaName, validateSlug, validateTenantName } from './validation.js';

export interface ProvisionTenantInput {
  name: string;
  slug: string;
  ownerEmail: string;
  tenantType?: string | null;
  schemaName?: string | null;
  isStaff?: boolean;
  isSuperuser?: boolean;
  metadata?: Record<string, unknown> | null;
  domainMetadata?: Record<string, unknown> | null;
  /** False to queue the schema creation and return a `PROVISIONING` tenant at once. */
  wait?: boolean;
}

type RecordEvent = (event: DomainEvent) => void;

/**
 * Creates a tenant with its primary domain, schema, tables and owner membership in one
 * transaction, so a failure at any step leaves nothing behind. With `wait: false`, the same
 * transaction writes the tenant as `PROVISIONING`, its domain and a job in the provisioning
 * queue, and a worker creates the rest later (see provisioning-jobs.ts).
 */
export async function provisionTenant(
  ctx: ServiceContext,
  input: ProvisionTenantInput,
): Promise<Tenant> {
  await requireProvisioner(ctx, input.ownerEmail);

  const name = validateTenantName(input.name);
  validateSlug(input.slug, ctx.config);
  const tenantType = input.tenantType ?? DEFAULT_TENANT_TYPE;
  const steps = provisioningStepsOf(ctx.em, tenantType);
  if (input.schemaName != null) {
    validateSchemaName(input.schemaName);
  }
  const owner = await requireActiveUser(ctx.em, input.ownerEmail, 'ownerEmail');
  requireVerifiedOwner(ctx, owner);
  const schemaName = input.schemaName ?? deriveSchemaName(input.slug);
  const domainName = primaryDomainOf(input.slug, ctx);
  const plan = {
    ownerId: owner.id,
    isStaff: input.isStaff ?? false,
    isSuperuser: input.isSuperuser ?? true,
    actorId: actorId(ctx.actor) ?? null,
  };
  const queued = input.wait === false;

  const tenant = await inTransaction(ctx, async (tx, record) => {
    const created = tx.create(Tenant, {
      name,
      slug: input.slug,
      schemaName,
      tenantType,
      ownerId: owner.id,
      metadata: input.metadata ?? {},
      status: queued ? 'PROVISIONING' : 'ACTIVE',
    });
    await tx.persist(created).flush();
    const domain = {
      domain: domainName,
      tenantId: created.id,
      metadata: input.domainMetadata ?? {},
    };

    if (queued) {
      await enqueueProvisioning(tx, created, plan, domain, ctx.config.provisioningMaxAttempts);
      return created;
    }

    await installTenantSchema(tx, created, plan, { steps, domain });
    record({
      type: 'tenantProvisioned',
      tenantId: created.id,
      userId: owner.id,
      payload: { slug: created.slug, schemaName, tenantType, domain: domainName },
    });

    return created;
  });

  ctx.logger.info(
    { slug: tenant.slug, schema: schemaName, status: tenant.status },
    queued ? 'tenant provisioning queued' : 'tenant provisioned',
  );

  return tenant;
}

/**
 * Checks who may provision a tenant for `ownerEmail`. An active user may provision a tenant they
 * own themself while self-service provisioning is on. A tenant for another owner needs a
 * platform admin, or a service token with `tenants:write` that lists no tenants, because the new
 * tenant is on no token's list.
 */
async function requireProvisioner(ctx: ServiceContext, ownerEmail: string): Promise<void> {
  if (await isPlatformAdmin(ctx)) {
    return;
  }
  if (ctx.actor.kind === 'service') {
    requireTokenAccess(ctx.actor.token, 'tenants:write', []);
    if (ctx.actor.token.tenantIds !== null) {
      throw forbidden('A service token limited to listed tenants cannot provision a tenant.');
    }
    return;
  }

  const caller = requireUser(ctx);
  const forSelf = ownerEmail.trim().toLowerCase() === caller.email.toLowerCase();
  if (forSelf && ctx.config.selfServiceProvisioning) {
    return;
  }

  throw forbidden(
    forSelf
      ? 'Self-service provisioning is off; ask a platform admin to provision the tenant.'
      : 'Only a platform admin or a service token with tenants:write may provision a tenant ' +
          'for another owner.',
  );
}

/**
 * Rejects an owner whose email address is not verified, while `requireVerifiedEmailToProvision`
 * is on. The rule applies to every caller, platform admins and the CLI included.
 */
function requireVerifiedOwner(ctx: ServiceContext, owner: User): void {
  if (ctx.config.requireVerifiedEmailToProvision && !owner.isVerified) {
    throw new AppError(
      'FORBIDDEN',
      `The email address of "${owner.email}" is not verified; verify it to own a tenant.`,
      { field: 'ownerEmail', reason: 'EMAIL_NOT_VERIFIED' },
    );
  }
}

/**
 * Soft-deletes a tenant: removes every member but the owner, hands the tenant to the public
 * tenant's owner, removes the previous owner and deactivates the tenant and its domains. The
 * schema and its data stay.
 */
export async function deleteTenantInTransaction(
  tx: EntityManager,
  tenant: Tenant,
  record: RecordEvent,
): Promise<void> {
  if (tenant.isPublic) {
    throw new AppError('PUBLIC_TENANT_PROTECTED', 'The public tenant cannot be deleted.');
  }

  const publicOwner = await tx.findOneOrFail(User, { id: (await requirePublicTenant(tx)).ownerId });
  const previousOwner = await tx.findOneOrFail(User, { id: tenant.ownerId });
  const memberships = await tx.find(Membership, { tenantId: tenant.id });
  const others = memberships.filter(
    (m) => m.userId !== previousOwner.id && m.userId !== publicOwner.id,
  );
  for (const membership of others) {
    const user = await tx.findOneOrFail(User, { id: membership.userId });
    await removeMembership(tx, tenant, user, record);
  }

  if (previousOwner.id !== publicOwner.id) {
    if (await findMembership(tx, tenant.id, publicOwner.id)) {
      await setMemberSuperuser(tx, tenant.schemaName, publicOwner.id, true);
    } else {
      await addMember(tx, tenant, publicOwner, { isStaff: false, isSuperuser: true }, record);
    }
    tenant.ownerId = publicOwner.id;
    await tx.flush();
    await removeMembership(tx, tenant, previousOwner, record);
  }

  tenant.isActive = false;
  tenant.deletedAt = new Date();
  await tx.nativeUpdate(Domain, { tenantId: tenant.id }, { isActive: false });
  await tx.flush();

  record({
    type: 'tenantDeleted',
    tenantId: tenant.id,
    userId: previousOwner.id,
    payload: { slug: tenant.slug, previousOwner: previousOwner.email, owner: publicOwner.email },
  });
}

/** Domain of a tenant: `<slug>.<TENANT_USERS_DOMAIN>`, or the bare slug in subfolder mode. */
export function primaryDomainOf(slug: string, ctx: Pick<ServiceContext, 'config'>): string {
  return ctx.config.subfolderPrefix ? slug : `${slug}.${ctx.config.tenantDomain}`;
}

/** Turns a slug into a schema name with a random suffix, e.g. `dunder_mifflin_k3x9q2`. */
export function deriveSchemaName(slug: string): string {
  const suffix = randomBytes(4).readUInt32BE().toString(36).padStart(6, '0').slice(-6);
  let base = slug.replaceAll('-', '_');
  if (!/^[a-z_]/.test(base) || base.startsWith('pg_')) {
    base = `t_${base}`;
  }

  return `${base.slice(0, 63 - suffix.length - 1)}_${suffix}`;
}

/** Soft-deletes a tenant named by slug; allowed to its owner and to platform admins. */
export async function deleteTenant(ctx: ServiceContext, slug: string): Promise<Tenant> {
  const tenant = await requireActiveTenantForOwner(ctx, slug);

  await inTransaction(ctx, async (tx, record) => {
    // Locked and read again, so that a transfer or a deletion that committed meanwhile is seen.
    const managed = await tx.findOneOrFail(
      Tenant,
      { id: tenant.id },
      { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
    );
    if (!managed.isActive) {
      throw notFound('Tenant', slug);
    }
    if (managed.ownerId !== tenant.ownerId && !(await isPlatformAdmin(ctx))) {
      throw forbidden(`The ownership of "${slug}" changed; only its owner may delete it.`);
    }
    await deleteTenantInTransaction(tx, managed, record);
  });

  return ctx.em.findOneOrFail(Tenant, { id: tenant.id }, { refresh: true });
}

async function requireActiveTenantForOwner(ctx: ServiceContext, slug: string): Promise<Tenant> {
  const tenant = await requireActiveTenant(ctx.em, slug);
  if (tenant.isPublic) {
    throw new AppError('PUBLIC_TENANT_PROTECTED', 'The public tenant cannot be deleted.');
  }
  if (ctx.actor.kind === 'user' && ctx.actor.user.id === tenant.ownerId) {
    return tenant;
  }

  await requirePlatformAdmin(ctx);

  return tenant;
}

/** Loads a tenant by slug for reading; allowed to its members and to platform staff. */
export async function getTenant(ctx: ServiceContext, slug: string): Promise<Tenant> {
  const tenant = await requireActiveTenant(ctx.em, slug);
  await requireTenantReader(ctx, tenant);

  return tenant;
}
