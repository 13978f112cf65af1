// A `wx` whose requests are answered in memory by a scripted stand-in for the
// wxlogin service: no network, no binary. It lets test/build.test.js run the
// same scenario through src/index.js and through each CommonJS build and
// compare everything they do. (test/fake-wx.js is the `wx` that talks to the
// real service.)
//
// The stand-in knows: POST /v1/login (code "bogus" → 400 invalid_code with
// wechat_errcode 40029, any other code → a new token), GET /v1/session
// (401 invalid_token for an unknown or revoked token), POST /v1/decrypt
// (iv "stale" → 400 session_key_stale), POST /v1/phone, POST /v1/logout
// (204), GET /v1/teapot (418 with a text body), and any host but the base
// URL's fails as a transport error.

export const BASE_URL = 'https://wxlogin.test';
const OPENID = 'oScriptedUser0000000000000000';

export function createScriptedWx({ loginCode = null } = {}) {
  const storage = new Map();
  const tokens = new Set();
  const log = [];
  let logins = 0;
  let minted = 0;

  // Callbacks run on a later turn, as the real wx API does.
  const later = (callback, value) => callback && setTimeout(() => callback(value), 0);
  const error = (statusCode, code, extra = {}) => ({
    statusCode,
    data: { error: { code, message: `scripted ${code}`, ...extra } },
  });

  function answer(method, path, header, data) {
    const auth = header.Authorization || '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : null;
    const authed = token !== null && tokens.has(token);
    switch (`${method} ${path}`) {
      case 'POST /v1/login': {
        if (!data || typeof data.code !== 'string') return error(400, 'invalid_request');
        if (data.code === 'bogus') return error(400, 'invalid_code', { wechat_errcode: 40029 });
        minted += 1;
        const fresh = `wxl_scripted_${minted}`;
        tokens.add(fresh);
        return { statusCode: 200, data: { token: fresh, openid: OPENID, new_user: minted === 1 } };
      }
      case 'GET /v1/session':
        if (!authed) return error(401, 'invalid_token');
        return { statusCode: 200, data: { openid: OPENID, appid: header['X-Wx-Appid'] || null, token: token } };
      case 'POST /v1/decrypt':
        if (!authed) return error(401, 'invalid_token');
        if (data.iv === 'stale') return error(400, 'session_key_stale');
        return { statusCode: 200, data: { data: { nickName: 'Band', echo: data } } };
      case 'POST /v1/phone':
        if (!authed) return error(401, 'invalid_token');
        return { statusCode: 200, data: { phone_number: '+86 13800138000', pure_phone_number: '13800138000', country_code: '86', code: data.code } };
      case 'POST /v1/logout':
        if (!authed) return error(401, 'invalid_token');
        tokens.delete(token);
        return { statusCode: 204, data: '' };
      case 'GET /v1/teapot':
        return { statusCode: 418, data: 'I am a teapot' };
      default:
        return error(404, 'not_found');
    }
  }

  function request({ url, method = 'GET', data, header = {}, success, fail }) {
    method = String(method).toUpperCase();
    // Through JSON, as wx.request would send it (and out of the SDK's realm).
    const sent = data === undefined ? undefined : JSON.parse(JSON.stringify(data));
    const record = { method, url, header: { ...header }, data: sent, status: null };
    log.push(record);
    if (!url.startsWith(`${BASE_URL}/`)) {
      later(fail, { errMsg: 'request:fail scripted: host unreachable' });
      return { abort() {} };
    }
    const res = answer(method, new URL(url).pathname, header, sent);
    record.status = res.statusCode;
    later(success, { ...res, header: {}, errMsg: 'request:ok' });
    return { abort() {} };
  }

  function login({ success, fail } = {}) {
    logins += 1;
    if (loginCode === 'fail') later(fail, { errMsg: 'login:fail scripted' });
    else later(success, { code: loginCode || `code_${logins}`, errMsg: 'login:ok' });
  }

  return {
    login,
    request,
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => void storage.set(key, value),
    removeStorageSync: (key) => void storage.delete(key),
    // for the tests
    log,
    logins: () => logins,
    revokeAll: () => tokens.clear(),
  };
}
