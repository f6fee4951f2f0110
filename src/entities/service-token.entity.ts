import { ArrayType, Entity, Property } from '@mikro-orm/core';

import { BaseEntity } from './base.js';

/**
 * A bearer token for another program, made by a platform admin. Only the SHA-256 hash of the
 * token is stored. `tenantIds` null means the token may touch every tenant.
 */
@Entity({ tableName: 'service_tokens', schema: 'public' })
export class ServiceToken extends BaseEntity<
  'tenantIds' | 'createdById' | 'lastUsedAt' | 'revokedAt'
> {
  @Property({ type: 'string' })
  name!: string;

  @Property({ type: 'string', fieldName: 'token_hash', hidden: true })
  tokenHash!: string;

  /** Scopes such as `users:write`; see `SERVICE_TOKEN_SCOPES`. */
  @Property({ type: ArrayType, columnType: 'text[]' })
  scopes!: string[];

  /** Ids of the only tenants the token may touch; null for every tenant. */
  @Property({ type: ArrayType, columnType: 'uuid[]', fieldName: 'tenant_ids', nullable: true })
  tenantIds: string[] | null = null;

  /**
   * The platform admin who created the token; null when the system actor (the CLI) did. The
   * token stays valid when that admin is deleted, because it belongs to the platform.
   */
  @Property({ type: 'uuid', fieldName: 'created_by_id', nullable: true })
  createdById: string | null = null;

  /** Last successful authentication, updated at most once a minute. */
  @Property({ type: 'datetime', fieldName: 'last_used_at', nullable: true })
  lastUsedAt: Date | null = null;

  @Property({ type: 'datetime', fieldName: 'revoked_at', nullable: true })
  revokedAt: Date | null = null;
}
