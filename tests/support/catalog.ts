/** Runs one SQL query with `$1` parameters and returns its rows. */
export type QueryRows = <R extends Record<string, unknown>>(
  text: string,
  params?: unknown[],
) => Promise<R[]>;

/**
 * Description of everything a schema contains, with the schema's own name written as `$schema`,
 * so that two tenant schemas can be compared for equality.
 */
export interface SchemaCatalog {
  relations: string[];
  columns: string[];
  constraints: string[];
  indexes: string[];
  triggers: string[];
  functions: string[];
  ledger: string[];
}

/** Reads the catalog of `schema`: relations, columns, constraints, indexes, triggers, functions. */
export async function describeSchema(query: QueryRows, schema: string): Promise<SchemaCatalog> {
  const rows = async (sql: string) =>
    (await query<{ line: string }>(sql, [schema])).map((row) =>
      row.line.replaceAll(`"${schema}".`, '$schema.').replaceAll(`${schema}.`, '$schema.'),
    );

  return {
    relations: await rows(
      `select c.relkind::text || ' ' || c.relname as line from pg_class c
       join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 order by 1`,
    ),
    columns: await rows(
      `select c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || case when a.attnotnull then ' not null' else '' end
         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
         || case when a.attidentity <> '' then ' identity ' || a.attidentity::text else '' end
         || ' #' || a.attnum as line
       from pg_attribute a
       join pg_class c on c.oid = a.attrelid
       join pg_namespace n on n.oid = c.relnamespace
       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
       where n.nspname = $1 and a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p', 'v')
       order by 1`,
    ),
    constraints: await rows(
      `select cl.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid) as line
       from pg_constraint co
       join pg_class cl on cl.oid = co.conrelid
       join pg_namespace n on n.oid = co.connamespace
       where n.nspname = $1 order by 1`,
    ),
    indexes: await rows(
      "select indexname || ' ' || indexdef as line from pg_indexes where schemaname = $1 order by 1",
    ),
    triggers: await rows(
      `select tg.tgname || ' ' || pg_get_triggerdef(tg.oid) as line
       from pg_trigger tg
       join pg_class c on c.oid = tg.tgrelid
       join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and not tg.tgisinternal order by 1`,
    ),
    functions: await rows(
      `select p.proname || ' ' || pg_get_functiondef(p.oid) as line
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = $1 order by 1`,
    ),
    ledger: (
      await query<{ name: string }>(`select name from "${schema}".tenant_migrations order by name`)
    ).map((row) => row.name),
  };
}
