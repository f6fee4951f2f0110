/**
 * A migration is plain SQL. Tenant migrations receive the quoted name of the schema they run in,
 * so one definition serves every tenant schema and no request value is spliced into SQL.
 */
export interface Migration {
  /** Unique, sortable name; the runner records it once applied. */
  name: string;
  /** SQL to apply; `schema` is an already quoted identifier. */
  up(schema: string): string;
}
