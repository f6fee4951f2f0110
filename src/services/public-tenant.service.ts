import { randomBytes } from 'node:crypto';

import { Domain, Membership, Tenant, User } from '../entities/index.js';
import { AppError, isAppError } from '../errors.js';
import { insertMemberPermissions } from '../db/member-permissions.js';
import { validateNewDomain } from './domains.service.js';
import { inTransaction, type ServiceContext } from './service-context.js';
import { PUBLIC_TENANT_TYPE } from './tenant-types.js';
import { normalizeEmail, validatePassword } from './validation.js';

export interface CreatePublicTenantInput {
  domain: string;
  ownerEmail: string;
  /** Null makes an owner who cannot log in until a password is set. */
  ownerPassword: string | null;
  name?: string;
  isStaff?: boolean;
  isSuperuser?: boolean;
  metadata?: Record<string, unknown>;
  ownerMetadata?: Record<string, unknown>;
  domainMetadata?: Record<string, unknown>;
}

export interface PublicTenantResult {
  tenant: Tenant;
  owner: User;
  domain: Domain;
}

/**
 * Creates the public tenant (schema `public`), its primary domain and its owner, who is a
 * verified platform admin by default. A second call is `ALREADY_EXISTS` and creates nothing.
 */
export async function createPublicTenant(
  ctx: ServiceContext,
  input: CreatePublicTenantInput,
): Promise<PublicTenantResult> {
  const email = normalizeEmail(input.ownerEmail, 'ownerEmail');
  const domainName = validateNewDomain(input.domain, ctx.config);
  if (input.ownerPassword !== null) {
    validatePassword(input.ownerPassword, ctx.config, 'ownerPassword');
  }
  if (await ctx.em.count(Tenant, { schemaName: 'public' })) {
    throw new AppError('ALREADY_EXISTS', 'The public tenant already exists.');
  }
  const passwordHash =
    input.ownerPassword === null ? null : await ctx.passwords.hash(input.ownerPassword);

  return inTransaction(ctx, async (tx, record) => {
    const owner = tx.create(User, {
      email,
      passwordHash,
      isVerified: true,
      metadata: input.ownerMetadata ?? {},
    });
    // Flushed on its own: without declared relations the unit of work does not order the
    // insert of the user before the tenant that references it.
    await tx.flush();
    const tenant = tx.create(Tenant, {
      name: input.name ?? 'Public',
      slug: 'public',
      schemaName: 'public',
      tenantType: PUBLIC_TENANT_TYPE,
      ownerId: owner.id,
      metadata: input.metadata ?? {},
    });
    await tx.flush();
    const domain = tx.create(Domain, {
      domain: domainName,
      tenantId: tenant.id,
      isPrimary: true,
      metadata: input.domainMetadata ?? {},
    });
    tx.create(Membership, { tenantId: tenant.id, userId: owner.id });
    await tx.flush();
    await insertMemberPermissions(tx, 'public', owner.id, {
      isStaff: input.isStaff ?? true,
      isSuperuser: input.isSuperuser ?? true,
    });

    record({ type: 'userCreated', userId: owner.id, payload: { email } });
    record({
      type: 'tenantProvisioned',
      tenantId: tenant.id,
      userId: owner.id,
      payload: {
        slug: 'public',
        schemaName: 'public',
        tenantType: PUBLIC_TENANT_TYPE,
        domain: domainName,
      },
    });

    return { tenant, owner, domain };
  });
}

/**
 * Creates the public tenant and platform admin on the first start; a later start finds them and
 * returns null. Returns the generated password when the configuration gave none.
 */
export async function ensurePublicTenant(
  ctx: ServiceContext,
): Promise<{ email: string; generatedPassword: string | null } | null> {
  if (await ctx.em.count(Tenant, { schemaName: 'public' })) {
    if (ctx.config.adminPassword !== undefined) {
      ctx.logger.warn(
        'TENANT_USERS_ADMIN_PASSWORD is ignored: the platform admin exists already. ' +
          'Change the password with the setPassword mutation or resetPassword instead.',
      );
    }
    return null;
  }

  const generatedPassword =
    ctx.config.adminPassword === undefined ? randomBytes(18).toString('base64url') : null;
  try {
    const result = await createPublicTenant(ctx, {
      domain: ctx.config.publicDomain,
      ownerEmail: ctx.config.adminEmail,
      ownerPassword: ctx.config.adminPassword ?? generatedPassword,
    });

    return { email: result.owner.email, generatedPassword };
  } catch (error) {
    // Several processes starting at once on an empty database: one creates the public tenant,
    // the others see its unique slug taken and go on with it.
    const createdMeanwhile =
      isAppError(error) &&
      error.code === 'ALREADY_EXISTS' &&
      (await ctx.em.fork().count(Tenant, { schemaName: 'public' })) > 0;
    if (createdMeanwhile) {
      return null;
    }

    throw error;
  }
}
