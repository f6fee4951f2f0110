import { Field, ObjectType } from 'type-graphql';

@ObjectType('Membership', {
  description: 'A user in a tenant, with the permissions stored in the tenant schema.',
})
export class MembershipType {
  @Field(() => Boolean, { description: 'Staff member of the tenant.' })
  isStaff!: boolean;

  @Field(() => Boolean, { description: 'Superuser of the tenant: passes every permission check.' })
  isSuperuser!: boolean;

  @Field(() => [String], { description: 'Names of the groups the member belongs to.' })
  groups!: string[];

  @Field(() => [String], {
    description: 'Direct and group permissions as `app_label.codename`.',
  })
  permissions!: string[];
}
