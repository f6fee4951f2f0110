import { badInput } from '../errors.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Position in a list ordered by creation time, then id. */
export interface CursorPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.createdAt.toISOString()}|${position.id}`).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Decodes an `after` cursor. Any text other than the exact form `encodeCursor` writes is
 * `BAD_USER_INPUT`, so a cursor this server did not make never reaches a query.
 */
export function decodeCursor(cursor: string | null | undefined): CursorPosition | undefined {
  if (cursor == null) {
    return undefined;
  }

  const [iso, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso);
  const position = { createdAt, id };
  const valid =
    rest.length === 0 &&
    id !== undefined &&
    UUID.test(id) &&
    !Number.isNaN(createdAt.getTime()) &&
    encodeCursor(position) === cursor;
  if (!valid) {
    throw badInput('after', 'The cursor is invalid; pass an `endCursor` returned by this API.');
  }

  return position;
}

/**
 * Narrows an ORM filter to the rows after `cursor` in (createdAt, id) order; returns `scope`
 * unchanged without a cursor.
 */
export function afterCursor<S extends object>(scope: S, cursor: CursorPosition | undefined) {
  if (!cursor) {
    return scope;
  }

  return {
    ...scope,
    $or: [
      { createdAt: { $gt: cursor.createdAt } },
      { createdAt: cursor.createdAt, id: { $gt: cursor.id } },
    ],
  };
}

/** Checks `first` and returns the page size. */
export function pageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw badInput('first', `first must be from 1 to ${MAX_PAGE_SIZE}.`);
  }

  return size;
}

/** One page of a list, shaped as a Relay connection. */
export interface Page<T> {
  edges: { node: T; cursor: string }[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
  totalCount: number;
}

/** Builds a page from up to `size + 1` rows; the extra row only shows that more follow. */
export function toPage<R extends CursorPosition, T>(
  rows: R[],
  size: number,
  totalCount: number,
  hasPrevious: boolean,
  toNode: (row: R) => T,
): Page<T> {
  const visible = rows.slice(0, size);
  const edges = visible.map((row) => ({ node: toNode(row), cursor: encodeCursor(row) }));

  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > size,
      hasPreviousPage: hasPrevious,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}
