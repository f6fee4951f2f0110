import type { EntityManager } from '@mikro-orm/postgresql';

import type { Config } from '../config.js';
import type { ServiceToken, User } from '../entities/index.js';
import type { Logger } from '../logger.js';
import { Loaders } from '../context/loaders.js';
import type { Mailer } from '../mail/mailer.js';
import { AuditEvent } from '../entities/index.js';
import { mapDriverError } from '../db/driver-errors.js';
import type { DomainEvent, EventBus } from './events.js';
import type { PasswordHasher } from './passwords.js';

/**
 * Caller of a service: a logged-in user, another program with a service token, an anonymous
 * caller, or the system itself (CLI and first start).
 */
export type Actor =
  | { kind: 'user'; user: User; sessionId: string }
  | { kind: 'service'; token: ServiceToken }
  | { kind: 'anonymous' }
  | { kind: 'system' };

/** Everything a service function needs; built per request, or once for the CLI. */
export interface ServiceContext {
  em: EntityManager;
  config: Config;
  logger: Logger;
  events: EventBus;
  passwords: PasswordHasher;
  mailer: Mailer;
  actor: Actor;
  loaders: Loaders;
  /** Address of the HTTP client, which login throttling counts; undefined outside HTTP. */
  clientAddress?: string;
  /**
   * The user a `login` in this request authenticated. The actor stays as it was, so later
   * mutations of the request keep the caller's rights, but the login result may show the user
   * their own data.
   */
  loggedInUserId?: string;
}

/** The long-lived services behind every system context; `em` is the root EntityManager. */
export type SystemContextServices = Pick<
  ServiceContext,
  'em' | 'config' | 'logger' | 'events' | 'passwords' | 'mailer'
>;

/**
 * Returns a builder of service contexts for the system actor, which every authorization check
 * lets through. Each context gets its own fork of `services.em`.
 */
export function createSystemContextFactory(services: SystemContextServices): () => ServiceContext {
  return () => {
    const em = services.em.fork();
    return {
      ...services,
      em,
      actor: { kind: 'system' },
      loaders: new Loaders(em),
    };
  };
}

export function actorId(actor: Actor): string | undefined {
  return actor.kind === 'user' ? actor.user.id : undefined;
}

/** Adds the id of the calling service token to an event's payload, for the audit log. */
function withCaller(actor: Actor, event: DomainEvent): Record<string, unknown> {
  return actor.kind === 'service'
    ? { ...event.payload, serviceTokenId: actor.token.id }
    : event.payload;
}

/**
 * Runs `work` in one transaction. Events it records are written to the audit log in the same
 * transaction and delivered to subscribers only after the commit. Expected driver errors, such
 * as unique violations, come out as `AppError`.
 */
export async function inTransaction<T>(
  ctx: ServiceContext,
  work: (tx: EntityManager, record: (event: DomainEvent) => void) => Promise<T>,
): Promise<T> {
  const events: DomainEvent[] = [];
  const record = (event: DomainEvent) =>
    events.push({ actorId: actorId(ctx.actor), ...event, payload: withCaller(ctx.actor, event) });

  let result: T;
  try {
    result = await ctx.em.transactional(async (tx) => {
      const value = await work(tx, record);
      for (const event of events) {
        tx.persist(
          tx.create(AuditEvent, {
            type: event.type,
            tenantId: event.tenantId ?? null,
            userId: event.userId ?? null,
            actorId: event.actorId ?? null,
            payload: event.payload,
          }),
        );
      }
      await tx.flush();

      return value;
    });
  } catch (error) {
    throw mapDriverError(error);
  }

  ctx.loaders.clearAll();
  await ctx.events.publish(events);

  return result;
}
