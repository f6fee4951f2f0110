import { Arg, Args, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';

import { JSONObjectResolver } from 'graphql-scalars';

import type { RequestContext } from '../context/context.js';
import type { Tenant } from '../entities/index.js';
import { requireTenantReader } from '../services/access.js';
import { listMembers } from '../services/members.service.js';
import { deleteTenant, getTenant, provisionTenant } from '../services/tenants.service.js';
import { ProvisionTenantInput } from './provision-tenant.input.js';
import { MembershipConnection } from './types/connections.js';
import { DomainType } from './types/domain.type.js';
import { TenantType } from './types/tenant.type.js';
import { UserType } from './types/user.type.js';
import { PageArgs } from './user.resolver.js';

@Resolver(() => TenantType)
export class TenantResolver {
  @Query(() => TenantType, { description: 'The tenant the request host routes to.' })
  currentTenant(@Ctx() ctx: RequestContext) {
    return ctx.tenant;
  }

  @Query(() => TenantType, { description: 'A tenant by slug; for its members and platform staff.' })
  tenant(@Arg('slug', () => String) slug: string, @Ctx() ctx: RequestContext) {
    return getTenant(ctx, slug);
  }

  @Mutation(() => TenantType, {
    description: 'Creates a tenant with its domain, schema and owner in one transaction.',
  })
  provisionTenant(
    @Arg('input', () => ProvisionTenantInput) input: ProvisionTenantInput,
    @Ctx() ctx: RequestContext,
  ) {
    return provisionTenant(ctx, input);
  }

  @Mutation(() => TenantType, {
    description: 'Deactivates a tenant (soft deletion); its schema and data stay.',
  })
  deleteTenant(
    @Arg('tenant', () => String, { nullable: true }) slug: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return deleteTenant(ctx, slug ?? ctx.tenant.slug);
  }

  @FieldResolver(() => String, { description: 'Schema name; for members and platform staff.' })
  async schemaName(@Root() tenant: Tenant, @Ctx() ctx: RequestContext) {
    await requireTenantReader(ctx, tenant);

    return tenant.schemaName;
  }

  @FieldResolver(() => JSONObjectResolver, {
    description: 'Free-form tenant data; for members and platform staff.',
  })
  async metadata(@Root() tenant: Tenant, @Ctx() ctx: RequestContext) {
    await requireTenantReader(ctx, tenant);

    return tenant.metadata;
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'Why provisioning failed; for members and platform staff.',
  })
  async provisioningError(@Root() tenant: Tenant, @Ctx() ctx: RequestContext) {
    await requireTenantReader(ctx, tenant);

    return tenant.provisioningError;
  }

  @FieldResolver(() => UserType, { description: 'The owner; for members and platform staff.' })
  async owner(@Root() tenant: Tenant, @Ctx() ctx: RequestContext) {
    await requireTenantReader(ctx, tenant);

    return ctx.loaders.userById.load(tenant.ownerId);
  }

  @FieldResolver(() => [DomainType], { description: 'Domains; for members and platform staff.' })
  async domains(@Root() tenant: Tenant, @Ctx() ctx: RequestContext) {
    await requireTenantReader(ctx, tenant);

    return ctx.loaders.domainsByTenantId.load(tenant.id);
  }

  @FieldResolver(() => DomainType, { nullable: true, description: 'The primary domain.' })
  async primaryDomain(@Root() tenant: Tenant, @Ctx() ctx: RequestContext) {
    const domains = await ctx.loaders.domainsByTenantId.load(tenant.id);

    return domains.find((domain) => domain.isPrimary) ?? null;
  }

  @FieldResolver(() => MembershipConnection, {
    description: 'Members in the order they joined; for members and platform staff.',
  })
  members(
    @Root() tenant: Tenant,
    @Args(() => PageArgs) page: PageArgs,
    @Ctx() ctx: RequestContext,
  ) {
    return listMembers(ctx, tenant, page.first, page.after);
  }
}
