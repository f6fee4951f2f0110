import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../src/db/embedded.js';
import { createLogger } from '../src/logger.js';
import { ADMIN_EMAIL, PASSWORD, PUBLIC_DOMAIN, rawRequest } from './support/app.js';

interface MeResult {
  status: number;
  code?: unknown;
  reason?: unknown;
  retryAfter?: unknown;
  email?: unknown;
}

describe('database restart under load', () => {
  let dataDir: string;
  let database: EmbeddedPostgresServer;
  let app: App;
  let port: number;

  beforeAll(async () => {
    // A server of its own, so that stopping it disturbs no other test.
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenant-users-restart-'));
    database = await startEmbeddedPostgres({ dataDir });
    port = Number(new URL(database.url).port);
    const config = loadConfig(
      {},
      {
        databaseUrl: database.url,
        tenantDomain: PUBLIC_DOMAIN,
        publicDomain: PUBLIC_DOMAIN,
        adminEmail: ADMIN_EMAIL,
        adminPassword: PASSWORD,
        bcryptCost: 4,
        logLevel: 'silent',
      },
    );
    app = await createApp({ config, logger: createLogger('silent'), worker: false });
    await app.listen(0, '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close().catch(() => undefined);
    await database?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function me(token: string): Promise<MeResult> {
    const response = await rawRequest(new URL(app.url), {
      headers: {
        host: PUBLIC_DOMAIN,
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query: '{ me { email } }' }),
    });
    const body = JSON.parse(response.text);

    return {
      status: response.status,
      code: body.errors?.[0]?.extensions?.code,
      reason: body.errors?.[0]?.extensions?.reason,
      retryAfter: response.headers['retry-after'],
      email: body.data?.me?.email,
    };
  }

  it('recovers without a server restart', async () => {
    const login = await rawRequest(new URL(app.url), {
      headers: { host: PUBLIC_DOMAIN, 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `mutation { login(email: "${ADMIN_EMAIL}", password: "${PASSWORD}") { token } }`,
      }),
    });
    const token = JSON.parse(login.text).data.login.token as string;
    expect((await me(token)).email).toBe(ADMIN_EMAIL);

    let running = true;
    const failures: MeResult[] = [];
    const load = Array.from({ length: 4 }, async () => {
      while (running) {
        const result = await me(token);
        if (result.email !== ADMIN_EMAIL) {
          failures.push(result);
        }
      }
    });

    await delay(300);
    await database.stop();
    await delay(500);
    database = await startEmbeddedPostgres({ dataDir, port });

    let recovered = false;
    const deadline = Date.now() + 15_000;
    while (!recovered && Date.now() < deadline) {
      recovered = (await me(token)).email === ADMIN_EMAIL;
      await delay(100);
    }
    await delay(300);
    running = false;
    await Promise.all(load);

    expect(recovered).toBe(true);
    expect(failures.length).toBeGreaterThan(0);
    // Every failure marks the request as retryable, and none reports the token as invalid.
    for (const failure of failures) {
      expect(failure.status, JSON.stringify(failure)).toBe(503);
      expect(failure.retryAfter, JSON.stringify(failure)).toBe('1');
      expect(failure.code, JSON.stringify(failure)).toBe('INTERNAL_SERVER_ERROR');
      expect(failure.reason, JSON.stringify(failure)).toBe('DATABASE_UNREACHABLE');
    }
    const after = await Promise.all(Array.from({ length: 20 }, () => me(token)));
    expect(after.every((result) => result.email === ADMIN_EMAIL)).toBe(true);
  });
});
