import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import {
  createGroup,
  deleteGroup,
  listGroups,
  setGroupPermissions,
} from '../services/groups.service.js';
import {
  addMemberToGroup,
  grantPermission,
  hasModulePermission,
  hasPermission,
  listPermissions,
  myPermissions,
  removeMemberFromGroup,
  revokePermission,
  setMemberFlags,
} from '../services/permissions.service.js';
import { MembershipType } from './types/membership.type.js';
import { GroupType, MemberPermissionsType, PermissionType } from './types/permission.type.js';

const TENANT_ARG = {
  nullable: true,
  description: 'Slug of the tenant; the tenant of the request host if null.',
} as const;

const PERMISSION_ARG = { description: 'Permission as `app_label.codename`.' } as const;

const USER_EMAIL_ARG = { description: 'Email of a member of the tenant.' } as const;

const GROUP_ARG = { description: 'Name of a group of the tenant.' } as const;

const PERMISSIONS_ARG = {
  defaultValue: [],
  description: 'Permissions as `app_label.codename`, all from the tenant catalog.',
} as const;

@Resolver()
export class PermissionResolver {
  @Query(() => Boolean, {
    description:
      'True when the caller has the permission in the tenant: always for a superuser ' +
      'member, never for a non-member or an inactive user.',
  })
  hasPermission(
    @Arg('permission', () => String, PERMISSION_ARG) permission: string,
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return hasPermission(ctx, tenant ?? ctx.tenant.slug, permission);
  }

  @Query(() => Boolean, {
    description: 'True when the caller has any permission with the app label in the tenant.',
  })
  hasModulePermission(
    @Arg('appLabel', () => String, { description: 'Application label, such as `tenant_users`.' })
    appLabel: string,
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return hasModulePermission(ctx, tenant ?? ctx.tenant.slug, appLabel);
  }

  @Query(() => MemberPermissionsType, {
    description: "The caller's flags, groups and permissions in the tenant.",
  })
  myPermissions(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return myPermissions(ctx, tenant ?? ctx.tenant.slug);
  }

  @Query(() => [PermissionType], {
    description: 'The permission catalog of the tenant; for its members and platform staff.',
  })
  permissions(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return listPermissions(ctx, tenant ?? ctx.tenant.slug);
  }

  @Query(() => [GroupType], {
    description: 'Groups of the tenant with their permissions; for its members and platform staff.',
  })
  groups(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return listGroups(ctx, tenant ?? ctx.tenant.slug);
  }

  @Mutation(() => GroupType, {
    description: 'Creates a group; needs `tenant_users.change_group` or superuser.',
  })
  createGroup(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Arg('name', () => String, { description: 'Name, unique in the tenant.' }) name: string,
    @Arg('permissions', () => [String], PERMISSIONS_ARG) permissions: string[],
    @Ctx() ctx: RequestContext,
  ) {
    return createGroup(ctx, { tenant: tenant ?? ctx.tenant.slug, name, permissions });
  }

  @Mutation(() => Boolean, {
    description:
      'Deletes a group, so its members lose what it gave them; needs ' +
      '`tenant_users.change_group` or superuser.',
  })
  deleteGroup(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Arg('group', () => String, GROUP_ARG) group: string,
    @Ctx() ctx: RequestContext,
  ) {
    return deleteGroup(ctx, { tenant: tenant ?? ctx.tenant.slug, group });
  }

  @Mutation(() => GroupType, {
    description: "Replaces a group's permissions; needs `tenant_users.change_group` or superuser.",
  })
  setGroupPermissions(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Arg('group', () => String, GROUP_ARG) group: string,
    @Arg('permissions', () => [String], PERMISSIONS_ARG) permissions: string[],
    @Ctx() ctx: RequestContext,
  ) {
    return setGroupPermissions(ctx, { tenant: tenant ?? ctx.tenant.slug, group, permissions });
  }

  @Mutation(() => MembershipType, {
    description: 'Puts a member in a group; needs `tenant_users.change_member` or superuser.',
  })
  addMemberToGroup(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Arg('userEmail', () => String, USER_EMAIL_ARG) userEmail: string,
    @Arg('group', () => String, GROUP_ARG) group: string,
    @Ctx() ctx: RequestContext,
  ) {
    return addMemberToGroup(ctx, { tenant: tenant ?? ctx.tenant.slug, userEmail, group });
  }

  @Mutation(() => MembershipType, {
    description: 'Takes a member out of a group; needs `tenant_users.change_member` or superuser.',
  })
  removeMemberFromGroup(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Arg('userEmail', () => String, USER_EMAIL_ARG) userEmail: string,
    @Arg('group', () => String, GROUP_ARG) group: string,
    @Ctx() ctx: RequestContext,
  ) {
    return removeMemberFromGroup(ctx, { tenant: tenant ?? ctx.tenant.slug, userEmail, group });
  }

  @Mutation(() => MembershipType, {
    description:
      "Sets a member's flags; a null flag stays. Needs `tenant_users.change_member` or " +
      'superuser, and changing `isSuperuser` needs superuser.',
  })
  setMemberFlags(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Arg('userEmail', () => String, USER_EMAIL_ARG) userEmail: string,
    @Arg('isStaff', () => Boolean, { nullable: true, description: 'Staff member of the tenant.' })
    isStaff: boolean | null,
    @Arg('isSuperuser', () => Boolean, {
      nullable: true,
      description: 'Superuser of the tenant.',
    })
    isSuperuser: boolean | null,
    @Ctx() ctx: RequestContext,
  ) {
    return setMemberFlags(ctx, {
      tenant: tenant ?? ctx.tenant.slug,
      userEmail,
      isStaff: isStaff ?? null,
      isSuperuser: isSuperuser ?? null,
    });
  }

  @Mutation(() => MembershipType, {
    description:
      'Grants a member a permission directly; needs `tenant_users.change_member` or superuser.',
  })
  grantPermission(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Arg('userEmail', () => String, USER_EMAIL_ARG) userEmail: string,
    @Arg('permission', () => String, PERMISSION_ARG) permission: string,
    @Ctx() ctx: RequestContext,
  ) {
    return grantPermission(ctx, { tenant: tenant ?? ctx.tenant.slug, userEmail, permission });
  }

  @Mutation(() => MembershipType, {
    description:
      'Revokes a permission granted directly; group permissions stay. Needs ' +
      '`tenant_users.change_member` or superuser.',
  })
  revokePermission(
    @Arg('tenant', () => String, TENANT_ARG) tenant: string | null,
    @Arg('userEmail', () => String, USER_EMAIL_ARG) userEmail: string,
    @Arg('permission', () => String, PERMISSION_ARG) permission: string,
    @Ctx() ctx: RequestContext,
  ) {
    return revokePermission(ctx, { tenant: tenant ?? ctx.tenant.slug, userEmail, permission });
  }
}
