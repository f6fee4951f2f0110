import type { EntityManager } from '@mikro-orm/postgresql';

/** Quotes a PostgreSQL identifier, so a schema name is never read as SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Runs SQL through `em`, inside its transaction when it has one. Placeholders are `?`; MikroORM
 * escapes each value into the text, and an array becomes a PostgreSQL array literal, so write
 * `?::uuid[]`. The text may hold several statements, sent in one round trip.
 */
export async function runSql<T extends object = Record<string, unknown>>(
  em: EntityManager,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const values = params.map((value) => (Array.isArray(value) ? toArrayLiteral(value) : value));

  return em.getConnection().execute<T[]>(sql, values, 'all', em.getTransactionContext());
}

/** Writes values as a PostgreSQL array literal such as `{"a","b"}`. */
function toArrayLiteral(values: readonly unknown[]): string {
  const items = values.map(
    (value) => `"${String(value).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`,
  );

  return `{${items.join(',')}}`;
}

/**
 * Writes a string as a PostgreSQL literal, for SQL that is sent as text without parameters, such
 * as a batch of several statements. Backslashes get the `E''` form, so the result reads the same
 * whatever `standard_conforming_strings` is.
 */
export function quoteLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''");

  return value.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}
