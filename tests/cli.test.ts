import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcrypt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { runCli } from '../src/cli/index.js';
import { openSystemServices } from '../src/cli/system-context.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createPublicTenant } from '../src/services/public-tenant.service.js';
import { deleteTenant, provisionTenant } from '../src/services/tenants.service.js';
import { createUser, deleteUser } from '../src/services/users.service.js';
import type { TestApp } from './support/app.js';
import { createScratchDatabase, type ScratchDatabase } from './support/database.js';
import { databaseSnapshot } from './support/fixtures.js';

// The CLI runs as a child process through its real launcher, as an operator would start it. Each
// run took about a second on a 2-core development machine, mostly tsx compiling the sources, so
// each test runs few commands.

const LAUNCHER = fileURLToPath(new URL('../bin/tenant-users.js', import.meta.url));
const PASSWORD = 'Pw-123456789';
const PUBLIC_DOMAIN = 'app.test';
const OWNER_EMAIL = 'owner@app.test';
const TENANT_OWNER_EMAIL = 'tenant-owner@app.test';

interface CliRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

interface TestDatabase {
  url: string;
  sql<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<R[]>;
}

let workDir: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  // An empty working directory: no .env file and no .data folder can leak into the runs, and
  // every run shows that the launcher finds the project's tsconfig from elsewhere.
  workDir = await mkdtemp(path.join(os.tmpdir(), 'tenant-users-cli-'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) {
    await cleanup();
  }
  await rm(workDir, { recursive: true, force: true });
});

/** Creates an empty database that the file's cleanup drops. */
async function freshDatabase(): Promise<TestDatabase> {
  const database: ScratchDatabase = await createScratchDatabase(inject('databaseUrl'));
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  pool.on('error', () => undefined);
  cleanups.push(async () => {
    await pool.end();
    await database.drop();
  });

  return {
    url: database.url,
    sql: async (text, params = []) => (await pool.query(text, params)).rows,
  };
}

/** Runs the launcher with `args` against `db`, with stdin not a terminal. */
function cli(db: TestDatabase, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [LAUNCHER, ...args], {
    cwd: workDir,
    env: childEnv(db, env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();

  return collect(child);
}

function childEnv(db: TestDatabase, env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: db.url,
    TENANT_USERS_BCRYPT_COST: '4',
    TENANT_USERS_DOMAIN: PUBLIC_DOMAIN,
    TENANT_USERS_PUBLIC_DOMAIN: PUBLIC_DOMAIN,
    ...env,
  };
}

function collect(child: ReturnType<typeof spawn>): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}

/** Parses the error object that `--json` prints on stderr. */
function jsonError(run: CliRun): Record<string, unknown> {
  return (JSON.parse(run.stderr) as { error: Record<string, unknown> }).error;
}

async function snapshot(db: TestDatabase): Promise<Record<string, unknown>> {
  // databaseSnapshot reads the database through `sql` only.
  const state = await databaseSnapshot(db as unknown as TestApp);
  state.auditEvents = await db.sql('select * from public.audit_events order by id');

  return state;
}

async function permissionsOf(db: TestDatabase, email: string, schema = 'public') {
  const quoted = `"${schema.replaceAll('"', '""')}"`;
  const [row] = await db.sql<{ is_staff: boolean; is_superuser: boolean }>(
    `select p.is_staff, p.is_superuser from ${quoted}.user_tenant_permissions p
     join public.users u on u.id = p.user_id where lower(u.email) = lower($1)`,
    [email],
  );

  return row;
}

async function userRow(db: TestDatabase, email: string) {
  const [row] = await db.sql<{
    password_hash: string | null;
    is_active: boolean;
    is_verified: boolean;
    metadata: Record<string, unknown>;
  }>(
    `select password_hash, is_active, is_verified, metadata from public.users
     where lower(email) = lower($1)`,
    [email],
  );

  return row;
}

