import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createApp } from '../src/app.js';
import { migrateAllTenants } from '../src/db/migrator.js';
import { createTenantTypes, type Extension } from '../src/extensions.js';
import { createLogger } from '../src/logger.js';
import { TenantTypeConfigError, type TenantSchemaModule } from '../src/services/tenant-types.js';
import { ADMIN_EMAIL, errorCode, startTestApp, type TestApp } from './support/app.js';
import { PROVISION_TENANT, databaseSnapshot, provision } from './support/fixtures.js';

const CORE_MIGRATIONS = ['0001-permissions', '0002-no-user-foreign-key'];

const crmModule: TenantSchemaModule = {
  name: 'crm',
  migrations: [
    {
      name: 'crm-0001-contacts',
      up: (schema) => `create table ${schema}.contacts (
        id uuid primary key default gen_random_uuid(),
        name text not null,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );`,
    },
  ],
};

const billingModule: TenantSchemaModule = {
  name: 'billing',
  migrations: [
    {
      name: 'billing-0001-invoices',
      up: (schema) => `create table ${schema}.invoices (
        id uuid primary key default gen_random_uuid(),
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );`,
    },
  ],
};

/** Creates a table, then fails, so provisioning must roll back the table with everything else. */
const faultyModule: TenantSchemaModule = {
  name: 'faulty',
  migrations: [
    {
      name: 'faulty-0001-fails',
      up: (schema) => `create table ${schema}.half_done (id int); select 1 / 0;`,
    },
  ],
};

const typesExtension: Extension = {
  name: 'test-types',
  modules: [crmModule, billingModule, faultyModule],
  // billing leaves out core on purpose: core is installed in every type anyway.
  tenantTypes: { crm: ['core', 'crm'], billing: ['billing'], faulty: ['core', 'faulty'] },
};

