import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import type { Config } from '../config.js';
import { unauthenticated } from '../errors.js';
import type { Tenant } from '../entities/index.js';
import type { Logger } from '../logger.js';
import type { Mailer } from '../mail/mailer.js';
import { authenticate } from '../services/auth.service.js';
import type { EventBus } from '../services/events.js';
import type { PasswordHasher } from '../services/passwords.js';
import type { Actor, ServiceContext } from '../services/service-context.js';
import {
  authenticateServiceToken,
  isServiceTokenFormat,
} from '../services/service-tokens.service.js';
import { Loaders } from './loaders.js';
import { routeRequest, type RouteRequest } from './routing.js';

/** The context of one GraphQL request: its tenant, caller, EntityManager fork and loaders. */
export interface RequestContext extends ServiceContext {
  requestId: string;
  /** The tenant the request was routed to. */
  tenant: Tenant;
}

export interface ContextDependencies {
  orm: MikroORM;
  config: Config;
  logger: Logger;
  events: EventBus;
  passwords: PasswordHasher;
  mailer: Mailer;
}

/**
 * Builds the context for a request: routes it to its tenant, forks an EntityManager bound to the
 * tenant's schema, creates fresh loaders and authenticates the bearer token.
 */
export async function createRequestContext(
  deps: ContextDependencies,
  request: RouteRequest,
): Promise<RequestContext> {
  const requestId = randomUUID();
  const routingEm = deps.orm.em.fork();
  const tenant = await routeRequest(routingEm, deps.config, request);
  const em: EntityManager = deps.orm.em.fork({ schema: tenant.schemaName });
  const actor = await authenticateBearer(em, bearerToken(request.headers.authorization));
  const logger = deps.logger.child({
    requestId,
    tenant: tenant.slug,
    userId: actor.kind === 'user' ? actor.user.id : undefined,
    serviceTokenId: actor.kind === 'service' ? actor.token.id : undefined,
  });

  return {
    requestId,
    tenant,
    em,
    config: deps.config,
    logger,
    events: deps.events,
    passwords: deps.passwords,
    mailer: deps.mailer,
    actor,
    loaders: new Loaders(em),
  };
}

/**
 * Resolves a service token or a login token to its actor. A token with the service token prefix
 * that matches no service token is still tried as a login token, because a random login token
 * can start with the same four characters.
 */
async function authenticateBearer(em: EntityManager, token: string | undefined): Promise<Actor> {
  if (token !== undefined && isServiceTokenFormat(token)) {
    const actor = await authenticateServiceToken(em, token);
    if (actor) {
      return actor;
    }
  }

  return authenticate(em, token);
}

/**
 * Reads the token of an `Authorization: Bearer <token>` header. No header, or a blank one, means
 * an anonymous caller. Any other value is `UNAUTHENTICATED`, so that credentials the server
 * cannot read are never silently dropped.
 */
function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) {
    return undefined;
  }

  const match = value.match(/^Bearer +(\S+)$/i);
  if (!match) {
    throw unauthenticated();
  }

  return match[1];
}
