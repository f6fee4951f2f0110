import { Arg, Args, ArgsType, Ctx, Field, Query, Resolver } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import { getUser, listTenants, listUsers } from '../services/directory.service.js';
import { TenantConnection, UserConnection } from './types/connections.js';
import { UserType } from './types/user.type.js';
import { PageArgs } from './user.resolver.js';

@ArgsType()
class DirectoryPageArgs extends PageArgs {
  @Field(() => Boolean, {
    defaultValue: false,
    description: 'Also list deleted (inactive) entries.',
  })
  includeInactive!: boolean;
}

@Resolver()
export class DirectoryResolver {
  @Query(() => UserType, {
    description: 'A user by email; for the user themself, platform staff and users:read tokens.',
  })
  user(@Arg('email', () => String) email: string, @Ctx() ctx: RequestContext) {
    return getUser(ctx, email);
  }

  @Query(() => UserConnection, {
    description: 'Every user, oldest first; for platform staff and users:read tokens.',
  })
  users(@Args(() => DirectoryPageArgs) page: DirectoryPageArgs, @Ctx() ctx: RequestContext) {
    return listUsers(ctx, page);
  }

  @Query(() => TenantConnection, {
    description: 'Every tenant, oldest first; for platform staff and tenants:read tokens.',
  })
  tenants(@Args(() => DirectoryPageArgs) page: DirectoryPageArgs, @Ctx() ctx: RequestContext) {
    return listTenants(ctx, page);
  }
}
