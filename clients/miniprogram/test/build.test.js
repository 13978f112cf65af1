// The CommonJS builds (dist/index.cjs, miniprogram_dist/index.js) are build
// outputs, not committed: this file builds them into a temporary directory
// (test/built.js), then checks that they parse as ES2017 (what the mini program
// toolchain's parser takes), that require() of each gives the same exports as
// src/index.js, and that each BEHAVES like src/index.js: one scenario (single
// flight, re-login on 401, errors, decrypt, phone, logout) runs through the
// source and through every build against an in-memory `wx`
// (test/scripted-wx.js), and every request and result must be the same. The
// mini program build also runs the way a mini program loads it: a script in
// its own realm with `module`/`exports` and a global `wx`. Needs no binary.
// Also: the types name every export, and `npm pack` builds and ships both files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import vm from 'node:vm';
import { parse } from 'acorn';

import { build, OUTPUTS, toCommonJs } from '../scripts/build.mjs';
import * as esm from '../src/index.js';
import { builtFiles, requireBuilt } from './built.js';
import { createFakeRuntime, scriptedTransport } from './fake-runtimes.js';
import { createScriptedService, SERVICE_URL } from './scripted-service.js';
import { BASE_URL, createScriptedWx } from './scripted-wx.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const read = (file) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
const readBuilt = (file) => readFileSync(builtFiles().files[file], 'utf8');
const pkg = JSON.parse(read('package.json'));

// Plain JSON of a result or an error, in this realm (the mini program run
// makes its objects in another one).
function plain(value) {
  if (value && typeof value === 'object' && typeof value.name === 'string' && typeof value.message === 'string') {
    return {
      thrown: value.name,
      code: value.code,
      status: value.status,
      wechatErrcode: value.wechatErrcode,
      message: value.message,
      data: value.data === undefined ? 'none' : JSON.parse(JSON.stringify(value.data)),
    };
  }
  return value === undefined ? { undefined: true } : JSON.parse(JSON.stringify(value));
}

async function outcome(promise) {
  try {
    return { ok: plain(await promise) };
  } catch (e) {
    return { err: plain(e) };
  }
}

/**
 * One scenario through `sdk` (an object with the package's exports).
 * `clientFor(wx)` makes the client; by default `sdk.createClient` with `wx` passed.
 * Returns everything observable: results, errors, wx.login counts, requests.
 */
async function scenario(sdk, clientFor = (wx, extra) => sdk.createClient({ baseUrl: `${BASE_URL}/`, appid: 'wxapp', wx, ...extra })) {
  const trace = {};
  const wx = createScriptedWx();
  const client = clientFor(wx);

  // Three concurrent calls without a token: one wx.login, one POST /v1/login.
  trace.concurrent = await Promise.all([client.session(), client.session(), client.request({ url: 'v1/session' })].map(outcome));
  trace.loginsAfterConcurrent = wx.logins();
  trace.token = client.token();

  // The service forgets every token: the next calls log in again once, and retry once.
  wx.revokeAll();
  trace.afterRevoke = await Promise.all([client.session(), client.session()].map(outcome));
  trace.loginsAfterRevoke = wx.logins();

  trace.decrypt = await outcome(client.decrypt({ encryptedData: 'ENC', iv: 'IV', rawData: '{}', signature: 'sig' }));
  const stale = await outcome(client.decrypt({ encryptedData: 'ENC', iv: 'stale' }));
  trace.stale = stale;
  let staleError;
  await client.decrypt({ encryptedData: 'ENC', iv: 'stale' }).catch((e) => (staleError = e));
  trace.staleClasses = [staleError instanceof sdk.SessionKeyStaleError, staleError instanceof sdk.WxLoginError];
  trace.badDecrypt = await outcome(client.decrypt({}));
  // No iv (Baidu-like data with an empty one, Alipay's my.getPhoneNumber answer as is): no `iv` sent.
  trace.noIv = await Promise.all(
    [client.decrypt({ encryptedData: 'ENC', iv: '' }), client.decrypt({ response: '{"response":"R","sign":"S"}' })].map(outcome),
  );
  trace.phone = await outcome(client.phone('phone-code'));
  trace.teapot = await outcome(client.request({ url: '/v1/teapot' }));
  trace.offline = await outcome(client.request({ url: 'https://elsewhere.test/v1/session' }));
  trace.logout = await outcome(client.logout());
  trace.tokenAfterLogout = client.token();
  trace.logoutAgain = await outcome(client.logout());
  trace.requests = wx.log;

  // A login the service refuses: one wx.login, one POST, no retry.
  const bogusWx = createScriptedWx({ loginCode: 'bogus' });
  const bogus = clientFor(bogusWx);
  trace.bogus = await outcome(bogus.session());
  trace.bogusCalls = [bogusWx.logins(), bogusWx.log.length];

  // wx.login itself failing.
  const failingWx = createScriptedWx({ loginCode: 'fail' });
  trace.wxLoginFails = await outcome(clientFor(failingWx).login());

  // Bad options.
  trace.noBaseUrl = await outcome((async () => sdk.createClient({}))());
  trace.custom = await (async () => {
    const customWx = createScriptedWx();
    const custom = clientFor(customWx, { storageKey: 'other_key', appid: undefined });
    await custom.login();
    return { stored: customWx.getStorageSync('other_key'), requests: customWx.log };
  })();
  trace.tokenKey = sdk.TOKEN_KEY;
  trace.pair = await pairScenario(sdk);
  return trace;
}

