// Fakes of each mini program platform's global, shaped as the platform
// documents it, over a transport: the in-memory service of
// test/scripted-service.js, or real HTTP to the demo binary. They record
// every API call, so tests can prove which login call ran and what the
// request looked like. Login codes are made up, or minted by the real
// simulator (`mint: simulatorCodes(…)`).
//
//   kind     global  login                              request / storage
//   wechat   wx      wx.login → {code}                  wx.request (header → statusCode, header)
//   wecom    wx      wx.qy.login → {code}               as wechat
//   douyin   tt      tt.login → {code?, anonymousCode}  as wechat
//   alipay   my      my.getAuthCode({scopes}) → {authCode}
//                                                       my.request (headers → status, headers;
//                                                       dataType json|text; non-2xx in `fail`,
//                                                       error 19); my.getStorageSync({key}) → {data},
//                                                       my.setStorageSync({key, data})
//   qq       qq      qq.login → {code}                  as wechat
//   baidu    swan    swan.getLoginCode → {code}         as wechat (swan.login exists too)
//   uni      uni     uni.login({provider?}) → {code, anonymousCode on mp-toutiao};
//                    uni.getSystemInfoSync() → {uniPlatform}; request and storage as wechat
//
// Callbacks run on a later turn, as the real APIs do.

import { SERVICE_URL } from './scripted-service.js';

const TIMEOUT_MS = 10_000;
export const GLOBAL_OF = { wechat: 'wx', wecom: 'wx', douyin: 'tt', alipay: 'my', qq: 'qq', baidu: 'swan', uni: 'uni' };

/** Transport to the in-memory service. */
export function scriptedTransport(service) {
  return async (req) => {
    if (!req.url.startsWith(`${SERVICE_URL}/`)) throw new Error('scripted: host unreachable');
    return service.handle(req);
  };
}

