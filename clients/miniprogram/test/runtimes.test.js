// Every platform behind one API: the client finds its runtime from the
// globals (or is told `platform` + `api`), calls that platform's login, sends
// its requests through that platform's request function and keeps its
// credentials in that platform's storage. Each runtime is a fake of its global
// (test/fake-runtimes.js) over the in-memory service (test/scripted-service.js),
// which can play what the real one cannot be asked for (Alipay's non-2xx in
// either shape, uni-app's platforms). client.test.js runs each platform's
// login, request, storage and open data against the real service. Needs no
// binary.

import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { createClient, TOKEN_KEY, WxLoginError } from '../src/index.js';
import { createFakeRuntime, scriptedTransport } from './fake-runtimes.js';
import { createScriptedService, SERVICE_URL } from './scripted-service.js';

const APPID = 'wxapp';
const GLOBALS = ['wx', 'tt', 'my', 'qq', 'swan', 'uni'];

afterEach(() => {
  for (const name of GLOBALS) delete globalThis[name];
});

/** A fake of `kind` over a fresh in-memory service. */
function setup(kind, { format = 'opaque', ...fakeOptions } = {}) {
  const service = createScriptedService({ format });
  const fake = createFakeRuntime(kind, { transport: scriptedTransport(service), ...fakeOptions });
  return { service, fake };
}

async function rejectsWith(promise, code) {
  let error;
  await assert.rejects(promise, (e) => ((error = e), true));
  assert.ok(error instanceof WxLoginError, `expected a WxLoginError, got ${error?.stack}`);
  assert.equal(error.code, code, error.message);
  return error;
}

// kind, its login call, what POST /v1/login must carry besides appid and code.
const RUNTIMES = [
  { kind: 'wechat', login: 'wx.login', body: {} },
  { kind: 'wecom', login: 'wx.qy.login', body: { platform: 'wecom' }, tell: true },
  { kind: 'douyin', login: 'tt.login', body: { platform: 'douyin', anonymous_code: 'anon_douyin_code_1' } },
  { kind: 'alipay', login: 'my.getAuthCode', body: { platform: 'alipay' } },
  { kind: 'qq', login: 'qq.login', body: { platform: 'qq' } },
  { kind: 'baidu', login: 'swan.getLoginCode', body: { platform: 'baidu' } },
];

describe('each runtime, found from its global', () => {
  for (const { kind, login, body, tell } of RUNTIMES) {
    for (const format of ['opaque', 'jwt']) {
      test(`${kind} (${format} tokens): ${login}, its request and its storage, end to end`, async () => {
        const { service, fake } = setup(kind, { format });
        globalThis[fake.name] = fake.api;
        const client = createClient({ baseUrl: SERVICE_URL, appid: APPID, ...(tell ? { platform: kind } : {}) });
        assert.equal(client.platform, kind);

        // Three concurrent calls: one login call, one POST /v1/login.
        const sessions = await Promise.all([client.session(), client.session(), client.session()]);
        assert.ok(sessions.every((s) => s.platform === kind));
        assert.deepEqual(fake.calls.filter((c) => c.fn !== `${fake.name}.request`).map((c) => c.fn), [login]);
        const logins = service.calls('POST', '/v1/login');
        assert.deepEqual(
          logins.map((r) => r.data),
          [{ appid: APPID, code: `${kind}_code_1`, ...body }],
        );
        if (kind === 'alipay') assert.deepEqual(fake.called('my.getAuthCode')[0].args, { scopes: 'auth_base' });

        // The request went through the platform's function, headers as it names them.
        const sent = service.calls('GET', '/v1/session');
        assert.equal(sent.length, 3);
        const stored = fake.storage.get(TOKEN_KEY);
        const token = format === 'jwt' ? stored.access_token : stored;
        assert.equal(sent[0].header.Authorization, `Bearer ${token}`);
        assert.equal(sent[0].header['X-Wx-Appid'], APPID);
        assert.ok(fake.called(`${fake.name}.request`).every((c) => c.args.hasHeader === (kind !== 'alipay')));
        if (format === 'jwt') assert.match(stored.refresh_token, /^wxr_/);
        else assert.match(stored, /^wxl_/);
        assert.equal(client.token(), token);

        // Your API: GET data in the query, response headers back, status read.
        const res = await client.request({ url: '/api/orders', data: { page: 2 } });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.data.query, { page: '2' });
        assert.equal(res.header['x-echo'], '1');
        const posted = await client.request({ url: '/api/orders', method: 'POST', data: { item: 'tea' } });
        assert.deepEqual(posted.data.body, { item: 'tea' });

        // Revoked: a 401 read through this platform's response shape → one new login, one retry.
        service.revokeAll();
        assert.equal((await client.session()).openid, `o_${kind}`);
        assert.equal(fake.logins(), 2);
        assert.notEqual(client.token(), token);

        // Service errors keep their code on every platform.
        await rejectsWith(client.request({ url: '/v1/nothing' }), 'not_found');

        // Logout: the right path, storage cleared through the platform's API.
        await client.logout();
        assert.deepEqual(service.calls('POST', '/v1/logout').map((r) => r.status), [204]);
        assert.equal(fake.storage.has(TOKEN_KEY), false);
        assert.equal(client.token(), null);
      });
    }
  }

  test('a failing login call is wx_login_failed, named after the call; a refused code is not retried', async () => {
    for (const { kind, login } of RUNTIMES) {
      const { fake } = setup(kind, { loginCode: 'fail' });
      const client = createClient({ baseUrl: SERVICE_URL, platform: kind, api: fake.api });
      const error = await rejectsWith(client.login(), 'wx_login_failed');
      assert.match(error.message, new RegExp(`^${login.replace(/\./g, '\\.')} failed`));
    }
    const { service, fake } = setup('alipay', { loginCode: 'bogus' });
    const client = createClient({ baseUrl: SERVICE_URL, platform: 'alipay', api: fake.api });
    const error = await rejectsWith(client.session(), 'invalid_code');
    assert.equal(error.wechatErrcode, 40029);
    assert.equal(fake.logins(), 1);
    assert.equal(service.log.length, 1);
  });
});

