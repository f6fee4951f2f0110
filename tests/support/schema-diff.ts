import type { TestApp } from './app.js';

/**
 * Row-by-row snapshots of every schema of the test database, and their difference. A row is
 * identified by its primary key, or by all of its columns in a table without one, so the diff
 * distinguishes a changed row from a deleted row and an inserted row.
 */

/** The rows of one table, keyed by primary key, each as canonical `jsonb` text. */
export interface TableSnapshot {
  /** Primary key columns in key order, or none when the table has no primary key. */
  keyColumns: string[];
  rows: Map<string, string>;
}

/** Every schema and every base table outside the PostgreSQL catalogs, row by row. */
export interface SchemaSnapshot {
  schemas: string[];
  /** Tables by `schema.table`. */
  tables: Map<string, TableSnapshot>;
}

/** What changed in one table between two snapshots. */
export interface TableDiff {
  /** `schema.table`. */
  table: string;
  /** True when the table exists only in the later snapshot. */
  created: boolean;
  /** True when the table exists only in the earlier snapshot. */
  dropped: boolean;
  /** Rows as `jsonb` text. A changed row appears as its earlier and its later version. */
  added: string[];
  removed: string[];
  changed: { before: string; after: string }[];
}

export interface SnapshotDiff {
  createdSchemas: string[];
  droppedSchemas: string[];
  /** Tables with a change, sorted by name. */
  tables: TableDiff[];
}

const SYSTEM_SCHEMA_FILTER = `nspname not like 'pg\\_%' and nspname <> 'information_schema'`;

/** Reads every row of every base table in `public` and in every other non-catalog schema. */
export async function snapshotAllSchemas(t: TestApp): Promise<SchemaSnapshot> {
  const schemas = (
    await t.sql<{ nspname: string }>(
      `select nspname from pg_namespace where ${SYSTEM_SCHEMA_FILTER} order by nspname`,
    )
  ).map((row) => row.nspname);

  const tableRows = await t.sql<{ table_schema: string; table_name: string }>(
    `select table_schema, table_name from information_schema.tables
     where table_type = 'BASE TABLE' and table_schema = any($1::text[])
     order by table_schema, table_name`,
    [schemas],
  );
  const keyColumns = await readPrimaryKeys(t, schemas);

  const tables = new Map<string, TableSnapshot>();
  for (const { table_schema: schema, table_name: table } of tableRows) {
    const name = `${schema}.${table}`;
    const columns = keyColumns.get(name) ?? [];
    tables.set(name, { keyColumns: columns, rows: await readRows(t, schema, table, columns) });
  }

  return { schemas, tables };
}

/** Compares two snapshots and lists every created or dropped schema and every changed table. */
export function diffSnapshots(before: SchemaSnapshot, after: SchemaSnapshot): SnapshotDiff {
  const names = [...new Set([...before.tables.keys(), ...after.tables.keys()])].sort();
  const tables: TableDiff[] = [];
  for (const name of names) {
    const diff = diffTable(name, before.tables.get(name), after.tables.get(name));
    const hasChange =
      diff.created ||
      diff.dropped ||
      diff.added.length + diff.removed.length + diff.changed.length > 0;
    if (hasChange) {
      tables.push(diff);
    }
  }

  return {
    createdSchemas: after.schemas.filter((schema) => !before.schemas.includes(schema)),
    droppedSchemas: before.schemas.filter((schema) => !after.schemas.includes(schema)),
    tables,
  };
}

/**
 * Summarizes each changed table as `+added -removed ~changed`, leaving out zero counts, with
 * `created` or `dropped` in front for a table that exists on one side only, and each created or
 * dropped schema by its bare name, such as
 * `{ 'acme_x1': 'created', 'acme_x1.groups': 'created +2', 'public.memberships': '-1' }`.
 */
