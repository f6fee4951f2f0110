import { Field, ID, ObjectType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';

import { TenantType } from './tenant.type.js';

@ObjectType('Permission', { description: 'A permission of a tenant catalog.' })
export class PermissionType {
  @Field(() => ID, { description: 'Stable identifier within the tenant.' })
  id!: string;

  @Field(() => String, { description: 'Application label, the part before the dot.' })
  appLabel!: string;

  @Field(() => String, { description: 'Code name, the part after the dot.' })
  codename!: string;

  @Field(() => String, { description: 'Human-readable name, such as "Can view members".' })
  name!: string;

  @Field(() => String, {
    description: '`app_label.codename`, the form that hasPermission and grantPermission take.',
  })
  qualifiedName!: string;
}

@ObjectType('Group', { description: 'A named set of permissions in one tenant.' })
export class GroupType {
  @Field(() => ID, { description: 'Stable identifier within the tenant.' })
  id!: string;

  @Field(() => String, { description: 'Name, unique in the tenant.' })
  name!: string;

  @Field(() => [String], { description: 'Permissions of the group as `app_label.codename`.' })
  permissions!: string[];

  @Field(() => DateTimeResolver, { description: 'When the group was created.' })
  createdAt!: Date;

  @Field(() => DateTimeResolver, {
    description: 'When the group or its permissions last changed.',
  })
  updatedAt!: Date;
}

@ObjectType('MemberPermissions', {
  description:
    "The caller's rights in one tenant. A non-member or an inactive user gets false flags " +
    'and empty lists.',
})
export class MemberPermissionsType {
  @Field(() => TenantType, { description: 'The tenant these rights apply to.' })
  tenant!: TenantType;

  @Field(() => Boolean, { description: 'Staff member of the tenant.' })
  isStaff!: boolean;

  @Field(() => Boolean, { description: 'Superuser of the tenant, who has every permission.' })
  isSuperuser!: boolean;

  @Field(() => [String], { description: 'Names of the groups the caller belongs to, sorted.' })
  groups!: string[];

  @Field(() => [String], {
    description: 'Direct and group permissions, sorted, or the whole catalog for a superuser.',
  })
  allPermissions!: string[];

  @Field(() => [String], {
    description:
      "Permissions the caller's groups give, sorted, or the whole catalog for a superuser.",
  })
  groupPermissions!: string[];

  @Field(() => [String], {
    description: 'Permissions granted to the caller directly, sorted, as stored.',
  })
  directPermissions!: string[];
}
