import 'reflect-metadata';
import { request as httpRequest } from 'node:http';
import pg from 'pg';
import type { DestinationStream } from 'pino';
import { inject } from 'vitest';

import { routingCacheOf } from '../../src/context/routing-cache.js';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Extension } from '../../src/extensions.js';
import { createLogger } from '../../src/logger.js';
import { createScratchDatabase, type ScratchDatabase } from './database.js';

export const PUBLIC_DOMAIN = 'app.test';
export const ADMIN_EMAIL = 'root@app.test';
export const PASSWORD = 'Pw-123456789';

export interface GraphqlResponse<T = Record<string, unknown>> {
  status: number;
  body: {
    data?: T | null;
    errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
  };
}

export interface RequestOptions {
  /** Host header; the public domain when omitted, no header at all when null. */
  host?: string | null;
  token?: string;
  path?: string;
  headers?: Record<string, string>;
}

/**
 * A server started for one test file, on its own database, with helpers to call it over HTTP
 * and to read the database directly.
 */
export interface TestApp {
  app: App;
  config: Config;
  databaseUrl: string;
  /** Direct connection pool to the test database, for checks on the stored rows. */
  db: pg.Pool;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: RequestOptions,
  ): Promise<GraphqlResponse<T>>;
  /** Logs in and returns the bearer token; fails the test when the login fails. */
  login(email: string, password?: string, host?: string): Promise<string>;
  /** Rows of a direct SQL query. */
  sql<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<R[]>;
  close(): Promise<void>;
}

/**
 * Starts the server on a fresh database with the platform admin `root@app.test`, and with the
 * application `extensions` registered.
 */
export async function startTestApp(
  overrides: Partial<Config> = {},
  extensions: readonly Extension[] = [],
  options: { logDestination?: DestinationStream } = {},
): Promise<TestApp> {
  const database: ScratchDatabase = await createScratchDatabase(inject('databaseUrl'));
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
      ...overrides,
    },
  );
  const logger = createLogger(config.logLevel, options.logDestination);
  const app = await createApp({ config, logger, extensions });
  const url = new URL(await app.listen(0, '127.0.0.1'));
  const db = new pg.Pool({ connectionString: database.url, max: 2 });
  db.on('error', () => undefined);

  const gql: TestApp['gql'] = (query, variables = {}, options = {}) =>
    postJson(url, options, { query, variables });

  const login = async (email: string, password = PASSWORD, host = PUBLIC_DOMAIN) => {
    const response = await gql<{ login: { token: string } }>(
      'mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { token } }',
      { email, password },
      { host },
    );
    const token = response.body.data?.login.token;
    if (!token) {
      throw new Error(`login of ${email} failed: ${JSON.stringify(response.body.errors)}`);
    }

    return token;
  };

  return {
    app,
    config,
    databaseUrl: database.url,
    db,
    gql,
    login,
    sql: async (text, params = []) => {
      const rows = (await db.query(text, params)).rows;
      // A change made here reaches the server's routing cache by NOTIFY, asynchronously. Wait
      // until it is applied, so that the next request reads the change.
      await routingCacheOf(app.orm.em)?.sync();

      return rows;
    },
    close: async () => {
      await app.close();
      await db.end();
      await database.drop();
    },
  };
}

/** Sends a raw HTTP request, so that the Host header can be anything, or absent. */
export function rawRequest(
  url: URL,
  options: { method?: string; path?: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'POST',
        path: options.path ?? '/graphql',
        headers: options.headers,
        setHost: false,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text, headers: response.headers }),
        );
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

async function postJson<T>(
  url: URL,
  options: RequestOptions,
  payload: unknown,
): Promise<GraphqlResponse<T>> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...options.headers,
  };
  const host = options.host === undefined ? PUBLIC_DOMAIN : options.host;
  if (host !== null) {
    headers.host = host;
  }

  const response = await rawRequest(url, {
    path: options.path,
    headers,
    body: JSON.stringify(payload),
  });

  return { status: response.status, body: JSON.parse(response.text) };
}

/** Returns the first error code of a response, or undefined when there is none. */
export function errorCode(response: GraphqlResponse<unknown>): unknown {
  return response.body.errors?.[0]?.extensions?.code;
}
