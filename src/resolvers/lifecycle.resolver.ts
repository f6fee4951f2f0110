import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import { transferTenantOwnership } from '../services/ownership.service.js';
import { purgeTenant, restoreTenant } from '../services/tenant-lifecycle.service.js';
import { createSuperuser, restoreUser } from '../services/user-lifecycle.service.js';
import { TenantType } from './types/tenant.type.js';
import { UserType } from './types/user.type.js';

/** Ownership transfer, restoring and purging tenants, restoring users and creating admins. */
@Resolver()
export class LifecycleResolver {
  @Mutation(() => TenantType, {
    description:
      'Makes another active user the owner and a superuser member of a tenant; for its owner ' +
      'and platform admins. The previous owner loses superuser there and is removed unless ' +
      'they are in a group there or keepPreviousOwner is true.',
  })
  transferTenantOwnership(
    @Arg('tenant', () => String, {
      nullable: true,
      description: 'Slug of the tenant; the tenant of the request host if null.',
    })
    tenant: string | null,
    @Arg('newOwnerEmail', () => String, { description: 'Email of the new owner, an active user.' })
    newOwnerEmail: string,
    @Arg('keepPreviousOwner', () => Boolean, {
      defaultValue: false,
      description: 'Keep the previous owner as a member without superuser, even in no group.',
    })
    keepPreviousOwner: boolean,
    @Ctx() ctx: RequestContext,
  ) {
    return transferTenantOwnership(ctx, {
      tenant: tenant ?? ctx.tenant.slug,
      newOwnerEmail,
      keepPreviousOwner,
    });
  }

  @Mutation(() => TenantType, {
    description:
      'Reactivates a deleted tenant and its domains with the given owner; for platform admins. ' +
      'ALREADY_EXISTS when another tenant holds one of its domains.',
  })
  restoreTenant(
    @Arg('tenant', () => String, { description: 'Slug of the deleted tenant.' })
    tenant: string,
    @Arg('ownerEmail', () => String, {
      description: 'Email of the owner, an active user; made a superuser member.',
    })
    ownerEmail: string,
    @Ctx() ctx: RequestContext,
  ) {
    return restoreTenant(ctx, tenant, ownerEmail);
  }

  @Mutation(() => Boolean, {
    description:
      'Drops the schema of a deleted tenant and its tenant, domain and membership rows; for ' +
      'platform admins. An active tenant is BAD_USER_INPUT: delete it first.',
  })
  purgeTenant(
    @Arg('tenant', () => String, { description: 'Slug of the deleted tenant.' })
    tenant: string,
    @Arg('confirmSlug', () => String, { description: 'The same slug again, as a confirmation.' })
    confirmSlug: string,
    @Ctx() ctx: RequestContext,
  ) {
    return purgeTenant(ctx, tenant, confirmSlug);
  }

  @Mutation(() => UserType, {
    description:
      'Reactivates a deleted user as a plain member of the public tenant with no password ' +
      'until one is set; for platform admins.',
  })
  restoreUser(
    @Arg('email', () => String, { description: 'Email of the deleted user.' }) email: string,
    @Ctx() ctx: RequestContext,
  ) {
    return restoreUser(ctx, email);
  }

  @Mutation(() => UserType, {
    description:
      'Creates a verified user who is staff and superuser of the public tenant (a platform ' +
      'admin); for platform admins.',
  })
  createSuperuser(
    @Arg('email', () => String, { description: 'Email address; it becomes the username.' })
    email: string,
    @Arg('password', () => String, {
      nullable: true,
      description: 'Password; null makes an account that cannot log in until one is set.',
    })
    password: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return createSuperuser(ctx, email, password);
  }
}
