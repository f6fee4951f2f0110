import { Connection } from './connection.js';
import { MembershipType } from './membership.type.js';
import { TenantType } from './tenant.type.js';
import { UserType } from './user.type.js';

export const MembershipConnection = Connection(MembershipType, 'Membership');
export const TenantConnection = Connection(TenantType, 'Tenant');
export const UserConnection = Connection(UserType, 'User');
