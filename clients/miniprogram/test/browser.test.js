// The demo page in a real browser: Debian's chromium driven by playwright-core,
// against `wxlogin demo` (the service and the simulator are real, with an app
// of every platform). Clicks through the page like a user: on WeChat, then on
// every other platform through the page's platform switch; then once more
// with `--tokens jwt`, where the page shows the access token's claims. Saves
// screenshots to target/screenshots/ (the repository's git-ignored target/),
// so a test run leaves the work tree alone. UPDATE_SCREENSHOT=1 also writes
// the committed demo/screenshot.png (the README's picture).
//
// The page's files are compiled into the binary. When its copies are not this
// work tree's (demo/, src/index.js edited since the last build), the test says
// so and puts a small proxy in front of the service that serves the work
// tree's files and forwards everything else: the files are tested as they are
// now, without a rebuild. (Not a Playwright route: chromium treats a page
// answered that way as public, and then refuses its calls to the loopback
// simulator, as Local Network Access wants.)
//
// Needs /usr/bin/chromium and `npm ci` (scripts/setup-browser does both). When
// chromium is missing the test is skipped loudly, or fails when CI is set.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { REPO_ROOT, startDemo } from './harness.js';

// Debian's chromium; CHROMIUM_PATH points elsewhere (another distribution, macOS).
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SCREENSHOTS = join(REPO_ROOT, 'target/screenshots');
const SCREENSHOT = join(SCREENSHOTS, 'demo.png');
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

// The page's files: path on the service → [file in this package, content type].
const JS = 'text/javascript; charset=utf-8';
const PAGE_FILES = {
  '/': ['demo/index.html', 'text/html; charset=utf-8'],
  '/demo/app.js': ['demo/app.js', JS],
  '/demo/wx-shim.js': ['demo/wx-shim.js', JS],
  '/demo/style.css': ['demo/style.css', 'text/css; charset=utf-8'],
  '/sdk/wxlogin.js': ['src/index.js', JS],
};
const fileOf = (path) => fileURLToPath(new URL(`../${PAGE_FILES[path][0]}`, import.meta.url));

// The demo's apps (as the service tells the page) and what each can do.
const APPS = [
  { platform: 'wechat', appid: 'wx4f4bc4dec97d474b', name: 'WeChat' },
  { platform: 'douyin', appid: 'tt0123456789abcdef', name: 'Douyin', phoneByCode: true },
  { platform: 'alipay', appid: '2021000000000001', name: 'Alipay', noProfile: true },
  { platform: 'qq', appid: '1100000001', name: 'QQ' },
  { platform: 'baidu', appid: '10000001', name: 'Baidu' },
  { platform: 'wecom', appid: 'wx0123456789abcdef', name: 'WeCom' },
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const tokenKey = (appid) => `mp:${appid}:wxlogin_token`;

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

/**
 * Start the demo (`tokens`: opaque | jwt), open its page in chromium and run
 * `body` with helpers; everything is stopped afterwards.
 */
async function withDemoPage(tokens, body) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    assert.fail(`playwright-core is not installed: run scripts/setup-browser (npm ci) (${e.message})`);
  }

  const demo = await startDemo({ tokens });
  const profile = mkdtempSync(join(tmpdir(), 'wxlogin-chromium-'));
  let context;
  let overlay = null;
  try {
    const stale = await staleFiles(demo);
    if (stale.length) {
      console.error(
        `note: target/debug/wxlogin embeds older copies of ${stale.join(', ')}; the browser test serves ` +
          "this work tree's through a proxy (`cargo build -p wxlogin` updates the binary)",
      );
      overlay = await startOverlay(demo.service);
    }
    // Where the page is opened: the service, or the proxy in front of it.
    const base = overlay ? overlay.url : demo.service;
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
    // Pick an app with the platform switch.
    async function switchTo(app) {
      await page.locator(`#apps label:has(input[value="${app.appid}"])`).click();
      await page.locator(`body[data-platform="${app.platform}"]`).waitFor();
      assert.equal(await page.locator(`#apps input[value="${app.appid}"]`).isChecked(), true);
    }
    // What the log panel shows, as "METHOD /path STATUS" lines.
    const exchanges = () =>
      page.$$eval('#log li', (items) => items.map((li) => `${li.dataset.method} ${li.dataset.path} ${li.dataset.status}`));
    const stored = (appid) => page.evaluate((key) => JSON.parse(localStorage.getItem(key)), tokenKey(appid));
    async function screenshot(path) {
      await page.evaluate(() => window.scrollTo(0, 0));
      mkdirSync(dirname(path), { recursive: true });
      await page.screenshot({ path, fullPage: true });
    }

    await page.goto(`${base}/`);
    await page.locator('body[data-ready="true"]').waitFor();
    await body({ demo, base, page, problems, text, click, switchTo, exchanges, stored, screenshot });
    assert.deepEqual(problems, []);
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    await overlay?.close();
    await demo.stop();
  }
}

