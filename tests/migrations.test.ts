import { spawn } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { runMigrateCommand, runMigrateCommandWith } from '../src/cli/migrate.js';
import { loadConfig } from '../src/config.js';
import { tenantMigrations } from '../src/db/migrations/tenant/index.js';
import type { Migration } from '../src/db/migrations/types.js';
import { migrateAllTenants, tenantSchemaSql } from '../src/db/migrator.js';
import { SCHEMA_LOCK_CLASS } from '../src/db/tenant-migration-runner.js';
import type { Extension } from '../src/extensions.js';
import { createLogger } from '../src/logger.js';
import { ADMIN_EMAIL, startTestApp, type TestApp } from './support/app.js';
import { mustSucceed, provision, seedCaseFixture, type CaseFixture } from './support/fixtures.js';

const silent = createLogger('silent');
const REPOSITORY_ROOT = path.resolve(import.meta.dirname, '..');

const DELETE_TENANT = `
  mutation ($tenant: String) { deleteTenant(tenant: $tenant) { slug isActive } }`;

interface SchemaJson {
  schemaName: string;
  slug: string;
  tenantType: string;
  isActive: boolean;
  outcome: string;
  applied: string[];
  pending: string[];
  error?: { message: string; code?: string };
  reason?: string;
}

interface CommandJson {
  mode: string;
  exitCode: number;
  concurrency: number;
  public: { applied: string[]; pending: string[] };
  counts: Record<string, number>;
  schemas: SchemaJson[];
  orphanSchemas: string[];
}

interface CommandOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Streams that keep what the command writes; `tty` makes stdout look like a terminal. */
function captureIo(tty = false) {
  const chunks = { stdout: '', stderr: '' };
  const sink = (key: keyof typeof chunks) =>
    new Writable({
      write(chunk, _encoding, callback) {
        chunks[key] += String(chunk);
        callback();
      },
    });
  const stdout = Object.assign(sink('stdout'), tty ? { isTTY: true, columns: 100 } : {});

  return { io: { stdout, stderr: sink('stderr') }, chunks };
}

/** Builds an extension that gives `default` tenants one more module with `migrations`. */
function moduleExtension(name: string, migrations: Migration[]): Extension {
  return { name, modules: [{ name, migrations }], tenantTypes: { default: [name] } };
}

function createTableMigration(name: string, table: string): Migration {
  return { name, up: (schema) => `create table ${schema}.${table} (id int primary key);` };
}

/** Migrations of the core module, which every tenant schema gets. */
const CORE_MIGRATIONS = ['0001-permissions', '0002-no-user-foreign-key'];

