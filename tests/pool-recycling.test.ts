import type { MikroORM } from '@mikro-orm/postgresql';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createOrm } from '../src/db/orm.js';
import { applyPoolRecycling, recycledConnectionCount } from '../src/db/pool-recycling.js';
import { createLogger } from '../src/logger.js';
import { ADMIN_EMAIL, startTestApp, type TestApp } from './support/app.js';

const silent = createLogger('silent');

async function backendPid(orm: MikroORM): Promise<number> {
  const rows = await orm.em
    .getConnection()
    .execute<{ pid: number }[]>('select pg_backend_pid() as pid');

  return rows[0].pid;
}

/** Returns the pids among `pids` that still have a backend, waiting up to 5 s for them to go. */
async function livingBackends(t: TestApp, pids: readonly number[]): Promise<number[]> {
  let alive: number[] = [];
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const rows = await t.sql<{ pid: number }>(
      'select pid from pg_stat_activity where pid = any($1::int[])',
      [pids],
    );
    alive = rows.map((row) => row.pid);
    if (alive.length === 0) {
      break;
    }
    await sleep(100);
  }

  return alive;
}

/** Pids of the backends connected to the test database, other than the querying one. */
async function databaseBackends(t: TestApp): Promise<number[]> {
  const rows = await t.sql<{ pid: number }>(
    `select pid from pg_stat_activity
     where datname = current_database() and pid <> pg_backend_pid()`,
  );

  return rows.map((row) => row.pid);
}

describe('pool recycling', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('replaces connection after max uses', async () => {
    const fresh = await createOrm({
      databaseUrl: t.databaseUrl,
      logger: silent,
      poolMaxUses: 5,
      poolMaxAgeSeconds: 0,
    });
    try {
      const pids: number[] = [];
      for (let request = 0; request < 20; request += 1) {
        pids.push(await backendPid(fresh));
      }

      // Sequential requests reuse one connection, so each backend serves five in a row.
      const distinct = [...new Set(pids)];
      expect(distinct).toHaveLength(4);
      for (const [index, pid] of distinct.entries()) {
        expect(pids.slice(index * 5, index * 5 + 5)).toEqual([pid, pid, pid, pid, pid]);
      }
      expect(recycledConnectionCount(fresh)).toBe(3);

      const replaced = distinct.slice(0, -1);
      expect(await livingBackends(t, replaced)).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it('keeps connection when limits are off', async () => {
    const orm = await createOrm({
      databaseUrl: t.databaseUrl,
      logger: silent,
      poolMaxUses: 0,
      poolMaxAgeSeconds: 0,
    });
    try {
      const pids: number[] = [];
      for (let request = 0; request < 20; request += 1) {
        pids.push(await backendPid(orm));
      }

      expect(new Set(pids).size).toBe(1);
      expect(recycledConnectionCount(orm)).toBe(0);
    } finally {
      await orm.close();
    }
  });

  it('replaces connection after max age', async () => {
    const orm = await createOrm({
      databaseUrl: t.databaseUrl,
      logger: silent,
      poolMaxUses: 0,
      poolMaxAgeSeconds: 1,
    });
    try {
      const first = await backendPid(orm);
      const again = await backendPid(orm);
      await sleep(1_100);
      const later = await backendPid(orm);

      expect(again).toBe(first);
      expect(later).not.toBe(first);
      expect(await livingBackends(t, [first])).toEqual([]);
    } finally {
      await orm.close();
    }
  });

  it('serves HTTP requests while recycling', async () => {
    const token = await t.login(ADMIN_EMAIL);
    const before = await databaseBackends(t);
    applyPoolRecycling(t.app.orm, { maxUses: 2, maxAgeSeconds: 0 });
    const recycledBefore = recycledConnectionCount(t.app.orm);

    const seen = new Set<number>();
    for (let request = 0; request < 20; request += 1) {
      const response = await t.gql('{ me { email } }', {}, { token });

      expect(response.body.errors).toBeUndefined();
      expect(response.body.data).toEqual({ me: { email: ADMIN_EMAIL } });
      for (const pid of await databaseBackends(t)) {
        seen.add(pid);
      }
    }

    const opened = [...seen].filter((pid) => !before.includes(pid));
    expect(opened.length).toBeGreaterThanOrEqual(5);
    expect(recycledConnectionCount(t.app.orm) - recycledBefore).toBeGreaterThanOrEqual(5);
    // Up to three backends may remain: the pool's last connection, the routing cache's LISTEN
    // connection and a second connection of the test's own pool. The others are gone.
    const current = await databaseBackends(t);
    expect(opened.filter((pid) => current.includes(pid)).length).toBeLessThanOrEqual(3);
  });
});
