// wxlogin client for mini programs (WeChat, WeCom, Douyin, Alipay, QQ, Baidu,
// and uni-app on top of them): a thin wrapper around the platform's request.
//
// - finds its runtime (the global `wx`, `tt`, `my`, `qq`, `swan` or `uni`) or
//   is told (`platform` + `api`), and logs in with that platform's login call
//   + POST /v1/login when there is no token, once for any number of
//   concurrent calls (single flight);
// - sends `Authorization: Bearer <token>` (and `X-Wx-Appid` when an appid is set);
// - opaque tokens: on a 401 logs in again and retries the call once;
// - token pairs (a JWT access token + a rotating refresh token, when the
//   service runs with `tokens.format = "jwt"`): refreshes before a call when
//   the access token is about to expire, and on a 401 (one refresh for all
//   concurrent callers); a refresh answering 401 means a full login; the call
//   is retried once, never more;
// - turns the service's `{"error":{"code","message","wechat_errcode"}}` into a
//   WxLoginError whose `.code` is one of the documented, stable codes.
//
// This file is the single source: the browser demo imports it as an ES module
// and scripts/build.mjs turns it into CommonJS (dist/index.cjs and
// miniprogram_dist/index.js). It is written in ES2017 (no `?.`, `??`, object
// spread or class fields) so that the mini program toolchain's parser takes it
// as is, and it must only use `export function|class|const` declarations, the
// only forms the build script rewrites. It stays one file because the service
// binary embeds it as the demo page's `/sdk/wxlogin.js`, which cannot import
// siblings.

/** The storage key under which the credentials (token, or token pair) are kept. */
export const TOKEN_KEY = 'wxlogin_token';

/** An error of the wxlogin service (or of the transport around it). */
export class WxLoginError extends Error {
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
export class SessionKeyStaleError extends WxLoginError {
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
 * @param {string} [options.platform] `wechat`, `wecom`, `douyin`, `alipay`, `qq`
 *   or `baidu`; found from the globals when absent (`wecom` never is: WeCom's
 *   `wx` is WeChat's plus `wx.qy`, so say it)
 * @param {object} [options.api]    the platform's global object (`wx`, `tt`, `my`,
 *   `qq`, `swan` or `uni`); defaults to the global one
 * @param {object} [options.wx]     older name of `api`, for WeChat
 * @param {string} [options.provider] uni-app only: `uni.login`'s provider
 *   (`weixin`, `toutiao`, `alipay`, `qq`, `baidu`); also tells the platform
 * @param {string} [options.storageKey] defaults to TOKEN_KEY
 * @param {function(): number} [options.now] the clock (ms since the epoch), for tests
 */
export function createClient(options) {
  if (!options || typeof options.baseUrl !== 'string' || options.baseUrl === '') {
    throw new TypeError('createClient: `baseUrl` is required');
  }
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const appid = options.appid || null;
  const storageKey = options.storageKey || TOKEN_KEY;
  const now = typeof options.now === 'function' ? options.now : Date.now;
  const runtime = runtimeOf(options);
  const platform = runtime.platform;

  // The login and the refresh in progress, each shared by every caller that
  // needs a token meanwhile.
  let loginInFlight = null;
  let refreshInFlight = null;

  // --- storage: the credentials survive restarts of the mini program --------
  //
  // Opaque mode stores the token string (as before); pair mode one object
  // {access_token, expires_at, renew_at, refresh_token, refresh_expires_at}
  // (times in ms), written at once so that a pair is never half stored.

  function readCredentials() {
    let value;
    try {
      value = runtime.storage.get(storageKey);
    } catch (e) {
      return null; // unreadable storage is the same as none: log in again
    }
    if (typeof value === 'string' && value !== '') return { access: value, refresh: null };
    if (value && typeof value === 'object' && typeof value.access_token === 'string' && typeof value.refresh_token === 'string') {
      return {
        access: value.access_token,
        expiresAt: numberOr(value.expires_at, null),
        renewAt: numberOr(value.renew_at, null),
        refresh: value.refresh_token,
        refreshExpiresAt: numberOr(value.refresh_expires_at, null),
      };
    }
    return null;
  }

  function writeCredentials(c) {
    const value =
      c.refresh === null
        ? c.access
        : {
            access_token: c.access,
            expires_at: c.expiresAt,
            renew_at: c.renewAt,
            refresh_token: c.refresh,
            refresh_expires_at: c.refreshExpiresAt,
          };
    try {
      runtime.storage.set(storageKey, value);
    } catch (e) {
      // Full or broken storage: the credentials are then lost on restart,
      // which only costs one more login. Not worth failing the call for.
    }
  }

  function clearCredentials() {
    try {
      runtime.storage.remove(storageKey);
    } catch (e) {
      // as above
    }
  }

  // Credentials from a login or refresh answer. A refresh_token means the
  // pair mode; `expires_in` is relative, so the expiry is taken from our own
  // clock, less a margin (30 s, or half the lifetime when that is shorter) for
  // the request's travel time and clock skew.
  function credentialsOf(answer, what, status) {
    if (answer && typeof answer.access_token === 'string' && typeof answer.refresh_token === 'string') {
      const seconds = Number(answer.expires_in);
      const lifetime = isFinite(seconds) && seconds > 0 ? seconds * 1000 : null;
      const refreshExpiresAt = typeof answer.refresh_expires_at === 'string' ? Date.parse(answer.refresh_expires_at) : NaN;
      return {
        access: answer.access_token,
        expiresAt: lifetime === null ? null : now() + lifetime,
        renewAt: lifetime === null ? null : now() + lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 2),
        refresh: answer.refresh_token,
        refreshExpiresAt: isNaN(refreshExpiresAt) ? null : refreshExpiresAt,
      };
    }
    if (answer && typeof answer.token === 'string') return { access: answer.token, refresh: null };
    throw new WxLoginError({
      code: 'unexpected_response',
      message: what + ' answered ' + status + ' without a token',
      status: status,
      data: answer,
    });
  }

