import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DomainEvent } from '../src/services/events.js';
import { ADMIN_EMAIL, PASSWORD, errorCode, startTestApp, type TestApp } from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  databaseSnapshot,
  mustSucceed,
  provision,
  seedCaseFixture,
  type CaseFixture,
} from './support/fixtures.js';

const ADD_DOMAIN = `
  mutation ($tenant: String, $domain: String!, $isPrimary: Boolean! = false) {
    addDomain(tenant: $tenant, domain: $domain, isPrimary: $isPrimary) {
      domain isPrimary isActive tenant { slug }
    }
  }`;

const REMOVE_DOMAIN = `mutation ($domain: String!) { removeDomain(domain: $domain) }`;

const SET_PRIMARY_DOMAIN = `
  mutation ($domain: String!) {
    setPrimaryDomain(domain: $domain) { domain isPrimary tenant { slug } }
  }`;

const DELETE_TENANT = `mutation ($tenant: String) { deleteTenant(tenant: $tenant) { slug } }`;

const CURRENT_TENANT = '{ currentTenant { slug } }';

interface DomainRow {
  domain: string;
  is_primary: boolean;
  is_active: boolean;
}

interface AuditRow {
  type: string;
  actor_email: string | null;
  payload: Record<string, unknown>;
}

describe('domain operations', () => {
  let t: TestApp;
  let f: CaseFixture;
  let aliceToken: string;
  let bobToken: string;
  let carolToken: string;

  beforeAll(async () => {
    t = await startTestApp();
    f = await seedCaseFixture(t);
    aliceToken = await t.login('alice@x.test');
    bobToken = await t.login('bob@x.test');
    carolToken = await t.login('carol@x.test');
  });
  afterAll(() => t?.close());

  async function domainRows(tenantId: string): Promise<DomainRow[]> {
    return t.sql<DomainRow>(
      `select domain, is_primary, is_active from public.domains
       where tenant_id = $1 order by domain`,
      [tenantId],
    );
  }

  async function primaryDomains(tenantId: string): Promise<string[]> {
    const rows = await domainRows(tenantId);

    return rows.filter((row) => row.is_primary).map((row) => row.domain);
  }

  async function auditRows(tenantId: string): Promise<AuditRow[]> {
    return t.sql<AuditRow>(
      `select a.type, u.email as actor_email, a.payload from public.audit_events a
       left join public.users u on u.id = a.actor_id where a.tenant_id = $1 order by a.id`,
      [tenantId],
    );
  }

  async function auditCount(): Promise<number> {
    const [row] = await t.sql<{ count: string }>('select count(*) from public.audit_events');

    return Number(row.count);
  }

  async function routedSlug(host: string): Promise<unknown> {
    const response = await t.gql<{ currentTenant: { slug: string } }>(CURRENT_TENANT, {}, { host });

    return response.body.data?.currentTenant.slug ?? errorCode(response);
  }

  /** Provisions a tenant owned by alice and returns its id. */
  async function tenantOfAlice(slug: string): Promise<string> {
    const tenant = await provision(t, f.adminToken, {
      name: slug,
      slug,
      ownerEmail: 'alice@x.test',
    });

    return tenant.id;
  }

  /** Collects every published event until the returned function is called. */
  function collectEvents(): { events: DomainEvent[]; stop: () => void } {
    const events: DomainEvent[] = [];
    const stop = t.app.events.subscribe('*', (event) => {
      events.push(event);
    });

    return { events, stop };
  }

  /** Runs a failing call and checks that the database and the audit log did not change. */
  async function expectRejected(
    query: string,
    variables: Record<string, unknown>,
    token: string | undefined,
    code: string,
    host?: string,
  ): Promise<Record<string, unknown> | undefined> {
    const before = await databaseSnapshot(t);
    const auditBefore = await auditCount();

    const response = await t.gql(query, variables, { token, host });

    expect(errorCode(response), JSON.stringify(variables)).toBe(code);
    expect(await databaseSnapshot(t)).toEqual(before);
    expect(await auditCount()).toBe(auditBefore);

    return response.body.errors?.[0]?.extensions;
  }

  describe('addDomain', () => {
    it('adds domain that routes at once', async () => {
      expect(await routedSlug('shop.acme.test')).toBe('TENANT_NOT_FOUND');

      const data = await mustSucceed(
        t,
        ADD_DOMAIN,
        { tenant: 'acme', domain: 'shop.acme.test' },
        aliceToken,
      );

      expect(data).toEqual({
        addDomain: {
          domain: 'shop.acme.test',
          isPrimary: false,
          isActive: true,
          tenant: { slug: 'acme' },
        },
      });
      expect(await domainRows(f.acme.id)).toEqual([
        { domain: 'acme.app.test', is_primary: true, is_active: true },
        { domain: 'shop.acme.test', is_primary: false, is_active: true },
      ]);
      expect(await routedSlug('shop.acme.test')).toBe('acme');
      expect(await routedSlug('SHOP.acme.test:8080')).toBe('acme');
      expect(await routedSlug('acme.app.test')).toBe('acme');
    });

    it('records domain added in audit log', async () => {
      await mustSucceed(t, ADD_DOMAIN, { tenant: 'acme', domain: 'audit.acme.test' }, aliceToken);

      const rows = await auditRows(f.acme.id);
      expect(rows.at(-1)).toEqual({
        type: 'domainAdded',
        actor_email: 'alice@x.test',
        payload: { tenant: 'acme', domain: 'audit.acme.test', isPrimary: false },
      });
    });

    it('adds domain to routed tenant by default', async () => {
      const data = await mustSucceed<{ addDomain: { tenant: { slug: string } } }>(
        t,
        ADD_DOMAIN,
        { domain: 'routed.acme.test' },
        aliceToken,
        'acme.app.test',
      );

      expect(data.addDomain.tenant.slug).toBe('acme');
      expect((await domainRows(f.acme.id)).map((row) => row.domain)).toContain('routed.acme.test');
    });

    it('adds primary domain demoting old one', async () => {
      const tenantId = await tenantOfAlice('initech');

      const data = await mustSucceed(
        t,
        ADD_DOMAIN,
        { tenant: 'initech', domain: 'initech.example', isPrimary: true },
        aliceToken,
      );

      expect(data).toMatchObject({ addDomain: { domain: 'initech.example', isPrimary: true } });
      expect(await domainRows(tenantId)).toEqual([
        { domain: 'initech.app.test', is_primary: false, is_active: true },
        { domain: 'initech.example', is_primary: true, is_active: true },
      ]);
      expect(await routedSlug('initech.app.test')).toBe('initech');
      expect(await routedSlug('initech.example')).toBe('initech');
      const types = (await auditRows(tenantId)).map((row) => row.type);
      expect(types.slice(-2)).toEqual(['domainAdded', 'primaryDomainChanged']);
      const [changed] = (await auditRows(tenantId)).slice(-1);
      expect(changed.payload).toEqual({
        tenant: 'initech',
        domain: 'initech.example',
        previousDomain: 'initech.app.test',
      });
    });

    it('rejects domain taken by any tenant', async () => {
      await tenantOfAlice('umbrella');
      await mustSucceed(
        t,
        ADD_DOMAIN,
        { tenant: 'umbrella', domain: 'umbrella.example' },
        aliceToken,
      );
      await mustSucceed(t, DELETE_TENANT, { tenant: 'umbrella' }, f.adminToken);

      const taken = [
        'globex.app.test', // primary domain of another tenant
        'shop.acme.test', // a second domain of the same tenant
        'app.test', // the public tenant's domain
        'umbrella.app.test', // primary domain of a deleted tenant
        'umbrella.example', // another domain of a deleted tenant
      ];
      for (const domain of taken) {
        const extensions = await expectRejected(
          ADD_DOMAIN,
          { tenant: 'acme', domain },
          f.adminToken,
          'ALREADY_EXISTS',
        );
        expect(extensions?.field).toBe('domain');
      }
    });

    it('rejects invalid domain names', async () => {
      const invalid = [
        'Shop.Acme.test',
        'shop.acme.test.',
        'shop.acme.test:8080',
        ' shop.acme.test',
        'shop.acme.test ',
        'shop..acme.test',
        '.shop.acme.test',
        '',
        'shop_acme.test',
        'shop acme.test',
        'a;drop schema public cascade',
        'ｓhop.acme.test',
        'bücher.example',
        '-shop.acme.test',
        'shop-.acme.test',
        `${'a'.repeat(64)}.acme.test`,
        `${'a.'.repeat(127)}test`,
        'http://shop.acme.test',
        'shop.acme.test/graphql',
        'alice@shop.acme.test',
        '[::1]',
        'www.shop.acme.test',
      ];
      for (const domain of invalid) {
        const extensions = await expectRejected(
          ADD_DOMAIN,
          { tenant: 'acme', domain },
          f.adminToken,
          'BAD_USER_INPUT',
        );
        expect(extensions?.field, domain).toBe('domain');
      }
    });

    it('rejects unknown and deleted tenants', async () => {
      await tenantOfAlice('cyberdyne');
      await mustSucceed(t, DELETE_TENANT, { tenant: 'cyberdyne' }, f.adminToken);

      for (const tenant of ['nowhere', 'cyberdyne']) {
        await expectRejected(
          ADD_DOMAIN,
          { tenant, domain: `${tenant}.example` },
          f.adminToken,
          'NOT_FOUND',
        );
      }
    });

    it('allows tenant superuser and platform admin', async () => {
      await mustSucceed(
        t,
        CREATE_USER,
        { input: { email: 'dave@x.test', password: PASSWORD } },
        f.adminToken,
      );
      await mustSucceed(
        t,
        ADD_USER_TO_TENANT,
        { input: { tenant: 'acme', userEmail: 'dave@x.test', isSuperuser: true } },
        f.adminToken,
      );
      const daveToken = await t.login('dave@x.test');

      await mustSucceed(t, ADD_DOMAIN, { tenant: 'acme', domain: 'dave.acme.test' }, daveToken);
      await mustSucceed(t, ADD_DOMAIN, { tenant: 'acme', domain: 'root.acme.test' }, f.adminToken);
      await mustSucceed(
        t,
        ADD_DOMAIN,
        { tenant: 'acme', domain: 'host.acme.test' },
        f.adminToken,
        'acme.app.test',
      );

      const domains = (await domainRows(f.acme.id)).map((row) => row.domain);
      expect(domains).toContain('dave.acme.test');
      expect(domains).toContain('root.acme.test');
      expect(domains).toContain('host.acme.test');
    });

    it('forbids members without superuser', async () => {
      await mustSucceed(
        t,
        CREATE_USER,
        { input: { email: 'erin@x.test', password: PASSWORD, isStaff: true } },
        f.adminToken,
      );
      const staffToken = await t.login('erin@x.test');

      // bob is staff in acme, carol is in no tenant, alice is a plain member of globex, erin is
      // platform staff but not a platform admin.
      const cases: [string, string, string][] = [
        [bobToken, 'acme', 'bob.acme.test'],
        [carolToken, 'acme', 'carol.acme.test'],
        [aliceToken, 'globex', 'alice.globex.test'],
        [staffToken, 'acme', 'erin.acme.test'],
      ];
      for (const [token, tenant, domain] of cases) {
        await expectRejected(ADD_DOMAIN, { tenant, domain }, token, 'FORBIDDEN');
      }
    });

    it('checks rights in named tenant', async () => {
      // bob is the owner of globex, but only a staff member of acme.
      await expectRejected(
        ADD_DOMAIN,
        { tenant: 'acme', domain: 'bob.acme.test' },
        bobToken,
        'FORBIDDEN',
        'globex.app.test',
      );
    });

    it('rejects anonymous domain changes', async () => {
      await expectRejected(
        ADD_DOMAIN,
        { tenant: 'acme', domain: 'anon.acme.test' },
        undefined,
        'UNAUTHENTICATED',
      );
      await expectRejected(
        REMOVE_DOMAIN,
        { domain: 'shop.acme.test' },
        undefined,
        'UNAUTHENTICATED',
      );
      await expectRejected(
        SET_PRIMARY_DOMAIN,
        { domain: 'shop.acme.test' },
        undefined,
        'UNAUTHENTICATED',
      );
    });

    it('admits one of two concurrent adds', async () => {
      const responses = await Promise.all(
        ['acme', 'globex', 'acme', 'globex'].map((tenant) =>
          t.gql(ADD_DOMAIN, { tenant, domain: 'race.example' }, { token: f.adminToken }),
        ),
      );

      const codes = responses.map((response) => errorCode(response) ?? 'OK').sort();
      expect(codes).toEqual(['ALREADY_EXISTS', 'ALREADY_EXISTS', 'ALREADY_EXISTS', 'OK']);
      const rows = await t.sql("select 1 from public.domains where domain = 'race.example'");
      expect(rows).toHaveLength(1);
    });
  });

  describe('setPrimaryDomain', () => {
    it('switches primary domain', async () => {
      const tenantId = await tenantOfAlice('soylent');
      await mustSucceed(
        t,
        ADD_DOMAIN,
        { tenant: 'soylent', domain: 'soylent.example' },
        aliceToken,
      );

      const data = await mustSucceed(
        t,
        SET_PRIMARY_DOMAIN,
        { domain: 'soylent.example' },
        aliceToken,
      );

      expect(data).toEqual({
        setPrimaryDomain: {
          domain: 'soylent.example',
          isPrimary: true,
          tenant: { slug: 'soylent' },
        },
      });
      expect(await primaryDomains(tenantId)).toEqual(['soylent.example']);
      expect(await routedSlug('soylent.app.test')).toBe('soylent');
      const primary = await t.gql<{ tenant: { primaryDomain: { domain: string } } }>(
        '{ tenant(slug: "soylent") { primaryDomain { domain } } }',
        {},
        { token: aliceToken },
      );
      expect(primary.body.data?.tenant.primaryDomain.domain).toBe('soylent.example');
      const [last] = (await auditRows(tenantId)).slice(-1);
      expect(last).toEqual({
        type: 'primaryDomainChanged',
        actor_email: 'alice@x.test',
        payload: {
          tenant: 'soylent',
          domain: 'soylent.example',
          previousDomain: 'soylent.app.test',
        },
      });
    });

    it('keeps primary when already primary', async () => {
      const before = await databaseSnapshot(t);
      const auditBefore = await auditCount();

      const data = await mustSucceed(
        t,
        SET_PRIMARY_DOMAIN,
        { domain: 'acme.app.test' },
        aliceToken,
      );

      expect(data).toMatchObject({
        setPrimaryDomain: { domain: 'acme.app.test', isPrimary: true },
      });
      expect(await databaseSnapshot(t)).toEqual(before);
      expect(await auditCount()).toBe(auditBefore);
    });

    it('keeps one primary under concurrent switches', async () => {
      const tenantId = await tenantOfAlice('tyrell');
      const names = ['one.tyrell.test', 'two.tyrell.test', 'three.tyrell.test'];
      for (const domain of names) {
        await mustSucceed(t, ADD_DOMAIN, { tenant: 'tyrell', domain }, aliceToken);
      }

      const responses = await Promise.all(
        [...names, ...names].map((domain) =>
          t.gql(SET_PRIMARY_DOMAIN, { domain }, { token: aliceToken }),
        ),
      );

      for (const response of responses) {
        expect(response.body.errors).toBeUndefined();
      }
      const primaries = await primaryDomains(tenantId);
      expect(primaries).toHaveLength(1);
      expect(names).toContain(primaries[0]);
    });

    it('rejects unknown domain', async () => {
      const extensions = await expectRejected(
        SET_PRIMARY_DOMAIN,
        { domain: 'nowhere.example' },
        f.adminToken,
        'NOT_FOUND',
      );
      expect(extensions?.field).toBe('domain');
    });

    it('rejects domain of deleted tenant', async () => {
      await tenantOfAlice('oscorp');
      await mustSucceed(t, ADD_DOMAIN, { tenant: 'oscorp', domain: 'oscorp.example' }, aliceToken);
      await mustSucceed(t, DELETE_TENANT, { tenant: 'oscorp' }, f.adminToken);

      await expectRejected(
        SET_PRIMARY_DOMAIN,
        { domain: 'oscorp.example' },
        f.adminToken,
        'NOT_FOUND',
      );
    });

    it('rejects invalid domain name', async () => {
      for (const domain of ['ACME.app.test', 'acme.app.test.', 'acme.app.test:4000', '']) {
        const extensions = await expectRejected(
          SET_PRIMARY_DOMAIN,
          { domain },
          f.adminToken,
          'BAD_USER_INPUT',
        );
        expect(extensions?.field).toBe('domain');
      }
    });

    it('forbids members without superuser', async () => {
      await mustSucceed(t, ADD_DOMAIN, { tenant: 'globex', domain: 'alt.globex.test' }, bobToken);

      await expectRejected(SET_PRIMARY_DOMAIN, { domain: 'shop.acme.test' }, bobToken, 'FORBIDDEN');
      await expectRejected(
        SET_PRIMARY_DOMAIN,
        { domain: 'alt.globex.test' },
        aliceToken,
        'FORBIDDEN',
      );
      await expectRejected(
        SET_PRIMARY_DOMAIN,
        { domain: 'shop.acme.test' },
        carolToken,
        'FORBIDDEN',
      );
    });
  });

  describe('removeDomain', () => {
    it('removed domain stops routing', async () => {
      await mustSucceed(t, ADD_DOMAIN, { tenant: 'acme', domain: 'old.acme.test' }, aliceToken);
      expect(await routedSlug('old.acme.test')).toBe('acme');

      const data = await mustSucceed(t, REMOVE_DOMAIN, { domain: 'old.acme.test' }, aliceToken);

      expect(data).toEqual({ removeDomain: true });
      const response = await t.gql(CURRENT_TENANT, {}, { host: 'old.acme.test' });
      expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
      expect(response.status).toBe(404);
      const rows = await t.sql("select 1 from public.domains where domain = 'old.acme.test'");
      expect(rows).toHaveLength(0);
      const [last] = (await auditRows(f.acme.id)).slice(-1);
      expect(last).toEqual({
        type: 'domainRemoved',
        actor_email: 'alice@x.test',
        payload: { tenant: 'acme', domain: 'old.acme.test' },
      });
    });

    it('frees removed domain for others', async () => {
      await mustSucceed(t, ADD_DOMAIN, { tenant: 'acme', domain: 'moving.example' }, aliceToken);
      await mustSucceed(t, REMOVE_DOMAIN, { domain: 'moving.example' }, aliceToken);

      await mustSucceed(t, ADD_DOMAIN, { tenant: 'globex', domain: 'moving.example' }, bobToken);

      expect(await routedSlug('moving.example')).toBe('globex');
    });

    it('rejects removing primary domain', async () => {
      for (const domain of ['acme.app.test', 'app.test']) {
        const extensions = await expectRejected(
          REMOVE_DOMAIN,
          { domain },
          f.adminToken,
          'BAD_USER_INPUT',
        );
        expect(extensions?.field).toBe('domain');
      }
      expect(await routedSlug('acme.app.test')).toBe('acme');
    });

    it('rejects unknown domain', async () => {
      const extensions = await expectRejected(
        REMOVE_DOMAIN,
        { domain: 'nowhere.example' },
        f.adminToken,
        'NOT_FOUND',
      );
      expect(extensions?.field).toBe('domain');
    });

    it('rejects domain of deleted tenant', async () => {
      await tenantOfAlice('wonka');
      await mustSucceed(t, ADD_DOMAIN, { tenant: 'wonka', domain: 'wonka.example' }, aliceToken);
      await mustSucceed(t, DELETE_TENANT, { tenant: 'wonka' }, f.adminToken);
      expect(await routedSlug('wonka.example')).toBe('TENANT_NOT_FOUND');

      await expectRejected(REMOVE_DOMAIN, { domain: 'wonka.example' }, f.adminToken, 'NOT_FOUND');
      await expectRejected(REMOVE_DOMAIN, { domain: 'wonka.app.test' }, f.adminToken, 'NOT_FOUND');
    });

    it('rejects invalid domain name', async () => {
      for (const domain of ['Shop.Acme.test', 'shop.acme.test.', 'shop.acme.test:1', ' ']) {
        await expectRejected(REMOVE_DOMAIN, { domain }, f.adminToken, 'BAD_USER_INPUT');
      }
    });

    it('forbids members without superuser', async () => {
      await expectRejected(REMOVE_DOMAIN, { domain: 'shop.acme.test' }, bobToken, 'FORBIDDEN');
      await expectRejected(REMOVE_DOMAIN, { domain: 'shop.acme.test' }, carolToken, 'FORBIDDEN');
      await expectRejected(REMOVE_DOMAIN, { domain: 'alt.globex.test' }, aliceToken, 'FORBIDDEN');
      expect(await routedSlug('shop.acme.test')).toBe('acme');
    });
  });

  describe('events and transactions', () => {
    it('delivers events after commit', async () => {
      const seen: { type: string; rowVisible: boolean; auditVisible: boolean }[] = [];
      const stop = t.app.events.subscribe('*', async (event) => {
        // The test pool reads through its own connection, so it finds only committed rows.
        const rows = await t.sql("select 1 from public.domains where domain = 'events.acme.test'");
        const audit = await t.sql(
          'select 1 from public.audit_events where type = $1 and tenant_id = $2',
          [event.type, event.tenantId],
        );
        seen.push({
          type: event.type,
          rowVisible: rows.length > 0,
          auditVisible: audit.length > 0,
        });
      });

      try {
        await mustSucceed(
          t,
          ADD_DOMAIN,
          { tenant: 'acme', domain: 'events.acme.test' },
          aliceToken,
        );
        await mustSucceed(t, REMOVE_DOMAIN, { domain: 'events.acme.test' }, aliceToken);
      } finally {
        stop();
      }

      expect(seen).toEqual([
        { type: 'domainAdded', rowVisible: true, auditVisible: true },
        { type: 'domainRemoved', rowVisible: false, auditVisible: true },
      ]);
    });

    it('delivers event with tenant and actor', async () => {
      const { events, stop } = collectEvents();
      try {
        await mustSucceed(t, ADD_DOMAIN, { tenant: 'acme', domain: 'actor.acme.test' }, aliceToken);
      } finally {
        stop();
      }

      const [alice] = await t.sql<{ id: string }>(
        "select id from public.users where email = 'alice@x.test'",
      );
      expect(events).toEqual([
        {
          type: 'domainAdded',
          tenantId: f.acme.id,
          actorId: alice.id,
          payload: { tenant: 'acme', domain: 'actor.acme.test', isPrimary: false },
        },
      ]);
    });

    it('sends no event for failed insert', async () => {
      await t.sql(`
        create function public.reject_fault_domain() returns trigger language plpgsql as $$
        begin
          if new.domain = 'fault.acme.test' then raise exception 'injected fault'; end if;
          return new;
        end $$;
        create trigger reject_fault_domain before insert on public.domains
          for each row execute function public.reject_fault_domain();`);
      const { events, stop } = collectEvents();

      try {
        await expectRejected(
          ADD_DOMAIN,
          { tenant: 'acme', domain: 'fault.acme.test', isPrimary: true },
          aliceToken,
          'INTERNAL_SERVER_ERROR',
        );
      } finally {
        stop();
        await t.sql('drop trigger reject_fault_domain on public.domains');
        await t.sql('drop function public.reject_fault_domain()');
      }

      expect(events).toEqual([]);
      expect(await primaryDomains(f.acme.id)).toEqual(['acme.app.test']);
    });

    it('keeps old primary when promotion fails', async () => {
      const tenantId = await tenantOfAlice('nakatomi');
      await mustSucceed(
        t,
        ADD_DOMAIN,
        { tenant: 'nakatomi', domain: 'nakatomi.example' },
        aliceToken,
      );
      await t.sql(`
        create function public.reject_fault_primary() returns trigger language plpgsql as $$
        begin
          if new.domain = 'nakatomi.example' and new.is_primary then
            raise exception 'injected fault';
          end if;
          return new;
        end $$;
        create trigger reject_fault_primary before update on public.domains
          for each row execute function public.reject_fault_primary();`);
      const { events, stop } = collectEvents();

      try {
        await expectRejected(
          SET_PRIMARY_DOMAIN,
          { domain: 'nakatomi.example' },
          aliceToken,
          'INTERNAL_SERVER_ERROR',
        );
      } finally {
        stop();
        await t.sql('drop trigger reject_fault_primary on public.domains');
        await t.sql('drop function public.reject_fault_primary()');
      }

      expect(events).toEqual([]);
      expect(await primaryDomains(tenantId)).toEqual(['nakatomi.app.test']);
    });

    it('rolls back change when audit write fails', async () => {
      await mustSucceed(t, ADD_DOMAIN, { tenant: 'acme', domain: 'kept.acme.test' }, aliceToken);
      await t.sql(`
        create function public.reject_domain_removed() returns trigger language plpgsql as $$
        begin
          if new.type = 'domainRemoved' then raise exception 'injected fault'; end if;
          return new;
        end $$;
        create trigger reject_domain_removed before insert on public.audit_events
          for each row execute function public.reject_domain_removed();`);
      const { events, stop } = collectEvents();

      try {
        await expectRejected(
          REMOVE_DOMAIN,
          { domain: 'kept.acme.test' },
          aliceToken,
          'INTERNAL_SERVER_ERROR',
        );
      } finally {
        stop();
        await t.sql('drop trigger reject_domain_removed on public.audit_events');
        await t.sql('drop function public.reject_domain_removed()');
      }

      expect(events).toEqual([]);
      expect(await routedSlug('kept.acme.test')).toBe('acme');
    });
  });

  it('keeps one primary per tenant', async () => {
    const rows = await t.sql<{ slug: string; primaries: string }>(
      `select t.slug, count(d.id) filter (where d.is_primary) as primaries
       from public.tenants t left join public.domains d on d.tenant_id = t.id
       group by t.slug order by t.slug`,
    );

    for (const row of rows) {
      expect(Number(row.primaries), row.slug).toBe(1);
    }
    expect(rows.map((row) => row.slug)).toContain('public');
  });
});

