import type { EntityManager } from '@mikro-orm/postgresql';

import { loadMemberFlags } from '../../db/member-permissions.js';
import { Domain, Tenant, User } from '../../entities/index.js';

/**
 * A user as the CLI prints it. `isStaff` and `isSuperuser` are the user's flags in the public
 * tenant (platform staff, platform admin). The password hash is never part of it.
 */
export interface UserView {
  id: string;
  email: string;
  isActive: boolean;
  isVerified: boolean;
  isStaff: boolean;
  isSuperuser: boolean;
  /** False for an account that cannot log in until a password is set. */
  hasPassword: boolean;
  metadata: Record<string, unknown>;
  createdAt: string;
  deletedAt: string | null;
}

export interface TenantView {
  id: string;
  name: string;
  slug: string;
  schemaName: string;
  tenantType: string;
  status: string;
  isActive: boolean;
  ownerEmail: string | null;
  primaryDomain: string | null;
  metadata: Record<string, unknown>;
  createdAt: string;
  deletedAt: string | null;
}

/** Builds user views, reading every user's public-tenant flags with one query. */
export async function loadUserViews(em: EntityManager, users: User[]): Promise<UserView[]> {
  const flags = await loadMemberFlags(
    em,
    'public',
    users.map((user) => user.id),
  );

  return users.map((user) => ({
    id: user.id,
    email: user.email,
    isActive: user.isActive,
    isVerified: user.isVerified,
    isStaff: flags.get(user.id)?.isStaff ?? false,
    isSuperuser: flags.get(user.id)?.isSuperuser ?? false,
    hasPassword: user.passwordHash !== null,
    metadata: user.metadata,
    createdAt: user.createdAt.toISOString(),
    deletedAt: user.deletedAt?.toISOString() ?? null,
  }));
}

export async function loadUserView(em: EntityManager, user: User): Promise<UserView> {
  const [view] = await loadUserViews(em, [user]);

  return view!;
}

/** Builds tenant views with their owners' emails and primary domains, in two queries. */
export async function loadTenantViews(em: EntityManager, tenants: Tenant[]): Promise<TenantView[]> {
  const owners = await em.find(User, { id: { $in: tenants.map((tenant) => tenant.ownerId) } });
  const domains = await em.find(Domain, {
    tenantId: { $in: tenants.map((tenant) => tenant.id) },
    isPrimary: true,
  });
  const ownerEmails = new Map(owners.map((owner) => [owner.id, owner.email]));
  const primaryDomains = new Map(domains.map((domain) => [domain.tenantId, domain.domain]));

  return tenants.map((tenant) => ({
    id: tenant.id,
    name: tenant.name,
    slug: tenant.slug,
    schemaName: tenant.schemaName,
    tenantType: tenant.tenantType,
    status: tenant.status,
    isActive: tenant.isActive,
    ownerEmail: ownerEmails.get(tenant.ownerId) ?? null,
    primaryDomain: primaryDomains.get(tenant.id) ?? null,
    metadata: tenant.metadata,
    createdAt: tenant.createdAt.toISOString(),
    deletedAt: tenant.deletedAt?.toISOString() ?? null,
  }));
}

export async function loadTenantView(em: EntityManager, tenant: Tenant): Promise<TenantView> {
  const [view] = await loadTenantViews(em, [tenant]);

  return view!;
}

/** Describes a user's state in a few words, such as `active, verified, staff, no password`. */
export function describeUser(user: UserView): string {
  const words = [
    user.isActive ? 'active' : 'deleted',
    user.isVerified ? 'verified' : 'unverified',
    ...(user.isStaff ? ['staff'] : []),
    ...(user.isSuperuser ? ['superuser'] : []),
    user.hasPassword ? 'password set' : 'no password: cannot log in until one is set',
  ];

  return words.join(', ');
}