  // Pair mode only: is the access token too close to its expiry to send?
  function isStale(c) {
    return c.refresh !== null && c.renewAt !== null && now() >= c.renewAt;
  }

  // --- transport ------------------------------------------------------------

  function urlOf(url) {
    return /^https?:\/\//i.test(url) ? url : baseUrl + (url.charAt(0) === '/' ? '' : '/') + url;
  }

  // One request as a promise. Resolves with the response for every HTTP
  // status (as wx.request does); rejects only when no response arrived.
  function send(req, token) {
    const header = Object.assign({}, req.header);
    if (req.data !== undefined && !hasHeader(header, 'content-type')) {
      header['content-type'] = 'application/json';
    }
    if (appid) header['X-Wx-Appid'] = appid;
    if (token) header.Authorization = 'Bearer ' + token;
    return runtime.request(Object.assign({}, req, { url: urlOf(req.url), method: req.method || 'GET', header: header }));
  }

  // --- login ------------------------------------------------------------------

  async function doLogin() {
    const codes = await runtime.login();
    const body = {};
    if (appid) body.appid = appid;
    if (codes.code) body.code = codes.code;
    if (codes.anonymousCode) body.anonymous_code = codes.anonymousCode;
    if (platform !== 'wechat') body.platform = platform;
    // Straight to send(): the login itself is never retried nor re-logged-in,
    // whatever it answers (a bad code stays bad; a loop would burn codes).
    const res = await send({ url: '/v1/login', method: 'POST', data: body });
    if (res.statusCode !== 200) throw errorOf(res);
    writeCredentials(credentialsOf(res.data, 'login', res.statusCode));
    return res.data;
  }

