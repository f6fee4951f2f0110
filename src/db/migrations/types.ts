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

/**
 * SQL that builds on a new, empty schema the state that a module's first migrations leave, in
 * one step. Provisioning runs it in place of those migrations and records their names in the
 * ledger. The migration runner never runs it, so existing schemas get each migration itself.
 */
export interface Snapshot {
  /** Label for logs, e.g. `core-snapshot`. */
  name: string;
  /** Names of the migrations it replaces: the module's first ones, in order. */
  replaces: readonly string[];
  /** SQL to apply; `schema` is an already quoted identifier. */
  up(schema: string): string;
}

/** A step of a new schema's installation: a migration, or a snapshot of several. */
export type InstallStep = Migration | Snapshot;

/** Returns the migration names that a step records in the ledger. */
export function ledgerNamesOf(step: InstallStep): readonly string[] {
  return 'replaces' in step ? step.replaces : [step.name];
}
