import { Entity, Property } from '@mikro-orm/core';

import { BaseEntity } from './base.js';

@Entity({ tableName: 'domains', schema: 'public' })
export class Domain extends BaseEntity<'isPrimary' | 'isActive' | 'metadata'> {
  /** Normalised host name (lowercase, no port, no trailing dot). */
  @Property({ type: 'string' })
  domain!: string;

  @Property({ type: 'uuid', fieldName: 'tenant_id' })
  tenantId!: string;

  @Property({ type: 'boolean', fieldName: 'is_primary' })
  isPrimary: boolean = false;

  /** False while the tenant is deleted, so the domain stops routing but stays taken. */
  @Property({ type: 'boolean', fieldName: 'is_active' })
  isActive: boolean = true;

  @Property({ type: 'json' })
  metadata: Record<string, unknown> = {};
}
