// GENERATED from src/index.js by scripts/build.mjs: edit the source, then run `npm run build`.
'use strict';

// wxlogin client for WeChat Mini Programs: a thin wrapper around wx.request.
//
// - logs in with wx.login + POST /v1/login when there is no token, once for any
//   number of concurrent calls (single flight);
// - sends `Authorization: Bearer <token>` (and `X-Wx-Appid` when an appid is set);
// - on a 401 logs in again and retries the call once, never more;
// - turns the service's `{"error":{"code","message","wechat_errcode"}}` into a
//   WxLoginError whose `.code` is one of the documented, stable codes.
//
// This file is the single source: the browser demo imports it as an ES module
// and scripts/build.mjs turns it into CommonJS (dist/index.cjs and
// miniprogram_dist/index.js). It is written in ES2017 (no `?.`, `??`, object
// spread or class fields) so that the mini program toolchain's parser takes it
// as is, and it must only use `export function|class|const` declarations, the
// only forms the build script rewrites.

/** The storage key under which the session token is kept. */
const TOKEN_KEY = 'wxlogin_token';

/** An error of the wxlogin service (or of the transport around it). */
class WxLoginError extends Error {
  /**
   * @param {object} fields
   * @param {string} fields.code     stable code: the service's (`invalid_code`,
   *   `invalid_token`, …) or the client's (`network_error`, `wx_login_failed`,
   *   `unexpected_response`, `http_<status>` for a non-wxlogin error body)
   * @param {string} fields.message  human readable; not part of the API
   * @param {number} [fields.status] HTTP status, 0 when no response arrived
   * @param {number} [fields.wechatErrcode] WeChat's errcode behind it, if any
   * @param {*} [fields.data]        the response body, if any
   */
  constructor(fields) {
    super(fields.message);
    this.name = 'WxLoginError';
    this.code = fields.code;
    this.status = fields.status === undefined ? 0 : fields.status;
    this.wechatErrcode = fields.wechatErrcode === undefined ? null : fields.wechatErrcode;
    this.data = fields.data === undefined ? null : fields.data;
  }
}

/**
 * The open data was encrypted with a session_key the service no longer holds
 * (another wx.login rotated it). Retrying the same data cannot work: call
 * wx.login (client.login()), fetch the data again, then decrypt that.
 */
class SessionKeyStaleError extends WxLoginError {
  constructor(fields) {
    super(fields);
    this.name = 'SessionKeyStaleError';
  }
}

/**
 * Make a client.
 * @param {object} options
 * @param {string} options.baseUrl  where wxlogin is, e.g. `https://api.example.com`
 * @param {string} [options.appid]  sent on login and as `X-Wx-Appid` (needed when
 *   the service serves several mini programs)
 * @param {object} [options.wx]     the `wx` API; defaults to the global one
 * @param {string} [options.storageKey] defaults to TOKEN_KEY
 */
