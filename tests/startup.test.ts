import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { migrateAllTenants } from '../src/db/migrator.js';
import { publicMigrations } from '../src/db/migrations/public/index.js';
import { tenantMigrations } from '../src/db/migrations/tenant/index.js';
import { createLogger } from '../src/logger.js';
import { ADMIN_EMAIL, rawRequest, startTestApp, type TestApp } from './support/app.js';
import { provision } from './support/fixtures.js';

describe('first start and restart', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ adminPassword: undefined, adminEmail: 'owner@app.test' });
  });
  afterAll(() => t?.close());

  it('generates an admin password on first start', async () => {
    const password = t.app.generatedAdminPassword;

    expect(password).toEqual(expect.any(String));
    expect(await t.login('owner@app.test', password!)).toEqual(expect.any(String));
  });

  it('creates the public tenant with schema public', async () => {
    const tenants = await t.sql('select slug, schema_name, tenant_type from public.tenants');
    const domains = await t.sql('select domain, is_primary from public.domains');

    expect(tenants).toEqual([{ slug: 'public', schema_name: 'public', tenant_type: 'public' }]);
    expect(domains).toEqual([{ domain: 'app.test', is_primary: true }]);
  });

  it('reuses the public tenant on restart', async () => {
    const config = loadConfig({}, { ...t.config, adminPassword: undefined });
    const again = await createApp({ config, logger: createLogger('silent') });
    await again.close();

    expect(again.generatedAdminPassword).toBeNull();
    expect(await t.sql('select id from public.tenants')).toHaveLength(1);
    expect(await t.sql('select id from public.users')).toHaveLength(1);
    expect(await t.sql('select name from public.platform_migrations order by name')).toEqual(
      publicMigrations.map((migration) => ({ name: migration.name })),
    );
  });
});

describe('tenant migrations', () => {
  let t: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    t = await startTestApp();
    adminToken = await t.login(ADMIN_EMAIL);
  });
  afterAll(() => t?.close());

  it('records applied migrations in each tenant schema', async () => {
    const tenant = await provision(t, adminToken, {
      name: 'Ledger',
      slug: 'ledger',
      ownerEmail: ADMIN_EMAIL,
    });
    const rows = await t.sql(`select name from "${tenant.schemaName}".tenant_migrations`);

    expect(rows).toEqual(tenantMigrations.map((migration) => ({ name: migration.name })));
  });

  it('applies a later migration to every tenant schema', async () => {
    const second = await provision(t, adminToken, {
      name: 'Later',
      slug: 'later',
      ownerEmail: ADMIN_EMAIL,
    });
    const later = {
      name: '9999-notes',
      up: (schema: string) => `create table ${schema}.notes (id int primary key);`,
    };

    const reports = await migrateAllTenants(t.app.orm.em.fork(), createLogger('silent'), [
      ...tenantMigrations,
      later,
    ]);
    const rerun = await migrateAllTenants(t.app.orm.em.fork(), createLogger('silent'), [
      ...tenantMigrations,
      later,
    ]);
    const tables = await t.sql<{ table_schema: string }>(
      `select table_schema from information_schema.tables where table_name = 'notes' order by 1`,
    );

    expect(reports.map((report) => report.applied)).toEqual([
      ['9999-notes'],
      ['9999-notes'],
      ['9999-notes'],
    ]);
    expect(rerun.every((report) => report.applied.length === 0)).toBe(true);
    expect(tables.map((row) => row.table_schema)).toContain(second.schemaName);
    expect(tables.map((row) => row.table_schema)).toContain('public');
  });

  it('reports a failing schema without stopping the others', async () => {
    const broken = await provision(t, adminToken, {
      name: 'Broken',
      slug: 'broken',
      ownerEmail: ADMIN_EMAIL,
    });
    await t.sql(`create table "${broken.schemaName}".clash (id int)`);
    const clash = {
      name: '9999-clash',
      up: (schema: string) => `create table ${schema}.clash (id int);`,
    };

    const reports = await migrateAllTenants(t.app.orm.em.fork(), createLogger('silent'), [
      ...tenantMigrations,
      clash,
    ]);
    const failed = reports.filter((report) => report.error);

    expect(failed.map((report) => report.schemaName)).toEqual([broken.schemaName]);
    expect(reports.filter((report) => report.applied.includes('9999-clash')).length).toBe(
      reports.length - 1,
    );
  });
});

describe('health and GraphiQL', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('answers healthz and readyz', async () => {
    const url = new URL(t.app.url);
    const health = await rawRequest(url, { method: 'GET', path: '/healthz', headers: {} });
    const ready = await rawRequest(url, { method: 'GET', path: '/readyz', headers: {} });

    expect(health.status).toBe(200);
    expect(ready.status).toBe(200);
  });

  it('serves GraphiQL with local assets only', async () => {
    const url = new URL(t.app.url);
    const page = await rawRequest(url, {
      method: 'GET',
      headers: { host: 'app.test', accept: 'text/html' },
    });
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);

    expect(page.status).toBe(200);
    expect(page.text).toContain('graphiql');
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      expect(asset).not.toMatch(/^(https?:)?\/\//);
      const response = await rawRequest(url, {
        method: 'GET',
        path: new URL(asset, `${t.app.url}/graphql/`).pathname,
        headers: { host: 'app.test' },
      });
      expect(response.status, asset).toBe(200);
    }
  });
});
