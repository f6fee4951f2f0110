import { Entity, Property } from '@mikro-orm/core';

import { BaseEntity } from './base.js';

/** A user's belonging to a tenant; the tenant permissions row sits in the tenant's schema. */
@Entity({ tableName: 'memberships', schema: 'public' })
export class Membership extends BaseEntity {
  @Property({ type: 'uuid', fieldName: 'user_id' })
  userId!: string;

  @Property({ type: 'uuid', fieldName: 'tenant_id' })
  tenantId!: string;
}
