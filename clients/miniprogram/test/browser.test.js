// The demo page in a real browser: Debian's chromium driven by playwright-core,
// against `wxlogin demo` (the page, the service and the simulator are all real).
// Clicks through the page like a user and saves a screenshot of it to
// target/screenshots/demo.png (the repository's git-ignored target/), so a test
// run leaves the work tree alone. UPDATE_SCREENSHOT=1 also writes the committed
// demo/screenshot.png (the README's picture).
//
// Needs /usr/bin/chromium and `npm ci` (scripts/setup-browser does both). When
// chromium is missing the test is skipped loudly, or fails when CI is set.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { REPO_ROOT, startDemo } from './harness.js';

// Debian's chromium; CHROMIUM_PATH points elsewhere (another distribution, macOS).
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SCREENSHOT = join(REPO_ROOT, 'target/screenshots/demo.png');
const COMMITTED_SCREENSHOT = fileURLToPath(new URL('../demo/screenshot.png', import.meta.url));
const updateScreenshot = ['1', 'true', 'yes'].includes(String(process.env.UPDATE_SCREENSHOT || '').toLowerCase());
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const inCi = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

let skip = false;
if (!existsSync(CHROMIUM)) {
  const message = `${CHROMIUM} is missing: run scripts/setup-browser (installs Debian's chromium) or set CHROMIUM_PATH`;
  if (inCi) {
    test('browser: chromium is installed', () => assert.fail(`${message} (CI is set: not skipping)`));
  } else {
    const bar = '!'.repeat(78);
    console.error(`\n${bar}\n!! SKIPPING THE BROWSER TEST: ${message}\n${bar}\n`);
    skip = `SKIPPED LOUDLY: ${message}`;
  }
}

if (existsSync(CHROMIUM) || !inCi) {
  test('demo page: log in, session, user info, phone number, log out', { skip, timeout: 120_000 }, async () => {
    let chromium;
    try {
      ({ chromium } = await import('playwright-core'));
    } catch (e) {
      assert.fail(`playwright-core is not installed: run scripts/setup-browser (npm ci) (${e.message})`);
    }

    const demo = await startDemo();
    const profile = mkdtempSync(join(tmpdir(), 'wxlogin-chromium-'));
    let context;
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ARGS,
        viewport: { width: 1280, height: 900 },
        timeout: 60_000,
      });
      const page = context.pages()[0] || (await context.newPage());
      page.setDefaultTimeout(20_000);
      const problems = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
      page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()} ${r.url()}`));

      const text = (selector) => page.locator(selector).innerText();
      // Click a button and wait until #status says how that action went.
      async function click(id) {
        await page.click(`#${id}`);
        const status = page.locator(`#status[data-action="${id}"]:not([data-state="busy"])`);
        await status.waitFor();
        const state = await status.getAttribute('data-state');
        assert.equal(state, 'ok', `#${id}: ${await status.innerText()}\n${problems.join('\n')}`);
        return status.innerText();
      }
      // What the log panel shows, as "METHOD /path STATUS" lines.
      const exchanges = () =>
        page.$$eval('#log li', (items) => items.map((li) => `${li.dataset.method} ${li.dataset.path} ${li.dataset.status}`));

      await page.goto(`${demo.service}/`);
      await page.locator('body[data-ready="true"]').waitFor();
      assert.equal(await text('#status'), 'Logged out');
      assert.equal(await text('#appid'), demo.appid);

      // Log in: the simulator plays wx.login, the SDK exchanges the code.
      assert.match(await click('login'), /^Logged in \(new user\)$/);
      const openid = await text('#openid');
      assert.match(openid, /^o[A-Za-z0-9_-]{27}$/);
      const token = await page.evaluate(() => JSON.parse(localStorage.getItem('wxlogin_token')));
      assert.match(token, /^wxl_/);

      assert.match(await click('session'), /^Session valid until /);
      assert.equal(await text('#openid'), openid);

      assert.equal(await click('userinfo'), 'Got user info of Band');
      assert.equal(await text('#nickname'), 'Band');
      assert.equal(await text('#openid'), openid);
      assert.match(await text('#city'), /Guangzhou/);

      assert.equal(await click('phone'), 'Got phone number');
      assert.match(await text('#phonenumber'), /^13\d{9}$/);

      // The log lists every exchange, with the token cut short.
      assert.deepEqual(await exchanges(), [
        'POST /__sim/login 200',
        'POST /v1/login 200',
        'GET /v1/session 200',
        'POST /__sim/open-data 200',
        'POST /v1/decrypt 200',
        'POST /__sim/phone-code 200',
        'POST /v1/phone 200',
      ]);
      const log = await text('#log');
      assert.ok(!log.includes(token), 'the full token is never shown');
      assert.ok(log.includes(`${token.slice(0, 10)}…`), 'the token is shown truncated');
      assert.match(log, /X-Wx-Appid/);
      assert.match(log, /"nickName": "Band"/);

      // The whole page, from the top (the log scrolled it down).
      await page.evaluate(() => window.scrollTo(0, 0));
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      assert.equal(await click('logout'), 'Logged out');
      assert.equal(await text('#openid'), '—');
      assert.equal(await text('#phonenumber'), '—');
      assert.equal(await page.evaluate(() => localStorage.getItem('wxlogin_token')), null);
      assert.equal((await exchanges()).at(-1), 'POST /v1/logout 204');
      const res = await fetch(`${demo.service}/v1/session`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, 'the token is revoked on the service');

      assert.deepEqual(problems, []);
      // Only a run that passed replaces the README's picture.
      if (updateScreenshot) copyFileSync(SCREENSHOT, COMMITTED_SCREENSHOT);
    } finally {
      await context?.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
      await demo.stop();
    }
  });
}
