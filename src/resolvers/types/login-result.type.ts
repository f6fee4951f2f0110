import { Field, ObjectType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';

import { UserType } from './user.type.js';

@ObjectType('LoginResult', { description: 'A new session and the user it belongs to.' })
export class LoginResultType {
  @Field(() => String, { description: 'Bearer token; send it as `Authorization: Bearer <token>`.' })
  token!: string;

  @Field(() => DateTimeResolver, { description: 'When the token stops working.' })
  expiresAt!: Date;

  @Field(() => UserType, { description: 'The logged-in user.' })
  user!: UserType;
}
