import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DomainEvent } from '../src/services/events.js';
import { errorCode, startTestApp, type GraphqlResponse, type TestApp } from './support/app.js';
import {
  databaseSnapshot,
  PROVISION_TENANT,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';
import { blockOwnerPermissionInserts } from './support/faults.js';

interface ProvisionedTenant {
  id: string;
  slug: string;
  schemaName: string;
}

type ProvisionResponse = GraphqlResponse<{ provisionTenant: ProvisionedTenant }>;

describe('provisionTenant faults', () => {
  let t: TestApp;
  let f: CaseFixture;

  beforeAll(async () => {
    t = await startTestApp();
    f = await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  function provision(input: Record<string, unknown>): Promise<ProvisionResponse> {
    return t.gql<{ provisionTenant: ProvisionedTenant }>(
      PROVISION_TENANT,
      { input },
      { token: f.adminToken },
    );
  }

  async function schemaNames(): Promise<string[]> {
    const rows = await t.sql<{ nspname: string }>('select nspname from pg_namespace');

    return rows.map((row) => row.nspname).sort();
  }

  async function auditEventCount(): Promise<number> {
    const [row] = await t.sql<{ count: string }>('select count(*) from public.audit_events');

    return Number(row.count);
  }

  function recordEvents(): { events: DomainEvent[]; stop: () => void } {
    const events: DomainEvent[] = [];
    const stop = t.app.events.subscribe('*', (event) => {
      events.push(event);
    });

    return { events, stop };
  }

  describe('slug rules', () => {
    const accepted = ['dunder-mifflin', 'select', 'user', '123'];
    const rejected = [
      'public',
      'pg_catalog',
      'www',
      'Acme',
      'acme.evil',
      'a;drop schema public cascade',
      'a'.repeat(70),
      '\uFF41cme',
      '-acme',
      'acme-',
      '',
    ];

    it('provisions and routes valid slugs', async () => {
      const ownerToken = await t.login('carol@x.test');
      for (const slug of accepted) {
        const schemasBefore = await schemaNames();

        const response = await provision({ name: slug, slug, ownerEmail: 'carol@x.test' });

        expect(response.body.errors, `${slug}: ${JSON.stringify(response.body.errors)}`).toBe(
          undefined,
        );
        const tenant = response.body.data!.provisionTenant;
        expect(tenant.slug).toBe(slug);
        expect(tenant.schemaName).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
        expect(await schemaNames()).toEqual([...schemasBefore, tenant.schemaName].sort());
        const domains = await t.sql('select domain from public.domains where tenant_id = $1', [
          tenant.id,
        ]);
        expect(domains).toEqual([{ domain: `${slug}.app.test` }]);

        const routed = await t.gql<{ currentTenant: { slug: string } }>(
          '{ currentTenant { slug } }',
          {},
          { host: `${slug}.app.test`, token: ownerToken },
        );
        expect(routed.body.errors, slug).toBeUndefined();
        expect(routed.body.data?.currentTenant.slug).toBe(slug);
      }
    });

    it('rejects slugs outside DNS label rules', async () => {
      for (const slug of rejected) {
        const before = await databaseSnapshot(t);
        const schemasBefore = await schemaNames();

        const response = await provision({ name: 'Rejected', slug, ownerEmail: 'carol@x.test' });

        const code = errorCode(response);
        expect(['BAD_USER_INPUT', 'ALREADY_EXISTS'], `${slug}: ${String(code)}`).toContain(code);
        if (code === 'BAD_USER_INPUT') {
          expect(response.body.errors?.[0]?.extensions?.field, slug).toBe('slug');
        }
        expect(response.body.data?.provisionTenant ?? null).toBeNull();
        expect(await databaseSnapshot(t), slug).toEqual(before);
        expect(await schemaNames(), slug).toEqual(schemasBefore);
        const tenants = await t.sql(
          "select 1 from public.tenants where slug = $1 and schema_name <> 'public'",
          [slug],
        );
        expect(tenants, slug).toHaveLength(0);
        const domains = await t.sql('select 1 from public.domains where domain = $1', [
          `${slug}.app.test`,
        ]);
        expect(domains, slug).toHaveLength(0);
      }
    });
  });

  describe('failed provision', () => {
    async function expectNothingLeft(
      input: Record<string, unknown>,
      code: string,
    ): Promise<ProvisionResponse> {
      const before = await databaseSnapshot(t);
      const schemasBefore = await schemaNames();
      const auditBefore = await auditEventCount();
      const recorder = recordEvents();

      let response: ProvisionResponse;
      try {
        response = await provision(input);
      } finally {
        recorder.stop();
      }

      expect(errorCode(response), JSON.stringify(response.body.errors)).toBe(code);
      expect(response.body.data?.provisionTenant ?? null).toBeNull();
      expect(await databaseSnapshot(t)).toEqual(before);
      expect(await schemaNames()).toEqual(schemasBefore);
      expect(await auditEventCount()).toBe(auditBefore);
      expect(recorder.events).toEqual([]);

      return response;
    }

    it('leaves nothing for unknown tenant type', async () => {
      await expectNothingLeft(
        { name: 'Typo', slug: 'typo', ownerEmail: 'carol@x.test', tenantType: 'enterprize' },
        'INVALID_TENANT_TYPE',
      );
    });

    it('leaves nothing for taken slug', async () => {
      await expectNothingLeft(
        { name: 'Globex Two', slug: 'globex', ownerEmail: 'carol@x.test' },
        'ALREADY_EXISTS',
      );
    });

    it('leaves nothing for missing owner', async () => {
      await expectNothingLeft(
        { name: 'Orphan', slug: 'orphan', ownerEmail: 'nobody@x.test' },
        'NOT_FOUND',
      );
    });

    it('rolls back when permission insert fails', async () => {
      const fault = 'owner permission insert blocked for the rollback test';
      // A real database fault in the last step. Every user_tenant_permissions table created from
      // now on gets a trigger that rejects inserts, so the owner's permission row fails after the
      // tenant, domain, schema, tables and membership were written.
      const removeFault = await blockOwnerPermissionInserts(t, fault);

      let response: ProvisionResponse;
      try {
        response = await expectNothingLeft(
          { name: 'Stark', slug: 'stark', ownerEmail: 'carol@x.test', schemaName: 'stark_data' },
          'INTERNAL_SERVER_ERROR',
        );
      } finally {
        await removeFault();
      }

      const text = JSON.stringify(response.body);
      expect(text).not.toContain(fault);
      expect(text).not.toContain('stark_data');
      expect(Object.keys(response.body.errors?.[0]?.extensions ?? {})).toEqual(['code']);
      const schema = await t.sql("select 1 from pg_namespace where nspname = 'stark_data'");
      expect(schema).toHaveLength(0);

      // The same input succeeds without the fault, so the rollback above came from the trigger.
      const retry = await provision({
        name: 'Stark',
        slug: 'stark',
        ownerEmail: 'carol@x.test',
        schemaName: 'stark_data',
      });
      expect(retry.body.errors).toBeUndefined();
      expect(retry.body.data?.provisionTenant.schemaName).toBe('stark_data');
    });
  });

  describe('concurrent provisions', () => {
    it('provisions one tenant for one slug', async () => {
      const recorder = recordEvents();
      const slugs = [...Array(10).fill('hooli'), 'HOOLI', ' hooli ', 'Hooli', 'HOOLI', ' hooli '];

      let responses: ProvisionResponse[];
      try {
        responses = await Promise.all(
          slugs.map((slug) => provision({ name: 'Hooli', slug, ownerEmail: 'carol@x.test' })),
        );
      } finally {
        recorder.stop();
      }

      const codes = responses.map((response) => errorCode(response) ?? 'OK');
      expect(codes.filter((code) => code === 'OK')).toHaveLength(1);
      expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
      for (const [index, code] of codes.entries()) {
        const expected = slugs[index] === 'hooli' ? ['OK', 'ALREADY_EXISTS'] : ['BAD_USER_INPUT'];
        expect(expected, `${JSON.stringify(slugs[index])}: ${String(code)}`).toContain(code);
        if (code !== 'OK') {
          expect(responses[index].body.errors?.[0]?.extensions?.field).toBe('slug');
        }
      }

      const tenants = await t.sql<{ id: string; schema_name: string }>(
        "select id, schema_name from public.tenants where lower(trim(slug)) = 'hooli'",
      );
      expect(tenants).toHaveLength(1);
      const [tenant] = tenants;
      const domains = await t.sql(
        "select tenant_id from public.domains where domain like '%hooli%'",
      );
      expect(domains).toEqual([{ tenant_id: tenant.id }]);
      const schemas = await t.sql<{ nspname: string }>(
        "select nspname from pg_namespace where nspname ilike '%hooli%'",
      );
      expect(schemas).toEqual([{ nspname: tenant.schema_name }]);
      const memberships = await t.sql('select 1 from public.memberships where tenant_id = $1', [
        tenant.id,
      ]);
      expect(memberships).toHaveLength(1);
      const permissions = await t.sql(
        `select 1 from "${tenant.schema_name}".user_tenant_permissions`,
      );
      expect(permissions).toHaveLength(1);
      expect(recorder.events.map((event) => event.type)).toEqual(['tenantProvisioned']);
    });

    it('provisions one tenant per schema name', async () => {
      for (const round of [1, 2, 3]) {
        const schemaName = `shared_schema_${round}`;
        const slugs = [`wayne-${round}`, `kord-${round}`, `queen-${round}`];

        const responses = await Promise.all(
          slugs.map((slug) =>
            provision({ name: slug, slug, ownerEmail: 'carol@x.test', schemaName }),
          ),
        );

        const codes = responses.map((response) => errorCode(response) ?? 'OK');
        expect(
          codes.filter((code) => code === 'OK'),
          codes.join(),
        ).toHaveLength(1);
        expect(
          codes.filter((code) => code === 'ALREADY_EXISTS'),
          codes.join(),
        ).toHaveLength(2);
        for (const response of responses.filter((r) => errorCode(r) !== undefined)) {
          expect(response.body.errors?.[0]?.extensions?.field).toBe('schemaName');
        }
        const tenants = await t.sql('select slug from public.tenants where schema_name = $1', [
          schemaName,
        ]);
        expect(tenants).toHaveLength(1);
        const domains = await t.sql(
          "select 1 from public.domains where domain like '%-' || $1 || '.app.test'",
          [String(round)],
        );
        expect(domains).toHaveLength(1);
      }
    });

    it('rejects schema created during provision', async () => {
      // A schema created by another session after the existence check but before CREATE SCHEMA
      // makes PostgreSQL wait, then fail on its catalog's unique index.
      const other = new pg.Client({ connectionString: t.databaseUrl });
      other.on('error', () => undefined);
      await other.connect();
      try {
        await other.query('begin');
        await other.query('create schema raced_schema');
        const before = await databaseSnapshot(t);

        const pending = provision({
          name: 'Raced',
          slug: 'raced',
          ownerEmail: 'carol@x.test',
          schemaName: 'raced_schema',
        });
        await waitForLockWait();
        await other.query('commit');
        const response = await pending;

        expect(errorCode(response), JSON.stringify(response.body.errors)).toBe('ALREADY_EXISTS');
        expect(response.body.errors?.[0]?.extensions?.field).toBe('schemaName');
        const { schemas: schemasAfter, ...after } = await databaseSnapshot(t);
        const { schemas: schemasBefore, ...rest } = before;
        expect(after).toEqual(rest);
        expect((schemasAfter as string[]).filter((name) => name !== 'raced_schema')).toEqual(
          schemasBefore,
        );
        const tenants = await t.sql("select 1 from public.tenants where slug = 'raced'");
        expect(tenants).toHaveLength(0);
      } finally {
        await other.end();
      }
    });
  });

  /** Waits until some session of the test database waits for a lock. */
  async function waitForLockWait(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const rows = await t.sql(
        `select 1 from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock'`,
      );
      if (rows.length > 0) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('no session waited for a lock within 10 s');
  }
});
