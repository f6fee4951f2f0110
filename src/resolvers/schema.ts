import { buildSchema } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';

import { AuthResolver } from './auth.resolver.js';
import { DomainResolver } from './domain.resolver.js';
import { MembershipResolver } from './membership.resolver.js';
import { tenantAccess } from './tenant-access.middleware.js';
import { TenantResolver } from './tenant.resolver.js';
import { UserResolver } from './user.resolver.js';

export const resolvers = [
  AuthResolver,
  UserResolver,
  TenantResolver,
  MembershipResolver,
  DomainResolver,
] as const;

/** Builds the GraphQL schema from the resolvers; the same schema is committed as schema.graphql. */
export function createSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    globalMiddlewares: [tenantAccess],
    validate: false,
    emitSchemaFile: false,
  });
}
