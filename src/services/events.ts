import type { Logger } from '../logger.js';

export type DomainEventType =
  | 'userCreated'
  | 'userDeleted'
  | 'userAddedToTenant'
  | 'userRemovedFromTenant'
  | 'tenantProvisioned'
  | 'tenantDeleted'
  | 'tenantOwnershipTransferred'
  | 'tenantRestored'
  | 'tenantPurged'
  | 'userRestored'
  | 'domainAdded'
  | 'domainRemoved'
  | 'primaryDomainChanged';

export interface DomainEvent {
  type: DomainEventType;
  tenantId?: string;
  userId?: string;
  /** The user who caused the change; absent for the system itself (CLI, first start). */
  actorId?: string;
  payload: Record<string, unknown>;
}

export type EventListener = (event: DomainEvent) => void | Promise<void>;

/**
 * Delivers committed domain events to in-process subscribers. A failing subscriber is logged and
 * does not affect the others or the operation that emitted the event.
 */
export class EventBus {
  private readonly listeners = new Map<DomainEventType | '*', Set<EventListener>>();

  constructor(private readonly logger: Logger) {}

  /** Subscribes to one event type, or to all with `*`; returns a function that unsubscribes. */
  subscribe(type: DomainEventType | '*', listener: EventListener): () => void {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener);
    this.listeners.set(type, set);

    return () => set.delete(listener);
  }

  async publish(events: readonly DomainEvent[]): Promise<void> {
    for (const event of events) {
      const listeners = [
        ...(this.listeners.get(event.type) ?? []),
        ...(this.listeners.get('*') ?? []),
      ];
      for (const listener of listeners) {
        try {
          await listener(event);
        } catch (error) {
          this.logger.error({ err: error, event: event.type }, 'event subscriber failed');
        }
      }
    }
  }
}
