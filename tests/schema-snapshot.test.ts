import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { migrateTenantSchema } from '../src/db/migrator.js';
import type { Extension } from '../src/extensions.js';
import { createLogger } from '../src/logger.js';
import { tenantTypesOf } from '../src/services/tenant-types.js';
import { ADMIN_EMAIL, startTestApp, type TestApp } from './support/app.js';
import { describeSchema } from './support/catalog.js';
import { provision } from './support/fixtures.js';

/**
 * A module whose second migration alters the first one's table, as real histories do, with a
 * snapshot of the first migration, so a new schema runs the snapshot and then the second one.
 */
const crmExtension: Extension = {
  name: 'snapshot-crm',
  modules: [
    {
      name: 'crm',
      migrations: [
        {
          name: 'crm-0001-contacts',
          up: (schema) => `create table ${schema}.contacts (
            id bigint generated always as identity primary key,
            name text not null check (name <> ''),
            owner_id uuid references ${schema}.user_tenant_permissions (id) on delete set null
          );`,
        },
        {
          name: 'crm-0002-contact-phone',
          up: (schema) => `alter table ${schema}.contacts add column phone text default 'none';
            create index contacts_phone_idx on ${schema}.contacts (lower(phone));
            create view ${schema}.named_contacts as select id, name from ${schema}.contacts;`,
        },
      ],
      snapshot: {
        name: 'crm-snapshot',
        replaces: ['crm-0001-contacts'],
        up: (schema) => `create table ${schema}.contacts (
          id bigint generated always as identity primary key,
          name text not null check (name <> ''),
          owner_id uuid references ${schema}.user_tenant_permissions (id) on delete set null
        );`,
      },
    },
  ],
  tenantTypes: { crm: ['core', 'crm'] },
};

/**
 * Provisioning sends a tenant type's snapshots and later migrations as one text. The schema it
 * creates must equal the schema that the migration runner builds by applying each migration.
 */
describe('tenant schema from provisioning', () => {
  let t: TestApp;
  let adminToken: string;
  const silent = createLogger('silent');

  beforeAll(async () => {
    t = await startTestApp({}, [crmExtension]);
    adminToken = await t.login(ADMIN_EMAIL);
  });
  afterAll(() => t?.close());

  for (const tenantType of ['default', 'crm']) {
    it(`matches migrated schema for ${tenantType}`, async () => {
      const tenant = await provision(t, adminToken, {
        name: tenantType,
        slug: `snap-${tenantType}`,
        ownerEmail: ADMIN_EMAIL,
        tenantType,
      });
      const referenceSchema = `reference_${tenantType}`;
      const em = t.app.orm.em.fork();
      const migrations = tenantTypesOf(em).migrationsOf(tenantType);
      await t.sql(`create schema ${referenceSchema}`);
      const applied = await migrateTenantSchema(em, referenceSchema, silent, migrations);

      const provisioned = await describeSchema(t.sql, tenant.schemaName);
      const reference = await describeSchema(t.sql, referenceSchema);

      expect(applied).toEqual(migrations.map((migration) => migration.name));
      expect(provisioned.ledger).toEqual([...applied].sort());
      expect(provisioned.relations.length).toBeGreaterThan(5);
      expect(provisioned).toEqual(reference);
    });
  }

  it('catalog tells apart differing schemas', async () => {
    await t.sql('create schema differ_a');
    await t.sql('create schema differ_b');
    await t.sql('create table differ_a.tenant_migrations (name text primary key)');
    await t.sql('create table differ_b.tenant_migrations (name text primary key)');
    await t.sql("alter table differ_b.tenant_migrations add column note text default ''");

    const plain = await describeSchema(t.sql, 'differ_a');
    const altered = await describeSchema(t.sql, 'differ_b');

    expect(plain.columns).not.toEqual(altered.columns);
    expect(plain.relations).toEqual(altered.relations);
  });
});
