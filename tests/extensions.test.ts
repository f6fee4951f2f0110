import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { logTenantProvisioned, notesExtension } from '../examples/notes-app/notes.extension.js';
import { notesModule } from '../examples/notes-app/notes.module.js';
import { migrateAllTenants } from '../src/db/migrator.js';
import { createTenantTypes, type Extension } from '../src/extensions.js';
import { createLogger } from '../src/logger.js';
import type { DomainEvent } from '../src/services/events.js';
import { ADMIN_EMAIL, PASSWORD, errorCode, startTestApp, type TestApp } from './support/app.js';
import {
  ADD_USER_TO_TENANT,
  CREATE_USER,
  PROVISION_TENANT,
  mustSucceed,
  provision,
} from './support/fixtures.js';

const NOTES = '{ notes { id title createdAt updatedAt } }';
const CREATE_NOTE = `
  mutation ($title: String!) { createNote(title: $title) { id title createdAt updatedAt } }`;

interface NoteView {
  id: string;
  title: string;
  createdAt: string;
  updatedAt: string;
}

/** Events the subscribers received, and the lines the example's listener logged. */
const received: DomainEvent[] = [];
const subscriberBindings: Record<string, unknown>[] = [];
const loggedLines: Record<string, unknown>[] = [];
const captureLogger = createLogger('info', {
  write: (line: string) => {
    loggedLines.push(JSON.parse(line) as Record<string, unknown>);
  },
});

/** Records every event, and runs the example's listener with a logger the test can read. */
const probeExtension: Extension = {
  name: 'probe',
  subscribers: {
    '*': (event, context) => {
      received.push(event);
      subscriberBindings.push(context.logger.bindings());
    },
    tenantProvisioned: (event, context) =>
      logTenantProvisioned(event, { ...context, logger: captureLogger }),
  },
};

