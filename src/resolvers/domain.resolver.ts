import { Arg, Ctx, FieldResolver, Mutation, Resolver, Root } from 'type-graphql';
import { JSONObjectResolver } from 'graphql-scalars';

import type { RequestContext } from '../context/context.js';
import type { Domain } from '../entities/index.js';
import { addDomain, removeDomain, setPrimaryDomain } from '../services/domains.service.js';
import { DomainType } from './types/domain.type.js';
import { TenantType } from './types/tenant.type.js';

const DOMAIN_DESCRIPTION = 'Host name: lowercase, without port or trailing dot.';

@Resolver(() => DomainType)
export class DomainResolver {
  @Mutation(() => DomainType, {
    description:
      'Adds a domain to an active tenant; it routes requests at once. For the tenant owner, ' +
      'its superusers and platform admins. ALREADY_EXISTS when any tenant, active or deleted, ' +
      'has the domain.',
  })
  addDomain(
    @Arg('tenant', () => String, {
      nullable: true,
      description: 'Slug of the tenant; the tenant of the request host if null.',
    })
    tenant: string | null,
    @Arg('domain', () => String, { description: DOMAIN_DESCRIPTION }) domain: string,
    @Arg('isPrimary', () => Boolean, {
      defaultValue: false,
      description:
        'Make it the primary domain. The previous primary domain stays as a non-primary one.',
    })
    isPrimary: boolean,
    @Arg('metadata', () => JSONObjectResolver, {
      nullable: true,
      description: 'Free-form data the application stores with the domain.',
    })
    metadata: Record<string, unknown> | null,
    @Ctx() ctx: RequestContext,
  ) {
    return addDomain(ctx, { tenant: tenant ?? ctx.tenant.slug, domain, isPrimary, metadata });
  }

  @Mutation(() => Boolean, {
    description:
      'Removes a domain, which stops routing and becomes free. The primary domain cannot be ' +
      'removed (BAD_USER_INPUT). For the tenant owner, its superusers and platform admins.',
  })
  removeDomain(
    @Arg('domain', () => String, { description: DOMAIN_DESCRIPTION }) domain: string,
    @Ctx() ctx: RequestContext,
  ) {
    return removeDomain(ctx, domain);
  }

  @Mutation(() => DomainType, {
    description:
      "Makes a domain its tenant's primary domain and demotes the previous one in the same " +
      'transaction. For the tenant owner, its superusers and platform admins.',
  })
  setPrimaryDomain(
    @Arg('domain', () => String, { description: DOMAIN_DESCRIPTION }) domain: string,
    @Ctx() ctx: RequestContext,
  ) {
    return setPrimaryDomain(ctx, domain);
  }

  @FieldResolver(() => TenantType, { description: 'The tenant the domain routes to.' })
  tenant(@Root() domain: Domain, @Ctx() ctx: RequestContext) {
    return ctx.loaders.tenantById.load(domain.tenantId);
  }
}
