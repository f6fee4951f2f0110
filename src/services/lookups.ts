import { raw } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

import { Membership, Tenant, User } from '../entities/index.js';
import { AppError, notFound } from '../errors.js';
import { inactiveUser } from './access.js';
import { normalizeEmail } from './validation.js';

/** Finds a user by email without regard to case, or returns null. */
export async function findUserByEmail(em: EntityManager, email: string): Promise<User | null> {
  return em.findOne(User, { [raw('lower(email)')]: email.toLowerCase() });
}

/** Loads an active user by email; `NOT_FOUND` or `INACTIVE_USER` otherwise. */
export async function requireActiveUser(
  em: EntityManager,
  rawEmail: string,
  field: string,
): Promise<User> {
  const email = normalizeEmail(rawEmail, field);
  const user = await findUserByEmail(em, email);
  if (!user) {
    throw new AppError('NOT_FOUND', `The user "${email}" was not found.`, { field });
  }
  if (!user.isActive) {
    throw inactiveUser(email);
  }

  return user;
}

/** Loads an active tenant by slug; deleted and unknown tenants are `NOT_FOUND`. */
export async function requireActiveTenant(em: EntityManager, slug: string): Promise<Tenant> {
  const tenant = await em.findOne(Tenant, { slug: slug.trim().toLowerCase(), isActive: true });
  if (!tenant) {
    throw notFound('Tenant', slug);
  }

  return tenant;
}

/** Loads the public tenant, whose schema is `public`. */
export async function requirePublicTenant(em: EntityManager): Promise<Tenant> {
  const tenant = await em.findOne(Tenant, { schemaName: 'public' });
  if (!tenant) {
    throw new Error(
      'The public tenant does not exist; run the first start or `create-public-tenant`.',
    );
  }

  return tenant;
}

export async function findMembership(
  em: EntityManager,
  tenantId: string,
  userId: string,
): Promise<Membership | null> {
  return em.findOne(Membership, { tenantId, userId });
}
