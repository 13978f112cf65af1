// The SDK against the real service and simulator (`wxlogin demo`, and
// `wxlogin demo --tokens jwt` for token pairs), through a fake `wx` (and a
// fake of every other platform's global) that does real HTTP. Run:
// node --test test/client.test.js (needs target/debug/wxlogin: `cargo build -p wxlogin`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { createClient, SessionKeyStaleError, TOKEN_KEY, WxLoginError } from '../src/index.js';
import { OUTPUTS } from '../scripts/build.mjs';
import { requireBuilt } from './built.js';
import { createFakeRuntime, httpTransport, simulatorCodes } from './fake-runtimes.js';
import { createFakeWx } from './fake-wx.js';
import { DEMO_APPS, revokeUser, sim, startDemo } from './harness.js';

const T = { timeout: 30_000 };
let demo;

before(async () => {
  demo = await startDemo();
});
after(async () => {
  await demo?.stop();
});

/** A fresh device (new WeChat user unless `openid` is given) and its client. */
function device(options = {}) {
  const { sdk = { createClient }, ...wxOptions } = options;
  const wx = createFakeWx({ simulator: demo.simulator, appid: demo.appid, ...wxOptions });
  const client = sdk.createClient({ baseUrl: `${demo.service}/`, appid: demo.appid, wx });
  return { wx, client };
}

/** Expect `promise` to reject with a WxLoginError of `code`; returns the error. */
async function rejectsWith(promise, code) {
  let error;
  await assert.rejects(promise, (e) => {
    error = e;
    return true;
  });
  assert.ok(error instanceof WxLoginError, `expected a WxLoginError, got ${error?.stack}`);
  assert.equal(error.code, code, error.message);
  return error;
}

describe('login', () => {
  test('10 concurrent calls without a token share ONE wx.login and ONE POST /v1/login', T, async () => {
    const { wx, client } = device();
    const answers = await Promise.all(Array.from({ length: 10 }, () => client.request({ url: '/v1/session' })));

    assert.equal(wx.counts.login, 1, 'wx.login calls');
    assert.equal(wx.calls('POST', '/v1/login').length, 1, 'POST /v1/login calls');
    assert.equal(wx.calls('GET', '/v1/session').length, 10);
    for (const res of answers) {
      assert.equal(res.statusCode, 200);
      assert.equal(res.data.openid, wx.device.openid);
    }
    assert.match(wx.storage.get(TOKEN_KEY), /^wxl_/, 'token stored under wxlogin_token');
  });

  test('login() answers the session and joins a login in progress', T, async () => {
    const { wx, client } = device();
    const [a, b] = await Promise.all([client.login(), client.login()]);
    assert.equal(wx.counts.login, 1);
    assert.equal(a, b);
    assert.equal(a.openid, wx.device.openid);
    assert.equal(a.appid, demo.appid);
    assert.equal(a.new_user, true);
    assert.equal(client.token(), a.token);
    // The login sends the appid in the body; later calls send the token and X-Wx-Appid.
    assert.equal(wx.calls('POST', '/v1/login')[0].data.appid, demo.appid);
    await client.session();
    const header = wx.calls('GET', '/v1/session')[0].header;
    assert.equal(header.Authorization, `Bearer ${a.token}`);
    assert.equal(header['X-Wx-Appid'], demo.appid);
  });

  test('a failing login is not retried: bogus code → invalid_code, one attempt', T, async () => {
    const { wx, client } = device({ loginCode: 'bogus' });
    const error = await rejectsWith(client.request({ url: '/v1/session' }), 'invalid_code');
    assert.equal(error.status, 400);
    assert.equal(error.wechatErrcode, 40029);
    assert.equal(wx.counts.login, 1, 'wx.login calls');
    assert.equal(wx.calls('POST', '/v1/login').length, 1, 'POST /v1/login calls');
    assert.equal(wx.calls('GET', '/v1/session').length, 0, 'the call itself is never sent');
    assert.equal(client.token(), null);

    // The next call tries again (one attempt each), it does not remember failure.
    await rejectsWith(client.login(), 'invalid_code');
    assert.equal(wx.counts.login, 2);
  });

  test('wx.login failing surfaces as wx_login_failed', T, async () => {
    const wx = createFakeWx({ simulator: demo.simulator, appid: 'wx0000000000000000' });
    const client = createClient({ baseUrl: demo.service, wx });
    await rejectsWith(client.session(), 'wx_login_failed');
    assert.equal(wx.calls('POST', '/v1/login').length, 0);
  });
});

