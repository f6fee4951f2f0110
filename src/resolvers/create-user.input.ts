import { Field, InputType } from 'type-graphql';
import { JSONObjectResolver } from 'graphql-scalars';

@InputType({ description: 'A new user.' })
export class CreateUserInput {
  @Field(() => String, { description: 'Email address; it becomes the username.' })
  email!: string;

  @Field(() => String, {
    nullable: true,
    description: 'Password; null makes an account that cannot log in until one is set.',
  })
  password?: string | null;

  @Field(() => Boolean, { defaultValue: false, description: 'Platform staff.' })
  isStaff!: boolean;

  @Field(() => Boolean, { defaultValue: false, description: 'Platform admin.' })
  isSuperuser!: boolean;

  @Field(() => Boolean, { defaultValue: false, description: 'Email address already verified.' })
  isVerified!: boolean;

  @Field(() => JSONObjectResolver, { nullable: true, description: 'Free-form data to store.' })
  metadata?: Record<string, unknown> | null;
}