describe('create-public-tenant on an empty database', () => {
  let db: TestDatabase;
  let first: CliRun;
  beforeAll(async () => {
    db = await freshDatabase();
    first = await cli(db, [
      'create-public-tenant',
      '--domain',
      PUBLIC_DOMAIN,
      '--owner-email',
      OWNER_EMAIL,
      '--name',
      'Platform',
      '--metadata',
      '{"plan":"internal"}',
      '--owner-metadata',
      '{"displayName":"Ops"}',
      '--domain-metadata',
      '{"cdn":false}',
      '--json',
    ]);
  });

  it('creates schema, domain and owner', async () => {
    const output = JSON.parse(first.stdout);
    const tenants = await db.sql(
      'select slug, schema_name, tenant_type, name, is_active from public.tenants',
    );
    const domains = await db.sql('select domain, is_primary, is_active from public.domains');
    const memberships = await db.sql(
      `select u.email from public.memberships m join public.users u on u.id = m.user_id
       join public.tenants t on t.id = m.tenant_id where t.schema_name = 'public'`,
    );

    expect(first.exitCode).toBe(0);
    expect(first.stderr).toBe('');
    expect(output.tenant).toMatchObject({ schemaName: 'public', slug: 'public', name: 'Platform' });
    expect(output.domain).toMatchObject({ domain: PUBLIC_DOMAIN, isPrimary: true });
    expect(output.owner).toMatchObject({ email: OWNER_EMAIL, isActive: true, isVerified: true });
    expect(tenants).toEqual([
      {
        slug: 'public',
        schema_name: 'public',
        tenant_type: 'public',
        name: 'Platform',
        is_active: true,
      },
    ]);
    expect(domains).toEqual([{ domain: PUBLIC_DOMAIN, is_primary: true, is_active: true }]);
    expect(memberships).toEqual([{ email: OWNER_EMAIL }]);
  });

  it('stores tenant, owner and domain metadata', async () => {
    const [tenant] = await db.sql('select metadata from public.tenants');
    const [domain] = await db.sql('select metadata from public.domains');
    const owner = await userRow(db, OWNER_EMAIL);

    expect(tenant).toEqual({ metadata: { plan: 'internal' } });
    expect(domain).toEqual({ metadata: { cdn: false } });
    expect(owner?.metadata).toEqual({ displayName: 'Ops' });
    expect(owner?.is_active).toBe(true);
  });

  it('leaves owner without usable password', async () => {
    const owner = await userRow(db, OWNER_EMAIL);

    expect(owner?.password_hash).toBeNull();
    expect(JSON.parse(first.stdout).owner.hasPassword).toBe(false);
  });

  it('makes owner platform staff and superuser', async () => {
    expect(await permissionsOf(db, OWNER_EMAIL)).toEqual({ is_staff: true, is_superuser: true });
  });

  it('rejects second public tenant', async () => {
    const before = await snapshot(db);

    const second = await cli(db, [
      'create-public-tenant',
      '--domain',
      'other.test',
      '--owner-email',
      'second@app.test',
      '--json',
    ]);

    expect(second.exitCode).toBe(1);
    expect(second.stdout).toBe('');
    expect(jsonError(second).code).toBe('ALREADY_EXISTS');
    expect(await snapshot(db)).toEqual(before);
  });
});

describe('create-public-tenant with password and flags', () => {
  let db: TestDatabase;
  let run: CliRun;
  const ownerPassword = 'Owner-pass-4821';
  beforeAll(async () => {
    db = await freshDatabase();
    run = await cli(
      db,
      [
        'create-public-tenant',
        '--domain',
        PUBLIC_DOMAIN,
        '--owner-email',
        OWNER_EMAIL,
        '--owner-password-env',
        'OWNER_PASSWORD',
        '--no-owner-staff',
        '--no-owner-superuser',
      ],
      { OWNER_PASSWORD: ownerPassword },
    );
  });

  it('prints what it created', () => {
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('public');
    expect(run.stdout).toContain(PUBLIC_DOMAIN);
    expect(run.stdout).toContain(OWNER_EMAIL);
    expect(run.stdout + run.stderr).not.toContain(ownerPassword);
  });

  it('hashes the given owner password', async () => {
    const owner = await userRow(db, OWNER_EMAIL);

    expect(owner?.password_hash).toMatch(/^\$2[aby]\$04\$/);
    expect(await bcrypt.compare(ownerPassword, owner!.password_hash!)).toBe(true);
    expect(await bcrypt.compare(`${ownerPassword}x`, owner!.password_hash!)).toBe(false);
  });

  it('applies the owner flags given', async () => {
    expect(await permissionsOf(db, OWNER_EMAIL)).toEqual({ is_staff: false, is_superuser: false });
  });
});

