import { Field, ID, ObjectType } from 'type-graphql';
import { DateTimeResolver, EmailAddressResolver, JSONObjectResolver } from 'graphql-scalars';

import { Connection } from './connection.js';

@ObjectType('AuditEvent', { description: 'One entry of the append-only audit log.' })
export class AuditEventType {
  @Field(() => ID, { description: 'Row id; a later entry has a larger id.' })
  id!: string;

  @Field(() => String, {
    description: 'Event type, such as userCreated, tenantDeleted or domainAdded.',
  })
  type!: string;

  @Field(() => String, {
    nullable: true,
    description: 'Slug of the tenant concerned; null for no tenant or a purged tenant.',
  })
  tenantSlug!: string | null;

  @Field(() => EmailAddressResolver, {
    nullable: true,
    description: 'Email of the user the event is about; null when it is about no user.',
  })
  userEmail!: string | null;

  @Field(() => EmailAddressResolver, {
    nullable: true,
    description: 'Email of the user who made the change; null for the system (CLI, first start).',
  })
  actorEmail!: string | null;

  @Field(() => JSONObjectResolver, { description: 'Details of the event, by event type.' })
  payload!: Record<string, unknown>;

  @Field(() => DateTimeResolver, {
    description: 'Start time of the transaction that wrote the entry.',
  })
  createdAt!: Date;
}

export const AuditEventConnection = Connection(AuditEventType, 'AuditEvent');