describe('tenant types', () => {
  let t: TestApp;
  let adminToken: string;
  const silent = createLogger('silent');

  beforeAll(async () => {
    t = await startTestApp({}, [typesExtension]);
    adminToken = await t.login(ADMIN_EMAIL);
  });
  afterAll(() => t?.close());

  const provisionAs = (slug: string, tenantType?: string | null) =>
    provision(t, adminToken, {
      name: slug,
      slug,
      ownerEmail: ADMIN_EMAIL,
      ...(tenantType === undefined ? {} : { tenantType }),
    });

  const rejectProvision = (slug: string, tenantType: string | null) =>
    t.gql(
      PROVISION_TENANT,
      { input: { name: slug, slug, ownerEmail: ADMIN_EMAIL, tenantType } },
      { token: adminToken },
    );

  const ledger = async (schema: string) =>
    (await t.sql<{ name: string }>(`select name from "${schema}".tenant_migrations order by name`))
      .map((row) => row.name)
      .sort();

  const tablesOf = async (schema: string) =>
    (
      await t.sql<{ table_name: string }>(
        'select table_name from information_schema.tables where table_schema = $1',
        [schema],
      )
    ).map((row) => row.table_name);

  const storedType = async (slug: string) =>
    (
      await t.sql<{ tenant_type: string }>(
        'select tenant_type from public.tenants where slug = $1',
        [slug],
      )
    )[0]?.tenant_type;

  it('uses default type when omitted', async () => {
    const tenant = await provisionAs('plain');

    expect(await storedType('plain')).toBe('default');
    expect(await ledger(tenant.schemaName)).toEqual(CORE_MIGRATIONS);
    expect(await tablesOf(tenant.schemaName)).toContain('user_tenant_permissions');
    expect(await tablesOf(tenant.schemaName)).not.toContain('contacts');
    expect(await tablesOf(tenant.schemaName)).not.toContain('invoices');
  });

  it('uses default type for null', async () => {
    const tenant = await provisionAs('plain-null', null);

    expect(await storedType('plain-null')).toBe('default');
    expect(await ledger(tenant.schemaName)).toEqual(CORE_MIGRATIONS);
  });

  it('installs only the type modules', async () => {
    const tenant = await provisionAs('sales', 'crm');
    const tables = await tablesOf(tenant.schemaName);
    const owner = await t.sql(
      `select p.is_superuser from "${tenant.schemaName}".user_tenant_permissions p
       join public.users u on u.id = p.user_id where u.email = $1`,
      [ADMIN_EMAIL],
    );

    expect(await storedType('sales')).toBe('crm');
    expect(await ledger(tenant.schemaName)).toEqual([...CORE_MIGRATIONS, 'crm-0001-contacts']);
    expect(tables).toContain('contacts');
    expect(tables).not.toContain('invoices');
    expect(owner).toEqual([{ is_superuser: true }]);
  });

  it('installs core module in every type', async () => {
    const tenant = await provisionAs('accounts', 'billing');
    const tables = await tablesOf(tenant.schemaName);

    expect(await ledger(tenant.schemaName)).toEqual([...CORE_MIGRATIONS, 'billing-0001-invoices']);
    expect(tables).toContain('user_tenant_permissions');
    expect(tables).toContain('invoices');
    expect(tables).not.toContain('contacts');
  });

  it('reads tenant type over GraphQL', async () => {
    await provisionAs('pipeline', 'crm');

    const bySlug = await t.gql<{ tenant: { tenantType: string } }>(
      '{ tenant(slug: "pipeline") { tenantType } }',
      {},
      { token: adminToken },
    );
    const onHost = await t.gql<{ currentTenant: { tenantType: string } }>(
      '{ currentTenant { tenantType } }',
      {},
      { token: adminToken, host: 'pipeline.app.test' },
    );

    expect(bySlug.body.errors).toBeUndefined();
    expect(bySlug.body.data?.tenant.tenantType).toBe('crm');
    expect(onHost.body.errors).toBeUndefined();
    expect(onHost.body.data?.currentTenant.tenantType).toBe('crm');
  });

  it('rejects unknown type with valid types', async () => {
    const before = await databaseSnapshot(t);

    const response = await rejectProvision('typo', 'enterprize');
    const extensions = response.body.errors?.[0]?.extensions;

    expect(errorCode(response)).toBe('INVALID_TENANT_TYPE');
    expect(extensions?.validTypes).toEqual(['billing', 'crm', 'default', 'faulty']);
    expect(extensions?.field).toBe('tenantType');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('rejects public as tenant type', async () => {
    const before = await databaseSnapshot(t);

    const response = await rejectProvision('second-public', 'public');

    expect(errorCode(response)).toBe('INVALID_TENANT_TYPE');
    expect(response.body.errors?.[0]?.extensions?.validTypes).not.toContain('public');
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('matches type names exactly', async () => {
    const before = await databaseSnapshot(t);

    for (const [slug, tenantType] of [
      ['empty-type', ''],
      ['upper-type', 'CRM'],
      ['spaced-type', ' crm'],
    ]) {
      const response = await rejectProvision(slug, tenantType);
      expect(errorCode(response), tenantType).toBe('INVALID_TENANT_TYPE');
    }
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('leaves nothing when module migration fails', async () => {
    const before = await databaseSnapshot(t);

    const response = await rejectProvision('half', 'faulty');
    const leftovers = await t.sql(
      "select table_schema from information_schema.tables where table_name = 'half_done'",
    );

    expect(errorCode(response)).toBe('INTERNAL_SERVER_ERROR');
    expect(await databaseSnapshot(t)).toEqual(before);
    expect(leftovers).toEqual([]);
  });

  it('migrates each schema by its type', async () => {
    const crmTenant = await provisionAs('leads', 'crm');
    const plainTenant = await provisionAs('plain-later');
    const phone = {
      name: 'crm-0002-contact-phone',
      up: (schema: string) => `alter table ${schema}.contacts add column phone text;`,
    };
    const later = createTenantTypes([
      {
        ...typesExtension,
        modules: [
          { ...crmModule, migrations: [...crmModule.migrations, phone] },
          billingModule,
          faultyModule,
        ],
      },
    ]);

    const reports = await migrateAllTenants(t.app.orm.em.fork(), silent, later);
    const rerun = await migrateAllTenants(t.app.orm.em.fork(), silent, later);
    const crmSchemas = (
      await t.sql<{ schema_name: string }>(
        "select schema_name from public.tenants where tenant_type = 'crm' order by schema_name",
      )
    ).map((row) => row.schema_name);
    const migrated = reports
      .filter((report) => report.applied.length > 0)
      .map((report) => report.schemaName)
      .sort();

    expect(reports.filter((report) => report.error)).toEqual([]);
    expect(migrated).toEqual(crmSchemas);
    expect(crmSchemas).toContain(crmTenant.schemaName);
    for (const report of reports.filter((r) => r.tenantType === 'crm')) {
      expect(report.applied).toEqual(['crm-0002-contact-phone']);
    }
    expect(await ledger(crmTenant.schemaName)).toContain('crm-0002-contact-phone');
    expect(await ledger(plainTenant.schemaName)).toEqual(CORE_MIGRATIONS);
    expect(await ledger('public')).toEqual(CORE_MIGRATIONS);
    expect(rerun.every((report) => report.applied.length === 0)).toBe(true);
  });

  it('migrates public schema with public type', async () => {
    const withPublicCrm = createTenantTypes([typesExtension], { public: ['core', 'crm'] });

    const reports = await migrateAllTenants(t.app.orm.em.fork(), silent, withPublicCrm);
    const publicReport = reports.find((report) => report.schemaName === 'public');

    expect(publicReport?.tenantType).toBe('public');
    expect(publicReport?.applied).toEqual(['crm-0001-contacts']);
    expect(await tablesOf('public')).toContain('contacts');
    expect(reports.filter((report) => report.schemaName !== 'public')).toSatisfy((others) =>
      (others as typeof reports).every((report) => report.applied.length === 0),
    );
  });

  it('reports schema of unconfigured type', async () => {
    const withoutBilling = createTenantTypes([
      { name: 'crm-only', modules: [crmModule], tenantTypes: { crm: ['crm'] } },
    ]);

    const reports = await migrateAllTenants(t.app.orm.em.fork(), silent, withoutBilling);
    const failed = reports.filter((report) => report.error);

    expect(failed.map((report) => report.tenantType)).toEqual(['billing']);
    expect(reports.length - failed.length).toBeGreaterThan(1);
  });

  it('joins type modules across extensions', () => {
    const registry = createTenantTypes([
      { name: 'first', modules: [crmModule], tenantTypes: { default: ['crm'] } },
      { name: 'second', modules: [billingModule], tenantTypes: { default: ['billing'] } },
    ]);
    const replaced = createTenantTypes(
      [
        { name: 'first', modules: [crmModule], tenantTypes: { default: ['crm'] } },
        { name: 'second', modules: [billingModule], tenantTypes: { default: ['billing'] } },
      ],
      { default: ['core'] },
    );

    expect(registry.modulesOf('default')).toEqual(['core', 'crm', 'billing']);
    expect(replaced.modulesOf('default')).toEqual(['core']);
    expect(registry.provisionableTypes).toEqual(['default']);
  });

  it('rejects inconsistent modules at start', async () => {
    const before = await databaseSnapshot(t);
    const broken: Extension = {
      name: 'broken',
      modules: [
        crmModule,
        { name: 'crm', migrations: [] },
        { name: 'core', migrations: [] },
        { name: 'loose', migrations: [{ name: '0001-loose', up: () => '' }] },
        {
          name: 'skewed',
          migrations: [{ name: 'skewed-0001', up: () => '' }],
          snapshot: { name: 'skewed-snapshot', replaces: ['skewed-0002'], up: () => '' },
        },
      ],
      tenantTypes: { 'Bad Type': ['core'], sales: ['crm', 'missing'] },
    };

    const started = createApp({ config: t.config, logger: silent, extensions: [broken] });

    await expect(started).rejects.toBeInstanceOf(TenantTypeConfigError);
    const problems = await started.catch((error: TenantTypeConfigError) => error.problems);
    // crm twice, core twice, the unprefixed migration, the snapshot that replaces a migration
    // the module lacks, the type name and the unknown module.
    expect(problems).toHaveLength(6);
    expect(problems).toContainEqual(expect.stringContaining('snapshot of module "skewed"'));
    expect(await databaseSnapshot(t)).toEqual(before);
  });
});