describe('create-public-tenant failures', () => {
  it('rolls back when domain insert fails', async () => {
    const db = await freshDatabase();
    const listed = await cli(db, ['list-tenants', '--json']);
    await db.sql(`
      create function public.reject_domain() returns trigger language plpgsql as $$
      begin raise exception 'domain insert rejected by the test trigger'; end $$;
      create trigger reject_domain before insert on public.domains
        for each row execute function public.reject_domain();`);
    const before = await snapshot(db);

    const run = await cli(
      db,
      [
        'create-public-tenant',
        '--domain',
        PUBLIC_DOMAIN,
        '--owner-email',
        OWNER_EMAIL,
        '--owner-password-env',
        'OWNER_PASSWORD',
        '--json',
      ],
      { OWNER_PASSWORD: PASSWORD },
    );

    expect(listed.exitCode).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ tenants: [] });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe('');
    expect(jsonError(run).code).toBe('INTERNAL_SERVER_ERROR');
    expect(await snapshot(db)).toEqual(before);
    expect(await db.sql('select id from public.users')).toEqual([]);
    expect(await db.sql('select id from public.tenants')).toEqual([]);
  });

  it('hides inserted values in database errors', async () => {
    const db = await freshDatabase();
    await cli(db, ['list-users']);
    await db.sql(`
      create function public.reject_user() returns trigger language plpgsql as $$
      begin raise exception 'user insert rejected by the test trigger'; end $$;
      create trigger reject_user before insert on public.users
        for each row execute function public.reject_user();`);

    const run = await cli(
      db,
      [
        'create-public-tenant',
        '--domain',
        PUBLIC_DOMAIN,
        '--owner-email',
        OWNER_EMAIL,
        '--owner-password-env',
        'OWNER_PASSWORD',
      ],
      { OWNER_PASSWORD: PASSWORD, LOG_LEVEL: 'debug' },
    );

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('INTERNAL_SERVER_ERROR');
    // The failed statement carried the bcrypt hash of the password as a value.
    expect(run.stderr).not.toMatch(/\$2[aby]\$/);
    expect(run.stderr).not.toContain(PASSWORD);
    expect(await db.sql('select id from public.users')).toEqual([]);
  });

  it('rejects invalid public domain', async () => {
    const db = await freshDatabase();

    const run = await cli(db, [
      'create-public-tenant',
      '--domain',
      'Not A Domain!',
      '--owner-email',
      OWNER_EMAIL,
      '--json',
    ]);

    expect(run.exitCode).toBe(1);
    expect(jsonError(run)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'domain' });
    expect(await db.sql('select id from public.tenants')).toEqual([]);
    expect(await db.sql('select id from public.domains')).toEqual([]);
    expect(await db.sql('select id from public.users')).toEqual([]);
  });

  it('rejects invalid command lines', async () => {
    const db = await freshDatabase();
    const owner = ['--owner-email', OWNER_EMAIL];
    const domain = ['--domain', PUBLIC_DOMAIN];

    const missingDomain = await cli(db, ['create-public-tenant', ...owner, '--json']);
    const badMetadata = await cli(db, [
      'create-public-tenant',
      ...domain,
      ...owner,
      '--owner-metadata',
      '[1, 2]',
      '--json',
    ]);
    const unsetPassword = await cli(db, [
      'create-public-tenant',
      ...domain,
      ...owner,
      '--owner-password-env',
      'UNSET_VARIABLE',
      '--json',
    ]);

    for (const [run, option] of [
      [missingDomain, 'domain'],
      [badMetadata, 'owner-metadata'],
      [unsetPassword, 'owner-password-env'],
    ] as const) {
      expect(run.exitCode).toBe(2);
      expect(run.stdout).toBe('');
      expect(jsonError(run)).toMatchObject({ code: 'BAD_USER_INPUT', option });
    }
    // A usage error stops before the database is opened, so not even `public` is migrated.
    expect(await db.sql("select 1 from pg_tables where tablename = 'tenants'")).toEqual([]);
  });
});