  /**
   * Log in now (the platform's login call, then POST /v1/login) and store the
   * credentials. Joins a login already in progress instead of starting a
   * second one: a login code is single use, and every login rotates the
   * session_key. Resolves with the login answer ({token, …} or
   * {access_token, refresh_token, …}, plus openid, user_id, platform, new_user).
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

  function loginForToken() {
    return login().then(function (answer) {
      return answer.access_token || answer.token;
    });
  }

  // --- refresh (pair mode) ----------------------------------------------------

  // POST /v1/session/refresh with the refresh token in the body and no
  // Authorization. Resolves with the new credentials, or null when the
  // service answers 401 (expired, revoked, or reused: a reused refresh token
  // revokes its whole session). The answer is the token fields plus
  // `session: {…}`, not the login answer: only the token fields are read.
  async function exchangeRefresh(refreshToken) {
    const res = await send({ url: '/v1/session/refresh', method: 'POST', data: { refresh_token: refreshToken } });
    if (res.statusCode === 401) return null;
    if (res.statusCode !== 200) throw errorOf(res);
    return credentialsOf(res.data, 'refresh', res.statusCode);
  }

  async function doRefresh(c) {
    const known = c.refreshExpiresAt === null || now() < c.refreshExpiresAt;
    const next = known ? await exchangeRefresh(c.refresh) : null;
    const current = readCredentials();
    // A login() that finished meanwhile wins: its session is the newer one.
    if (current !== null && current.refresh !== c.refresh) return current.access;
    if (next === null) {
      // The pair is dead: drop it, and a full login (joined with any other).
      clearCredentials();
      return loginForToken();
    }
    writeCredentials(next);
    return next.access;
  }

  // A token to use instead of `stale` (which got a 401, or is about to
  // expire): the one another caller already got, else a refresh (pair
  // mode) or a login (opaque mode), once for all the callers. The stored
  // credentials are read again here, synchronously before a refresh starts, so
  // a refresh token is never sent twice by this client (a second use would
  // revoke the session).
  function renew(stale) {
    if (loginInFlight) return loginForToken();
    if (refreshInFlight) return refreshInFlight;
    const c = readCredentials();
    if (c && c.access !== stale && !isStale(c)) return Promise.resolve(c.access);
    if (!c || c.refresh === null) {
      if (c) clearCredentials();
      return loginForToken();
    }
    const clear = function () {
      refreshInFlight = null;
    };
    refreshInFlight = doRefresh(c);
    refreshInFlight.then(clear, clear);
    return refreshInFlight;
  }

  // A token for a call: the stored one, a refreshed one when it is about to
  // expire, or a fresh login's. `fresh` tokens are not renewed on a 401: a
  // new one would most likely get the same answer (e.g. a token refused for
  // another app), so it would only burn a login.
  async function tokenForCall() {
    const c = readCredentials();
    if (c && !isStale(c)) return { token: c.access, fresh: false };
    if (c) return { token: await renew(c.access), fresh: true };
    return { token: await loginForToken(), fresh: true };
  }

  // --- authenticated calls -----------------------------------------------

  /**
   * The platform's request with the session token. `options` are wx.request's
   * (url, method, data, header, timeout, …; a url starting with `/` is
   * relative to baseUrl), without success/fail; on Alipay `header` becomes
   * my.request's `headers`. Resolves with `{statusCode, data, header}` for a
   * 2xx answer, rejects with a WxLoginError otherwise.
   */
  async function request(options) {
    if (!options || typeof options.url !== 'string') throw new TypeError('request: `url` is required');
    const req = Object.assign({}, options);
    delete req.success;
    delete req.fail;
    delete req.complete;
    const first = await tokenForCall();
    let res = await send(req, first.token);
    // 401: revoked, expired or unknown token. Renew it and retry once.
    if (res.statusCode === 401 && !first.fresh) {
      res = await send(req, await renew(first.token));
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorOf(res);
    return res;
  }

  async function call(method, url, data) {
    const res = await request({ url: url, method: method, data: data });
    return res.data;
  }

  /** GET /v1/session: {openid, unionid?, appid, user_id, platform, created_at, expires_at, …}. */
  function session() {
    return call('GET', '/v1/session');
  }

  /**
   * POST /v1/decrypt: open data (wx.getUserProfile, getPhoneNumber's old
   * encrypted form, share info; the other platforms' encrypted profile and
   * phone data) → the decrypted object, watermark included. Accepts WeChat's
   * object as is ({encryptedData, iv, rawData?, signature?}), and Alipay's
   * my.getPhoneNumber answer as is ({response}: the whole envelope string,
   * no iv). `iv` is sent only when it is not empty.
   * Throws SessionKeyStaleError (code `session_key_stale`) when the data was
   * encrypted under a session_key the service no longer has.
   */
  async function decrypt(openData) {
    const encrypted = openData ? openData.encryptedData || openData.response : null;
    if (typeof encrypted !== 'string' || encrypted === '') {
      throw new TypeError('decrypt: `encryptedData` is required (with its `iv`; Alipay: `response`)');
    }
    const body = { encrypted_data: encrypted };
    if (openData.iv) body.iv = openData.iv;
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
   * End the session and forget the credentials. They are cleared even if the
   * service cannot be reached; a 401 (session already over) counts as done.
   * Never logs in just to log out. POST /v1/logout with the token (pair: the
   * access token; one that is expired or refused is refreshed once first, and
   * a refresh answering 401 means the session is over).
   */
  async function logout() {
    // A login or refresh under way would store its credentials after we
    // cleared ours: let it land first.
    if (loginInFlight) await loginInFlight.catch(function () {});
    if (refreshInFlight) await refreshInFlight.catch(function () {});
    const c = readCredentials();
    clearCredentials();
    if (!c) return;
    const logoutWith = function (accessToken) {
      return send({ url: '/v1/logout', method: 'POST' }, accessToken);
    };
    let res;
    if (c.refresh === null) {
      res = await logoutWith(c.access);
    } else {
      let refreshed = isStale(c) ? await exchangeRefresh(c.refresh) : c;
      if (refreshed === null) return;
      res = await logoutWith(refreshed.access);
      if (res.statusCode === 401 && refreshed === c) {
        refreshed = await exchangeRefresh(c.refresh);
        if (refreshed === null) return;
        res = await logoutWith(refreshed.access);
      }
    }
    if (res.statusCode === 401) return;
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorOf(res);
  }

  /** The stored token (opaque token or access token), or null. */
  function token() {
    const c = readCredentials();
    return c ? c.access : null;
  }

  /**
   * What is stored: null, or {format: 'opaque', access_token} or {format:
   * 'jwt', access_token, expires_at, refresh_token, refresh_expires_at} (times
   * in ms since the epoch, or null when the service did not say).
   */
  function tokens() {
    const c = readCredentials();
    if (!c) return null;
    if (c.refresh === null) return { format: 'opaque', access_token: c.access };
    return {
      format: 'jwt',
      access_token: c.access,
      expires_at: c.expiresAt,
      refresh_token: c.refresh,
      refresh_expires_at: c.refreshExpiresAt,
    };
  }

  /**
   * A token good for a call now, for requests the client does not make
   * (wx.uploadFile, a WebSocket, …): logs in or refreshes first if needed.
   */
  function accessToken() {
    return tokenForCall().then(function (t) {
      return t.token;
    });
  }

  return {
    platform: platform,
    login: login,
    request: request,
    session: session,
    decrypt: decrypt,
    phone: phone,
    logout: logout,
    token: token,
    tokens: tokens,
    accessToken: accessToken,
  };
}

// --- runtimes ---------------------------------------------------------------
//
// Each platform offers the three things the client needs under its own
// names: a login call that gives a one-time code, an HTTP request, and
// synchronous storage. runtimeOf() finds the platform and adapts its API to
// {platform, login() → {code, anonymousCode}, request(req) → {statusCode,
// data, header}, storage: {get, set, remove}}.

// Margin taken off an access token's lifetime (at most half of it).
const EXPIRY_MARGIN_MS = 30000;

// The global object of each platform. WeCom runs in WeChat's `wx` (plus
// `wx.qy`), so it is only ever chosen by the `platform` option.
const GLOBAL_OF = { wechat: 'wx', wecom: 'wx', douyin: 'tt', alipay: 'my', qq: 'qq', baidu: 'swan' };

// Looked for in this order when nothing is said, after `uni` (uni-app runs
// over a native global, and wraps it): QQ before WeChat (QQ's runtime may
// offer `wx` as well [uncertain]), WeChat last.
const DETECT = [
  ['qq', 'qq'],
  ['tt', 'douyin'],
  ['swan', 'baidu'],
  ['my', 'alipay'],
  ['wx', 'wechat'],
];

// uni.login providers and uni-app platform names → wxlogin platforms.
// uniPlatform is documented by uni.getSystemInfoSync (`mp-weixin`,
// `mp-alipay`, …: https://uniapp.dcloud.net.cn/api/system/info.html). Not
// process.env.UNI_PLATFORM: it is a compile-time substitution that a prebuilt
// copy of this file is not guaranteed to get. WeCom has no uni-app name.
const UNI_PROVIDERS = { weixin: 'wechat', toutiao: 'douyin', alipay: 'alipay', qq: 'qq', baidu: 'baidu' };
const UNI_PLATFORMS = { 'mp-weixin': 'wechat', 'mp-toutiao': 'douyin', 'mp-alipay': 'alipay', 'mp-qq': 'qq', 'mp-baidu': 'baidu' };

function runtimeOf(options) {
  let platform = options.platform || null;
  if (platform !== null && !own(GLOBAL_OF, platform)) {
    throw new TypeError(
      'createClient: unknown `platform` ' + JSON.stringify(platform) + ' (' + Object.keys(GLOBAL_OF).join(', ') + ')',
    );
  }
  const uni = globalApi('uni');
  let api = options.api || options.wx || null;
  if (api === null && platform !== null) {
    // uni-app wraps every platform but WeCom (no wx.qy under uni).
    api = uni && platform !== 'wecom' ? uni : globalApi(GLOBAL_OF[platform]);
  } else if (api === null) {
    api = uni;
    for (let i = 0; !api && i < DETECT.length; i++) {
      api = globalApi(DETECT[i][0]);
      if (api) platform = DETECT[i][1];
    }
  } else if (platform === null && !options.api) {
    platform = 'wechat'; // `wx` given: the option of the WeChat-only versions
  }
  if (!api) {
    throw new TypeError(
      'createClient: no `wx` API (nor `tt`, `my`, `qq`, `swan`, `uni`): pass `api` and `platform` outside a mini program',
    );
  }
  if (uni && api === uni) return uniRuntime(api, platform || uniPlatformOf(api, options.provider), options.provider);
  if (platform === null) {
    for (let i = 0; platform === null && i < DETECT.length; i++) {
      if (api === globalApi(DETECT[i][0])) platform = DETECT[i][1];
    }
    if (platform === null) throw new TypeError('createClient: which platform is `api`? Pass `platform` with it');
  }
  return nativeRuntime(api, platform);
}

function uniPlatformOf(api, provider) {
  if (provider) {
    if (own(UNI_PROVIDERS, provider)) return UNI_PROVIDERS[provider];
    throw new TypeError('createClient: uni-app provider ' + JSON.stringify(provider) + ' is not a wxlogin platform');
  }
  let hint;
  try {
    hint = api.getSystemInfoSync().uniPlatform;
  } catch (e) {
    hint = undefined;
  }
  if (own(UNI_PLATFORMS, hint)) return UNI_PLATFORMS[hint];
  throw new TypeError(
    'createClient: uni-app on ' + (hint ? JSON.stringify(hint) : 'an unknown platform') + ': pass `platform`',
  );
}

function need(name, fn) {
  if (!fn || typeof fn !== 'function') throw new TypeError('createClient: no `' + name + '` in this runtime');
}

function nativeRuntime(api, platform) {
  const alipay = platform === 'alipay';
  need(GLOBAL_OF[platform] + '.request', api.request);
  return {
    platform: platform,
    login: nativeLogin(api, platform),
    request: alipay ? alipayRequest(api) : wxRequest(api),
    storage: alipay ? alipayStorage(api) : wxStorage(api),
  };
}

// The login call of each platform and where its code is. Sources: WeChat
// wx.login → code; WeCom wx.qy.login → code, valid 5 minutes, single use like
// WeChat's [uncertain]
// (https://developers.weixin.qq.com/miniprogram/dev/dev_wxwork/dev-doc/qywx-api/login/wxqylogin.html);
// Douyin tt.login({force}) → code (only when the user is logged in to the
// host app) and anonymousCode (always), both single use, 3 minutes; no
// `force` is passed, so the platform's default applies
// (https://developer.open-douyin.com/docs/resource/zh-CN/mini-game/develop/api/open-capacity/log-in/tt-login);
// Alipay my.getAuthCode({scopes: 'auth_base'}) → authCode, silent, single use
// (auth_base gives the user id; mirror of the Alipay doc:
// https://blog.csdn.net/qq_42363090/article/details/106639741); QQ qq.login →
// code, single use, lifetime not documented [uncertain]; Baidu
// swan.getLoginCode → code (the newer name of swan.login, kept as the
// fallback), single use, 10 minutes by one copy of the doc and 5 by another
// [uncertain] (mirror: https://w3cschool.cn/baiduapp/baiduapp-wp4k39sn.html).
function nativeLogin(api, platform) {
  const owner = platform === 'wecom' ? 'qy' : null;
  let method = 'login';
  let args = {};
  if (platform === 'alipay') {
    method = 'getAuthCode';
    args = { scopes: 'auth_base' };
  } else if (platform === 'baidu' && typeof api.getLoginCode === 'function') {
    method = 'getLoginCode';
  }
  const name = GLOBAL_OF[platform] + (owner ? '.' + owner : '') + '.' + method;
  const target = function () {
    return owner ? api[owner] : api;
  };
  need(name, target() && target()[method]);
  return function () {
    // Looked up at each call, as `api.request` is: the API object may be wrapped later.
    return loginCall(name, target()[method], target(), args, function (res) {
      return {
        code: platform === 'alipay' ? res.authCode : res.code,
        anonymousCode: platform === 'douyin' ? res.anonymousCode : undefined,
      };
    });
  };
}

// uni-app: uni.login, uni.request and uni storage, which uni-app gives the
// same shape on every platform (statusCode/header, key → value storage). On
// Alipay uni.login takes `scopes` and answers the auth code; whether as
// `code` or `authCode` is [uncertain], both are read. Douyin's anonymousCode
// is read too.
function uniRuntime(api, platform, provider) {
  need('uni.request', api.request);
  need('uni.login', api.login);
  const args = {};
  if (provider) args.provider = provider;
  if (platform === 'alipay') args.scopes = 'auth_base';
  return {
    platform: platform,
    login: function () {
      return loginCall('uni.login', api.login, api, args, function (res) {
        return { code: res.code || res.authCode, anonymousCode: res.anonymousCode };
      });
    },
    request: wxRequest(api),
    storage: wxStorage(api),
  };
}

// One callback-style login call as a promise of {code, anonymousCode}; no
// code at all (Douyin: not even an anonymous one) is a failure.
function loginCall(name, fn, self, args, codesOf) {
  return new Promise(function (resolve, reject) {
    fn.call(
      self,
      Object.assign({}, args, {
        success: function (res) {
          const codes = res ? codesOf(res) : {};
          if (codes.code || codes.anonymousCode) resolve(codes);
          else reject(new WxLoginError({ code: 'wx_login_failed', message: name + ' gave no code' }));
        },
        fail: function (err) {
          reject(new WxLoginError({ code: 'wx_login_failed', message: name + ' failed: ' + errMsg(err) }));
        },
      }),
    );
  });
}

function networkError(req, err) {
  return new WxLoginError({
    code: 'network_error',
    message: 'request to ' + req.url + ' failed: ' + errMsg(err),
    status: 0,
  });
}

// wx.request and its look-alikes (tt, qq, swan, uni): `header` in,
// {statusCode, data, header} out, `success` for every HTTP status.
function wxRequest(api) {
  return function (req) {
    return new Promise(function (resolve, reject) {
      api.request(
        Object.assign({}, req, {
          success: resolve,
          fail: function (err) {
            reject(networkError(req, err));
          },
        }),
      );
    });
  };
}

// my.request takes `headers` and answers {status, headers, data}
// (https://miniprogram.alipay.com/docs/miniprogram/mpdev/api_network_request).
// Its default dataType was `json` before base library 2.9.5 and
// `json_or_text` since; `json` fails (error 14) on a body that is not JSON,
// such as logout's empty 204. So unless the caller chose, ask for `text`
// and parse it here as wx.request does (JSON when it parses, else the text).
// A non-2xx status is reported through `fail` (error 19, "HTTP错误"); that
// the response's status, headers and data come with it is [uncertain]: when
// they do, it is handled as a response, else as a network error.
function alipayRequest(api) {
  return function (req) {
    const options = Object.assign({}, req, { headers: req.header });
    delete options.header;
    const parse = options.dataType === undefined;
    if (parse) options.dataType = 'text';
    return new Promise(function (resolve, reject) {
      api.request(
        Object.assign(options, {
          success: function (res) {
            resolve(alipayResponse(res, parse));
          },
          fail: function (err) {
            if (err && typeof (err.status === undefined ? err.statusCode : err.status) === 'number') {
              resolve(alipayResponse(err, parse));
            } else {
              reject(networkError(req, err));
            }
          },
        }),
      );
    });
  };
}

function alipayResponse(res, parse) {
  let data = res.data;
  if (parse && typeof data === 'string' && data !== '') {
    try {
      data = JSON.parse(data);
    } catch (e) {
      // not JSON: the text, as wx.request gives it
    }
  }
  return Object.assign({}, res, {
    statusCode: res.status === undefined ? res.statusCode : res.status,
    data: data,
    header: res.headers || res.header || {},
  });
}

// getStorageSync(key) → value; setStorageSync(key, value); removeStorageSync(key).
function wxStorage(api) {
  return {
    get: function (key) {
      return api.getStorageSync(key);
    },
    set: function (key, value) {
      api.setStorageSync(key, value);
    },
    remove: function (key) {
      if (typeof api.removeStorageSync === 'function') api.removeStorageSync(key);
      else api.setStorageSync(key, '');
    },
  };
}

// Alipay's take one object: my.getStorageSync({key}) → {data},
// my.setStorageSync({key, data}), my.removeStorageSync({key}).
function alipayStorage(api) {
  return {
    get: function (key) {
      const res = api.getStorageSync({ key: key });
      return res ? res.data : null;
    },
    set: function (key, value) {
      api.setStorageSync({ key: key, data: value });
    },
    remove: function (key) {
      api.removeStorageSync({ key: key });
    },
  };
}

// A platform's global object, or undefined. In a mini program these are
// global bindings, not always properties of globalThis.
function globalApi(name) {
  /* global wx, tt, my, qq, swan, uni */
  let value;
  if (name === 'wx' && typeof wx !== 'undefined') value = wx;
  else if (name === 'tt' && typeof tt !== 'undefined') value = tt;
  else if (name === 'my' && typeof my !== 'undefined') value = my;
  else if (name === 'qq' && typeof qq !== 'undefined') value = qq;
  else if (name === 'swan' && typeof swan !== 'undefined') value = swan;
  else if (name === 'uni' && typeof uni !== 'undefined') value = uni;
  else if (typeof globalThis !== 'undefined') value = globalThis[name];
  return value || undefined;
}

// --- helpers --------------------------------------------------------------

function own(map, key) {
  return typeof key === 'string' && Object.prototype.hasOwnProperty.call(map, key);
}

function numberOr(value, fallback) {
  return typeof value === 'number' && isFinite(value) ? value : fallback;
}

function hasHeader(header, name) {
  return Object.keys(header).some(function (key) {
    return key.toLowerCase() === name;
  });
}

function errMsg(err) {
  if (err && err.errMsg) return err.errMsg;
  if (err && err.errorMessage) return err.errorMessage; // Alipay
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