describe('domain operations in subfolder mode', () => {
  let t: TestApp;
  let adminToken: string;
  let tenantId: string;

  beforeAll(async () => {
    t = await startTestApp({ subfolderPrefix: 'clients' });
    adminToken = await t.login(ADMIN_EMAIL);
    await mustSucceed(
      t,
      CREATE_USER,
      { input: { email: 'alice@x.test', password: PASSWORD } },
      adminToken,
    );
    const tenant = await provision(t, adminToken, {
      name: 'Initech',
      slug: 'initech',
      ownerEmail: 'alice@x.test',
    });
    tenantId = tenant.id;
  });
  afterAll(() => t?.close());

  async function slugAtPath(slug: string): Promise<unknown> {
    const response = await t.gql<{ currentTenant: { slug: string } }>(
      CURRENT_TENANT,
      {},
      { path: `/clients/${slug}/graphql` },
    );

    return response.body.data?.currentTenant.slug ?? errorCode(response);
  }

  it('routes added slug domain by path', async () => {
    await mustSucceed(t, ADD_DOMAIN, { tenant: 'initech', domain: 'initech-eu' }, adminToken);

    expect(await slugAtPath('initech-eu')).toBe('initech');
    expect(await slugAtPath('initech')).toBe('initech');
  });

  it('routes added host domain by host', async () => {
    await mustSucceed(t, ADD_DOMAIN, { tenant: 'initech', domain: 'initech.example' }, adminToken);

    const response = await t.gql(CURRENT_TENANT, {}, { host: 'initech.example' });
    expect(response.body.data).toEqual({ currentTenant: { slug: 'initech' } });
  });

  it('switches primary and keeps slug path', async () => {
    await mustSucceed(t, SET_PRIMARY_DOMAIN, { domain: 'initech-eu' }, adminToken);

    const rows = await t.sql<{ domain: string }>(
      'select domain from public.domains where tenant_id = $1 and is_primary',
      [tenantId],
    );
    expect(rows).toEqual([{ domain: 'initech-eu' }]);
    expect(await slugAtPath('initech')).toBe('initech');
  });

  it('rejects removing slug domain', async () => {
    const before = await databaseSnapshot(t);

    const response = await t.gql(REMOVE_DOMAIN, { domain: 'initech' }, { token: adminToken });

    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.body.errors?.[0]?.extensions?.field).toBe('domain');
    expect(await databaseSnapshot(t)).toEqual(before);
    expect(await slugAtPath('initech')).toBe('initech');
  });

  it('rejects reserved slug as domain', async () => {
    const before = await databaseSnapshot(t);

    for (const domain of ['admin', 'www', 'public', 'api']) {
      const response = await t.gql(
        ADD_DOMAIN,
        { tenant: 'initech', domain },
        { token: adminToken },
      );
      expect(errorCode(response), domain).toBe('BAD_USER_INPUT');
    }
    expect(await databaseSnapshot(t)).toEqual(before);
  });

  it('removed path domain stops routing', async () => {
    await mustSucceed(t, ADD_DOMAIN, { tenant: 'initech', domain: 'initech-old' }, adminToken);
    await mustSucceed(t, REMOVE_DOMAIN, { domain: 'initech-old' }, adminToken);

    const response = await t.gql(CURRENT_TENANT, {}, { path: '/clients/initech-old/graphql' });
    expect(errorCode(response)).toBe('TENANT_NOT_FOUND');
    expect(response.status).toBe(404);
  });

  it('rejects provisioning slug taken as domain', async () => {
    const before = await databaseSnapshot(t);

    const response = await t.gql(
      `mutation ($input: ProvisionTenantInput!) { provisionTenant(input: $input) { slug } }`,
      { input: { name: 'EU', slug: 'initech-eu', ownerEmail: 'alice@x.test' } },
      { token: adminToken },
    );

    expect(errorCode(response)).toBe('ALREADY_EXISTS');
    expect(await databaseSnapshot(t)).toEqual(before);
  });
});