describe('user and tenant commands', () => {
  let db: TestDatabase;
  let seeded: { schemaName: string };
  beforeAll(async () => {
    db = await freshDatabase();
    seeded = await seedThroughServices(db);
  });

  it('creates superuser, rejects taken email', async () => {
    const env = { ROOT_PASSWORD: PASSWORD };
    const args = [
      'create-superuser',
      '--email',
      'root@app.test',
      '--password-env',
      'ROOT_PASSWORD',
      '--json',
    ];

    const created = await cli(db, args, env);
    const user = await userRow(db, 'root@app.test');
    const before = await snapshot(db);
    const again = await cli(db, args, env);

    expect(created.exitCode).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      email: 'root@app.test',
      isStaff: true,
      isSuperuser: true,
      isVerified: true,
      hasPassword: true,
    });
    expect(created.stdout + created.stderr).not.toContain(PASSWORD);
    expect(created.stdout).not.toContain('$2');
    expect(user?.is_verified).toBe(true);
    expect(await bcrypt.compare(PASSWORD, user!.password_hash!)).toBe(true);
    expect(await permissionsOf(db, 'root@app.test')).toEqual({
      is_staff: true,
      is_superuser: true,
    });
    expect(again.exitCode).toBe(1);
    expect(jsonError(again).code).toBe('ALREADY_EXISTS');
    expect(await snapshot(db)).toEqual(before);
  });

  it('creates user with given flags', async () => {
    const run = await cli(db, [
      'create-user',
      '--email',
      'staff@app.test',
      '--staff',
      '--verified',
      '--metadata',
      '{"team":"support"}',
    ]);
    const user = await userRow(db, 'staff@app.test');

    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('staff@app.test');
    expect(user).toMatchObject({
      password_hash: null,
      is_active: true,
      is_verified: true,
      metadata: { team: 'support' },
    });
    expect(await permissionsOf(db, 'staff@app.test')).toEqual({
      is_staff: true,
      is_superuser: false,
    });
  });

  it('rejects user with short password', async () => {
    const before = await snapshot(db);

    const run = await cli(
      db,
      ['create-user', '--email', 'short@app.test', '--password-env', 'SHORT', '--json'],
      { SHORT: 'abc' },
    );

    expect(run.exitCode).toBe(1);
    expect(jsonError(run)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'password' });
    expect(run.stderr).not.toContain('"abc"');
    expect(await snapshot(db)).toEqual(before);
  });

  it('provisions tenant, rejects unknown owner', async () => {
    const created = await cli(db, [
      'provision-tenant',
      '--name',
      'Acme',
      '--slug',
      'acme',
      '--owner-email',
      TENANT_OWNER_EMAIL,
      '--schema-name',
      'acme_data',
      '--json',
    ]);
    const before = await snapshot(db);
    const unknownOwner = await cli(db, [
      'provision-tenant',
      '--name',
      'Globex',
      '--slug',
      'globex',
      '--owner-email',
      'nobody@app.test',
      '--json',
    ]);

    expect(created.exitCode).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      slug: 'acme',
      schemaName: 'acme_data',
      ownerEmail: TENANT_OWNER_EMAIL,
      primaryDomain: `acme.${PUBLIC_DOMAIN}`,
    });
    expect(await permissionsOf(db, TENANT_OWNER_EMAIL, 'acme_data')).toEqual({
      is_staff: false,
      is_superuser: true,
    });
    expect(unknownOwner.exitCode).toBe(1);
    expect(jsonError(unknownOwner)).toMatchObject({ code: 'NOT_FOUND', field: 'ownerEmail' });
    expect(await snapshot(db)).toEqual(before);
  });

  it('deletes tenant, protects public tenant', async () => {
    const deleted = await cli(db, ['delete-tenant', '--slug', 'doomed']);
    const before = await snapshot(db);
    const publicTenant = await cli(db, ['delete-tenant', '--slug', 'public', '--json']);
    const [tenant] = await db.sql<{ is_active: boolean; owner: string }>(
      `select t.is_active, u.email as owner from public.tenants t
       join public.users u on u.id = t.owner_id where t.slug = 'doomed'`,
    );

    expect(deleted.exitCode).toBe(0);
    expect(deleted.stdout).toContain('doomed');
    expect(tenant).toEqual({ is_active: false, owner: OWNER_EMAIL });
    expect(publicTenant.exitCode).toBe(1);
    expect(jsonError(publicTenant).code).toBe('PUBLIC_TENANT_PROTECTED');
    expect(await snapshot(db)).toEqual(before);
  });

  it('deletes user, protects public owner', async () => {
    const deleted = await cli(db, ['delete-user', '--email', 'leaver@app.test', '--json']);
    const before = await snapshot(db);
    const publicOwner = await cli(db, ['delete-user', '--email', OWNER_EMAIL, '--json']);

    expect(deleted.exitCode).toBe(0);
    expect(JSON.parse(deleted.stdout)).toMatchObject({ email: 'leaver@app.test', isActive: false });
    expect((await userRow(db, 'leaver@app.test'))?.is_active).toBe(false);
    expect(await permissionsOf(db, 'leaver@app.test')).toBeUndefined();
    expect(publicOwner.exitCode).toBe(1);
    expect(jsonError(publicOwner).code).toBe('PUBLIC_OWNER_PROTECTED');
    expect(await snapshot(db)).toEqual(before);
  });

  it('lists active and deleted tenants', async () => {
    const active = await cli(db, ['list-tenants', '--json']);
    const all = await cli(db, ['list-tenants', '--include-inactive', '--json']);
    const table = await cli(db, ['list-tenants']);
    const slugs = (run: CliRun) =>
      (JSON.parse(run.stdout).tenants as { slug: string }[]).map((tenant) => tenant.slug);

    expect(active.exitCode).toBe(0);
    expect(slugs(active)).toContain('public');
    expect(slugs(active)).toContain('seeded');
    expect(slugs(active)).not.toContain('retired');
    expect(slugs(all)).toContain('retired');
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(/^SLUG\s+NAME/);
    expect(table.stdout).toContain(seeded.schemaName);
  });

  it('lists active and deleted users', async () => {
    const active = await cli(db, ['list-users', '--json']);
    const all = await cli(db, ['list-users', '--include-inactive', '--json']);
    const emails = (run: CliRun) =>
      (JSON.parse(run.stdout).users as { email: string }[]).map((user) => user.email);

    expect(active.exitCode).toBe(0);
    expect(emails(active)).toContain(OWNER_EMAIL);
    expect(emails(active)).not.toContain('former@app.test');
    expect(emails(all)).toContain('former@app.test');
    expect(active.stdout).not.toContain('$2');
  });

  it('prompts for password on terminal', async () => {
    const typed = 'Typed-pass-7734';
    const run = await runOnTerminal(db, ['create-user', '--email', 'tty@app.test'], [typed, typed]);
    const user = await userRow(db, 'tty@app.test');

    expect(run.exitCode).toBe(0);
    expect(run.stdout).not.toContain(typed);
    expect(await bcrypt.compare(typed, user!.password_hash!)).toBe(true);
  });

  it('runs migrate through the launcher', async () => {
    const run = await cli(db, ['migrate', '--json']);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(() => JSON.parse(run.stdout)).not.toThrow();
    expect(run.stdout).toContain(seeded.schemaName);
  });
});