export function summarizeDiff(diff: SnapshotDiff): Record<string, string> {
  const summary: Record<string, string> = {};
  for (const schema of diff.createdSchemas) {
    summary[schema] = 'created';
  }
  for (const schema of diff.droppedSchemas) {
    summary[schema] = 'dropped';
  }
  for (const table of diff.tables) {
    const parts = [
      table.created ? 'created' : '',
      table.dropped ? 'dropped' : '',
      table.added.length > 0 ? `+${table.added.length}` : '',
      table.removed.length > 0 ? `-${table.removed.length}` : '',
      table.changed.length > 0 ? `~${table.changed.length}` : '',
    ];
    summary[table.table] = parts.filter((part) => part !== '').join(' ');
  }

  return summary;
}

/** Formats the rows of the named tables of a diff, one per line, for a failure message. */
export function describeRows(diff: SnapshotDiff, tableNames: readonly string[]): string {
  const lines: string[] = [];
  for (const table of diff.tables.filter((entry) => tableNames.includes(entry.table))) {
    lines.push(`${table.table}:`);
    lines.push(...table.added.map((row) => `  + ${row}`));
    lines.push(...table.removed.map((row) => `  - ${row}`));
    for (const change of table.changed) {
      lines.push(`  ~ ${change.before}`, `    ${change.after}`);
    }
  }

  return lines.join('\n');
}

async function readPrimaryKeys(
  t: TestApp,
  schemas: readonly string[],
): Promise<Map<string, string[]>> {
  const rows = await t.sql<{ table_schema: string; table_name: string; columns: string[] }>(
    `select tc.table_schema, tc.table_name,
       array_agg(kcu.column_name::text order by kcu.ordinal_position) as columns
     from information_schema.table_constraints tc
     join information_schema.key_column_usage kcu
       on kcu.constraint_schema = tc.constraint_schema
      and kcu.constraint_name = tc.constraint_name
      and kcu.table_name = tc.table_name
     where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = any($1::text[])
     group by tc.table_schema, tc.table_name`,
    [schemas],
  );

  return new Map(rows.map((row) => [`${row.table_schema}.${row.table_name}`, row.columns]));
}

// A table without a primary key is keyed by the whole row, with a counter that keeps repeated
// rows apart.
async function readRows(
  t: TestApp,
  schema: string,
  table: string,
  keyColumns: readonly string[],
): Promise<Map<string, string>> {
  const key =
    keyColumns.length > 0
      ? `jsonb_build_array(${keyColumns.map((column) => `r.${quoteIdent(column)}`).join(', ')})::text`
      : 'to_jsonb(r)::text';
  const order =
    keyColumns.length > 0 ? keyColumns.map((column) => `r.${quoteIdent(column)}`) : ['2'];
  const rows = await t.sql<{ key: string; row: string }>(
    `select ${key} as key, to_jsonb(r)::text as row
     from ${quoteIdent(schema)}.${quoteIdent(table)} r order by ${order.join(', ')}`,
  );

  const byKey = new Map<string, string>();
  for (const row of rows) {
    let rowKey = row.key;
    for (let repeat = 1; byKey.has(rowKey); repeat += 1) {
      rowKey = `${row.key}#${repeat}`;
    }
    byKey.set(rowKey, row.row);
  }

  return byKey;
}

function diffTable(
  name: string,
  before: TableSnapshot | undefined,
  after: TableSnapshot | undefined,
): TableDiff {
  const beforeRows = before?.rows ?? new Map<string, string>();
  const afterRows = after?.rows ?? new Map<string, string>();
  const diff: TableDiff = {
    table: name,
    created: before === undefined,
    dropped: after === undefined,
    added: [],
    removed: [],
    changed: [],
  };

  for (const [key, row] of afterRows) {
    const previous = beforeRows.get(key);
    if (previous === undefined) {
      diff.added.push(row);
    } else if (previous !== row) {
      diff.changed.push({ before: previous, after: row });
    }
  }
  for (const [key, row] of beforeRows) {
    if (!afterRows.has(key)) {
      diff.removed.push(row);
    }
  }

  return diff;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
