// An in-memory stand-in for the wxlogin service: logins from every platform
// (`platform`, Douyin's `anonymous_code`) and the token pair of
// `tokens.format = "jwt"`, on a clock the tests move, with failures the real
// one cannot be asked for (a refresh answering 503, every access token
// refused). No network: test/fake-runtimes.js calls handle(). client.test.js
// runs the same paths against the real service.
//
// What it knows, as the issues describe the service:
// - POST /v1/login {appid?, code?, anonymous_code?, platform?}: unknown
//   fields are refused (the real one has deny_unknown_fields); code "bogus"
//   → 400 invalid_code (40029); a code is single use. Opaque: {token,
//   token_type, expires_at, user_id, platform, appid, openid, new_user}.
//   JWT: {access_token, token_type, expires_in, refresh_token ("wxr_…"),
//   refresh_expires_at, user_id, platform, appid, openid, new_user}.
// - POST /v1/session/refresh {refresh_token}, no Authorization (one is
//   refused with 400): a new pair, as the real one answers it: the token
//   fields and `session: {…}`, no identity fields at the top level (not the
//   login answer's shape); the old refresh token is dead, and using it again
//   revokes the whole session (401 invalid_token). In opaque mode it wants a
//   Bearer token, so a body-only call is 401 unauthorized.
// - POST /v1/logout: Bearer (opaque token or access token) → 204. There is
//   no /v1/session/logout (404), as in the real service.
// - GET /v1/session, and GET|POST /api/… (your API: echoes the query and
//   body, `x-echo: 1` header): Bearer, 401 invalid_token when it is unknown,
//   revoked or expired.
// Times come from `now` (ms), so tests can move the clock.

export const SERVICE_URL = 'https://wxlogin.test';
const PLATFORMS = ['wechat', 'wecom', 'douyin', 'alipay', 'qq', 'baidu'];
const LOGIN_FIELDS = ['appid', 'code', 'anonymous_code', 'platform'];

/**
 * @param {object} [options]
 * @param {'opaque'|'jwt'} [options.format]
 * @param {() => number} [options.now]   the clock, ms
 * @param {number} [options.accessTtl]   JWT access token lifetime, seconds
 * @param {number} [options.refreshTtl]  refresh token lifetime, seconds
 */