describe('401', () => {
  test('after the token is revoked, the next call logs in again once and succeeds', T, async () => {
    const { wx, client } = device();
    const first = await client.login();
    assert.equal((await client.session()).openid, first.openid);

    assert.deepEqual(await revokeUser(demo, first.openid), { revoked: 1 });
    const res = await client.request({ url: '/v1/session' });

    assert.equal(res.statusCode, 200);
    assert.equal(res.data.openid, first.openid, 'same user');
    assert.equal(wx.counts.login, 2, 'one re-login');
    assert.equal(wx.calls('POST', '/v1/login').length, 2);
    assert.deepEqual(
      wx.calls('GET', '/v1/session').map((r) => r.status),
      [200, 401, 200],
    );
    assert.notEqual(client.token(), first.token, 'a new token is stored');
  });

  test('concurrent calls failing with the same revoked token share one re-login', T, async () => {
    const { wx, client } = device();
    const first = await client.login();
    await revokeUser(demo, first.openid);
    // The last call's 401 arrives only after the others' re-login is over: it
    // must pick up the new token, not log in a third time.
    const request = wx.request;
    let sent = 0;
    wx.request = (options) => {
      const delay = ++sent === 5 ? 500 : 0;
      return request({ ...options, success: (res) => setTimeout(() => options.success(res), delay) });
    };
    const answers = await Promise.all(Array.from({ length: 5 }, () => client.session()));
    assert.ok(answers.every((s) => s.openid === first.openid));
    assert.equal(wx.counts.login, 2, '1 login + 1 re-login');
    assert.equal(wx.calls('GET', '/v1/session').length, 10, '5 calls, 5 retries');
  });

  test('a 401 on the retry is thrown, not retried again', T, async () => {
    // Every authenticated call carries a token the service does not know.
    const { wx, client } = device();
    const request = wx.request;
    wx.request = (options) =>
      request({
        ...options,
        header: options.header.Authorization ? { ...options.header, Authorization: 'Bearer wxl_unknown' } : options.header,
      });
    await client.login();
    const error = await rejectsWith(client.session(), 'invalid_token');
    assert.equal(error.status, 401);
    assert.equal(wx.calls('GET', '/v1/session').length, 2, 'the call and one retry');
    assert.equal(wx.counts.login, 2, 'the first login and one re-login');

    // A token just minted for this call that gets a 401 is not worth a second login.
    wx.removeStorageSync(TOKEN_KEY);
    await rejectsWith(client.session(), 'invalid_token');
    assert.equal(wx.calls('GET', '/v1/session').length, 3);
    assert.equal(wx.counts.login, 3);
  });
});

describe('open data', () => {
  test('decrypt a profile: openId is the user', T, async () => {
    const { wx, client } = device();
    const { openid } = await client.login();
    const openData = await sim(demo, '/__sim/open-data', { openid, kind: 'profile' });
    assert.ok(openData.encryptedData && openData.iv && openData.rawData && openData.signature);

    const data = await client.decrypt(openData);
    assert.equal(data.openId, openid);
    assert.equal(data.nickName, 'Band');
    assert.equal(data.watermark.appid, demo.appid);
    assert.deepEqual(wx.calls('POST', '/v1/decrypt')[0].data, {
      encrypted_data: openData.encryptedData,
      iv: openData.iv,
      raw_data: openData.rawData,
      signature: openData.signature,
    });
  });

  test('decrypt a phone number (kind "phone", no rawData)', T, async () => {
    const { wx, client } = device();
    const { openid } = await client.login();
    const openData = await sim(demo, '/__sim/open-data', { openid, kind: 'phone' });
    const data = await client.decrypt(openData);
    assert.match(data.phoneNumber, /^13\d{9}$/);
    assert.equal(data.countryCode, '86');
    assert.deepEqual(Object.keys(wx.calls('POST', '/v1/decrypt')[0].data).sort(), ['encrypted_data', 'iv']);
  });

  test('a tampered rawData is refused with the service code', T, async () => {
    const { client } = device();
    const { openid } = await client.login();
    const openData = await sim(demo, '/__sim/open-data', { openid, kind: 'profile' });
    const error = await rejectsWith(
      client.decrypt({ ...openData, rawData: openData.rawData.replace('Band', 'Eve') }),
      'bad_signature',
    );
    assert.equal(error.status, 400);
  });

  test('409 session_key_stale is a SessionKeyStaleError; login + fetch again works', T, async () => {
    const { wx, client } = device();
    const { openid } = await client.login();
    // Two more wx.login on the "phone" (codes never sent to the service): each
    // rotates the key in WeChat, so the data below is under a key the service
    // never saw (it has the key of our login, and no previous one).
    await sim(demo, '/__sim/login', { openid });
    await sim(demo, '/__sim/login', { openid });
    const stale = await sim(demo, '/__sim/open-data', { openid, kind: 'profile' });

    const error = await rejectsWith(client.decrypt(stale), 'session_key_stale');
    assert.ok(error instanceof SessionKeyStaleError);
    assert.equal(error.status, 409);
    assert.match(error.message, /login/);
    assert.equal(wx.counts.login, 1, 'a 409 does not log in by itself');

    // What the message says to do.
    await client.login();
    const fresh = await sim(demo, '/__sim/open-data', { openid, kind: 'profile' });
    assert.equal((await client.decrypt(fresh)).openId, openid);
  });

  test('decrypt checks its argument', T, async () => {
    const { client } = device();
    await assert.rejects(client.decrypt({ iv: 'x' }), TypeError);
  });
});