/** Transport doing real HTTP (the demo binary). */
export function httpTransport() {
  return async ({ method, url, header, body }) => {
    const res = await fetch(url, { method, headers: header, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
    return { statusCode: res.status, body: await res.text(), header: Object.fromEntries(res.headers) };
  };
}

/**
 * Codes minted by the real simulator for `appid` (`wxlogin demo`): one user
 * per call of this function, kept across logins as one phone would.
 */
export function simulatorCodes(simulator, appid) {
  let openid = null;
  return async () => {
    const res = await fetch(`${simulator}/__sim/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(openid ? { appid, openid } : { appid }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`simulator refused login: ${JSON.stringify(body)}`);
    openid = body.openid;
    return { code: body.code, anonymousCode: body.anonymous_code, openid };
  };
}

/**
 * @param {string} kind  wechat | wecom | douyin | alipay | qq | baidu | uni
 * @param {object} options
 * @param {Function} options.transport   scriptedTransport(service) or httpTransport()
 * @param {() => Promise<{code, anonymousCode?}>} [options.mint]  where codes come
 *   from (simulatorCodes(…)); default: made-up ones (`<kind>_code_<n>`)
 * @param {string} [options.loginCode]   hand out this code ("fail": the login call fails)
 * @param {boolean} [options.loggedIn]   douyin: false gives only an anonymousCode
 * @param {'fail'|'fail-bare'|'success'} [options.httpErrors] alipay: how a non-2xx arrives
 * @param {string} [options.uniPlatform] uni: what getSystemInfoSync() says
 */
export function createFakeRuntime(kind, { transport, mint = null, loginCode = null, loggedIn = true, httpErrors = 'fail', uniPlatform = 'mp-weixin' } = {}) {
  const name = GLOBAL_OF[kind];
  const storage = new Map();
  const calls = [];
  const requests = [];
  let codes = 0;
  const later = (callback, value) => callback && setTimeout(() => callback(value), 0);
  const record = (fn, options = {}) => {
    const args = Object.fromEntries(Object.entries(options).filter(([, v]) => typeof v !== 'function'));
    calls.push({ fn: `${name}.${fn}`, args });
  };

  // A login call answering `shape(code, options, anonymousCode)`.
  const loginFn = (fn, shape) => (options = {}) => {
    record(fn, options);
    if (loginCode === 'fail') return later(options.fail, { errMsg: `${fn}:fail scripted`, errorMessage: 'scripted' });
    codes += 1;
    if (mint && loginCode === null) {
      mint().then(
        (m) => later(options.success, { ...shape(m.code, options, m.anonymousCode), errMsg: `${fn}:ok` }),
        (e) => later(options.fail, { errMsg: `${fn}:fail ${e.message}`, errorMessage: e.message }),
      );
      return;
    }
    later(options.success, { ...shape(loginCode || `${kind}_code_${codes}`, options), errMsg: `${fn}:ok` });
  };

  // The HTTP part of a request: GET data in the query, other data as JSON.
  async function exchange(method, url, header, data) {
    method = String(method || 'GET').toUpperCase();
    const target = new URL(url);
    let body;
    if (data !== undefined && method === 'GET') {
      for (const [k, v] of Object.entries(data)) target.searchParams.set(k, String(v));
    } else if (data !== undefined) {
      body = typeof data === 'string' ? data : JSON.stringify(data);
    }
    const entry = { method, url: target.href, path: target.pathname, header: { ...header }, data, status: null };
    requests.push(entry);
    const res = await transport({ method, url: target.href, header: { ...header }, body });
    entry.status = res.statusCode;
    return res;
  }

  const parsed = (text) => {
    try {
      return text ? JSON.parse(text) : '';
    } catch {
      return text;
    }
  };

  // wx.request and look-alikes: `success` for every status, data parsed when JSON.
  function wxRequest(options) {
    record('request', { url: options.url, method: options.method, hasHeader: 'header' in options });
    exchange(options.method, options.url, options.header || {}, options.data).then(
      (res) => later(options.success, { statusCode: res.statusCode, data: parsed(res.body), header: res.header, errMsg: 'request:ok' }),
      (e) => later(options.fail, { errMsg: `request:fail ${e.message}` }),
    );
    return { abort() {} };
  }

  // my.request: only `headers` is sent (a `header` option is ignored, as the
  // real one does); dataType json (default here) fails with error 14 on a
  // body that is not JSON; a non-2xx status arrives per `httpErrors`.
  function alipayRequest(options) {
    record('request', { url: options.url, method: options.method, dataType: options.dataType, hasHeader: 'header' in options });
    exchange(options.method, options.url, options.headers || {}, options.data).then(
      (res) => {
        const dataType = options.dataType || 'json';
        let data = res.body;
        if (dataType === 'json') {
          try {
            data = JSON.parse(res.body);
          } catch {
            return later(options.fail, { error: 14, errorMessage: 'JSON parse error' });
          }
        }
        const response = { status: res.statusCode, data, headers: res.header };
        const ok = res.statusCode >= 200 && res.statusCode < 300;
        if (ok || httpErrors === 'success') return later(options.success, response);
        if (httpErrors === 'fail') return later(options.fail, { error: 19, errorMessage: 'http status error', ...response });
        return later(options.fail, { error: 19, errorMessage: 'http status error' });
      },
      (e) => later(options.fail, { error: 12, errorMessage: e.message }),
    );
    return { abort() {} };
  }

  const wxStorage = {
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => void storage.set(key, value),
    removeStorageSync: (key) => void storage.delete(key),
  };
  const objectArg = (fn, arg) => {
    if (!arg || typeof arg !== 'object') throw new TypeError(`my.${fn} takes {key}`);
    return arg.key;
  };
  const alipayStorage = {
    getStorageSync: (arg) => ({ data: storage.has(objectArg('getStorageSync', arg)) ? storage.get(arg.key) : null }),
    setStorageSync: (arg) => void storage.set(objectArg('setStorageSync', arg), arg.data),
    removeStorageSync: (arg) => void storage.delete(objectArg('removeStorageSync', arg)),
  };

  const code = (c) => ({ code: c });
  let api;
  switch (kind) {
    case 'wechat':
      api = { login: loginFn('login', code), request: wxRequest, ...wxStorage };
      break;
    case 'wecom':
      api = { login: loginFn('login', code), qy: { login: loginFn('qy.login', code) }, request: wxRequest, ...wxStorage };
      break;
    case 'douyin':
      api = {
        login: loginFn('login', (c, _, anon = `anon_${c}`) => (loggedIn ? { code: c, anonymousCode: anon, isLogin: true } : { anonymousCode: anon, isLogin: false })),
        request: wxRequest,
        ...wxStorage,
      };
      break;
    case 'alipay':
      api = { getAuthCode: loginFn('getAuthCode', (c) => ({ authCode: c })), request: alipayRequest, ...alipayStorage };
      break;
    case 'qq':
      api = { login: loginFn('login', code), request: wxRequest, ...wxStorage };
      break;
    case 'baidu':
      api = { login: loginFn('login', code), getLoginCode: loginFn('getLoginCode', code), request: wxRequest, ...wxStorage };
      break;
    case 'uni':
      api = {
        login: loginFn('login', (c, _, anon = `anon_${c}`) => (uniPlatform === 'mp-toutiao' ? { code: c, anonymousCode: anon } : { code: c })),
        getSystemInfoSync: () => ({ uniPlatform }),
        request: wxRequest,
        ...wxStorage,
      };
      break;
    default:
      throw new Error(`no fake for ${kind}`);
  }

  return {
    api,
    name,
    storage,
    calls,
    requests,
    /** Calls of one API function, e.g. called('tt.login'). */
    called: (fn) => calls.filter((c) => c.fn === fn),
    /** Login calls, whatever the function. */
    logins: () => calls.filter((c) => /login|getAuthCode|getLoginCode/i.test(c.fn)).length,
  };
}
