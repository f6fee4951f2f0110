import { Field, ID, ObjectType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';

import { Connection } from './connection.js';

@ObjectType('ServiceToken', {
  description: 'A bearer token for another program, made by a platform admin; never its secret.',
})
export class ServiceTokenType {
  @Field(() => ID, { description: 'Stable identifier, which revokeServiceToken takes.' })
  id!: string;

  @Field(() => String, { description: 'Name of the program or person that uses the token.' })
  name!: string;

  @Field(() => [String], {
    description:
      'Scopes: users:read, users:write, tenants:read, tenants:write, members:write. A write ' +
      'scope includes the read scope of the same resource.',
  })
  scopes!: string[];

  @Field(() => DateTimeResolver, { description: 'When the token was created.' })
  createdAt!: Date;

  @Field(() => DateTimeResolver, {
    nullable: true,
    description: 'Last request made with the token, accurate to one minute; null if never used.',
  })
  lastUsedAt!: Date | null;

  @Field(() => DateTimeResolver, {
    nullable: true,
    description: 'When the token was revoked; null while it is valid.',
  })
  revokedAt!: Date | null;
}

@ObjectType('CreatedServiceToken', { description: 'A new service token with its secret.' })
export class CreatedServiceTokenType {
  @Field(() => String, {
    description: 'The bearer token. It is shown only here; the server stores only its hash.',
  })
  token!: string;

  @Field(() => ServiceTokenType, { description: 'The stored token.' })
  serviceToken!: ServiceTokenType;
}

export const ServiceTokenConnection = Connection(ServiceTokenType, 'ServiceToken');
