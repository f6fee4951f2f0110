import { randomUUID } from 'node:crypto';
import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { DateTimeResolver } from 'graphql-scalars';
import { Field, ID, ObjectType } from 'type-graphql';

/** Maximum title length in characters, enforced by the service and by a check constraint. */
export const MAX_TITLE_LENGTH = 200;

/**
 * A note in one tenant's schema. `schema: '*'` makes MikroORM use the schema of the
 * EntityManager that reads or writes it, which for `ctx.em` is the routed tenant's schema.
 */
@ObjectType('Note', { description: 'A short text kept in the schema of one tenant.' })
@Entity({ tableName: 'notes', schema: '*' })
export class Note {
  [OptionalProps]?: 'id' | 'createdAt' | 'updatedAt';

  @Field(() => ID, { description: 'Stable identifier.' })
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Field(() => String, { description: `Title, 1 to ${MAX_TITLE_LENGTH} characters.` })
  @Property({ type: 'string' })
  title!: string;

  @Field(() => DateTimeResolver, { description: 'When the note was created.' })
  @Property({ type: 'datetime', fieldName: 'created_at' })
  createdAt: Date = new Date();

  @Field(() => DateTimeResolver, { description: 'When the note was last changed.' })
  @Property({ type: 'datetime', fieldName: 'updated_at', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
