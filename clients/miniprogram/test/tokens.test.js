// The token pair (`tokens.format = "jwt"`): a short-lived access token and a
// refresh token that rotates on every use, against the in-memory service
// (test/scripted-service.js) on a manual clock shared by the service and the
// client. Needs no binary. (client.test.js runs a login, a refresh and a
// logout against the real service, `wxlogin demo --tokens jwt`.)

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { createClient, TOKEN_KEY, WxLoginError } from '../src/index.js';
import { createFakeRuntime, scriptedTransport } from './fake-runtimes.js';
import { createScriptedService, SERVICE_URL } from './scripted-service.js';

const START = Date.parse('2026-03-01T08:00:00Z');

/** A WeChat device and its client, on a clock of their own (starts at START). */
function setup({ format = 'jwt', accessTtl = 600, refreshTtl = 86400, loginCode = null } = {}) {
  let t = START;
  const clock = { now: () => t, advance: (seconds) => (t += seconds * 1000) };
  const service = createScriptedService({ format, now: clock.now, accessTtl, refreshTtl });
  const fake = createFakeRuntime('wechat', { transport: scriptedTransport(service), loginCode });
  const client = createClient({ baseUrl: SERVICE_URL, appid: 'wxapp', api: fake.api, platform: 'wechat', now: clock.now });
  const count = (method, path) => service.calls(method, path).length;
  return { clock, service, fake, client, count, statuses: (m, p) => service.calls(m, p).map((r) => r.status) };
}

async function rejectsWith(promise, code) {
  let error;
  await assert.rejects(promise, (e) => ((error = e), true));
  assert.ok(error instanceof WxLoginError, `expected a WxLoginError, got ${error?.stack}`);
  assert.equal(error.code, code, error.message);
  return error;
}

describe('the pair', () => {
  test('login stores access token, expiry and refresh token; calls send the access token', async () => {
    const { client, fake, service } = setup();
    const answer = await client.login();
    assert.equal(typeof answer.access_token, 'string');
    assert.deepEqual(client.tokens(), {
      format: 'jwt',
      access_token: answer.access_token,
      expires_at: START + 600_000,
      refresh_token: answer.refresh_token,
      refresh_expires_at: Date.parse(answer.refresh_expires_at),
    });
    assert.equal(client.token(), answer.access_token);
    assert.equal(fake.storage.get(TOKEN_KEY).refresh_token, answer.refresh_token, 'one object in storage');
    await client.session();
    assert.equal(service.calls('GET', '/v1/session')[0].header.Authorization, `Bearer ${answer.access_token}`);
  });

  test('opaque answers keep the opaque behaviour (tokens() says so)', async () => {
    const { client, fake } = setup({ format: 'opaque' });
    const answer = await client.login();
    assert.deepEqual(client.tokens(), { format: 'opaque', access_token: answer.token });
    assert.equal(fake.storage.get(TOKEN_KEY), answer.token, 'the bare string, as before');
    assert.equal(answer.user_id, 'u-o_wechat');
    assert.equal(answer.platform, 'wechat');
  });

  test('the refresh: POST /v1/session/refresh {refresh_token}, no Authorization; both tokens rotate', async () => {
    const { client, clock, service } = setup();
    const first = await client.login();
    clock.advance(590);
    await client.session();
    const [refresh] = service.calls('POST', '/v1/session/refresh');
    assert.deepEqual(refresh.data, { refresh_token: first.refresh_token });
    assert.equal(Object.keys(refresh.header).some((k) => k.toLowerCase() === 'authorization'), false);
    assert.equal(refresh.status, 200);
    const now = client.tokens();
    assert.notEqual(now.access_token, first.access_token);
    assert.notEqual(now.refresh_token, first.refresh_token);
    assert.equal(now.expires_at, START + 590_000 + 600_000, 'expiry from expires_in, on our clock');
    // The refresh answer is the token fields and `session`, no top-level identity: none is needed.
    assert.equal(now.refresh_expires_at, START + 590_000 + 86400_000);
    assert.equal((await client.session()).user_id, first.user_id);
  });
});

