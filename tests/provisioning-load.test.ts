import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_EMAIL, startTestApp, type TestApp } from './support/app.js';
import { PROVISION_TENANT } from './support/fixtures.js';

const TENANTS = 100;

describe('provisioning under load', () => {
  let t: TestApp;
  let adminToken: string;

  beforeAll(async () => {
    t = await startTestApp();
    adminToken = await t.login(ADMIN_EMAIL);
  });
  afterAll(() => t?.close());

  it('provisions 100 tenants concurrently', async () => {
    const slugs = Array.from({ length: TENANTS }, (_, index) => `load-${index}`);

    const responses = await Promise.all(
      slugs.map((slug) =>
        t.gql(
          PROVISION_TENANT,
          { input: { name: slug, slug, ownerEmail: ADMIN_EMAIL } },
          { token: adminToken },
        ),
      ),
    );

    expect(responses.filter((response) => response.body.errors)).toEqual([]);
    const tenants = await t.sql<{ slug: string; schema_name: string; status: string }>(
      `select slug, schema_name, status from public.tenants where slug like 'load-%'`,
    );
    expect(tenants).toHaveLength(TENANTS);
    expect(tenants.every((tenant) => tenant.status === 'ACTIVE')).toBe(true);

    const domains = await t.sql(`select 1 from public.domains where domain like 'load-%'`);
    expect(domains).toHaveLength(TENANTS);

    const memberships = await t.sql(
      `select 1 from public.memberships m join public.tenants t on t.id = m.tenant_id
       where t.slug like 'load-%'`,
    );
    expect(memberships).toHaveLength(TENANTS);

    const schemas = await t.sql<{ nspname: string }>(
      `select nspname from pg_namespace where nspname = any($1::text[])`,
      [tenants.map((tenant) => tenant.schema_name)],
    );
    expect(schemas).toHaveLength(TENANTS);

    // No orphans: every schema of the database other than public and the catalogs belongs to a
    // tenant row.
    const orphans = await t.sql(
      `select nspname from pg_namespace n
       where nspname not like 'pg\\_%' and nspname not in ('public', 'information_schema')
         and not exists (select 1 from public.tenants t where t.schema_name = n.nspname)`,
    );
    expect(orphans).toEqual([]);

    for (const tenant of tenants) {
      const owners = await t.sql(
        `select is_superuser from "${tenant.schema_name}".user_tenant_permissions`,
      );
      expect(owners, tenant.slug).toEqual([{ is_superuser: true }]);
    }
  });
});
