import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import type { ServiceToken, Tenant } from '../entities/index.js';
import {
  createServiceToken,
  listServiceTokens,
  revokeServiceToken,
} from '../services/service-tokens.service.js';
import {
  CreatedServiceTokenType,
  ServiceTokenConnection,
  ServiceTokenType,
} from './types/service-token.type.js';
import { TenantType } from './types/tenant.type.js';
import { UserType } from './types/user.type.js';
import { PageArgs } from './user.resolver.js';

@Resolver(() => ServiceTokenType)
export class ServiceTokenResolver {
  @Query(() => ServiceTokenConnection, {
    description: 'Service tokens, oldest first, without their secrets; for platform admins.',
  })
  serviceTokens(
    @Args(() => PageArgs) page: PageArgs,
    @Arg('includeRevoked', () => Boolean, {
      defaultValue: false,
      description: 'List revoked tokens too.',
    })
    includeRevoked: boolean,
    @Ctx() ctx: RequestContext,
  ) {
    return listServiceTokens(ctx, { ...page, includeRevoked });
  }

  @Mutation(() => CreatedServiceTokenType, {
    description:
      'Creates a service token and returns its secret, this once only; for platform admins. ' +
      'Send it as `Authorization: Bearer <token>`.',
  })
  createServiceToken(
    @Arg('name', () => String, {
      description: 'Name of the program or person that uses the token.',
    })
    name: string,
    @Arg('scopes', () => [String], {
      description:
        'Scopes from: users:read, users:write, tenants:read, tenants:write, members:write.',
    })
    scopes: string[],
    @Arg('tenants', () => [String], {
      nullable: true,
      description:
        'Slugs of the only tenants the token may touch, and on whose hosts it may be used; ' +
        'null for every tenant.',
    })
    tenants: string[] | null,
    @Ctx() ctx: RequestContext,
  ) {
    return createServiceToken(ctx, { name, scopes, tenants });
  }

  @Mutation(() => ServiceTokenType, {
    description: 'Revokes a service token at once; for platform admins.',
  })
  revokeServiceToken(
    @Arg('id', () => ID, { description: 'Id of the service token.' }) id: string,
    @Ctx() ctx: RequestContext,
  ) {
    return revokeServiceToken(ctx, id);
  }

  @FieldResolver(() => [TenantType], {
    nullable: true,
    description: 'The only tenants the token may touch; null when it may touch every tenant.',
  })
  async tenants(@Root() token: ServiceToken, @Ctx() ctx: RequestContext) {
    if (token.tenantIds === null) {
      return null;
    }

    const tenants = await ctx.loaders.tenantById.loadMany(token.tenantIds);

    return tenants.filter(
      (tenant): tenant is Tenant => tenant !== null && !(tenant instanceof Error),
    );
  }

  @FieldResolver(() => UserType, {
    nullable: true,
    description: 'The platform admin who created the token; null when the CLI did.',
  })
  createdBy(@Root() token: ServiceToken, @Ctx() ctx: RequestContext) {
    return token.createdById === null ? null : ctx.loaders.userById.load(token.createdById);
  }
}
