import { AuditEvent } from './audit-event.entity.js';
import { Domain } from './domain.entity.js';
import { Membership } from './membership.entity.js';
import { ServiceToken } from './service-token.entity.js';
import { Session } from './session.entity.js';
import { Tenant } from './tenant.entity.js';
import { User } from './user.entity.js';

export { AuditEvent, Domain, Membership, ServiceToken, Session, Tenant, User };

/** Entities of the shared tables in `public`. */
export const publicEntities = [User, Tenant, Domain, Membership, Session, AuditEvent, ServiceToken];