describe('phone', () => {
  test('a getPhoneNumber code gives the phone number', T, async () => {
    const { client } = device();
    const { openid } = await client.login();
    const { code } = await sim(demo, '/__sim/phone-code', { openid });
    const info = await client.phone(code);
    assert.match(info.phone_number, /^13\d{9}$/);
    assert.equal(info.pure_phone_number, info.phone_number);
    assert.equal(info.country_code, '86');
  });

  test('a used phone code is refused with a stable code', T, async () => {
    const { client } = device();
    const { openid } = await client.login();
    const { code } = await sim(demo, '/__sim/phone-code', { openid });
    await client.phone(code);
    const error = await rejectsWith(
      client.phone(code),
      'invalid_phone_code',
    );
    assert.equal(error.status, 400);
    assert.equal(typeof error.wechatErrcode, 'number');
  });
});

describe('session and logout', () => {
  test('session() answers who the token belongs to', T, async () => {
    const { client } = device();
    const login = await client.login();
    const session = await client.session();
    assert.equal(session.openid, login.openid);
    assert.equal(session.appid, demo.appid);
    assert.equal(session.expires_at, login.expires_at);
  });

  test('logout revokes the token and clears storage; it never logs in', T, async () => {
    const { wx, client } = device();
    const { token } = await client.login();
    await client.logout();
    assert.deepEqual(
      wx.calls('POST', '/v1/logout').map((r) => [r.status, r.header.Authorization]),
      [[204, `Bearer ${token}`]],
    );
    assert.equal(client.token(), null);
    assert.equal(wx.storage.has(TOKEN_KEY), false);
    const res = await fetch(`${demo.service}/v1/session`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401, 'the old token is dead');

    await client.logout(); // no token: nothing to do
    assert.equal(wx.calls('POST', '/v1/logout').length, 1);

    // A token revoked elsewhere: logout is still done, without a login.
    const again = await client.login();
    await revokeUser(demo, again.openid);
    await client.logout();
    assert.equal(wx.counts.login, 2);
    assert.equal(client.token(), null);
  });

  test('request() takes wx.request options: GET data goes to the query, headers come back', T, async () => {
    const { wx, client } = device();
    const { openid } = await client.login();
    // /v1/auth is what nginx auth_request calls; the identity is in headers.
    const res = await client.request({ url: `${demo.service}/v1/auth`, data: { appid: demo.appid } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.header['x-wx-openid'], openid);
    assert.match(wx.calls('GET', '/v1/auth')[0].url, /\?appid=wx4f4bc4dec97d474b$/);
  });

  test('errors of other shapes get http_<status>; no response is network_error', T, async () => {
    const { client } = device();
    await client.login();
    // The simulator's test API answers {"error": "<text>"}: not wxlogin's shape.
    const error = await rejectsWith(client.request({ url: `${demo.simulator}/__sim/nope` }), 'http_404');
    assert.equal(error.status, 404);
    assert.equal(typeof error.data.error, 'string');
    // wxlogin's own errors keep their code, whatever the status.
    const e405 = await rejectsWith(client.request({ url: '/healthz', method: 'DELETE' }), 'method_not_allowed');
    assert.equal(e405.status, 405);

    const offline = createClient({
      baseUrl: 'http://127.0.0.1:9',
      wx: createFakeWx({ simulator: demo.simulator, appid: demo.appid }),
    });
    const e2 = await rejectsWith(offline.session(), 'network_error');
    assert.equal(e2.status, 0);
  });
});

describe('createClient', () => {
  test('needs a baseUrl and a wx; wx defaults to globalThis.wx', () => {
    assert.throws(() => createClient({}), TypeError);
    assert.throws(() => createClient({ baseUrl: 'http://x' }), /no `wx` API/);
    globalThis.wx = createFakeWx({ simulator: 'http://x', appid: 'x' });
    try {
      assert.equal(typeof createClient({ baseUrl: 'http://x' }).login, 'function');
    } finally {
      delete globalThis.wx;
    }
  });

  for (const file of OUTPUTS) {
    test(`the CommonJS build (${file}, built by test/built.js) behaves the same`, T, async () => {
      const cjs = requireBuilt(file);
      assert.deepEqual(Object.keys(cjs).sort(), ['SessionKeyStaleError', 'TOKEN_KEY', 'WxLoginError', 'createClient']);
      const { wx, client } = device({ sdk: cjs });
      const results = await Promise.all([client.session(), client.session(), client.session()]);
      assert.ok(results.every((s) => s.openid === wx.device.openid));
      assert.equal(wx.counts.login, 1);

      const bogus = device({ sdk: cjs, loginCode: 'bogus' });
      await assert.rejects(bogus.client.login(), (e) => e instanceof cjs.WxLoginError && e.code === 'invalid_code');
    });
  }
});

describe('logout during a login', () => {
  test('logout waits for a login under way, then revokes its token', T, async () => {
    const { wx, client } = device();
    const login = client.login();
    await client.logout();
    const { token } = await login;
    assert.equal(client.token(), null);
    assert.deepEqual(
      wx.calls('POST', '/v1/logout').map((r) => [r.status, r.header.Authorization]),
      [[204, `Bearer ${token}`]],
    );
  });
});

describe('every platform over the real service', () => {
  // `wxlogin demo` serves an app of every platform, and its simulator plays
  // each platform's login and open data. Each fake runtime mints its codes at
  // the simulator and does real HTTP: its login call and login body, its
  // request shape (Alipay's `headers` and `status`, its non-2xx in `fail`)
  // and storage, open data, and logout, against the service.
  const KINDS = ['douyin', 'alipay', 'qq', 'baidu', 'wecom', 'uni'];
  for (const kind of KINDS) {
    test(`${kind}: login, authenticated calls, errors, open data and logout through its own API`, T, async () => {
      const platform = kind === 'uni' ? 'wechat' : kind; // uni-app on WeChat (mp-weixin)
      const appid = DEMO_APPS[platform];
      const mint = simulatorCodes(demo.simulator, appid);
      let openidAtPlatform = null;
      const fake = createFakeRuntime(kind, {
        transport: httpTransport(),
        mint: async () => {
          const codes = await mint();
          openidAtPlatform = codes.openid;
          return codes;
        },
      });
      if (kind === 'uni') globalThis.uni = fake.api;
      try {
        const client = createClient({ baseUrl: demo.service, appid, ...(kind === 'uni' ? {} : { platform: kind, api: fake.api }) });
        assert.equal(client.platform, platform);
        const [login, session] = await Promise.all([client.login(), client.session()]);
        assert.equal(fake.logins(), 1, 'one login call for both');
        assert.deepEqual([login.platform, login.appid, login.new_user], [platform, appid, true]);
        assert.deepEqual([session.platform, session.user_id, session.openid], [platform, login.user_id, login.openid]);
        const body = fake.requests.find((r) => r.path === '/v1/login').data;
        assert.equal(body.platform, platform === 'wechat' ? undefined : platform);
        if (kind === 'douyin') assert.equal(typeof body.anonymous_code, 'string', 'Douyin sends its anonymous code too');

        const token = client.token();
        const res = await client.request({ url: '/v1/auth', data: { appid } });
        assert.equal(res.statusCode, 200);
        assert.equal(res.header['x-wx-openid'], login.openid);
        assert.equal(fake.requests.at(-1).header.Authorization, `Bearer ${token}`);
        assert.equal(fake.requests.at(-1).header['X-Wx-Appid'], appid);

        const error = await rejectsWith(client.request({ url: '/healthz', method: 'DELETE' }), 'method_not_allowed');
        assert.equal(error.status, 405);

        // The phone number as this platform hands it over: the button's code
        // (WeChat, Douyin) for /v1/phone; encrypted data (Douyin's legacy
        // form too; Alipay's my.getPhoneNumber envelope, without iv).
        if (['wechat', 'douyin'].includes(platform)) {
          const { code } = await sim(demo, '/__sim/phone-code', { appid, openid: openidAtPlatform });
          assert.match((await client.phone(code)).phone_number, /^1\d{10}$/);
        } else {
          await rejectsWith(client.phone('any'), 'not_supported');
        }
        if (platform !== 'wechat') {
          const phone = await sim(demo, '/__sim/open-data', { appid, openid: openidAtPlatform, kind: 'phone' });
          const data = await client.decrypt(kind === 'alipay' ? { response: phone.encryptedData } : phone);
          assert.match(data.phoneNumber || data.mobile, /^1\d{10}$/);
          const sent = fake.requests.filter((r) => r.path === '/v1/decrypt').at(-1).data;
          assert.deepEqual(Object.keys(sent).sort(), kind === 'alipay' ? ['encrypted_data'] : ['encrypted_data', 'iv']);
        }

        await client.logout();
        assert.deepEqual([fake.requests.at(-1).path, fake.requests.at(-1).status], ['/v1/logout', 204]);
        assert.equal(fake.storage.has(TOKEN_KEY), false);
        const after = await fetch(`${demo.service}/v1/session`, { headers: { authorization: `Bearer ${token}`, 'x-wx-appid': appid } });
        assert.equal(after.status, 401, 'the token is dead');
        assert.equal(fake.logins(), 1, 'no other login');
      } finally {
        delete globalThis.uni;
      }
    });
  }
});

describe('token pairs over the real service (wxlogin demo --tokens jwt)', () => {
  let jwtDemo;
  before(async () => {
    jwtDemo = await startDemo({ tokens: 'jwt' });
  });
  after(async () => {
    await jwtDemo?.stop();
  });

  test('login, a refresh before expiry (its answer: tokens + session), logout with POST /v1/logout', T, async () => {
    const appid = DEMO_APPS.douyin;
    let skew = 0; // the device's clock runs ahead to make the access token "about to expire"
    const fake = createFakeRuntime('douyin', { transport: httpTransport(), mint: simulatorCodes(jwtDemo.simulator, appid) });
    const client = createClient({ baseUrl: jwtDemo.service, appid, platform: 'douyin', api: fake.api, now: () => Date.now() + skew });
    const login = await client.login();
    assert.match(login.refresh_token, /^wxr_/);
    const first = client.tokens();
    assert.equal(first.format, 'jwt');
    const payload = JSON.parse(Buffer.from(first.access_token.split('.')[1], 'base64url').toString());
    assert.deepEqual([payload.sub, payload.aud, payload.platform], [login.user_id, appid, 'douyin']);

    skew = (login.expires_in - 10) * 1000;
    const session = await client.session();
    assert.deepEqual([session.user_id, session.platform], [login.user_id, 'douyin']);
    const paths = fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
    assert.deepEqual(paths, ['POST /v1/login 200', 'POST /v1/session/refresh 200', 'GET /v1/session 200']);
    const now = client.tokens();
    assert.notEqual(now.access_token, first.access_token);
    assert.notEqual(now.refresh_token, first.refresh_token);
    assert.equal(fake.requests.at(-1).header.Authorization, `Bearer ${now.access_token}`);

    skew = 0;
    await client.logout();
    assert.deepEqual(fake.requests.slice(3).map((r) => `${r.method} ${r.path} ${r.status}`), ['POST /v1/logout 204']);
    assert.equal(client.tokens(), null);
    const after = await fetch(`${jwtDemo.service}/v1/session`, { headers: { authorization: `Bearer ${now.access_token}`, 'x-wx-appid': appid } });
    assert.equal(after.status, 401, 'a logout ends the access token at once');
    assert.equal(fake.logins(), 1);
  });
});
