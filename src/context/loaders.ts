import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';

import { Domain, Tenant, User } from '../entities/index.js';
import { loadMemberFlags, type MemberFlags } from '../db/member-permissions.js';

/** Separates schema and user id in member-flags keys; a NUL byte is in neither. */
const KEY_SEPARATOR = '\u0000';

/**
 * Per-request batching and caching of reads. Member flags are keyed by tenant schema and user,
 * so a result for one tenant is never reused for another.
 */
export class Loaders {
  readonly userById: DataLoader<string, User | null>;
  readonly tenantById: DataLoader<string, Tenant | null>;
  readonly domainsByTenantId: DataLoader<string, Domain[]>;
  private readonly memberFlagsByKey: DataLoader<string, MemberFlags | null>;

  constructor(em: EntityManager) {
    this.userById = new DataLoader(async (ids) => {
      const users = await em.find(User, { id: { $in: [...ids] } });
      const byId = new Map(users.map((user) => [user.id, user]));

      return ids.map((id) => byId.get(id) ?? null);
    });

    this.tenantById = new DataLoader(async (ids) => {
      const tenants = await em.find(Tenant, { id: { $in: [...ids] } });
      const byId = new Map(tenants.map((tenant) => [tenant.id, tenant]));

      return ids.map((id) => byId.get(id) ?? null);
    });

    this.domainsByTenantId = new DataLoader(async (tenantIds) => {
      const domains = await em.find(
        Domain,
        { tenantId: { $in: [...tenantIds] } },
        { orderBy: { isPrimary: 'desc', domain: 'asc' } },
      );

      return tenantIds.map((id) => domains.filter((domain) => domain.tenantId === id));
    });

    this.memberFlagsByKey = new DataLoader(async (keys) => loadFlagsForKeys(em, keys));
  }

  /** Loads a user's permissions in one tenant schema; null when the user has no row there. */
  memberFlags(schemaName: string, userId: string): Promise<MemberFlags | null> {
    return this.memberFlagsByKey.load(`${schemaName}${KEY_SEPARATOR}${userId}`);
  }

  /** Forgets every cached result, after a change to the data it came from. */
  clearAll(): void {
    this.userById.clearAll();
    this.tenantById.clearAll();
    this.domainsByTenantId.clearAll();
    this.memberFlagsByKey.clearAll();
  }
}

async function loadFlagsForKeys(
  em: EntityManager,
  keys: readonly string[],
): Promise<(MemberFlags | null)[]> {
  const userIdsBySchema = new Map<string, string[]>();
  for (const key of keys) {
    const [schema, userId] = key.split(KEY_SEPARATOR);
    userIdsBySchema.set(schema, [...(userIdsBySchema.get(schema) ?? []), userId]);
  }

  const results = new Map<string, MemberFlags>();
  for (const [schema, userIds] of userIdsBySchema) {
    const flags = await loadMemberFlags(em, schema, userIds);
    for (const [userId, value] of flags) {
      results.set(`${schema}${KEY_SEPARATOR}${userId}`, value);
    }
  }

  return keys.map((key) => results.get(key) ?? null);
}
