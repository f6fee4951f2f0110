import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DomainEvent } from '../src/services/events.js';
import {
  ADMIN_EMAIL,
  errorCode,
  PASSWORD,
  startTestApp,
  type GraphqlResponse,
  type TestApp,
} from './support/app.js';
import {
  CREATE_USER,
  databaseSnapshot,
  DELETE_USER,
  mustSucceed,
  PROVISION_TENANT,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

interface ProvisionedTenant {
  id: string;
  slug: string;
  schemaName: string;
  tenantType: string;
  status: string;
  primaryDomain: { domain: string } | null;
}

type ProvisionResponse = GraphqlResponse<{ provisionTenant: ProvisionedTenant }>;

describe('provisionTenant', () => {
  let t: TestApp;
  let f: CaseFixture;

  beforeAll(async () => {
    t = await startTestApp({ reservedSlugs: ['billing', 'Status'] });
    f = await seedCaseFixture(t);
  });
  afterAll(() => t?.close());

  function provisionAs(token: string | undefined, input: Record<string, unknown>) {
    return t.gql<{ provisionTenant: ProvisionedTenant }>(PROVISION_TENANT, { input }, { token });
  }

  async function provisionOk(input: Record<string, unknown>): Promise<ProvisionedTenant> {
    const response = await provisionAs(f.adminToken, input);
    expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();

    return response.body.data!.provisionTenant;
  }

  async function createUser(email: string, extra: Record<string, unknown> = {}): Promise<void> {
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email, password: PASSWORD, ...extra } },
      f.adminToken,
    );
  }

  async function auditEventCount(): Promise<number> {
    const [row] = await t.sql<{ count: string }>('select count(*) from public.audit_events');

    return Number(row.count);
  }

  /** Runs a provision that must fail and checks that the database did not change. */
  async function expectRejected(
    token: string | undefined,
    input: Record<string, unknown>,
    code: string,
    field?: string,
  ): Promise<ProvisionResponse> {
    const before = await databaseSnapshot(t);
    const auditBefore = await auditEventCount();

    const response = await provisionAs(token, input);

    expect(response.body.data?.provisionTenant ?? null).toBeNull();
    expect(errorCode(response), JSON.stringify(response.body.errors)).toBe(code);
    if (field !== undefined) {
      expect(response.body.errors?.[0]?.extensions?.field).toBe(field);
    }
    expect(await databaseSnapshot(t)).toEqual(before);
    expect(await auditEventCount()).toBe(auditBefore);

    return response;
  }

  async function ownerPermissions(schemaName: string) {
    return t.sql<{ user_id: string; is_staff: boolean; is_superuser: boolean }>(
      `select user_id, is_staff, is_superuser from "${schemaName}".user_tenant_permissions`,
    );
  }

  async function userId(email: string): Promise<string> {
    const [row] = await t.sql<{ id: string }>('select id from public.users where email = $1', [
      email,
    ]);

    return row.id;
  }

  it('creates tenant, domain, schema and owner', async () => {
    const tenant = await provisionOk({
      name: 'Initech',
      slug: 'initech',
      ownerEmail: 'carol@x.test',
    });

    expect(tenant.slug).toBe('initech');
    expect(tenant.tenantType).toBe('default');
    expect(tenant.status).toBe('ACTIVE');
    expect(tenant.primaryDomain?.domain).toBe('initech.app.test');

    const tenants = await t.sql(
      'select name, slug, schema_name, owner_id, is_active from public.tenants where id = $1',
      [tenant.id],
    );
    expect(tenants).toEqual([
      {
        name: 'Initech',
        slug: 'initech',
        schema_name: tenant.schemaName,
        owner_id: await userId('carol@x.test'),
        is_active: true,
      },
    ]);
    const domains = await t.sql(
      'select domain, is_primary, is_active from public.domains where tenant_id = $1',
      [tenant.id],
    );
    expect(domains).toEqual([{ domain: 'initech.app.test', is_primary: true, is_active: true }]);
    const memberships = await t.sql('select user_id from public.memberships where tenant_id = $1', [
      tenant.id,
    ]);
    expect(memberships).toEqual([{ user_id: await userId('carol@x.test') }]);
    const schemas = await t.sql('select 1 from pg_namespace where nspname = $1', [
      tenant.schemaName,
    ]);
    expect(schemas).toHaveLength(1);
    const permissions = await t.sql(
      `select count(*)::int as count from "${tenant.schemaName}".permissions`,
    );
    expect(permissions[0].count).toBeGreaterThan(0);
  });

  it('routes new tenant by host', async () => {
    await provisionOk({ name: 'Umbrella', slug: 'umbrella', ownerEmail: 'carol@x.test' });
    const carolToken = await t.login('carol@x.test');

    const response = await t.gql<{ currentTenant: { slug: string } }>(
      '{ currentTenant { slug } }',
      {},
      { host: 'umbrella.app.test', token: carolToken },
    );

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.currentTenant.slug).toBe('umbrella');
  });

  it('accepts default tenant type by name', async () => {
    const tenant = await provisionOk({
      name: 'Typed',
      slug: 'typed',
      ownerEmail: 'carol@x.test',
      tenantType: 'default',
    });

    expect(tenant.tenantType).toBe('default');
  });

  it('rejects unknown tenant type', async () => {
    const response = await expectRejected(
      f.adminToken,
      {
        name: 'Enterprise',
        slug: 'enterprise',
        ownerEmail: 'carol@x.test',
        tenantType: 'enterprise',
      },
      'INVALID_TENANT_TYPE',
    );

    expect(response.body.errors?.[0]?.extensions?.validTypes).toEqual(['default']);
  });

  it('rejects public tenant type', async () => {
    const response = await expectRejected(
      f.adminToken,
      { name: 'Public Two', slug: 'public-two', ownerEmail: 'carol@x.test', tenantType: 'public' },
      'INVALID_TENANT_TYPE',
    );

    expect(response.body.errors?.[0]?.extensions?.validTypes).not.toContain('public');
  });

  it('rejects owner that does not exist', async () => {
    await expectRejected(
      f.adminToken,
      { name: 'Nobody', slug: 'nobody', ownerEmail: 'nobody@x.test' },
      'NOT_FOUND',
    );
  });

  it('rejects deactivated owner', async () => {
    await createUser('dave@x.test');
    await mustSucceed(t, DELETE_USER, { email: 'dave@x.test' }, f.adminToken);

    await expectRejected(
      f.adminToken,
      { name: 'Dave Co', slug: 'dave-co', ownerEmail: 'dave@x.test' },
      'INACTIVE_USER',
    );
    await expectRejected(
      f.adminToken,
      { name: 'Dave Co', slug: 'dave-co', ownerEmail: 'DAVE@X.TEST' },
      'INACTIVE_USER',
    );
  });

  it('rejects malformed owner email', async () => {
    await expectRejected(
      f.adminToken,
      { name: 'Mail', slug: 'mail', ownerEmail: 'not-an-email' },
      'BAD_USER_INPUT',
      'ownerEmail',
    );
  });

  it('rejects blank tenant name', async () => {
    await expectRejected(
      f.adminToken,
      { name: '   ', slug: 'blank-name', ownerEmail: 'carol@x.test' },
      'BAD_USER_INPUT',
      'name',
    );
  });

  it('rejects built-in reserved slugs', async () => {
    for (const slug of ['www', 'public', 'api', 'admin']) {
      await expectRejected(
        f.adminToken,
        { name: 'Reserved', slug, ownerEmail: 'carol@x.test' },
        'BAD_USER_INPUT',
        'slug',
      );
    }
  });

  it('rejects configured reserved slugs', async () => {
    for (const slug of ['billing', 'status']) {
      await expectRejected(
        f.adminToken,
        { name: 'Reserved', slug, ownerEmail: 'carol@x.test' },
        'BAD_USER_INPUT',
        'slug',
      );
    }
  });

  it('rejects slug of existing tenant', async () => {
    await expectRejected(
      f.adminToken,
      { name: 'Acme Again', slug: 'acme', ownerEmail: 'carol@x.test' },
      'ALREADY_EXISTS',
      'slug',
    );
  });

  it('rejects slug of deleted tenant', async () => {
    await provisionOk({ name: 'Soylent', slug: 'soylent', ownerEmail: 'carol@x.test' });
    await mustSucceed(
      t,
      'mutation { deleteTenant(tenant: "soylent") { isActive } }',
      {},
      f.adminToken,
    );

    await expectRejected(
      f.adminToken,
      { name: 'Soylent Again', slug: 'soylent', ownerEmail: 'bob@x.test' },
      'ALREADY_EXISTS',
      'slug',
    );
  });

  it('rejects domain held by another tenant', async () => {
    // Two more domains of acme, one active and one deactivated. Both names must stay taken.
    await t.sql(
      `insert into public.domains (domain, tenant_id, is_primary, is_active)
       values ('initrode.app.test', $1, false, true), ('vandelay.app.test', $1, false, false)`,
      [f.acme.id],
    );

    await expectRejected(
      f.adminToken,
      { name: 'Initrode', slug: 'initrode', ownerEmail: 'carol@x.test' },
      'ALREADY_EXISTS',
      'slug',
    );
    await expectRejected(
      f.adminToken,
      { name: 'Vandelay', slug: 'vandelay', ownerEmail: 'carol@x.test' },
      'ALREADY_EXISTS',
      'slug',
    );
  });

  it('derives unique schema from slug', async () => {
    // A schema named like the derived base must not block the tenant, because of the suffix.
    await t.sql('create schema big_co');

    const tenant = await provisionOk({
      name: 'Big Co',
      slug: 'big-co',
      ownerEmail: 'carol@x.test',
    });

    expect(tenant.schemaName).toMatch(/^big_co_[a-z0-9]{6}$/);
    expect(tenant.schemaName).toMatch(SCHEMA_NAME_PATTERN);
    const tables = await t.sql(
      `select 1 from information_schema.tables
       where table_schema = $1 and table_name = 'user_tenant_permissions'`,
      [tenant.schemaName],
    );
    expect(tables).toHaveLength(1);
    const bareSchemaTables = await t.sql(
      `select 1 from information_schema.tables where table_schema = 'big_co'`,
    );
    expect(bareSchemaTables).toHaveLength(0);
  });

  it('derives valid schema from any slug', async () => {
    for (const slug of ['42', 'pg-data', '9-lives']) {
      const tenant = await provisionOk({ name: slug, slug, ownerEmail: 'carol@x.test' });

      expect(tenant.schemaName, slug).toMatch(SCHEMA_NAME_PATTERN);
      expect(tenant.schemaName.startsWith('pg_'), slug).toBe(false);
    }
  });

  it('derives schema within identifier limit', async () => {
    const slug = 'a'.repeat(63);

    const tenant = await provisionOk({ name: 'Long', slug, ownerEmail: 'carol@x.test' });

    expect(tenant.schemaName).toMatch(SCHEMA_NAME_PATTERN);
    const schemas = await t.sql('select 1 from pg_namespace where nspname = $1', [
      tenant.schemaName,
    ]);
    expect(schemas).toHaveLength(1);
  });

  it('uses given schema name quoted', async () => {
    // `order` is an SQL keyword, so any unquoted use of the name would fail.
    const tenant = await provisionOk({
      name: 'Order',
      slug: 'order-co',
      ownerEmail: 'carol@x.test',
      schemaName: 'order',
    });

    expect(tenant.schemaName).toBe('order');
    expect(await ownerPermissions('order')).toEqual([
      { user_id: await userId('carol@x.test'), is_staff: false, is_superuser: true },
    ]);
  });

  it('rejects invalid schema names', async () => {
    const invalid = [
      '',
      'Upper',
      '1abc',
      'a-b',
      'a b',
      'a;drop schema public cascade',
      'x'.repeat(64),
      'pg_custom',
      'pg_catalog',
      'public',
      'information_schema',
      'ｓchema',
    ];
    for (const [index, schemaName] of invalid.entries()) {
      await expectRejected(
        f.adminToken,
        { name: 'Schema', slug: `schema-${index}`, ownerEmail: 'carol@x.test', schemaName },
        'BAD_USER_INPUT',
        'schemaName',
      );
    }
  });

  it('rejects existing schema case-insensitively', async () => {
    await t.sql('create schema "Hand_Made"');
    await t.sql('create schema hand_lower');

    await expectRejected(
      f.adminToken,
      { name: 'Hand', slug: 'hand-1', ownerEmail: 'carol@x.test', schemaName: 'hand_made' },
      'ALREADY_EXISTS',
      'schemaName',
    );
    await expectRejected(
      f.adminToken,
      { name: 'Hand', slug: 'hand-2', ownerEmail: 'carol@x.test', schemaName: 'hand_lower' },
      'ALREADY_EXISTS',
      'schemaName',
    );
    await expectRejected(
      f.adminToken,
      { name: 'Hand', slug: 'hand-3', ownerEmail: 'carol@x.test', schemaName: f.acme.schemaName },
      'ALREADY_EXISTS',
      'schemaName',
    );
  });

  it('grants owner superuser by default', async () => {
    const tenant = await provisionOk({
      name: 'Hooper',
      slug: 'hooper',
      ownerEmail: 'carol@x.test',
    });

    expect(await ownerPermissions(tenant.schemaName)).toEqual([
      { user_id: await userId('carol@x.test'), is_staff: false, is_superuser: true },
    ]);
  });

  it('applies given owner flags', async () => {
    const tenant = await provisionOk({
      name: 'Flagged',
      slug: 'flagged',
      ownerEmail: 'carol@x.test',
      isStaff: true,
      isSuperuser: false,
    });

    expect(await ownerPermissions(tenant.schemaName)).toEqual([
      { user_id: await userId('carol@x.test'), is_staff: true, is_superuser: false },
    ]);
  });

  it('stores tenant and domain metadata', async () => {
    const tenant = await provisionOk({
      name: 'Meta',
      slug: 'meta',
      ownerEmail: 'carol@x.test',
      metadata: { plan: 'gold', seats: 5, tags: ['a', 'b'] },
      domainMetadata: { cdn: true, region: 'eu' },
    });

    const [tenantRow] = await t.sql('select metadata from public.tenants where id = $1', [
      tenant.id,
    ]);
    expect(tenantRow.metadata).toEqual({ plan: 'gold', seats: 5, tags: ['a', 'b'] });
    const [domainRow] = await t.sql('select metadata from public.domains where tenant_id = $1', [
      tenant.id,
    ]);
    expect(domainRow.metadata).toEqual({ cdn: true, region: 'eu' });
  });

  it('adds no triggers to public.users', async () => {
    // A foreign key from each tenant schema to public.users would add two triggers there per
    // tenant, and every connection rereads them all after each new tenant.
    const countTriggers = async () =>
      (
        await t.sql<{ n: number }>(
          "select count(*)::int as n from pg_trigger where tgrelid = 'public.users'::regclass",
        )
      )[0].n;
    const before = await countTriggers();

    const tenant = await provisionOk({ name: 'Flat', slug: 'flat', ownerEmail: 'carol@x.test' });
    const foreignKeys = await t.sql(
      `select conname from pg_constraint
       where confrelid = 'public.users'::regclass and connamespace = $1::regnamespace`,
      [tenant.schemaName],
    );

    expect(await countTriggers()).toBe(before);
    expect(foreignKeys).toEqual([]);
  });

  it('stores domain metadata with quotes and backslashes as sent', async () => {
    // The provisioning sends its statements as one text; each value must stay a literal.
    const domainMetadata = {
      quote: "it's",
      backslash: 'C:\\path\\n',
      placeholder: '? and ??',
      dollar: '$free_schema$ end $$',
      injection: "'); drop table public.users; --",
    };
    const tenant = await provisionOk({
      name: 'Quoted',
      slug: 'quoted',
      ownerEmail: 'carol@x.test',
      domainMetadata,
    });

    const [domainRow] = await t.sql('select metadata from public.domains where tenant_id = $1', [
      tenant.id,
    ]);
    expect(domainRow.metadata).toEqual(domainMetadata);
    const [users] = await t.sql('select count(*)::int as n from public.users');
    expect(users.n).toBeGreaterThan(0);
  });

  it('emits tenantProvisioned after commit', async () => {
    const seen: { event: DomainEvent; committedRows: number }[] = [];
    const unsubscribe = t.app.events.subscribe('tenantProvisioned', async (event) => {
      // A separate connection can read the tenant row only after the transaction commits.
      const rows = await t.sql('select 1 from public.tenants where id = $1', [event.tenantId]);
      seen.push({ event, committedRows: rows.length });
    });
    try {
      const tenant = await provisionOk({
        name: 'Evented',
        slug: 'evented',
        ownerEmail: 'carol@x.test',
      });

      expect(seen).toHaveLength(1);
      expect(seen[0].committedRows).toBe(1);
      expect(seen[0].event.tenantId).toBe(tenant.id);
      expect(seen[0].event.userId).toBe(await userId('carol@x.test'));
      expect(seen[0].event.actorId).toBe(await userId(ADMIN_EMAIL));
      expect(seen[0].event.payload).toMatchObject({
        slug: 'evented',
        schemaName: tenant.schemaName,
        domain: 'evented.app.test',
      });

      const audit = await t.sql(
        `select type, user_id, actor_id from public.audit_events
         where tenant_id = $1 and type = 'tenantProvisioned'`,
        [tenant.id],
      );
      expect(audit).toEqual([
        {
          type: 'tenantProvisioned',
          user_id: await userId('carol@x.test'),
          actor_id: await userId(ADMIN_EMAIL),
        },
      ]);
    } finally {
      unsubscribe();
    }
  });

  it('emits nothing for failed provision', async () => {
    const seen: DomainEvent[] = [];
    const unsubscribe = t.app.events.subscribe('*', (event) => {
      seen.push(event);
    });
    try {
      await expectRejected(
        f.adminToken,
        { name: 'Globex', slug: 'globex', ownerEmail: 'carol@x.test' },
        'ALREADY_EXISTS',
      );
      await expectRejected(
        f.adminToken,
        { name: 'Ghost', slug: 'ghost', ownerEmail: 'ghost@x.test' },
        'NOT_FOUND',
      );
      await expectRejected(
        f.adminToken,
        {
          name: 'Hand',
          slug: 'hand-4',
          ownerEmail: 'carol@x.test',
          schemaName: f.globex.schemaName,
        },
        'ALREADY_EXISTS',
      );

      expect(seen).toEqual([]);
    } finally {
      unsubscribe();
    }
  });

  it('rejects provision for another owner', async () => {
    const aliceToken = await t.login('alice@x.test');

    await expectRejected(
      aliceToken,
      { name: 'Alice Co', slug: 'alice-co', ownerEmail: 'carol@x.test' },
      'FORBIDDEN',
    );
  });

  it('rejects platform staff provisioning for others', async () => {
    await createUser('staff@x.test', { isStaff: true });
    const staffToken = await t.login('staff@x.test');

    await expectRejected(
      staffToken,
      { name: 'Staff Co', slug: 'staff-co', ownerEmail: 'carol@x.test' },
      'FORBIDDEN',
    );
  });

  it('rejects anonymous provision', async () => {
    await expectRejected(
      undefined,
      { name: 'Anon Co', slug: 'anon-co', ownerEmail: 'carol@x.test' },
      'UNAUTHENTICATED',
    );
  });
});
