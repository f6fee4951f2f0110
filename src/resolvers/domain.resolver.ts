import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import type { Domain } from '../entities/index.js';
import { DomainType } from './types/domain.type.js';
import { TenantType } from './types/tenant.type.js';

@Resolver(() => DomainType)
export class DomainResolver {
  @FieldResolver(() => TenantType, { description: 'The tenant the domain routes to.' })
  tenant(@Root() domain: Domain, @Ctx() ctx: RequestContext) {
    return ctx.loaders.tenantById.load(domain.tenantId);
  }
}