/**
 * Seeds `db` through the services, in this process: the public tenant, a tenant owner, the
 * active tenant `seeded`, the deleted tenant `retired`, the tenant `doomed` and the user
 * `leaver@app.test` for the deletion tests, and the deleted user `former@app.test`.
 */
async function seedThroughServices(db: TestDatabase): Promise<{ schemaName: string }> {
  const config = loadConfig(
    {},
    { databaseUrl: db.url, bcryptCost: 4, tenantDomain: PUBLIC_DOMAIN, logLevel: 'silent' },
  );
  const services = await openSystemServices({ config, logger: createLogger('silent') });
  try {
    const ctx = services.systemContext();
    await createPublicTenant(ctx, {
      domain: PUBLIC_DOMAIN,
      ownerEmail: OWNER_EMAIL,
      ownerPassword: null,
    });
    for (const email of [TENANT_OWNER_EMAIL, 'leaver@app.test', 'former@app.test']) {
      await createUser(ctx, { email });
    }
    await deleteUser(ctx, 'former@app.test');

    const ownerEmail = TENANT_OWNER_EMAIL;
    const active = await provisionTenant(ctx, { name: 'Seeded', slug: 'seeded', ownerEmail });
    await provisionTenant(ctx, { name: 'Retired', slug: 'retired', ownerEmail });
    await provisionTenant(ctx, { name: 'Doomed', slug: 'doomed', ownerEmail });
    await deleteTenant(ctx, 'retired');

    return { schemaName: active.schemaName };
  } finally {
    await services.close();
  }
}