describe('told, not found', () => {
  test('`platform` + `api` work without any global', async () => {
    const { service, fake } = setup('douyin');
    const client = createClient({ baseUrl: SERVICE_URL, platform: 'douyin', api: fake.api });
    assert.equal((await client.login()).platform, 'douyin');
    assert.deepEqual(service.calls('POST', '/v1/login')[0].data, {
      code: 'douyin_code_1',
      anonymous_code: 'anon_douyin_code_1',
      platform: 'douyin',
    });
  });

  test('`platform` alone picks that platform\'s global (wecom: wx.qy.login, never wx.login)', async () => {
    const { fake } = setup('wecom');
    globalThis.wx = fake.api;
    const client = createClient({ baseUrl: SERVICE_URL, platform: 'wecom' });
    await client.login();
    assert.equal(fake.called('wx.qy.login').length, 1);
    assert.equal(fake.called('wx.login').length, 0);
  });

  test('WeCom is never guessed: `wx` with `wx.qy` is WeChat unless told', async () => {
    const { service, fake } = setup('wecom');
    globalThis.wx = fake.api;
    const client = createClient({ baseUrl: SERVICE_URL });
    assert.equal(client.platform, 'wechat');
    await client.login();
    assert.equal(fake.called('wx.login').length, 1);
    assert.equal('platform' in service.calls('POST', '/v1/login')[0].data, false, 'wechat sends no platform');
  });

  test('the `wx` option of earlier versions means WeChat', () => {
    const { fake } = setup('wechat');
    assert.equal(createClient({ baseUrl: SERVICE_URL, wx: fake.api }).platform, 'wechat');
  });

  test('Douyin without a logged-in user: only anonymous_code is sent', async () => {
    const { service, fake } = setup('douyin', { loggedIn: false });
    const client = createClient({ baseUrl: SERVICE_URL, platform: 'douyin', api: fake.api });
    const answer = await client.login();
    assert.equal(answer.openid, 'o_douyin_anonymous');
    assert.deepEqual(service.calls('POST', '/v1/login')[0].data, { anonymous_code: 'anon_douyin_code_1', platform: 'douyin' });
  });

  test('Baidu: swan.login when there is no swan.getLoginCode', async () => {
    const { fake } = setup('baidu');
    delete fake.api.getLoginCode;
    const client = createClient({ baseUrl: SERVICE_URL, platform: 'baidu', api: fake.api });
    await client.login();
    assert.deepEqual(fake.calls.map((c) => c.fn).slice(0, 1), ['swan.login']);
  });

  test('QQ is found before WeChat when both globals exist', () => {
    globalThis.wx = setup('wechat').fake.api;
    globalThis.qq = setup('qq').fake.api;
    assert.equal(createClient({ baseUrl: SERVICE_URL }).platform, 'qq');
  });

  test('bad options are TypeErrors', () => {
    const { fake } = setup('douyin');
    assert.throws(() => createClient({ baseUrl: SERVICE_URL, api: fake.api }), /Pass `platform` with it/);
    assert.throws(() => createClient({ baseUrl: SERVICE_URL, platform: 'kuaishou', api: fake.api }), /unknown `platform` "kuaishou"/);
    assert.throws(() => createClient({ baseUrl: SERVICE_URL, platform: 'douyin' }), /no `wx` API/);
    const noLogin = { request() {}, getStorageSync() {}, setStorageSync() {} };
    assert.throws(() => createClient({ baseUrl: SERVICE_URL, platform: 'alipay', api: noLogin }), /no `my.getAuthCode`/);
    assert.throws(() => createClient({ baseUrl: SERVICE_URL, platform: 'wecom', api: noLogin }), /no `wx.qy.login`/);
  });
});

