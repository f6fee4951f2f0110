import { Entity, Property } from '@mikro-orm/core';

import { BaseEntity } from './base.js';

export type TenantStatus = 'PROVISIONING' | 'ACTIVE' | 'FAILED';

@Entity({ tableName: 'tenants', schema: 'public' })
export class Tenant extends BaseEntity<
  'status' | 'isActive' | 'metadata' | 'provisioningError' | 'deletedAt' | 'isPublic'
> {
  @Property({ type: 'string' })
  name!: string;

  /** DNS label that names the tenant in domains and in the API. */
  @Property({ type: 'string' })
  slug!: string;

  /** PostgreSQL schema that contains the tenant's tables; `public` for the public tenant. */
  @Property({ type: 'string', fieldName: 'schema_name' })
  schemaName!: string;

  @Property({ type: 'string', fieldName: 'tenant_type' })
  tenantType!: string;

  @Property({ type: 'string' })
  status: TenantStatus = 'ACTIVE';

  @Property({ type: 'boolean', fieldName: 'is_active' })
  isActive: boolean = true;

  @Property({ type: 'uuid', fieldName: 'owner_id' })
  ownerId!: string;

  @Property({ type: 'json' })
  metadata: Record<string, unknown> = {};

  @Property({ type: 'text', fieldName: 'provisioning_error', nullable: true })
  provisioningError: string | null = null;

  @Property({ type: 'datetime', fieldName: 'deleted_at', nullable: true })
  deletedAt: Date | null = null;

  get isPublic(): boolean {
    return this.schemaName === 'public';
  }
}
