import { Field, InputType } from 'type-graphql';

@InputType({ description: 'A user to add to a tenant.' })
export class AddUserToTenantInput {
  @Field(() => String, {
    nullable: true,
    description: 'Slug of the tenant; the tenant of the request host if null.',
  })
  tenant?: string | null;

  @Field(() => String, { description: 'Email of the user to add.' })
  userEmail!: string;

  @Field(() => Boolean, { defaultValue: false, description: 'Staff member of the tenant.' })
  isStaff!: boolean;

  @Field(() => Boolean, { defaultValue: false, description: 'Superuser of the tenant.' })
  isSuperuser!: boolean;

  @Field(() => [String], {
    nullable: true,
    description: 'Names of existing groups of the tenant to put the user in.',
  })
  groups?: string[] | null;
}