/**
 * The token pair (`tokens.format = "jwt"`) on Douyin and on Alipay (its own
 * request and storage shapes), against test/scripted-service.js on a manual
 * clock: refresh before expiry, one refresh for concurrent 401s, a reused
 * refresh token ending in a login, logout.
 */
async function pairScenario(sdk) {
  let t = Date.parse('2026-03-01T08:00:00Z');
  const now = () => t;
  const trace = {};
  for (const kind of ['douyin', 'alipay']) {
    const service = createScriptedService({ format: 'jwt', now });
    const fake = createFakeRuntime(kind, { transport: scriptedTransport(service) });
    const client = sdk.createClient({ baseUrl: SERVICE_URL, appid: 'wxapp', platform: kind, api: fake.api, now });
    const steps = {};
    steps.concurrent = await Promise.all([client.session(), client.session()].map(outcome));
    t += 590_000;
    steps.beforeExpiry = await outcome(client.session());
    service.expireAccessTokens();
    steps.after401 = await Promise.all([client.session(), client.session()].map(outcome));
    service.useRefreshToken(client.tokens().refresh_token);
    service.expireAccessTokens();
    steps.afterReuse = await outcome(client.session());
    steps.tokens = plain(client.tokens());
    steps.logout = await outcome(client.logout());
    steps.requests = service.log.map((r) => [r.method, r.path, r.status]);
    steps.calls = fake.calls.map((c) => c.fn);
    trace[kind] = steps;
  }
  return trace;
}

/**
 * miniprogram_dist/index.js loaded as a mini program does: a script in its own
 * realm, wrapped in a function of (require, module, exports), with `wx` a
 * global binding that is not a property of globalThis (as in a mini program).
 * Returns its exports and `useWx(wx)`, which sets that binding.
 */
function loadAsMiniProgram(source) {
  const context = vm.createContext({ setTimeout, clearTimeout, console });
  vm.runInContext('let wx; function setWx(value) { wx = value; }', context);
  const define = vm.runInContext(`(function (require, module, exports) {\n${source}\n})`, context, {
    filename: 'miniprogram_npm/wxlogin-miniprogram/index.js',
  });
  const module = { exports: {} };
  const noRequire = () => {
    throw new Error('the build must not require anything');
  };
  define(noRequire, module, module.exports);
  assert.equal(vm.runInContext('"wx" in globalThis', context), false);
  return { sdk: module.exports, useWx: (wx) => context.setWx(wx) };
}

