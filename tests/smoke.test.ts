import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestApp, type TestApp } from './support/app.js';
import { seedCaseFixture } from './support/fixtures.js';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('seeds the fixture', async () => {
    const f = await seedCaseFixture(t);
    const response = await t.gql(
      '{ currentTenant { slug members { totalCount } } }',
      {},
      {
        host: 'acme.app.test',
        token: await t.login('bob@x.test'),
      },
    );
    expect(response.body).toEqual({
      data: { currentTenant: { slug: 'acme', members: { totalCount: 2 } } },
    });
    expect(f.acme.schemaName).toMatch(/^acme_/);
  });
});