describe('refresh before the call', () => {
  test('an access token within 30 s of its expiry is refreshed first: no 401 round trip', async () => {
    const { client, clock, count, statuses } = setup();
    await client.login();
    clock.advance(569); // 31 s left: still used
    await client.session();
    assert.equal(count('POST', '/v1/session/refresh'), 0);
    clock.advance(2); // 29 s left: refreshed first
    await Promise.all([client.session(), client.session(), client.session()]);
    assert.deepEqual(statuses('POST', '/v1/session/refresh'), [200], 'one refresh for three calls');
    assert.deepEqual(statuses('GET', '/v1/session'), [200, 200, 200, 200], 'no 401 at all');
  });

  test('a short-lived token keeps half its lifetime as margin, not 30 s', async () => {
    const { client, clock, count } = setup({ accessTtl: 40 });
    await client.login();
    clock.advance(19);
    await client.session();
    assert.equal(count('POST', '/v1/session/refresh'), 0);
    clock.advance(2);
    await client.session();
    assert.equal(count('POST', '/v1/session/refresh'), 1);
  });

  test('a refresh token known to be expired is not sent: a login instead', async () => {
    const { client, clock, count, fake } = setup({ refreshTtl: 3600 });
    await client.login();
    clock.advance(3600);
    await client.session();
    assert.equal(count('POST', '/v1/session/refresh'), 0);
    assert.equal(fake.logins(), 2);
  });

  test('accessToken() gives a token good now, refreshing first when needed', async () => {
    const { client, clock, count } = setup();
    const first = await client.accessToken(); // logs in
    assert.equal(first, client.token());
    assert.equal(await client.accessToken(), first);
    clock.advance(580);
    const second = await client.accessToken();
    assert.notEqual(second, first);
    assert.equal(count('POST', '/v1/session/refresh'), 1);
  });
});

describe('401', () => {
  test('concurrent 401s share ONE refresh; each call is retried once', async () => {
    const { client, fake, service, count } = setup();
    await client.login();
    service.expireAccessTokens(); // e.g. the service rotated its signing key
    // The last call's 401 arrives only after the others' refresh is over: it
    // must pick up the new token, not refresh again (the old refresh token is
    // dead, and sending it would revoke the session).
    const request = fake.api.request;
    let sent = 0;
    fake.api.request = (options) => {
      const delay = ++sent === 5 ? 100 : 0;
      return request({ ...options, success: (res) => setTimeout(() => options.success(res), delay) });
    };
    const answers = await Promise.all(Array.from({ length: 5 }, () => client.session()));
    assert.ok(answers.every((s) => s.openid === 'o_wechat'));
    assert.equal(count('POST', '/v1/session/refresh'), 1, 'one refresh');
    assert.equal(fake.logins(), 1, 'no login');
    const statuses = service.calls('GET', '/v1/session').map((r) => r.status);
    assert.deepEqual([...statuses].sort(), [200, 200, 200, 200, 200, 401, 401, 401, 401, 401]);
  });

  test('a reused refresh token: the refresh answers 401, the pair is dropped, ONE login, one retry each', async () => {
    const { client, service, fake, statuses } = setup();
    const first = await client.login();
    // Another copy of the pair (a restored backup, a stolen copy) refreshed
    // first: ours is now a reuse, and the service ends the whole session.
    assert.equal(service.useRefreshToken(first.refresh_token).statusCode, 200);
    service.expireAccessTokens();
    const answers = await Promise.all([client.session(), client.session(), client.session()]);
    assert.ok(answers.every((s) => s.openid === 'o_wechat'));
    assert.deepEqual(statuses('POST', '/v1/session/refresh'), [401], 'ours, once: a reuse');
    assert.equal(fake.logins(), 2, 'one full login');
    assert.deepEqual(statuses('GET', '/v1/session'), [401, 401, 401, 200, 200, 200]);
    assert.notEqual(client.tokens().refresh_token, first.refresh_token);
  });

  test('a pair left from a JWT service now running opaque tokens: refresh 401 → login → opaque token', async () => {
    const { client, service, count } = setup();
    await client.login();
    service.settings.format = 'opaque';
    service.expireAccessTokens();
    await client.session();
    assert.equal(count('POST', '/v1/session/refresh'), 1);
    assert.equal(client.tokens().format, 'opaque');
  });

  test('an opaque token left from before the switch to JWT: 401 → login → pair (no refresh without one)', async () => {
    const { client, service, count } = setup({ format: 'opaque' });
    await client.login();
    service.settings.format = 'jwt';
    service.revokeAll();
    await client.session();
    assert.equal(count('POST', '/v1/session/refresh'), 0);
    assert.equal(client.tokens().format, 'jwt');
  });
});

