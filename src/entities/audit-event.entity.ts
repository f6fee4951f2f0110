import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';

/** One row of the append-only audit log; rows are inserted and never changed. */
@Entity({ tableName: 'audit_events', schema: 'public' })
export class AuditEvent {
  [OptionalProps]?: 'id' | 'createdAt' | 'payload' | 'tenantId' | 'userId' | 'actorId';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Property({ type: 'string' })
  type!: string;

  @Property({ type: 'uuid', fieldName: 'tenant_id', nullable: true })
  tenantId: string | null = null;

  @Property({ type: 'uuid', fieldName: 'user_id', nullable: true })
  userId: string | null = null;

  @Property({ type: 'uuid', fieldName: 'actor_id', nullable: true })
  actorId: string | null = null;

  @Property({ type: 'json' })
  payload: Record<string, unknown> = {};

  @Property({ type: 'datetime', fieldName: 'created_at' })
  createdAt: Date = new Date();
}
