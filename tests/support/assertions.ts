import { expect } from 'vitest';

import { errorCode, type TestApp } from './app.js';
import { databaseSnapshot } from './fixtures.js';

export async function auditCount(t: TestApp): Promise<number> {
  const [row] = await t.sql<{ count: string }>('select count(*) from public.audit_events');

  return Number(row.count);
}

/** Runs a call that must fail with `code` and checks that the database did not change. */
export async function expectRejected(
  t: TestApp,
  query: string,
  variables: Record<string, unknown>,
  options: { token?: string; host?: string },
  code: string,
  field?: string,
): Promise<void> {
  const before = await databaseSnapshot(t);
  const auditBefore = await auditCount(t);

  const response = await t.gql(query, variables, options);

  expect(errorCode(response), JSON.stringify(response.body)).toBe(code);
  if (field !== undefined) {
    expect(response.body.errors?.[0]?.extensions?.field).toBe(field);
  }
  expect(await databaseSnapshot(t)).toEqual(before);
  expect(await auditCount(t)).toBe(auditBefore);
}
