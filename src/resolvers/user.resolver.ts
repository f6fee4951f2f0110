import {
  Arg,
  Args,
  ArgsType,
  Ctx,
  Field,
  FieldResolver,
  Int,
  Mutation,
  Resolver,
  Root,
} from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import type { User } from '../entities/index.js';
import { listUserTenants } from '../services/user-tenants.service.js';
import { createUser, deleteUser } from '../services/users.service.js';
import { CreateUserInput } from './create-user.input.js';
import { TenantConnection } from './types/connections.js';
import { UserType } from './types/user.type.js';

@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, description: 'Page size, from 1 to 100; 20 if null.' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'Cursor to start after.' })
  after?: string | null;
}

@Resolver(() => UserType)
export class UserResolver {
  @Mutation(() => UserType, { description: 'Creates a user, a member of the public tenant.' })
  createUser(
    @Arg('input', () => CreateUserInput) input: CreateUserInput,
    @Ctx() ctx: RequestContext,
  ) {
    return createUser(ctx, input);
  }

  @Mutation(() => UserType, {
    description: 'Deactivates a user (soft deletion) and removes them from every tenant.',
  })
  deleteUser(@Arg('email', () => String) email: string, @Ctx() ctx: RequestContext) {
    return deleteUser(ctx, email);
  }

  @FieldResolver(() => TenantConnection, { description: 'Active tenants the user belongs to.' })
  tenants(@Root() user: User, @Args(() => PageArgs) page: PageArgs, @Ctx() ctx: RequestContext) {
    return listUserTenants(ctx, user, { ...page, owned: false });
  }

  @FieldResolver(() => TenantConnection, { description: 'Active tenants the user owns.' })
  ownedTenants(
    @Root() user: User,
    @Args(() => PageArgs) page: PageArgs,
    @Ctx() ctx: RequestContext,
  ) {
    return listUserTenants(ctx, user, { ...page, owned: true });
  }
}
