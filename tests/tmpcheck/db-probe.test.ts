import pg from 'pg';
import { expect, inject, test } from 'vitest';
import { createScratchDatabase } from '../support/database.js';

test('injected database answers select 1', async () => {
  const url = inject('databaseUrl');
  console.log('databaseUrl', url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const result = await client.query('select 1 as one, current_database() as db, version() as v');
  await client.end();
  console.log(result.rows[0]);
  expect(result.rows[0].one).toBe(1);
});

test('scratch database is created and dropped', async () => {
  const scratch = await createScratchDatabase(inject('databaseUrl'));
  const client = new pg.Client({ connectionString: scratch.url });
  client.on('error', (e) => console.log('expected client error', (e as Error).message));
  await client.connect();
  const result = await client.query('select current_database() as db');
  expect(result.rows[0].db).toMatch(/^tenant_users_test_[0-9a-f]{12}$/);
  await scratch.drop(); // client still connected: FORCE ends it
  await scratch.drop();
  await client.end().catch(() => undefined);
});
