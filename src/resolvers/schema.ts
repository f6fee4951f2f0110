import { buildSchema, type ClassType, type NonEmptyArray } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';

import { AuditResolver } from './audit.resolver.js';
import { AuthResolver } from './auth.resolver.js';
import { DirectoryResolver } from './directory.resolver.js';
import { DomainResolver } from './domain.resolver.js';
import { LifecycleResolver } from './lifecycle.resolver.js';
import { MembershipResolver } from './membership.resolver.js';
import { PermissionResolver } from './permission.resolver.js';
import { ServiceTokenResolver } from './service-token.resolver.js';
import { tenantAccess } from './tenant-access.middleware.js';
import { TenantResolver } from './tenant.resolver.js';
import { UserResolver } from './user.resolver.js';

export const resolvers = [
  AuditResolver,
  AuthResolver,
  UserResolver,
  TenantResolver,
  MembershipResolver,
  DomainResolver,
  DirectoryResolver,
  LifecycleResolver,
  PermissionResolver,
  ServiceTokenResolver,
] as const;

/**
 * Builds the GraphQL schema from the resolvers and an application's `extraResolvers`. Without
 * extra resolvers it is the schema committed as schema.graphql.
 */
export function createSchema(extraResolvers: readonly ClassType[] = []): Promise<GraphQLSchema> {
  const all: NonEmptyArray<ClassType> = [...resolvers, ...extraResolvers];

  return buildSchema({
    resolvers: all,
    globalMiddlewares: [tenantAccess],
    validate: false,
    emitSchemaFile: false,
  });
}