describe('migrate command', () => {
  let t: TestApp;
  let fixture: CaseFixture;
  const savedEnv = { DATABASE_URL: process.env.DATABASE_URL, LOG_LEVEL: process.env.LOG_LEVEL };

  beforeAll(async () => {
    t = await startTestApp();
    fixture = await seedCaseFixture(t);
    process.env.DATABASE_URL = t.databaseUrl;
    process.env.LOG_LEVEL = 'silent';
  });
  afterAll(async () => {
    Object.assign(process.env, savedEnv);
    await t?.close();
  });

  async function runCommand(args: string[], extensions?: Extension[]): Promise<CommandOutput> {
    const { io, chunks } = captureIo();
    const exitCode = extensions
      ? await runMigrateCommandWith(args, io, {
          config: loadConfig({}, { databaseUrl: t.databaseUrl, logLevel: 'silent' }),
          extensions,
        })
      : await runMigrateCommand(args, io);

    return { exitCode, ...chunks };
  }

  async function runJson(args: string[], extensions?: Extension[]) {
    const output = await runCommand(['--json', ...args], extensions);
    const json = JSON.parse(output.stdout) as CommandJson;
    expect(json.exitCode).toBe(output.exitCode);

    return { ...output, json, bySlug: new Map(json.schemas.map((item) => [item.slug, item])) };
  }

  async function ledger(schema: string): Promise<string[]> {
    const rows = await t.sql<{ name: string }>(
      `select name from "${schema}".tenant_migrations order by name`,
    );
    return rows.map((row) => row.name);
  }

  async function tableExists(schema: string, table: string): Promise<boolean> {
    const rows = await t.sql<{ found: boolean }>('select to_regclass($1) is not null as found', [
      `"${schema}"."${table}"`,
    ]);
    return rows[0].found;
  }

  /** Returns every ledger row of every schema, for before/after comparison. */
  async function allLedgerRows(): Promise<string[]> {
    const schemas = await t.sql<{ schema_name: string }>(
      `select table_schema as schema_name from information_schema.tables
       where table_name = 'tenant_migrations' order by 1`,
    );
    const rows: string[] = [];
    for (const { schema_name: schema } of schemas) {
      rows.push(...(await ledger(schema)).map((name) => `${schema}.${name}`));
    }
    return rows;
  }

  async function tenantCount(): Promise<number> {
    const rows = await t.sql<{ count: string }>('select count(*) from public.tenants');
    return Number(rows[0].count);
  }

  async function provisionTenant(slug: string) {
    return provision(t, fixture.adminToken, { name: slug, slug, ownerEmail: ADMIN_EMAIL });
  }

  it('migrates deleted tenant, leaves orphan', async () => {
    await t.sql(`create schema legacy_import;
      create table legacy_import.items (id int primary key, label text);
      insert into legacy_import.items values (1, 'kept');`);
    const bobToken = await t.login('bob@x.test');
    await mustSucceed(t, DELETE_TENANT, { tenant: 'globex' }, bobToken);
    const orphanRelations = () =>
      t.sql(
        `select relname, relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'legacy_import' order by relname`,
      );
    const orphanBefore = await orphanRelations();
    const notes = moduleExtension('notes', [createTableMigration('notes-0001-notes', 'notes')]);

    const { exitCode, json, bySlug } = await runJson([], [notes]);
    const text = await runCommand([], [notes]);

    expect(exitCode).toBe(0);
    expect(bySlug.get('acme')?.outcome).toBe('migrated');
    expect(bySlug.get('acme')?.applied).toEqual(['notes-0001-notes']);
    expect(bySlug.get('globex')?.isActive).toBe(false);
    expect(bySlug.get('globex')?.outcome).toBe('migrated');
    expect(bySlug.get('globex')?.applied).toEqual(['notes-0001-notes']);
    expect(json.schemas.find((item) => item.schemaName === 'public')?.outcome).toBe('current');
    expect(json.orphanSchemas).toEqual(['legacy_import']);
    expect(json.schemas.map((item) => item.schemaName)).not.toContain('legacy_import');
    expect(await tableExists(fixture.acme.schemaName, 'notes')).toBe(true);
    expect(await tableExists(fixture.globex.schemaName, 'notes')).toBe(true);
    expect(await ledger(fixture.globex.schemaName)).toContain('notes-0001-notes');
    expect(await t.sql('select is_active from public.tenants where slug = $1', ['globex'])).toEqual(
      [{ is_active: false }],
    );
    expect(await orphanRelations()).toEqual(orphanBefore);
    expect(await t.sql('select * from legacy_import.items')).toEqual([{ id: 1, label: 'kept' }]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain('legacy_import');
  });

  it('failing tenant does not stop others', async () => {
    const initech = await provisionTenant('initech');
    const hooli = await provisionTenant('hooli');
    await t.sql(`create table "${initech.schemaName}".widgets (legacy text)`);
    const widgets = moduleExtension('widgets', [
      createTableMigration('widgets-0001-widgets', 'widgets'),
    ]);

    const { exitCode, json, bySlug } = await runJson(['--concurrency', '2'], [widgets]);
    const failed = json.schemas.filter((item) => item.outcome === 'failed');
    const columns = await t.sql(
      `select column_name from information_schema.columns
       where table_schema = $1 and table_name = 'widgets'`,
      [initech.schemaName],
    );

    expect(exitCode).toBe(1);
    expect(failed.map((item) => item.schemaName)).toEqual([initech.schemaName]);
    expect(failed[0].error?.code).toBe('42P07');
    expect(failed[0].pending).toEqual(['widgets-0001-widgets']);
    for (const slug of ['acme', 'globex', 'hooli']) {
      expect(bySlug.get(slug)?.applied, slug).toEqual(['widgets-0001-widgets']);
    }
    expect(await ledger(initech.schemaName)).not.toContain('widgets-0001-widgets');
    expect(await ledger(hooli.schemaName)).toContain('widgets-0001-widgets');
    expect(columns).toEqual([{ column_name: 'legacy' }]);
    expect(json.orphanSchemas).toEqual(['legacy_import']);
  });

  it('drops user key, gives up on held lock', async () => {
    const legacy = await provisionTenant('legacy-key');
    const table = `"${legacy.schemaName}".user_tenant_permissions`;
    // A schema provisioned before migration 0002 still has the key to public.users.
    await t.sql(
      `alter table ${table} add constraint user_tenant_permissions_user_id_fkey
       foreign key (user_id) references public.users (id)`,
    );
    await t.sql(
      `delete from "${legacy.schemaName}".tenant_migrations
       where name = '0002-no-user-foreign-key'`,
    );
    const userKeys = async () =>
      t.sql(
        `select conname from pg_constraint
         where conrelid = $1::regclass and confrelid = 'public.users'::regclass`,
        [table],
      );
    const holder = new pg.Client({ connectionString: t.databaseUrl });
    await holder.connect();
    await holder.query('begin; lock table public.users in access share mode');

    const blocked = await runJson([]);
    await holder.query('rollback');
    await holder.end();
    const keysWhileBlocked = await userKeys();
    const rerun = await runJson([]);

    expect(blocked.exitCode).toBe(1);
    expect(blocked.bySlug.get('legacy-key')?.outcome).toBe('failed');
    // 55P03 is lock_not_available, raised when lock_timeout expires.
    expect(blocked.bySlug.get('legacy-key')?.error?.code).toBe('55P03');
    expect(keysWhileBlocked).toHaveLength(1);
    expect(rerun.exitCode).toBe(0);
    expect(rerun.bySlug.get('legacy-key')?.applied).toEqual(['0002-no-user-foreign-key']);
    expect(await userKeys()).toEqual([]);
  });

  it('check lists pending without changes', async () => {
    const tags = moduleExtension('tags', [createTableMigration('tags-0001-tags', 'tags')]);
    const ledgerBefore = await allLedgerRows();

    const check = await runJson(['--check'], [tags]);
    const ledgerAfterCheck = await allLedgerRows();
    const tablesAfterCheck = await t.sql(
      `select table_schema from information_schema.tables where table_name = 'tags'`,
    );
    const migrate = await runJson([], [tags]);
    const recheck = await runJson(['--check'], [tags]);

    expect(check.exitCode).toBe(1);
    expect(check.json.mode).toBe('check');
    expect(check.bySlug.get('acme')?.outcome).toBe('pending');
    expect(check.bySlug.get('acme')?.pending).toEqual(['tags-0001-tags']);
    expect(check.bySlug.get('globex')?.pending).toEqual(['tags-0001-tags']);
    expect(check.bySlug.get('acme')?.applied).toEqual([]);
    expect(check.json.counts.pending).toBe((await tenantCount()) - 1);
    expect(check.json.orphanSchemas).toEqual(['legacy_import']);
    expect(ledgerAfterCheck).toEqual(ledgerBefore);
    expect(tablesAfterCheck).toEqual([]);
    expect(migrate.exitCode).toBe(0);
    expect(recheck.exitCode).toBe(0);
    expect(recheck.json.counts.pending).toBe(0);
  });

  it('parallel run matches sequential run', async () => {
    for (const slug of ['par-one', 'par-two', 'par-three', 'par-four', 'par-five', 'par-six']) {
      await provisionTenant(slug);
    }
    await t.sql(`create table public.migration_probe (
      run text, schema_name text, started timestamptz, finished timestamptz)`);
    const probe = (run: string): Migration => ({
      name: `probe-${run}`,
      up: (schema) => {
        const literal = `'${schema.replaceAll("'", "''")}'`;
        return `insert into public.migration_probe values ('${run}', ${literal}, clock_timestamp());
          select pg_sleep(0.05);
          update public.migration_probe set finished = clock_timestamp()
            where run = '${run}' and schema_name = ${literal};`;
      },
    });
    const maxOverlap = async (run: string) => {
      const rows = await t.sql<{ overlap: number }>(
        `select max((select count(*) from public.migration_probe other
                     where other.run = p.run and other.started <= p.started
                       and other.finished > p.started))::int as overlap
         from public.migration_probe p where p.run = $1`,
        [run],
      );
      return rows[0].overlap;
    };
    const first = moduleExtension('probe', [probe('0001')]);
    const second = moduleExtension('probe', [probe('0001'), probe('0002')]);
    const summary = (json: CommandJson) =>
      json.schemas.map((item) => [item.schemaName, item.outcome, item.applied.length]);

    const sequential = await runJson(['--concurrency', '1'], [first]);
    const parallel = await runJson(['--concurrency', '8'], [second]);
    const probeRows = await t.sql<{ run: string; count: string }>(
      'select run, count(*) from public.migration_probe group by run order by run',
    );

    expect(sequential.exitCode).toBe(0);
    expect(parallel.exitCode).toBe(0);
    expect(sequential.json.concurrency).toBe(1);
    expect(parallel.json.concurrency).toBe(8);
    expect(summary(parallel.json)).toEqual(summary(sequential.json));
    expect(parallel.bySlug.get('par-six')?.applied).toEqual(['probe-0002']);
    expect(probeRows).toEqual([
      { run: '0001', count: String(sequential.json.counts.migrated) },
      { run: '0002', count: String(sequential.json.counts.migrated) },
    ]);
    expect(await maxOverlap('0001')).toBe(1);
    expect(await maxOverlap('0002')).toBeGreaterThan(1);
    expect(await maxOverlap('0002')).toBeLessThanOrEqual(8);
  });

  it('no-op run opens no transactions', async () => {
    const owner = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      ADMIN_EMAIL,
    ]);
    for (let index = 0; index < 40; index += 1) {
      const schema = `bulk_${index}`;
      await t.sql(
        `insert into public.tenants (name, slug, schema_name, tenant_type, owner_id)
         values ($1, $1, $2, 'default', $3)`,
        [`bulk-${index}`, schema, owner[0].id],
      );
      await t.sql(`create schema ${schema};\n${tenantSchemaSql(schema)}`);
    }
    const knex = t.app.orm.em.getConnection().getKnex();
    const statements: string[] = [];
    const listener = (query: { sql: string }) => statements.push(query.sql);
    const stats = new pg.Client({ connectionString: inject('databaseUrl') });
    await stats.connect();
    const databaseName = new URL(t.databaseUrl).pathname.slice(1);
    const commits = async () => {
      const rows = await stats.query(
        'select xact_commit from pg_stat_database where datname = $1',
        [databaseName],
      );
      return Number(rows.rows[0].xact_commit);
    };

    knex.on('query', listener);
    let reports;
    try {
      reports = await migrateAllTenants(t.app.orm.em.fork(), silent);
    } finally {
      knex.off('query', listener);
    }
    const commitsBefore = await settledCommits(commits);
    const command = await runJson([]);
    const commitsAfter = await settledCommits(commits);
    await stats.end();

    expect(reports.length).toBe(await tenantCount());
    expect(reports.length).toBeGreaterThan(40);
    expect(reports.every((report) => report.outcome === 'current')).toBe(true);
    expect(statements.filter((sql) => /^\s*begin/i.test(sql))).toEqual([]);
    expect(statements.length).toBeLessThanOrEqual(3);
    expect(command.exitCode).toBe(0);
    expect(command.json.counts.current).toBe(reports.length);
    // The public schema's own migration run commits once, and each statement outside a
    // transaction commits once; a transaction per schema would add one per tenant.
    expect(commitsAfter - commitsBefore).toBeLessThan(15);
  });

  it('resumes failed schema on rerun', async () => {
    const umbrella = await provisionTenant('umbrella');
    await t.sql(`create table "${umbrella.schemaName}".entries_amount_idx (id int)`);
    const migrations = [
      ...tenantMigrations,
      createTableMigration('entries-0001-table', 'entries'),
      {
        name: 'entries-0002-index',
        up: (schema: string) => `create index entries_amount_idx on ${schema}.entries (id);`,
      },
    ];
    const knex = t.app.orm.em.getConnection().getKnex();
    const statements: string[] = [];
    const listener = (query: { sql: string }) => statements.push(query.sql);

    const first = await migrateAllTenants(t.app.orm.em.fork(), silent, migrations);
    const umbrellaTableAfterFailure = await tableExists(umbrella.schemaName, 'entries');
    knex.on('query', listener);
    let second;
    try {
      second = await migrateAllTenants(t.app.orm.em.fork(), silent, migrations);
    } finally {
      knex.off('query', listener);
    }
    await t.sql(`drop table "${umbrella.schemaName}".entries_amount_idx`);
    const third = await migrateAllTenants(t.app.orm.em.fork(), silent, migrations);
    const outcomes = (reports: typeof first) =>
      reports.filter((report) => report.outcome !== 'current').map((report) => report.slug);

    expect(first.find((report) => report.slug === 'umbrella')?.outcome).toBe('failed');
    expect(first.find((report) => report.slug === 'acme')?.applied).toEqual([
      'entries-0001-table',
      'entries-0002-index',
    ]);
    expect(umbrellaTableAfterFailure).toBe(false);
    expect(outcomes(second)).toEqual(['umbrella']);
    expect(statements.filter((sql) => /^\s*begin/i.test(sql))).toHaveLength(1);
    expect(third.find((report) => report.slug === 'umbrella')?.applied).toEqual([
      'entries-0001-table',
      'entries-0002-index',
    ]);
    expect(outcomes(third)).toEqual(['umbrella']);
    expect(await ledger(umbrella.schemaName)).toEqual(
      expect.arrayContaining(['entries-0001-table', 'entries-0002-index']),
    );
  });

  it('resumes after killed process', async () => {
    const first = await provisionTenant('resume-first');
    const second = await provisionTenant('resume-second');
    for (const { schemaName } of [first, second]) {
      await t.sql(`drop schema "${schemaName}" cascade; create schema "${schemaName}";`);
    }
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    await locker.connect();
    const lockerPid = (await locker.query('select pg_backend_pid() as pid')).rows[0].pid;
    await locker.query('select pg_advisory_lock($1, hashtext($2))', [
      SCHEMA_LOCK_CLASS,
      second.schemaName,
    ]);

    const killed = startCli(t.databaseUrl, ['--concurrency', '1']);
    const waiting = await waitFor(async () => {
      const rows = await t.sql<{ pid: number }>(
        `select pid from pg_stat_activity
         where datname = current_database() and wait_event = 'advisory' and pid <> $1`,
        [lockerPid],
      );
      return rows[0]?.pid;
    });
    const firstLedgerWhileBlocked = await ledger(first.schemaName);
    process.kill(-killed.child.pid!, 'SIGKILL');
    await killed.exited;
    await locker.query('select pg_advisory_unlock_all()');
    await locker.end();
    await waitFor(async () => {
      const rows = await t.sql('select 1 from pg_stat_activity where pid = $1', [waiting]);
      return rows.length === 0 ? true : undefined;
    });
    const secondLedgerAfterKill = await tableExists(second.schemaName, 'tenant_migrations');
    const secondTablesAfterKill = await tableExists(second.schemaName, 'permissions');

    const rerun = await startCli(t.databaseUrl, []).exited;

    expect(firstLedgerWhileBlocked).toEqual(CORE_MIGRATIONS);
    expect(secondLedgerAfterKill).toBe(false);
    expect(secondTablesAfterKill).toBe(false);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(
      new RegExp(`^${second.schemaName} .*: applied ${CORE_MIGRATIONS.join(', ')}$`, 'm'),
    );
    expect(rerun.stdout).toMatch(new RegExp(`^${first.schemaName} .*: up to date$`, 'm'));
    expect(await ledger(second.schemaName)).toEqual(CORE_MIGRATIONS);
    expect(await tableExists(second.schemaName, 'permissions')).toBe(true);
  });

  it('interrupt finishes schema in progress', async () => {
    const tenants = [];
    for (const slug of ['stop-first', 'stop-second', 'stop-third']) {
      const tenant = await provisionTenant(slug);
      await t.sql(
        `drop schema "${tenant.schemaName}" cascade; create schema "${tenant.schemaName}";`,
      );
      tenants.push(tenant);
    }
    const [first, second, third] = tenants;
    const locker = new pg.Client({ connectionString: t.databaseUrl });
    await locker.connect();
    const lockerPid = (await locker.query('select pg_backend_pid() as pid')).rows[0].pid;
    await locker.query('select pg_advisory_lock($1, hashtext($2))', [
      SCHEMA_LOCK_CLASS,
      second.schemaName,
    ]);

    const cli = startCli(t.databaseUrl, ['--concurrency', '1', '--json'], true);
    let stderr = '';
    cli.child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    await waitFor(async () => {
      const rows = await t.sql(
        `select pid from pg_stat_activity
         where datname = current_database() and wait_event = 'advisory' and pid <> $1`,
        [lockerPid],
      );
      return rows.length > 0 ? true : undefined;
    });
    cli.child.kill('SIGINT');
    await waitFor(async () => (stderr.includes('SIGINT') ? true : undefined));
    await locker.query('select pg_advisory_unlock_all()');
    await locker.end();
    const result = await cli.exited;
    const json = JSON.parse(result.stdout) as CommandJson & { interrupted: boolean };
    const outcomeOf = (slug: string) => json.schemas.find((item) => item.slug === slug)?.outcome;

    expect(result.code).toBe(1);
    expect(json.interrupted).toBe(true);
    expect(outcomeOf('stop-first')).toBe('migrated');
    expect(outcomeOf('stop-second')).toBe('migrated');
    expect(outcomeOf('stop-third')).toBe('pending');
    expect(await ledger(first.schemaName)).toEqual(CORE_MIGRATIONS);
    expect(await ledger(second.schemaName)).toEqual(CORE_MIGRATIONS);
    expect(await tableExists(third.schemaName, 'tenant_migrations')).toBe(false);
    expect((await runJson([])).bySlug.get('stop-third')?.outcome).toBe('migrated');
  });

  it('skips provisioning tenant, fails missing schema', async () => {
    const owner = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      ADMIN_EMAIL,
    ]);
    const insertTenant = (slug: string, status: string, tenantType = 'default') =>
      t.sql(
        `insert into public.tenants (name, slug, schema_name, tenant_type, owner_id, status)
         values ($1, $1, $2, $3, $4, $5)`,
        [slug, slug.replaceAll('-', '_'), tenantType, owner[0].id, status],
      );
    await insertTenant('still-provisioning', 'PROVISIONING');
    await insertTenant('vanished', 'ACTIVE');
    await insertTenant('ghost', 'ACTIVE', 'ghost');
    await t.sql(`create schema ghost;\n${tenantSchemaSql('ghost')}`);

    try {
      const broken = await runJson([]);
      await t.sql("delete from public.tenants where slug in ('vanished', 'ghost')");
      const repaired = await runJson([]);

      expect(broken.exitCode).toBe(1);
      expect(broken.bySlug.get('still-provisioning')?.outcome).toBe('skipped');
      expect(broken.bySlug.get('vanished')?.outcome).toBe('failed');
      expect(broken.bySlug.get('ghost')?.outcome).toBe('failed');
      expect(broken.json.counts.failed).toBe(2);
      expect(broken.bySlug.get('acme')?.outcome).toBe('current');
      expect(repaired.exitCode).toBe(0);
      expect(repaired.bySlug.get('still-provisioning')?.outcome).toBe('skipped');
      expect(repaired.json.orphanSchemas).toEqual(['ghost', 'legacy_import']);
    } finally {
      await t.sql(
        "delete from public.tenants where slug in ('still-provisioning', 'vanished', 'ghost')",
      );
      await t.sql('drop schema if exists ghost cascade');
    }
  });

  it('concurrent runs apply migration once', async () => {
    const migrations = [
      ...tenantMigrations,
      {
        name: 'race-0001-marks',
        up: (schema: string) =>
          `select pg_sleep(0.02); create table ${schema}.race_marks (id int);`,
      },
    ];
    const run = () =>
      migrateAllTenants(t.app.orm.em.fork(), silent, migrations, { concurrency: 3 });

    const [left, right] = await Promise.all([run(), run()]);
    const appliedBy = (reports: typeof left) =>
      new Set(reports.filter((report) => report.applied.length > 0).map((r) => r.schemaName));
    const leftApplied = appliedBy(left);
    const rightApplied = appliedBy(right);
    const marked = await t.sql<{ table_schema: string }>(
      `select table_schema from information_schema.tables where table_name = 'race_marks'`,
    );

    expect([...left, ...right].filter((report) => report.outcome === 'failed')).toEqual([]);
    expect([...leftApplied].filter((schema) => rightApplied.has(schema))).toEqual([]);
    expect(leftApplied.size + rightApplied.size).toBe(left.length);
    expect(marked).toHaveLength(left.length);
  });

  it('draws progress bar on terminal', async () => {
    const { io, chunks } = captureIo(true);
    const plain = await runCommand([]);

    const exitCode = await runMigrateCommand([], io);
    const schemaLines = plain.stdout.split('\n').filter((line) => /^\S+ \(.+\): /.test(line));

    expect(exitCode).toBe(0);
    expect(chunks.stdout).toContain('\r\x1b[2KMigrating [');
    expect(chunks.stdout).not.toMatch(/^\S+ \(.+\): up to date$/m);
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).not.toContain('\r');
    expect(schemaLines).toHaveLength(await tenantCount());
  });

  it('rejects invalid options', async () => {
    const ledgerBefore = await allLedgerRows();

    const outputs = await Promise.all(
      [['--concurrency', '0'], ['--concurrency', 'many'], ['--concurrency', '65'], ['--force']].map(
        (args) => runCommand(args),
      ),
    );
    const help = await runCommand(['--help']);

    for (const output of outputs) {
      expect(output.exitCode).toBe(2);
      expect(output.stdout).toBe('');
    }
    expect(help.exitCode).toBe(0);
    expect(await allLedgerRows()).toEqual(ledgerBefore);
  });
});

/**
 * Starts `npx tsx src/cli/migrate.ts` in its own process group, so that it can be killed whole.
 * With `direct`, node runs the script with the tsx loader in one process, which receives the
 * signals sent to `child`.
 */
function startCli(databaseUrl: string, args: string[], direct = false) {
  const [command, ...prefix] = direct ? [process.execPath, '--import', 'tsx'] : ['npx', 'tsx'];
  const child = spawn(command, [...prefix, 'src/cli/migrate.ts', ...args], {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' },
    detached: !direct,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );

  return { child, exited };
}

/** Polls `probe` every 50 ms until it returns a value, for at most 30 s. */
async function waitFor<T>(probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('The condition was not met within 30 s.');
}

/**
 * Reads a counter until two reads 1.1 s apart agree. A PostgreSQL 15 backend reports its
 * statistics at exit, or at most 1 s after it went idle.
 */
async function settledCommits(read: () => Promise<number>): Promise<number> {
  let previous = await read();
  for (let attempt = 0; attempt < 10; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const current = await read();
    if (current === previous) {
      return current;
    }
    previous = current;
  }
  return previous;
}