/** The page's files of which the binary serves another copy than this work tree's. */
async function staleFiles(demo) {
  const stale = [];
  for (const path of Object.keys(PAGE_FILES)) {
    const res = await fetch(`${demo.service}${path}`, { signal: AbortSignal.timeout(10_000) });
    if ((await res.text()) !== readFileSync(fileOf(path), 'utf8')) stale.push(PAGE_FILES[path][0]);
  }
  return stale;
}

/**
 * An HTTP server on 127.0.0.1 that answers the page's files from this work
 * tree and forwards every other request to `target` (the service) as is.
 */
async function startOverlay(target) {
  const HOP = ['host', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'content-encoding'];
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://overlay').pathname;
    try {
      if (req.method === 'GET' && Object.hasOwn(PAGE_FILES, path)) {
        res.writeHead(200, { 'content-type': PAGE_FILES[path][1], 'cache-control': 'no-store' });
        res.end(readFileSync(fileOf(path)));
        return;
      }
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP.includes(k)));
      const upstream = await fetch(`${target}${req.url}`, {
        method: req.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(15_000),
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      const out = {};
      upstream.headers.forEach((value, key) => HOP.includes(key) || (out[key] = value));
      res.writeHead(upstream.status, out);
      res.end(body);
    } catch (e) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`overlay: ${e.message}`);
    }
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** GET /v1/session with a token, straight to the service. */
async function sessionOf(demo, appid, token) {
  const res = await fetch(`${demo.service}/v1/session`, {
    headers: { authorization: `Bearer ${token}`, 'x-wx-appid': appid },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

if (existsSync(CHROMIUM) || !inCi) {
  test('demo page: WeChat (log in, session, user info, phone number, log out), then every platform through the switch', { skip, timeout: 120_000 }, async () => {
    await withDemoPage('opaque', async ({ demo, page, text, click, switchTo, exchanges, stored, screenshot }) => {
      assert.equal(await text('#status'), 'Logged out');
      assert.equal(await text('#appid'), demo.appid);
      assert.equal(await text('#host'), 'WeChat');
      assert.equal(await text('#token-format'), 'opaque');
      // The switch lists the apps the service serves: platform and appid.
      assert.deepEqual(
        await page.$$eval('#apps label', (labels) => labels.map((l) => l.innerText.replace(/\s+/g, ' ').trim())),
        APPS.map((a) => `${a.name} ${a.appid}`),
      );

      // WeChat. Log in: the simulator plays wx.login, the SDK exchanges the code.
      assert.match(await click('login'), /^Logged in \(new user\)$/);
      const openid = await text('#openid');
      assert.match(openid, /^o[A-Za-z0-9_-]{27}$/);
      assert.match(await text('#user_id'), UUID);
      assert.equal(await text('#platform'), 'wechat');
      const token = await stored(demo.appid);
      assert.match(token, /^wxl_/);
      assert.match(await text('#token-summary'), new RegExp(`^Opaque token ${token.slice(0, 10)}…`));
      assert.equal(await page.locator('#claims').isHidden(), true);

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

      await screenshot(SCREENSHOT);

      assert.equal(await click('logout'), 'Logged out');
      assert.equal(await text('#openid'), '—');
      assert.equal(await text('#phonenumber'), '—');
      assert.equal(await stored(demo.appid), null);
      assert.equal((await exchanges()).at(-1), 'POST /v1/logout 204');
      assert.equal((await sessionOf(demo, demo.appid, token)).status, 401, 'the token is revoked on the service');

      // Every other platform: its own login call, its open data (the phone by
      // code on Douyin too), its own storage.
      for (const app of APPS.slice(1)) {
        await page.click('#clear-log');
        await switchTo(app);
        assert.equal(await text('#status'), `${app.name}: logged out`);
        assert.deepEqual([await text('#host'), await text('#appid'), await text('#openid')], [app.name, app.appid, '—']);

        assert.equal(await click('login'), 'Logged in (new user)', app.platform);
        assert.equal(await text('#platform'), app.platform);
        assert.match(await text('#user_id'), UUID);
        const appToken = await stored(app.appid);
        const session = await sessionOf(demo, app.appid, appToken);
        assert.equal(session.status, 200, app.platform);
        assert.deepEqual(
          [session.body.platform, session.body.appid, session.body.user_id, session.body.openid],
          [app.platform, app.appid, await text('#user_id'), await text('#openid')],
        );
        // POST /v1/login says the platform (and on Douyin sends the anonymous code too).
        const login = await page.locator('#log li[data-path="/v1/login"]').innerText();
        assert.match(login, new RegExp(`"platform": "${app.platform}"`));
        if (app.platform === 'douyin') assert.match(login, /"anonymous_code": /);

        const calls = [];
        if (app.noProfile) {
          assert.equal(await page.locator('#userinfo').isDisabled(), true, `${app.name} has no encrypted profile`);
        } else {
          assert.equal(await click('userinfo'), 'Got user info of Band', app.platform);
          assert.equal(await text('#nickname'), 'Band');
          calls.push('POST /__sim/open-data 200', 'POST /v1/decrypt 200');
        }
        assert.equal(await click('phone'), 'Got phone number', app.platform);
        assert.match(await text('#phonenumber'), /^1\d{10}$/);
        if (app.phoneByCode) calls.push('POST /__sim/phone-code 200', 'POST /v1/phone 200');
        else calls.push('POST /__sim/open-data 200', 'POST /v1/decrypt 200');
        assert.deepEqual(await exchanges(), ['POST /__sim/login 200', 'POST /v1/login 200', ...calls], app.platform);
        if (app.platform === 'douyin') await screenshot(join(SCREENSHOTS, 'demo-douyin.png'));

        assert.equal(await click('logout'), 'Logged out');
        assert.equal((await exchanges()).at(-1), 'POST /v1/logout 204');
        assert.equal(await stored(app.appid), null);
        assert.equal((await sessionOf(demo, app.appid, appToken)).status, 401);
      }

      // Only a run that passed replaces the README's picture.
      if (updateScreenshot) copyFileSync(SCREENSHOT, COMMITTED_SCREENSHOT);
    });
  });

  test('demo page with --tokens jwt: the access token\'s claims, per platform; refresh token kept out of sight', { skip, timeout: 120_000 }, async () => {
    await withDemoPage('jwt', async ({ demo, base, page, text, click, switchTo, exchanges, stored, screenshot }) => {
      assert.equal(await text('#token-format'), 'JWT + refresh token');
      assert.equal(await page.locator('#claims').isHidden(), true, 'no token yet');

      const jwks = await (await fetch(new URL(await page.locator('#jwks').getAttribute('href'), base))).json();
      const claimsOf = async () => [JSON.parse(await text('#jwt-header')), JSON.parse(await text('#jwt-payload'))];

      for (const app of [APPS[0], APPS.find((a) => a.platform === 'alipay')]) {
        await page.click('#clear-log');
        await switchTo(app);
        assert.equal(await click('login'), 'Logged in (new user)', app.platform);
        const pair = await stored(app.appid);
        assert.match(pair.refresh_token, /^wxr_/);
        await page.locator('#claims').waitFor();
        const [header, payload] = await claimsOf();
        assert.equal(header.typ, 'JWT');
        assert.ok(
          jwks.keys.some((k) => k.kid === header.kid && k.alg === header.alg),
          `kid ${header.kid} is published at /.well-known/jwks.json`,
        );
        assert.deepEqual(
          [payload.sub, payload.aud, payload.platform, payload.openid],
          [await text('#user_id'), app.appid, app.platform, await text('#openid')],
        );
        assert.ok(payload.exp > payload.iat && typeof payload.sid === 'string' && typeof payload.jti === 'string');
        assert.match(await text('#token-summary'), /^Signed access token eyJ[^ ]*…, expires .*; refresh token wxr_[^ ]*…/);

        assert.match(await click('session'), /^Session valid until /);
        assert.equal(await click('phone'), 'Got phone number');
        assert.match(await text('#phonenumber'), /^1\d{10}$/);

        const log = await text('#log');
        assert.ok(!log.includes(pair.access_token), 'the full access token is never shown');
        assert.ok(!log.includes(pair.refresh_token), 'nor the refresh token');
        assert.ok(!(await text('#token-summary')).includes(pair.refresh_token));
        if (app.platform === 'alipay') await screenshot(join(SCREENSHOTS, 'demo-jwt.png'));

        assert.equal(await click('logout'), 'Logged out');
        assert.equal((await exchanges()).at(-1), 'POST /v1/logout 204');
        assert.equal(await page.locator('#claims').isHidden(), true);
        assert.equal((await sessionOf(demo, app.appid, pair.access_token)).status, 401, 'a logout ends the JWT at once');
      }
    });
  });
}
