import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADMIN_EMAIL, PUBLIC_DOMAIN, startTestApp, type TestApp } from './support/app.js';

/** Debian's chromium package; the test never downloads a browser. */
const CHROMIUM_PATH = '/usr/bin/chromium';

const SCREENSHOT_PATH = path.join(import.meta.dirname, '.artifacts', 'graphiql.png');

describe('GraphiQL in a browser', () => {
  let t: TestApp;
  let userDataDir: string;
  let browser: BrowserContext;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM_PATH}, and this test needs a real browser. ` +
          'Install it with `apt-get install -y chromium` (.ci/run does this).',
      );
    }
    t = await startTestApp();
    userDataDir = await mkdtemp(path.join(os.tmpdir(), 'tenant-users-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-proxy-server',
        // The public domain resolves to the test server, so the page sends the Host header that
        // routes to the public tenant. Every other host name fails to resolve.
        `--host-resolver-rules=MAP ${PUBLIC_DOMAIN} 127.0.0.1, EXCLUDE localhost`,
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (userDataDir) {
      await rm(userDataDir, { recursive: true, force: true });
    }
    await t?.close();
  });

  it('runs a query with an Authorization header', async () => {
    const token = await t.login(ADMIN_EMAIL);
    const page = await browser.newPage();
    const pageErrors: Error[] = [];
    const requestedHosts = new Set<string>();
    page.on('pageerror', (error) => pageErrors.push(error));
    page.on('request', (request) => requestedHosts.add(new URL(request.url()).host));
    const origin = `http://${PUBLIC_DOMAIN}:${new URL(t.app.url).port}`;

    const response = await page.goto(`${origin}/graphql`);
    expect(response?.status()).toBe(200);
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor();

    await page.getByRole('button', { name: 'Headers' }).click();
    await page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror').click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2));

    await page.locator('.graphiql-query-editor .CodeMirror').click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.insertText('{ me { email } }');
    await page.locator('.graphiql-execute-button').click();

    const result = page.locator('.graphiql-response');
    await expect
      .poll(() => result.innerText(), { timeout: 15_000 })
      .toContain(`"email": "${ADMIN_EMAIL}"`);
    expect(await result.innerText()).not.toContain('"errors"');
    await mkdir(path.dirname(SCREENSHOT_PATH), { recursive: true });
    await page.screenshot({ path: SCREENSHOT_PATH });

    expect(pageErrors).toEqual([]);
    expect([...requestedHosts]).toEqual([new URL(origin).host]);
  });
});
