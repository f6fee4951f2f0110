import type { EntityManager } from '@mikro-orm/postgresql';

import { Domain, Membership, Tenant } from '../entities/index.js';
import { AppError, badInput } from '../errors.js';
import { quoteIdent, runSql } from '../db/sql.js';
import { requirePlatformAdmin } from './access.js';
import {
  handOverOwnership,
  lockActiveUser,
  lockTenantBySlug,
  makeSuperuserMember,
} from './ownership.service.js';
import { inTransaction, type ServiceContext } from './service-context.js';

/**
 * Reactivates a soft-deleted tenant and its domains with `ownerEmail` as its owner, a superuser
 * member. The owner the deletion put in place loses superuser and is removed unless they are in
 * a group there. Platform admins only. `BAD_USER_INPUT` for an active tenant, `ALREADY_EXISTS`
 * when another tenant has a domain row for one of its host names.
 */
export async function restoreTenant(
  ctx: ServiceContext,
  slug: string,
  ownerEmail: string,
): Promise<Tenant> {
  await requirePlatformAdmin(ctx);

  const tenantId = await inTransaction(ctx, async (tx, record) => {
    const tenant = await lockTenantBySlug(tx, slug);
    if (tenant.isActive) {
      throw badInput(
        'tenant',
        `The tenant "${tenant.slug}" is active; only a deleted tenant can be restored.`,
      );
    }
    const owner = await lockActiveUser(tx, ownerEmail, 'ownerEmail');
    const domains = await tx.find(Domain, { tenantId: tenant.id });
    await requireDomainsFree(tx, tenant, domains);

    tenant.isActive = true;
    tenant.deletedAt = null;
    for (const domain of domains) {
      domain.isActive = true;
    }
    await tx.flush();

    if (owner.id === tenant.ownerId) {
      await makeSuperuserMember(tx, tenant, owner, record);
    } else {
      await handOverOwnership(tx, tenant, owner, false, record);
    }

    record({
      type: 'tenantRestored',
      tenantId: tenant.id,
      userId: owner.id,
      payload: { tenant: tenant.slug, owner: owner.email, domains: domains.map((d) => d.domain) },
    });

    return tenant.id;
  });

  ctx.logger.info({ tenant: slug }, 'tenant restored');

  return ctx.em.findOneOrFail(Tenant, { id: tenantId }, { refresh: true });
}

/**
 * Destroys a soft-deleted tenant: drops its schema with all its data, and deletes its tenant,
 * domain and membership rows, in one transaction. Platform admins only. `confirmSlug` must
 * repeat the slug. `BAD_USER_INPUT` for a tenant that is still active, so that data is destroyed
 * only after `deleteTenant`.
 */
export async function purgeTenant(
  ctx: ServiceContext,
  slug: string,
  confirmSlug: string,
): Promise<boolean> {
  await requirePlatformAdmin(ctx);

  const schemaName = await inTransaction(ctx, async (tx, record) => {
    const tenant = await lockTenantBySlug(tx, slug);
    if (tenant.isPublic) {
      throw new AppError('PUBLIC_TENANT_PROTECTED', 'The public tenant cannot be purged.');
    }
    if (confirmSlug !== tenant.slug) {
      throw badInput('confirmSlug', `Repeat the slug "${tenant.slug}" to purge the tenant.`);
    }
    if (tenant.isActive) {
      throw badInput('tenant', `The tenant "${tenant.slug}" is active; delete it first.`);
    }

    const domains = await tx.find(Domain, { tenantId: tenant.id });
    const memberCount = await tx.nativeDelete(Membership, { tenantId: tenant.id });
    await tx.nativeDelete(Domain, { tenantId: tenant.id });
    tx.remove(tenant);
    await tx.flush();
    await runSql(tx, `drop schema if exists ${quoteIdent(tenant.schemaName)} cascade`);

    record({
      type: 'tenantPurged',
      tenantId: tenant.id,
      payload: {
        tenant: tenant.slug,
        schemaName: tenant.schemaName,
        domains: domains.map((domain) => domain.domain),
        memberCount,
      },
    });

    return tenant.schemaName;
  });

  ctx.logger.info({ tenant: slug, schema: schemaName }, 'tenant purged');

  return true;
}

/**
 * Raises `ALREADY_EXISTS` when another tenant has a row for one of the host names in `domains`.
 * A deleted tenant keeps its domain rows and the unique index covers them, so only a row that
 * differs in case can be found here: the index lets it through, yet it names the same host.
 */
async function requireDomainsFree(
  tx: EntityManager,
  tenant: Tenant,
  domains: readonly Domain[],
): Promise<void> {
  const names = domains.map((domain) => domain.domain.toLowerCase());
  const conflicts = await runSql<{ domain: string }>(
    tx,
    `select domain from public.domains
     where lower(domain) = any(?::text[]) and tenant_id <> ? order by domain limit 1`,
    [names, tenant.id],
  );
  if (conflicts.length > 0) {
    const domain = conflicts[0].domain;
    throw new AppError(
      'ALREADY_EXISTS',
      `The domain "${domain}" of "${tenant.slug}" now belongs to another tenant.`,
      { field: 'tenant', domain },
    );
  }
}
