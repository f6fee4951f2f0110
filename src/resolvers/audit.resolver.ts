import { Arg, Args, Ctx, Query, Resolver } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import { listAuditEvents } from '../services/audit.service.js';
import { AuditEventConnection, AuditEventType } from './types/audit-event.type.js';
import { PageArgs } from './user.resolver.js';

@Resolver(() => AuditEventType)
export class AuditResolver {
  @Query(() => AuditEventConnection, {
    description:
      'Audit log of a tenant, newest first. The public tenant shows the whole platform log. ' +
      'For platform staff (any tenant, deleted ones too) and for superusers of the tenant.',
  })
  auditEvents(
    @Args(() => PageArgs) page: PageArgs,
    @Arg('tenant', () => String, {
      nullable: true,
      description: 'Slug of the tenant; the tenant of the request host if null.',
    })
    tenant: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return listAuditEvents(ctx, tenant ?? ctx.tenant.slug, page.first, page.after);
  }
}