describe('no loops', () => {
  test('refresh works but the call keeps answering 401: call, refresh, retry, thrown', async () => {
    const { client, service, count, fake } = setup();
    await client.login();
    service.settings.rejectAllAccess = true;
    const error = await rejectsWith(client.session(), 'invalid_token');
    assert.equal(error.status, 401);
    assert.equal(count('GET', '/v1/session'), 2);
    assert.equal(count('POST', '/v1/session/refresh'), 1);
    assert.equal(fake.logins(), 1);
  });

  test('refresh 401 and the call keeps answering 401: call, refresh, login, retry, thrown', async () => {
    const { client, service, count, fake } = setup();
    const first = await client.login();
    service.useRefreshToken(first.refresh_token);
    service.settings.rejectAllAccess = true;
    await rejectsWith(client.session(), 'invalid_token');
    assert.equal(count('GET', '/v1/session'), 2);
    assert.equal(count('POST', '/v1/session/refresh'), 1);
    assert.equal(fake.logins(), 2);
  });

  test('a token refreshed or minted for this call that gets a 401 is not renewed again', async () => {
    const { client, clock, service, count, fake } = setup();
    service.settings.rejectAllAccess = true;
    await rejectsWith(client.session(), 'invalid_token'); // login, call: thrown
    assert.deepEqual([count('GET', '/v1/session'), count('POST', '/v1/session/refresh'), fake.logins()], [1, 0, 1]);
    clock.advance(599);
    await rejectsWith(client.session(), 'invalid_token'); // refresh first, call: thrown
    assert.deepEqual([count('GET', '/v1/session'), count('POST', '/v1/session/refresh'), fake.logins()], [2, 1, 1]);
  });

  test('a refresh failing otherwise (503) is thrown; the pair is kept, no login', async () => {
    const { client, clock, service, fake } = setup();
    const first = await client.login();
    service.settings.refreshStatus = 503;
    clock.advance(599);
    await rejectsWith(client.session(), 'upstream_unavailable');
    assert.equal(fake.logins(), 1);
    assert.equal(client.tokens().refresh_token, first.refresh_token);
  });

  test('refresh 401 then a refused login: thrown, once each', async () => {
    const { client, service, count, fake } = setup();
    const first = await client.login();
    service.useRefreshToken(first.refresh_token);
    service.expireAccessTokens();
    fake.api.login = (options) => setTimeout(() => options.success({ code: 'bogus' }), 0);
    await rejectsWith(client.session(), 'invalid_code');
    assert.equal(count('POST', '/v1/login'), 2);
    assert.equal(count('POST', '/v1/session/refresh'), 1);
    assert.equal(client.tokens(), null, 'the dead pair is gone');
  });
});

describe('logout', () => {
  test('POST /v1/logout with the access token; storage cleared', async () => {
    const { client, statuses, service } = setup();
    const { access_token } = await client.login();
    await client.logout();
    assert.deepEqual(statuses('POST', '/v1/logout'), [204]);
    assert.equal(service.calls('POST', '/v1/logout')[0].header.Authorization, `Bearer ${access_token}`);
    assert.equal(client.tokens(), null);
    await client.logout();
    assert.equal(service.log.length, 2, 'nothing to do the second time');
  });

  test('an expired access token is refreshed first; a dead refresh token means done, never a login', async () => {
    const { client, clock, statuses, fake, service } = setup();
    await client.login();
    clock.advance(599);
    await client.logout();
    assert.deepEqual(statuses('POST', '/v1/session/refresh'), [200]);
    assert.deepEqual(statuses('POST', '/v1/logout'), [204]);

    const second = await client.login();
    service.useRefreshToken(second.refresh_token);
    service.expireAccessTokens();
    await client.logout(); // logout 401 → refresh 401: the session is over
    assert.deepEqual(statuses('POST', '/v1/logout'), [204, 401]);
    assert.deepEqual(statuses('POST', '/v1/session/refresh'), [200, 401]);
    assert.equal(fake.logins(), 2);
    assert.equal(client.tokens(), null);
  });

  test('one path for both formats: /v1/logout, never /v1/session/logout', async () => {
    const { client, service } = setup();
    await client.login();
    await client.logout();
    assert.deepEqual(service.log.map((r) => `${r.method} ${r.path} ${r.status}`), ['POST /v1/login 200', 'POST /v1/logout 204']);
  });

  test('logout waits for a refresh under way, then ends the refreshed session', async () => {
    const { client, clock, statuses, service } = setup();
    await client.login();
    clock.advance(599);
    const call = client.session();
    await new Promise((resolve) => setTimeout(resolve, 0)); // the refresh is on its way
    await client.logout();
    await call;
    assert.deepEqual(statuses('POST', '/v1/session/refresh'), [200]);
    assert.deepEqual(statuses('POST', '/v1/logout'), [204]);
    assert.equal(client.tokens(), null);
    // The refreshed access token, as the call used it, is the one logged out.
    assert.equal(
      service.calls('POST', '/v1/logout')[0].header.Authorization,
      service.calls('GET', '/v1/session')[0].header.Authorization,
    );
  });
});