describe('Alipay responses', () => {
  for (const httpErrors of ['fail', 'success']) {
    test(`a 401 arriving through ${httpErrors === 'fail' ? '`fail` (error 19, with status)' : '`success`'} is a 401`, async () => {
      const { service, fake } = setup('alipay', { httpErrors });
      const client = createClient({ baseUrl: SERVICE_URL, appid: APPID, platform: 'alipay', api: fake.api });
      await client.login();
      service.revokeAll();
      await client.session();
      assert.deepEqual(service.calls('GET', '/v1/session').map((r) => r.status), [401, 200]);
      assert.ok(fake.called('my.request').every((c) => c.args.dataType === 'text'), 'asks for text, parses it');
      const error = await rejectsWith(client.request({ url: '/v1/nothing' }), 'not_found');
      assert.equal(error.status, 404);
    });
  }

  test('an error 19 without the response is a network_error (no status to act on)', async () => {
    const { fake } = setup('alipay', { httpErrors: 'fail-bare' });
    const client = createClient({ baseUrl: SERVICE_URL, platform: 'alipay', api: fake.api });
    await client.login();
    const error = await rejectsWith(client.request({ url: '/v1/nothing' }), 'network_error');
    assert.match(error.message, /http status error/);
  });

  test('a caller\'s own dataType is passed through untouched', async () => {
    const { fake } = setup('alipay');
    const client = createClient({ baseUrl: SERVICE_URL, platform: 'alipay', api: fake.api });
    const res = await client.request({ url: '/api/x', dataType: 'json' });
    assert.equal(res.data.openid, 'o_alipay');
    assert.equal(fake.called('my.request').at(-1).args.dataType, 'json');
  });
});

describe('uni-app', () => {
  const cases = [
    { how: 'uniPlatform mp-toutiao', fake: { uniPlatform: 'mp-toutiao' }, options: {}, platform: 'douyin' },
    { how: 'uniPlatform mp-alipay', fake: { uniPlatform: 'mp-alipay' }, options: {}, platform: 'alipay' },
    { how: 'provider "qq"', fake: { uniPlatform: 'web' }, options: { provider: 'qq' }, platform: 'qq' },
    { how: 'platform "baidu"', fake: { uniPlatform: 'web' }, options: { platform: 'baidu' }, platform: 'baidu' },
  ];
  for (const c of cases) {
    test(`uni.login, uni.request, uni storage; platform from ${c.how}`, async () => {
      const { service, fake } = setup('uni', c.fake);
      globalThis.uni = fake.api;
      globalThis.wx = setup('wechat').fake.api; // uni-app runs over a native global; uni wins
      const client = createClient({ baseUrl: SERVICE_URL, ...c.options });
      assert.equal(client.platform, c.platform);
      await client.session();
      const call = fake.called('uni.login');
      assert.equal(call.length, 1);
      assert.deepEqual(call[0].args, {
        ...(c.options.provider ? { provider: c.options.provider } : {}),
        ...(c.platform === 'alipay' ? { scopes: 'auth_base' } : {}),
      });
      const body = service.calls('POST', '/v1/login')[0].data;
      assert.equal(body.platform, c.platform);
      assert.equal('anonymous_code' in body, c.platform === 'douyin');
      assert.match(fake.storage.get(TOKEN_KEY), /^wxl_/);
    });
  }

  test('uni-app on a platform it cannot tell (web) needs `platform`; `wecom` uses wx.qy', async () => {
    const { fake } = setup('uni', { uniPlatform: 'web' });
    globalThis.uni = fake.api;
    assert.throws(() => createClient({ baseUrl: SERVICE_URL }), /uni-app on "web": pass `platform`/);
    assert.throws(() => createClient({ baseUrl: SERVICE_URL, provider: 'apple' }), /provider "apple"/);
    const wecom = setup('wecom').fake;
    globalThis.wx = wecom.api;
    await createClient({ baseUrl: SERVICE_URL, platform: 'wecom' }).login().catch(() => {});
    assert.equal(wecom.called('wx.qy.login').length, 1);
    assert.equal(fake.called('uni.login').length, 0);
  });
});