test('the builds are plain ES2017 scripts; the source an ES2017 module', () => {
  for (const file of OUTPUTS) {
    assert.equal(readBuilt(file), build(), file);
    assert.doesNotThrow(() => parse(readBuilt(file), { ecmaVersion: 2017, sourceType: 'script' }), file);
  }
  assert.doesNotThrow(() => parse(read('src/index.js'), { ecmaVersion: 2017, sourceType: 'module' }));
});

test('require() of each build gives the exports of src/index.js', () => {
  for (const file of OUTPUTS) {
    const cjs = requireBuilt(file);
    assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort(), file);
    assert.equal(cjs.TOKEN_KEY, 'wxlogin_token', file);
    assert.equal(cjs.TOKEN_KEY, esm.TOKEN_KEY, file);
    for (const name of Object.keys(esm)) assert.equal(typeof cjs[name], typeof esm[name], `${file}: ${name}`);
    assert.ok(new cjs.SessionKeyStaleError({ code: 'session_key_stale', message: 'm' }) instanceof cjs.WxLoginError);
  }
});

test('each build behaves like src/index.js (same requests, results and errors)', async () => {
  const expected = await scenario(esm);

  // The scenario does what it says, so that "the same" means something.
  assert.equal(expected.loginsAfterConcurrent, 1);
  assert.deepEqual(
    expected.concurrent.map((r) => (r.ok.data || r.ok).token),
    ['wxl_scripted_1', 'wxl_scripted_1', 'wxl_scripted_1'],
  );
  assert.equal(expected.concurrent[2].ok.statusCode, 200, 'request() answers the response');
  assert.equal(expected.token, 'wxl_scripted_1');
  assert.equal(expected.loginsAfterRevoke, 2);
  assert.ok(expected.afterRevoke.every((r) => r.ok && r.ok.token === 'wxl_scripted_2'));
  assert.deepEqual(expected.decrypt, { ok: { nickName: 'Band', echo: { encrypted_data: 'ENC', iv: 'IV', raw_data: '{}', signature: 'sig' } } });
  assert.equal(expected.stale.err.thrown, 'SessionKeyStaleError');
  assert.deepEqual(expected.staleClasses, [true, true]);
  assert.deepEqual([expected.badDecrypt.err.thrown, expected.badDecrypt.err.code], ['TypeError', undefined]);
  assert.deepEqual(
    expected.noIv.map((r) => r.ok && r.ok.echo),
    [{ encrypted_data: 'ENC' }, { encrypted_data: '{"response":"R","sign":"S"}' }],
  );
  assert.deepEqual([expected.noBaseUrl.err.thrown, expected.noBaseUrl.err.message], ['TypeError', 'createClient: `baseUrl` is required']);
  assert.equal(expected.phone.ok.pure_phone_number, '13800138000');
  assert.deepEqual([expected.teapot.err.code, expected.teapot.err.data], ['http_418', 'I am a teapot']);
  assert.deepEqual([expected.offline.err.code, expected.offline.err.status], ['network_error', 0]);
  assert.equal(expected.tokenAfterLogout, null);
  assert.deepEqual(expected.bogus.err && [expected.bogus.err.code, expected.bogus.err.wechatErrcode], ['invalid_code', 40029]);
  assert.deepEqual(expected.bogusCalls, [1, 1]);
  assert.equal(expected.wxLoginFails.err.code, 'wx_login_failed');
  assert.equal(expected.custom.stored, 'wxl_scripted_1');
  assert.ok(!('X-Wx-Appid' in expected.custom.requests[0].header));
  assert.ok(expected.requests.some((r) => r.method === 'POST' && r.url === `${BASE_URL}/v1/logout` && r.status === 204));
  for (const kind of ['douyin', 'alipay']) {
    const pair = expected.pair[kind];
    assert.ok([...pair.concurrent, pair.beforeExpiry, ...pair.after401, pair.afterReuse].every((r) => r.ok && r.ok.platform === kind), kind);
    assert.deepEqual(
      pair.requests.filter(([, path]) => path !== '/v1/session'),
      [
        ['POST', '/v1/login', 200],
        ['POST', '/v1/session/refresh', 200], // before expiry
        ['POST', '/v1/session/refresh', 200], // one for two 401s
        ['POST', '/v1/session/refresh', 401], // a reused refresh token
        ['POST', '/v1/login', 200],
        ['POST', '/v1/logout', 204],
      ],
      kind,
    );
    assert.equal(pair.tokens.format, 'jwt');
  }

  for (const file of OUTPUTS) {
    assert.deepEqual(await scenario(requireBuilt(file)), expected, `${file} (require) differs from src/index.js`);
  }

  // As a mini program runs it: `wx` is a global, createClient finds it by itself.
  const { sdk, useWx } = loadAsMiniProgram(readBuilt('miniprogram_dist/index.js'));
  const asMiniProgram = await scenario(sdk, (wx, extra) => {
    useWx(wx);
    return sdk.createClient({ baseUrl: `${BASE_URL}/`, appid: 'wxapp', ...extra });
  });
  assert.deepEqual(asMiniProgram, expected, 'miniprogram_dist/index.js in a mini program realm differs from src/index.js');
  useWx(undefined);
  assert.throws(() => sdk.createClient({ baseUrl: BASE_URL }), (e) => e.name === 'TypeError' && /no `wx` API/.test(e.message));
});