export function createScriptedService({ format = 'opaque', now = Date.now, accessTtl = 600, refreshTtl = 30 * 86400 } = {}) {
  const sessions = new Map(); // id → {id, alive, platform, appid, openid}
  const access = new Map(); // token → {session, exp}
  const refresh = new Map(); // token → {session, exp, used}
  const usedCodes = new Set();
  const log = [];
  let minted = 0;
  const settings = { format, refreshStatus: null, rejectAllAccess: false };

  const error = (statusCode, code, extra = {}) => ({
    statusCode,
    data: { error: { code, message: `scripted ${code}`, ...extra } },
  });
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

  const sessionInfo = (s) => ({ session_id: String(s.id), user_id: `u-${s.openid}`, platform: s.platform, appid: s.appid, openid: s.openid });

  // The token fields, and beside them the login answer's identity
  // (`identity` set) or the refresh answer's `session` (null).
  function mint(session, newUser) {
    minted += 1;
    const identity =
      newUser === null
        ? { session: sessionInfo(session) }
        : { user_id: `u-${session.openid}`, platform: session.platform, appid: session.appid, openid: session.openid, new_user: newUser };
    if (settings.format === 'jwt') {
      const accessToken = `eyJ.scripted.${minted}`;
      const refreshToken = `wxr_scripted_${minted}`;
      access.set(accessToken, { session, exp: now() + accessTtl * 1000 });
      refresh.set(refreshToken, { session, exp: now() + refreshTtl * 1000, used: false });
      return {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: accessTtl,
        refresh_token: refreshToken,
        refresh_expires_at: iso(now() + refreshTtl * 1000),
        ...identity,
      };
    }
    const token = `wxl_scripted_${minted}`;
    const exp = now() + 30 * 86400 * 1000;
    access.set(token, { session, exp });
    return { token, token_type: 'Bearer', expires_at: iso(exp), ...identity };
  }

  function bearer(header) {
    const auth = Object.entries(header).find(([k]) => k.toLowerCase() === 'authorization');
    return auth && auth[1].startsWith('Bearer ') ? auth[1].slice(7) : null;
  }

  function authed(header) {
    const token = bearer(header);
    const entry = token && access.get(token);
    if (!entry || !entry.session.alive || now() >= entry.exp || settings.rejectAllAccess) return null;
    return { token, session: entry.session };
  }

  function login(data) {
    if (!data || typeof data !== 'object') return error(400, 'invalid_request');
    const unknown = Object.keys(data).filter((k) => !LOGIN_FIELDS.includes(k));
    if (unknown.length) return error(400, 'invalid_request', { message: `unknown field ${unknown[0]}` });
    const platform = data.platform === undefined ? 'wechat' : data.platform;
    if (!PLATFORMS.includes(platform)) return error(400, 'invalid_request');
    const anonymous = data.code === undefined && platform === 'douyin' && typeof data.anonymous_code === 'string';
    if (typeof data.code !== 'string' && !anonymous) return error(400, 'invalid_request');
    const code = anonymous ? data.anonymous_code : data.code;
    if (code === 'bogus' || usedCodes.has(code)) return error(400, 'invalid_code', { wechat_errcode: 40029 });
    usedCodes.add(code);
    const openid = `o_${platform}${anonymous ? '_anonymous' : ''}`;
    const newUser = ![...sessions.values()].some((s) => s.openid === openid);
    const session = { id: sessions.size + 1, alive: true, platform, appid: data.appid || 'wxapp', openid };
    sessions.set(session.id, session);
    return { statusCode: 200, data: mint(session, newUser) };
  }

  function refreshPair(header, data) {
    if (bearer(header) !== null) return error(400, 'invalid_request', { message: 'refresh takes no Authorization' });
    if (settings.format !== 'jwt') return error(401, 'unauthorized');
    if (settings.refreshStatus) return error(settings.refreshStatus, 'upstream_unavailable');
    const entry = data && refresh.get(data.refresh_token);
    if (!entry) return error(401, 'invalid_token');
    if (entry.used) {
      // Reuse: someone holds a copy. End the whole session.
      entry.session.alive = false;
      return error(401, 'invalid_token');
    }
    entry.used = true;
    if (!entry.session.alive || now() >= entry.exp) return error(401, 'invalid_token');
    return { statusCode: 200, data: mint(entry.session, null) };
  }

  function answer(method, path, query, header, data) {
    if (method === 'POST' && path === '/v1/login') return login(data);
    if (method === 'POST' && path === '/v1/session/refresh') return refreshPair(header, data);
    const who = authed(header);
    if (method === 'POST' && path === '/v1/logout') {
      if (!who) return error(401, 'invalid_token');
      who.session.alive = false;
      return { statusCode: 204, data: '' };
    }
    if (method === 'GET' && path === '/v1/session') {
      if (!who) return error(401, 'invalid_token');
      return { statusCode: 200, data: sessionInfo(who.session) };
    }
    if (path.startsWith('/api/')) {
      if (!who) return error(401, 'invalid_token');
      return { statusCode: 200, data: { openid: who.session.openid, method, query, body: data === undefined ? null : data }, header: { 'x-echo': '1' } };
    }
    return error(404, 'not_found');
  }

  /** One HTTP exchange: {method, url, header, body (string or undefined)} → {statusCode, body (string), header}. */
  function handle({ method, url, header = {}, body }) {
    const target = new URL(url);
    let data;
    if (body !== undefined && body !== '') {
      try {
        data = JSON.parse(body);
      } catch {
        data = body;
      }
    }
    const record = { method, path: target.pathname, query: Object.fromEntries(target.searchParams), header: { ...header }, data, status: null };
    log.push(record);
    const res = answer(method, target.pathname, record.query, header, data);
    record.status = res.statusCode;
    const text = res.data === '' || res.data === undefined ? '' : JSON.stringify(res.data);
    return { statusCode: res.statusCode, body: text, header: { 'content-type': 'application/json', ...(res.header || {}) } };
  }

  return {
    handle,
    log,
    settings,
    /** Requests made to `METHOD /path`. */
    calls: (method, path) => log.filter((r) => r.method === method && r.path === path),
    /** Every session ends (as an admin revoking users). */
    revokeAll: () => sessions.forEach((s) => (s.alive = false)),
    /** Every access token minted so far stops being accepted (e.g. a signing key rotated); refresh tokens still work. */
    expireAccessTokens: () => access.forEach((entry) => (entry.exp = -Infinity)),
    /** Use a refresh token as another copy of it would: it rotates, so the holder's copy is now a reused one. */
    useRefreshToken: (token) => refreshPair({}, { refresh_token: token }),
  };
}
