import { Field, ID, ObjectType } from 'type-graphql';
import { DateTimeResolver, EmailAddressResolver, JSONObjectResolver } from 'graphql-scalars';

@ObjectType('User', { description: 'A global account; the email is the username.' })
export class UserType {
  @Field(() => ID, { description: 'Stable identifier.' })
  id!: string;

  @Field(() => EmailAddressResolver, { description: 'Email address, which is the username.' })
  email!: string;

  @Field(() => Boolean, { description: 'False once the user is deleted (soft deletion).' })
  isActive!: boolean;

  @Field(() => Boolean, { description: 'True once the email address is verified.' })
  isVerified!: boolean;

  @Field(() => JSONObjectResolver, { description: 'Free-form data the application stores.' })
  metadata!: Record<string, unknown>;

  @Field(() => DateTimeResolver, { description: 'When the user was created.' })
  createdAt!: Date;

  @Field(() => DateTimeResolver, {
    nullable: true,
    description: 'When the user was deleted; null while active.',
  })
  deletedAt!: Date | null;
}