test('index.d.ts declares every export', () => {
  const declared = [...read('index.d.ts').matchAll(/^export declare (?:const|class|function) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(declared.sort(), Object.keys(esm).sort());
});

test('package.json points at the build outputs and builds them before packing and installing', () => {
  assert.deepEqual(OUTPUTS, ['dist/index.cjs', 'miniprogram_dist/index.js']);
  assert.equal(pkg.main, 'dist/index.cjs');
  assert.equal(pkg.exports['.'].require, './dist/index.cjs');
  assert.equal(pkg.exports['.'].import, './src/index.js');
  assert.equal(pkg.miniprogram, 'miniprogram_dist');
  for (const dir of ['src/', 'dist/', 'miniprogram_dist/']) assert.ok(pkg.files.includes(dir), dir);
  // prepack: npm pack / publish; prepare: also `npm install <this folder>` and git installs.
  assert.match(pkg.scripts.prepack, /^node scripts\/build\.mjs$/);
  assert.match(pkg.scripts.prepare, /^node scripts\/build\.mjs$/);
});

test('npm pack builds and ships both outputs (in a copy of the package)', { timeout: 60_000 }, async (t) => {
  // A copy without dist/ or miniprogram_dist/, so only prepack can make them.
  const copy = mkdtempSync(join(tmpdir(), 'wxlogin-miniprogram-pack-'));
  try {
    for (const entry of ['package.json', '.gitignore', 'README.md', 'index.d.ts', 'src', 'scripts']) {
      cpSync(join(PACKAGE, entry), join(copy, entry), { recursive: true });
    }
    let stdout;
    try {
      ({ stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], {
        cwd: copy,
        timeout: 50_000,
        env: { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false' },
      }));
    } catch (e) {
      if (e.code === 'ENOENT') return t.skip('npm is not on PATH');
      throw e;
    }
    const [report] = JSON.parse(stdout);
    const files = report.files.map((f) => f.path).sort();
    for (const file of [...OUTPUTS, 'src/index.js', 'index.d.ts', 'package.json', 'README.md']) {
      assert.ok(files.includes(file), `${file} missing from the tarball: ${files.join(', ')}`);
    }
    assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('scripts/')), files.join(', '));
    for (const file of OUTPUTS) assert.equal(readFileSync(join(copy, file), 'utf8'), build(), `${file} as packed`);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test('the build refuses what it cannot convert', () => {
  assert.throws(() => toCommonJs("import x from 'y';\nexport const a = 1;\n"), /cannot convert/);
  assert.throws(() => toCommonJs('export default function () {}\n'), /cannot convert/);
  assert.throws(() => toCommonJs('const a = 1;\n'), /no exports/);
  assert.equal(
    toCommonJs('export const a = 1;\nexport function b() {}\n').split('\n').slice(-3).join('\n'),
    '\nmodule.exports = { a, b };\n',
  );
});