describe('notes example application', () => {
  let t: TestApp;
  let adminToken: string;
  let aliceToken: string;
  let bobToken: string;
  let carolToken: string;
  let acme: { id: string; schemaName: string };
  let globex: { id: string; schemaName: string };
  let initech: { id: string; schemaName: string };

  beforeAll(async () => {
    t = await startTestApp({}, [notesExtension, probeExtension]);
    adminToken = await t.login(ADMIN_EMAIL);
    for (const email of ['alice@x.test', 'bob@x.test', 'carol@x.test']) {
      await mustSucceed(t, CREATE_USER, { input: { email, password: PASSWORD } }, adminToken);
    }
    acme = await provision(t, adminToken, {
      name: 'Acme',
      slug: 'acme',
      ownerEmail: 'alice@x.test',
      tenantType: 'notes',
    });
    globex = await provision(t, adminToken, {
      name: 'Globex',
      slug: 'globex',
      ownerEmail: 'bob@x.test',
      tenantType: 'notes',
    });
    initech = await provision(t, adminToken, {
      name: 'Initech',
      slug: 'initech',
      ownerEmail: 'carol@x.test',
    });
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'acme', userEmail: 'bob@x.test', isStaff: true } },
      adminToken,
    );
    await mustSucceed(
      t,
      ADD_USER_TO_TENANT,
      { input: { tenant: 'globex', userEmail: 'alice@x.test' } },
      adminToken,
    );
    aliceToken = await t.login('alice@x.test');
    bobToken = await t.login('bob@x.test');
    carolToken = await t.login('carol@x.test');
  });
  afterAll(() => t?.close());

  const titlesIn = async (schema: string) =>
    (await t.sql<{ title: string }>(`select title from "${schema}".notes order by title`)).map(
      (row) => row.title,
    );

  const createNote = (title: string, token: string | undefined, host: string) =>
    t.gql<{ createNote: NoteView }>(CREATE_NOTE, { title }, { token, host });

  const listNotes = (token: string | undefined, host: string) =>
    t.gql<{ notes: NoteView[] }>(NOTES, {}, { token, host });

  const tableExists = async (schema: string, table: string) =>
    (
      await t.sql(
        'select 1 from information_schema.tables where table_schema = $1 and table_name = $2',
        [schema, table],
      )
    ).length > 0;

  it('stores notes in routed tenant only', async () => {
    const response = await createNote('Acme roadmap', aliceToken, 'acme.app.test');

    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.createNote.title).toBe('Acme roadmap');
    expect(response.body.data?.createNote.createdAt).toEqual(expect.any(String));
    expect(await titlesIn(acme.schemaName)).toEqual(['Acme roadmap']);
    expect(await titlesIn(globex.schemaName)).toEqual([]);
    expect(await titlesIn('public').catch(() => 'no table')).toBe('no table');
  });

  it('hides acme notes on globex host', async () => {
    const bobOnGlobex = await listNotes(bobToken, 'globex.app.test');
    const aliceOnGlobex = await listNotes(aliceToken, 'globex.app.test');
    const bobOnAcme = await listNotes(bobToken, 'acme.app.test');

    expect(bobOnGlobex.body.errors).toBeUndefined();
    expect(bobOnGlobex.body.data?.notes).toEqual([]);
    expect(aliceOnGlobex.body.errors).toBeUndefined();
    expect(aliceOnGlobex.body.data?.notes).toEqual([]);
    expect(bobOnAcme.body.data?.notes.map((note) => note.title)).toEqual(['Acme roadmap']);
  });

  it('keeps each tenant own notes', async () => {
    const created = await createNote('Globex budget', aliceToken, 'globex.app.test');
    const onAcme = await listNotes(aliceToken, 'acme.app.test');
    const onGlobex = await listNotes(aliceToken, 'globex.app.test');

    expect(created.body.errors).toBeUndefined();
    expect(onAcme.body.data?.notes.map((note) => note.title)).toEqual(['Acme roadmap']);
    expect(onGlobex.body.data?.notes.map((note) => note.title)).toEqual(['Globex budget']);
    expect(await titlesIn(acme.schemaName)).toEqual(['Acme roadmap']);
    expect(await titlesIn(globex.schemaName)).toEqual(['Globex budget']);
  });

  it('rejects notes for non-members', async () => {
    const before = [await titlesIn(acme.schemaName), await titlesIn(globex.schemaName)];

    const carolWrites = await createNote('Intrusion', carolToken, 'acme.app.test');
    const carolReads = await listNotes(carolToken, 'acme.app.test');
    const adminWrites = await createNote('Platform note', adminToken, 'acme.app.test');
    const adminReads = await listNotes(adminToken, 'acme.app.test');
    const anonymousWrites = await createNote('Anonymous', undefined, 'acme.app.test');
    const carolOnGlobex = await createNote('Intrusion', carolToken, 'globex.app.test');

    expect(errorCode(carolWrites)).toBe('FORBIDDEN');
    expect(errorCode(carolReads)).toBe('FORBIDDEN');
    expect(errorCode(adminWrites)).toBe('FORBIDDEN');
    expect(errorCode(adminReads)).toBe('FORBIDDEN');
    expect(errorCode(anonymousWrites)).toBe('UNAUTHENTICATED');
    expect(errorCode(carolOnGlobex)).toBe('FORBIDDEN');
    expect([await titlesIn(acme.schemaName), await titlesIn(globex.schemaName)]).toEqual(before);
  });

  it('rejects blank or long titles', async () => {
    const before = await titlesIn(acme.schemaName);

    const blank = await createNote('   ', aliceToken, 'acme.app.test');
    const long = await createNote('x'.repeat(201), aliceToken, 'acme.app.test');

    expect(errorCode(blank)).toBe('BAD_USER_INPUT');
    expect(blank.body.errors?.[0]?.extensions?.field).toBe('title');
    expect(errorCode(long)).toBe('BAD_USER_INPUT');
    expect(await titlesIn(acme.schemaName)).toEqual(before);
  });

  it('default tenant has no notes table', async () => {
    const ledger = await t.sql<{ name: string }>(
      `select name from "${initech.schemaName}".tenant_migrations`,
    );

    const reads = await listNotes(carolToken, 'initech.app.test');
    const writes = await createNote('Initech memo', carolToken, 'initech.app.test');
    const onPublic = await listNotes(adminToken, 'app.test');

    expect(await tableExists(initech.schemaName, 'notes')).toBe(false);
    expect(ledger.map((row) => row.name)).not.toContain('notes-0001-create-notes');
    expect(await tableExists(acme.schemaName, 'notes')).toBe(true);
    expect(errorCode(reads)).toBe('FORBIDDEN');
    expect(reads.body.errors?.[0]?.extensions?.module).toBe('notes');
    expect(errorCode(writes)).toBe('FORBIDDEN');
    expect(errorCode(onPublic)).toBe('FORBIDDEN');
    expect(await tableExists(initech.schemaName, 'notes')).toBe(false);
    expect(await tableExists('public', 'notes')).toBe(false);
  });

  it('delivers committed events to subscribers', async () => {
    const provisioned = () => received.filter((event) => event.type === 'tenantProvisioned');
    const countBefore = provisioned().length;

    const duplicate = await t.gql(
      PROVISION_TENANT,
      { input: { name: 'Acme', slug: 'acme', ownerEmail: 'alice@x.test', tenantType: 'notes' } },
      { token: adminToken },
    );

    expect(errorCode(duplicate)).toBe('ALREADY_EXISTS');
    expect(provisioned()).toHaveLength(countBefore);
    // The public tenant's event comes from the first start, which runs after subscription.
    expect(provisioned().map((event) => event.payload.slug)).toEqual([
      'public',
      'acme',
      'globex',
      'initech',
    ]);
    expect(provisioned().map((event) => event.tenantId)).toEqual([
      expect.any(String),
      acme.id,
      globex.id,
      initech.id,
    ]);
    expect(loggedLines.map((line) => [line.slug, line.tenantId])).toEqual(
      provisioned().map((event) => [event.payload.slug, event.tenantId]),
    );
    expect(subscriberBindings.every((bindings) => bindings.extension === 'probe')).toBe(true);
    expect(provisioned().map((event) => event.payload.tenantType)).toEqual([
      'public',
      'notes',
      'notes',
      'default',
    ]);
  });

  it('later migration reaches every notes tenant', async () => {
    const pinned = {
      name: 'notes-0002-pinned',
      up: (schema: string) =>
        `alter table ${schema}.notes add column pinned boolean not null default false;`,
    };
    const withPinned = createTenantTypes([
      {
        ...notesExtension,
        modules: [{ ...notesModule, migrations: [...notesModule.migrations, pinned] }],
      },
    ]);
    const hasPinned = async (schema: string) =>
      (
        await t.sql(
          `select 1 from information_schema.columns
           where table_schema = $1 and table_name = 'notes' and column_name = 'pinned'`,
          [schema],
        )
      ).length > 0;

    const reports = await migrateAllTenants(
      t.app.orm.em.fork(),
      createLogger('silent'),
      withPinned,
    );
    const rerun = await migrateAllTenants(t.app.orm.em.fork(), createLogger('silent'), withPinned);
    const appliedBySchema = Object.fromEntries(
      reports.map((report) => [report.schemaName, report.applied]),
    );

    expect(reports.filter((report) => report.error)).toEqual([]);
    expect(appliedBySchema).toEqual({
      public: [],
      [acme.schemaName]: ['notes-0002-pinned'],
      [globex.schemaName]: ['notes-0002-pinned'],
      [initech.schemaName]: [],
    });
    expect(await hasPinned(acme.schemaName)).toBe(true);
    expect(await hasPinned(globex.schemaName)).toBe(true);
    expect(await tableExists(initech.schemaName, 'notes')).toBe(false);
    expect(await titlesIn(acme.schemaName)).toEqual(['Acme roadmap']);
    expect(rerun.every((report) => report.applied.length === 0)).toBe(true);
  });
});
