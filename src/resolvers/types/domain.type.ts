import { Field, ObjectType } from 'type-graphql';
import { JSONObjectResolver } from 'graphql-scalars';

@ObjectType('Domain', { description: 'A host name that routes requests to one tenant.' })
export class DomainType {
  @Field(() => String, { description: 'Host name, lowercase, without port.' })
  domain!: string;

  @Field(() => Boolean, { description: 'True for the tenant primary domain.' })
  isPrimary!: boolean;

  @Field(() => Boolean, {
    description: 'False while the tenant is deleted; it then stops routing.',
  })
  isActive!: boolean;

  @Field(() => JSONObjectResolver, { description: 'Free-form data the application stores.' })
  metadata!: Record<string, unknown>;
}
