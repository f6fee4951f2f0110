import { Arg, Ctx, FieldResolver, Mutation, Resolver, Root } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import {
  addUserToTenant,
  removeUserFromTenant,
  type MemberView,
} from '../services/memberships.service.js';
import { AddUserToTenantInput } from './add-user-to-tenant.input.js';
import { MembershipType } from './types/membership.type.js';
import { TenantType } from './types/tenant.type.js';
import { UserType } from './types/user.type.js';

@Resolver(() => MembershipType)
export class MembershipResolver {
  @Mutation(() => MembershipType, {
    description: 'Adds a user to a tenant with their permissions there, in one transaction.',
  })
  addUserToTenant(
    @Arg('input', () => AddUserToTenantInput) input: AddUserToTenantInput,
    @Ctx() ctx: RequestContext,
  ) {
    return addUserToTenant(ctx, {
      ...input,
      tenant: input.tenant ?? ctx.tenant.slug,
      groups: input.groups ?? [],
    });
  }

  @Mutation(() => Boolean, {
    description: 'Removes a user from one tenant; no other tenant changes.',
  })
  removeUserFromTenant(
    @Arg('tenant', () => String, { nullable: true }) tenant: string | null,
    @Arg('userEmail', () => String) userEmail: string,
    @Ctx() ctx: RequestContext,
  ) {
    return removeUserFromTenant(ctx, tenant ?? ctx.tenant.slug, userEmail);
  }

  @FieldResolver(() => UserType, { description: 'The member.' })
  user(@Root() member: MemberView) {
    return member.user;
  }

  @FieldResolver(() => TenantType, { description: 'The tenant.' })
  tenant(@Root() member: MemberView) {
    return member.tenant;
  }
}
