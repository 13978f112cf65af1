// A small `wx` for Node: one fake device (one WeChat user) talking to the REAL
// simulator and the REAL service. It counts what it does so the tests can
// assert "exactly one wx.login", "one POST /v1/login", etc.
//
// - login(): mints a code at POST {simulator}/__sim/login. The first call
//   without `openid` signs a new user up; later calls reuse that openid, as
//   the same phone would. `loginCode` replaces the code (e.g. "bogus").
// - request(): real HTTP with fetch, shaped like wx.request: GET data goes to
//   the query string, other data is sent as JSON; `success` gets every HTTP
//   status, `fail` only transport errors.
// - storage: a Map behind get/set/removeStorageSync.

const TIMEOUT_MS = 10_000;

/**
 * @param {object} options
 * @param {string} options.simulator  simulator base URL, no trailing slash
 * @param {string} options.appid
 * @param {string} [options.openid]   this device's user (default: a new one)
 * @param {string} [options.loginCode] hand out this code instead of minting one
 */
export function createFakeWx({ simulator, appid, openid = null, loginCode = null }) {
  const storage = new Map();
  const counts = { login: 0, requests: [] };
  const device = { openid };

  // Calls `callback` on a later turn, as the real wx API does.
  const later = (callback, value) => callback && setTimeout(() => callback(value), 0);

  function login({ success, fail } = {}) {
    counts.login += 1;
    (async () => {
      if (loginCode !== null) return { code: loginCode };
      const res = await fetch(`${simulator}/__sim/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(device.openid ? { appid, openid: device.openid } : { appid }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(`simulator refused login: ${JSON.stringify(body)}`);
      device.openid = body.openid;
      return { code: body.code };
    })().then(
      (res) => later(success, { ...res, errMsg: 'login:ok' }),
      (e) => later(fail, { errMsg: `login:fail ${e.message}` }),
    );
  }

  function request({ url, method = 'GET', data, header = {}, success, fail }) {
    method = method.toUpperCase();
    const target = new URL(url);
    let body;
    if (data !== undefined && method === 'GET') {
      for (const [k, v] of Object.entries(data)) target.searchParams.set(k, String(v));
    } else if (data !== undefined) {
      body = typeof data === 'string' ? data : JSON.stringify(data);
    }
    const record = { method, url: target.href, path: target.pathname, header: { ...header }, data, status: null };
    counts.requests.push(record);
    (async () => {
      const res = await fetch(target, { method, headers: header, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
      const text = await res.text();
      let parsed = text;
      try {
        parsed = text ? JSON.parse(text) : '';
      } catch {
        // not JSON: wx.request hands over the string
      }
      record.status = res.status;
      return { statusCode: res.status, data: parsed, header: Object.fromEntries(res.headers) };
    })().then(
      (res) => later(success, { ...res, errMsg: 'request:ok' }),
      (e) => later(fail, { errMsg: `request:fail ${e.message}` }),
    );
    return { abort() {} };
  }

  return {
    login,
    request,
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => void storage.set(key, value),
    removeStorageSync: (key) => void storage.delete(key),
    // for the tests
    counts,
    device,
    storage,
    /** Requests made to `METHOD /path`. */
    calls: (method, path) => counts.requests.filter((r) => r.method === method && r.path === path),
  };
}