/**
 * Runs the launcher under `script`, which gives it a pseudo-terminal, and types each answer
 * once its prompt is shown. `script` copies the terminal's output, so a typed password that
 * was echoed would appear in stdout.
 */
function runOnTerminal(db: TestDatabase, args: string[], answers: string[]): Promise<CliRun> {
  const command = [process.execPath, LAUNCHER, ...args].map(shellQuote).join(' ');
  const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
    cwd: workDir,
    env: childEnv(db, {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let seen = 0;
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    const prompts = output.match(/Password[^:]*: /g)?.length ?? 0;
    while (seen < prompts && seen < answers.length) {
      child.stdin.write(`${answers[seen]}\r`);
      seen += 1;
    }
    if (seen === answers.length) {
      child.stdin.end();
    }
  });

  return collect(child);
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

describe('help and dispatch', () => {
  it('prints program help', async () => {
    const run = await runInProcess(['--help']);

    expect(run.exitCode).toBe(0);
    for (const name of [
      'migrate',
      'create-public-tenant',
      'create-superuser',
      'create-user',
      'delete-user',
      'provision-tenant',
      'delete-tenant',
      'list-tenants',
      'list-users',
    ]) {
      expect(run.stdout).toContain(name);
    }
  });

  it('rejects unknown command', async () => {
    const run = await runInProcess(['drop-everything', '--json']);

    expect(run.exitCode).toBe(2);
    expect(jsonError(run).code).toBe('BAD_USER_INPUT');
  });

  it('documents every option of each command', async () => {
    const expected: Record<string, string[]> = {
      'create-public-tenant': [
        '--domain',
        '--owner-email',
        '--owner-password-env',
        '--name',
        '--[no-]owner-staff',
        '--[no-]owner-superuser',
        '--metadata',
        '--owner-metadata',
        '--domain-metadata',
      ],
      'create-superuser': ['--email', '--password-env'],
      'create-user': ['--email', '--password-env', '--staff', '--superuser', '--verified'],
      'delete-user': ['--email'],
      'provision-tenant': ['--name', '--slug', '--owner-email', '--type', '--schema-name'],
      'delete-tenant': ['--slug'],
      'list-tenants': ['--include-inactive'],
      'list-users': ['--include-inactive'],
    };

    for (const [command, options] of Object.entries(expected)) {
      const { exitCode, stdout } = await runInProcess([command, '--help']);

      expect(exitCode, command).toBe(0);
      for (const option of [...options, '--json', '--help']) {
        expect(stdout, `${command} ${option}`).toContain(option);
      }
    }
  });
});

/** Runs the CLI in this process, for commands that never open the database. */
async function runInProcess(args: string[]): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const exitCode = await runCli(args, {
    stdout,
    stderr,
    stdin: new PassThrough() as unknown as NodeJS.ReadStream,
    env: {},
  });

  return {
    exitCode,
    stdout: stdout.read()?.toString() ?? '',
    stderr: stderr.read()?.toString() ?? '',
  };
}
