import { Tenant, User } from '../entities/index.js';
import { notFound } from '../errors.js';
import { requireDirectoryReader, requireUserReader } from './access.js';
import { findUserByEmail } from './lookups.js';
import { afterCursor, decodeCursor, pageSize, toPage, type Page } from './pagination.js';
import type { ServiceContext } from './service-context.js';
import { normalizeEmail } from './validation.js';

export interface DirectoryPageInput {
  first?: number | null;
  after?: string | null;
  includeInactive?: boolean | null;
}

/** Loads a user by email; readable by the user themself, platform staff and users:read tokens. */
export async function getUser(ctx: ServiceContext, rawEmail: string): Promise<User> {
  const email = normalizeEmail(rawEmail);
  const user = await findUserByEmail(ctx.em, email);
  if (!user) {
    throw notFound('User', email);
  }

  await requireUserReader(ctx, user);

  return user;
}

/** Lists users in the order they were created; deleted users only with `includeInactive`. */
export async function listUsers(
  ctx: ServiceContext,
  input: DirectoryPageInput,
): Promise<Page<User>> {
  await requireDirectoryReader(ctx, 'users:read');
  const size = pageSize(input.first);
  const cursor = decodeCursor(input.after);

  const scope = input.includeInactive ? {} : { isActive: true };
  const [rows, totalCount] = await Promise.all([
    ctx.em.find(User, afterCursor(scope, cursor), {
      orderBy: { createdAt: 'asc', id: 'asc' },
      limit: size + 1,
    }),
    ctx.em.count(User, scope),
  ]);

  return toPage(rows, size, totalCount, cursor !== undefined, (row) => row);
}

/** Lists tenants in the order they were created; deleted ones only with `includeInactive`. */
export async function listTenants(
  ctx: ServiceContext,
  input: DirectoryPageInput,
): Promise<Page<Tenant>> {
  await requireDirectoryReader(ctx, 'tenants:read');
  const size = pageSize(input.first);
  const cursor = decodeCursor(input.after);

  const scope = input.includeInactive ? {} : { isActive: true };
  const [rows, totalCount] = await Promise.all([
    ctx.em.find(Tenant, afterCursor(scope, cursor), {
      orderBy: { createdAt: 'asc', id: 'asc' },
      limit: size + 1,
    }),
    ctx.em.count(Tenant, scope),
  ]);

  return toPage(rows, size, totalCount, cursor !== undefined, (row) => row);
}