function createClient(options) {
  if (!options || typeof options.baseUrl !== 'string' || options.baseUrl === '') {
    throw new TypeError('createClient: `baseUrl` is required');
  }
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const appid = options.appid || null;
  const storageKey = options.storageKey || TOKEN_KEY;
  const wx = options.wx || globalWx();
  if (!wx || typeof wx.request !== 'function' || typeof wx.login !== 'function') {
    throw new TypeError('createClient: no `wx` API (pass `wx` outside a mini program)');
  }

  // The login in progress, shared by every caller that needs a token meanwhile.
  let loginInFlight = null;

  // --- storage: the token survives restarts of the mini program ------------

  function readToken() {
    try {
      return wx.getStorageSync(storageKey) || null;
    } catch (e) {
      return null; // unreadable storage is the same as no token: log in again
    }
  }

  function writeToken(token) {
    try {
      wx.setStorageSync(storageKey, token);
    } catch (e) {
      // Full or broken storage: the token is then lost on restart, which only
      // costs one more login. Not worth failing the call for.
    }
  }

  function clearToken() {
    try {
      if (typeof wx.removeStorageSync === 'function') wx.removeStorageSync(storageKey);
      else wx.setStorageSync(storageKey, '');
    } catch (e) {
      // as above
    }
  }

  // --- transport ------------------------------------------------------------

  function urlOf(url) {
    return /^https?:\/\//i.test(url) ? url : baseUrl + (url.charAt(0) === '/' ? '' : '/') + url;
  }

  // One wx.request as a promise. Resolves with the response for every HTTP
  // status (as wx.request does); rejects only when no response arrived.
  function send(req, token) {
    const header = Object.assign({}, req.header);
    if (req.data !== undefined && !hasHeader(header, 'content-type')) {
      header['content-type'] = 'application/json';
    }
    if (appid) header['X-Wx-Appid'] = appid;
    if (token) header.Authorization = 'Bearer ' + token;
    return new Promise(function (resolve, reject) {
      wx.request(
        Object.assign({}, req, {
          url: urlOf(req.url),
          method: req.method || 'GET',
          header: header,
          success: function (res) {
            resolve(res);
          },
          fail: function (err) {
            reject(
              new WxLoginError({
                code: 'network_error',
                message: 'request to ' + req.url + ' failed: ' + errMsg(err),
                status: 0,
              }),
            );
          },
        }),
      );
    });
  }

  // --- login ----------------------------------------------------------------

  function wxLogin() {
    return new Promise(function (resolve, reject) {
      wx.login({
        success: function (res) {
          if (res && res.code) resolve(res.code);
          else reject(new WxLoginError({ code: 'wx_login_failed', message: 'wx.login gave no code' }));
        },
        fail: function (err) {
          reject(new WxLoginError({ code: 'wx_login_failed', message: 'wx.login failed: ' + errMsg(err) }));
        },
      });
    });
  }

  async function doLogin() {
    const code = await wxLogin();
    const body = appid ? { appid: appid, code: code } : { code: code };
    // Straight to send(): the login itself is never retried nor re-logged-in,
    // whatever it answers (a bad code stays bad; a loop would burn codes).
    const res = await send({ url: '/v1/login', method: 'POST', data: body });
    if (res.statusCode !== 200) throw errorOf(res);
    if (!res.data || typeof res.data.token !== 'string') {
      throw new WxLoginError({
        code: 'unexpected_response',
        message: 'login answered 200 without a token',
        status: res.statusCode,
        data: res.data,
      });
    }
    writeToken(res.data.token);
    return res.data;
  }

  /**
   * Log in now (wx.login, then POST /v1/login) and store the token. Joins a
   * login already in progress instead of starting a second one: a wx.login
   * code is single use, and every wx.login rotates the session_key.
   * Resolves with the login answer ({token, openid, unionid?, new_user, …}).
   */
  function login() {
    if (!loginInFlight) {
      const clear = function () {
        loginInFlight = null;
      };
      loginInFlight = doLogin();
      loginInFlight.then(clear, clear);
    }
    return loginInFlight;
  }

  // A token for a call: the stored one, or a fresh login's.
  async function tokenForCall() {
    const stored = readToken();
    if (stored) return { token: stored, fresh: false };
    const answer = await login();
    return { token: answer.token, fresh: true };
  }

  // The token `rejected` got a 401: get a new one, once for all the calls that
  // failed with it. If another call already replaced it, use that token
  // instead of logging in a second time.
  async function replaceToken(rejected) {
    const stored = readToken();
    if (stored && stored !== rejected) return stored;
    if (stored) clearToken();
    const answer = await login();
    return answer.token;
  }

  // --- authenticated calls -----------------------------------------------

  /**
   * wx.request with the session token. `options` are wx.request's (url, method,
   * data, header, timeout, …; a url starting with `/` is relative to baseUrl),
   * without success/fail. Resolves with `{statusCode, data, header}` for a 2xx
   * answer, rejects with a WxLoginError otherwise.
   */
  async function request(options) {
    if (!options || typeof options.url !== 'string') throw new TypeError('request: `url` is required');
    const req = Object.assign({}, options);
    delete req.success;
    delete req.fail;
    delete req.complete;
    const first = await tokenForCall();
    let res = await send(req, first.token);
    // 401: revoked, expired or unknown token. Log in again and retry once.
    // Not when the token was just minted for this call: a new login would get
    // the same answer (e.g. a token refused for another app), so it would only
    // burn a wx.login.
    if (res.statusCode === 401 && !first.fresh) {
      const token = await replaceToken(first.token);
      res = await send(req, token);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorOf(res);
    return res;
  }

  async function call(method, url, data) {
    const res = await request({ url: url, method: method, data: data });
    return res.data;
  }

  /** GET /v1/session: {openid, unionid?, appid, created_at, expires_at, …}. */
  function session() {
    return call('GET', '/v1/session');
  }

  /**
   * POST /v1/decrypt: open data (wx.getUserProfile, getPhoneNumber's old
   * encrypted form, share info) → the decrypted object, watermark included.
   * Accepts WeChat's object as is ({encryptedData, iv, rawData?, signature?}).
   * Throws SessionKeyStaleError (code `session_key_stale`) when the data was
   * encrypted under a session_key the service no longer has.
   */
  async function decrypt(openData) {
    if (!openData || !openData.encryptedData || !openData.iv) {
      throw new TypeError('decrypt: `encryptedData` and `iv` are required');
    }
    const body = { encrypted_data: openData.encryptedData, iv: openData.iv };
    if (openData.rawData !== undefined && openData.rawData !== null) body.raw_data = openData.rawData;
    if (openData.signature !== undefined && openData.signature !== null) body.signature = openData.signature;
    try {
      const answer = await call('POST', '/v1/decrypt', body);
      return answer.data;
    } catch (e) {
      if (e instanceof WxLoginError && e.code === 'session_key_stale') {
        throw new SessionKeyStaleError({
          code: e.code,
          status: e.status,
          wechatErrcode: e.wechatErrcode,
          data: e.data,
          message:
            'this data was encrypted with a session_key the service no longer has: ' +
            'call client.login() (wx.login), fetch the data again, then decrypt that (' +
            e.message +
            ')',
        });
      }
      throw e;
    }
  }

  /** POST /v1/phone: the getPhoneNumber button's `code` → {phone_number, pure_phone_number, country_code}. */
  function phone(code) {
    return call('POST', '/v1/phone', { code: code });
  }

  /**
   * POST /v1/logout and forget the token. The local token is cleared even if
   * the service cannot be reached; a 401 (token already dead) counts as done.
   * Never logs in just to log out.
   */
  async function logout() {
    // A login under way would store its token after we cleared ours: let it land first.
    if (loginInFlight) await loginInFlight.catch(function () {});
    const token = readToken();
    clearToken();
    if (!token) return;
    const res = await send({ url: '/v1/logout', method: 'POST' }, token);
    if (res.statusCode === 401) return;
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorOf(res);
  }

  /** The stored token, or null. */
  function token() {
    return readToken();
  }

  return {
    login: login,
    request: request,
    session: session,
    decrypt: decrypt,
    phone: phone,
    logout: logout,
    token: token,
  };
}

// --- helpers --------------------------------------------------------------

function globalWx() {
  // In a mini program `wx` is a global binding (not always on globalThis).
  /* global wx */
  if (typeof wx !== 'undefined') return wx;
  return typeof globalThis !== 'undefined' ? globalThis.wx : undefined;
}

function hasHeader(header, name) {
  return Object.keys(header).some(function (key) {
    return key.toLowerCase() === name;
  });
}

function errMsg(err) {
  if (err && err.errMsg) return err.errMsg;
  if (err && err.message) return err.message;
  return String(err);
}

// A non-2xx response as a WxLoginError. wxlogin's errors carry a stable code;
// anything else (a proxy's 502 page, your own API's error shape) gets
// `http_<status>` and keeps its body in `.data`.
function errorOf(res) {
  const body = res.data;
  const error = body && typeof body === 'object' ? body.error : null;
  if (error && typeof error === 'object' && typeof error.code === 'string') {
    return new WxLoginError({
      code: error.code,
      message: error.message || error.code,
      status: res.statusCode,
      wechatErrcode: typeof error.wechat_errcode === 'number' ? error.wechat_errcode : null,
      data: body,
    });
  }
  return new WxLoginError({
    code: 'http_' + res.statusCode,
    message: 'HTTP ' + res.statusCode,
    status: res.statusCode,
    data: body,
  });
}

module.exports = { TOKEN_KEY, WxLoginError, SessionKeyStaleError, createClient };
