// The demo "mini program": the real SDK (/sdk/wxlogin.js is
// clients/miniprogram/src/index.js, unchanged) on a platform global played by
// the simulator (wx-shim.js). The platform switch picks one of the apps the
// service serves; each button is what a mini program page would do there.

import { createClient, WxLoginError } from '/sdk/wxlogin.js';
import { createShim, PLATFORMS, promisify } from '/demo/wx-shim.js';

const $ = (selector) => document.querySelector(selector);

const config = await (await fetch('/demo/config.json')).json();
// Older services name one WeChat app only.
const apps = config.apps || [{ platform: 'wechat', appid: config.appid }];
const tokenFormat = config.tokens || 'opaque';

// The app in use: {platform, appid, name, api (the platform's global), client}.
let current = null;

function select(app) {
  const api = createShim({ platform: app.platform, simulator: config.simulator, appid: app.appid, onExchange: logExchange });
  // The service is this page's origin; a mini program would use its HTTPS domain.
  const client = createClient({ baseUrl: location.origin, appid: app.appid, platform: app.platform, api });
  current = { ...app, name: PLATFORMS[app.platform].name, api, client };

  $('#host').textContent = current.name;
  $('#appid').textContent = app.appid;
  $('#platform-name').textContent = current.name;
  $(`#apps input[value="${app.appid}"]`).checked = true;
  document.body.dataset.platform = app.platform;
  clearProfile();
  enableButtons(true);
  showToken();
  return current;
}

// --- the platform switch ------------------------------------------------------

for (const app of apps) {
  const label = element('label', 'app');
  const input = element('input');
  Object.assign(input, { type: 'radio', name: 'app', value: app.appid });
  input.dataset.platform = app.platform;
  input.addEventListener('change', () => {
    select(app);
    history.replaceState(null, '', `#${app.platform}`);
    setStatus('switch', 'ok', greeting());
  });
  label.append(input, element('b', '', PLATFORMS[app.platform]?.name || app.platform), element('code', '', app.appid));
  $('#apps').append(label);
}

function greeting() {
  return current.client.token()
    ? `${current.name}: a token is stored from an earlier visit; "Show session" uses it (or logs in again if it is dead)`
    : `${current.name}: logged out`;
}

// --- the buttons ---------------------------------------------------------------

const actions = {
  // client.login(): the platform's login call → code → POST /v1/login → token in storage.
  async login() {
    const answer = await current.client.login();
    show({
      user_id: answer.user_id,
      platform: answer.platform,
      openid: answer.openid,
      unionid: answer.unionid,
      expires: answer.expires_at,
    });
    return `Logged in${answer.new_user ? ' (new user)' : ''}`;
  },

  // Any authenticated call logs in by itself when there is no token yet.
  async session() {
    const session = await current.client.session();
    show({
      user_id: session.user_id,
      platform: session.platform,
      openid: session.openid,
      unionid: session.unionid,
      expires: session.expires_at,
    });
    return `Session valid until ${formatTime(session.expires_at)}`;
  },

  // Open data is encrypted with the session_key of the latest login, so a
  // mini program logs in before asking for it (never after).
  async userinfo() {
    if (!current.client.token()) await current.client.login();
    const profile = await promisify(current.api.getUserProfile)({ desc: 'show your profile' });
    const user = await current.client.decrypt(profile);
    // Each platform names the fields its own way (WeCom: name, Baidu: nickname).
    const nickname = user.nickName || user.nickname || user.name;
    show({ nickname, city: [user.city, user.province, user.country].filter(Boolean).join(', ') || undefined });
    return `Got user info of ${nickname}`;
  },

  // WeChat, Douyin: <button open-type="getPhoneNumber">, whose event.detail.code
  // goes to POST /v1/phone. Elsewhere the phone number comes encrypted
  // (Alipay: my.getPhoneNumber's envelope) and goes to POST /v1/decrypt.
  async phone() {
    if (!current.client.token()) await current.client.login();
    const detail = await promisify(current.api.getPhoneNumber)();
    let phone;
    if (detail.code) {
      const info = await current.client.phone(detail.code);
      phone = info.country_code === '86' ? info.phone_number : `+${info.country_code} ${info.pure_phone_number}`;
    } else {
      const data = await current.client.decrypt(detail);
      phone = data.phoneNumber || data.mobile;
    }
    show({ phone });
    return 'Got phone number';
  },

  async logout() {
    await current.client.logout();
    clearProfile();
    return 'Logged out';
  },
};

for (const [name, action] of Object.entries(actions)) {
  $(`#${name}`).addEventListener('click', () => run(name, action));
}
$('#clear-log').addEventListener('click', () => {
  $('#log').replaceChildren();
});

// One action at a time; #status says which ran and how it went
// (data-action, data-state = busy | ok | error: the browser test waits on it).
async function run(name, action) {
  enableButtons(false);
  setStatus(name, 'busy', '…');
  try {
    setStatus(name, 'ok', await action());
  } catch (e) {
    setStatus(name, 'error', describeError(e));
  } finally {
    enableButtons(true);
    showToken();
  }
}

// Alipay has no encrypted profile (my.getOpenUserInfo answers plain JSON).
function enableButtons(on) {
  document.querySelectorAll('.actions button, #apps input').forEach((b) => (b.disabled = !on));
  const userinfo = $('#userinfo');
  const profile = Boolean(current && current.api.getUserProfile);
  userinfo.disabled = !on || !profile;
  userinfo.title = profile ? '' : `${current.name} gives no encrypted profile`;
}

function setStatus(action, state, text) {
  const status = $('#status');
  status.dataset.action = action;
  status.dataset.state = state;
  status.textContent = text;
}

function describeError(e) {
  if (e instanceof WxLoginError) {
    return `${e.code}${e.status ? ` (HTTP ${e.status})` : ''}: ${e.message}`;
  }
  return String(e.message || e);
}

// --- the profile card -----------------------------------------------------------

const FIELDS = { user_id: '#user_id', platform: '#platform', openid: '#openid', unionid: '#unionid', nickname: '#nickname', city: '#city', phone: '#phonenumber', expires: '#expires' };

function show(values) {
  for (const [field, value] of Object.entries(values)) {
    if (value === undefined || value === null) continue;
    $(FIELDS[field]).textContent = field === 'expires' ? formatTime(value) : value;
  }
  const nickname = $('#nickname').textContent;
  $('#avatar').textContent = nickname && nickname !== '—' ? nickname.charAt(0).toUpperCase() : '?';
  $('#profile').classList.add('signed-in');
}

function clearProfile() {
  for (const selector of Object.values(FIELDS)) $(selector).textContent = '—';
  $('#avatar').textContent = '?';
  $('#profile').classList.remove('signed-in');
}

function formatTime(rfc3339) {
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime()) ? rfc3339 : date.toLocaleString();
}

// --- the token panel ------------------------------------------------------------

// The parts of a JWT, decoded for display. Nothing is verified here: that
// is the job of the backends, with the keys at /.well-known/jwks.json.
function decodeJwt(jwt) {
  const part = (s) => {
    const base64 = s.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  };
  const [header, payload] = jwt.split('.');
  try {
    return { header: part(header), payload: part(payload) };
  } catch {
    return null;
  }
}

function showToken() {
  $('#token-format').textContent = tokenFormat === 'jwt' ? 'JWT + refresh token' : 'opaque';
  $('#token-format').dataset.format = tokenFormat;
  const stored = current.client.tokens();
  const claims = stored && stored.format === 'jwt' ? decodeJwt(stored.access_token) : null;
  $('#claims').hidden = !claims;
  if (!stored) {
    $('#token-summary').textContent = `No token stored for ${current.name} (${current.appid}).`;
  } else if (stored.format === 'opaque') {
    $('#token-summary').textContent =
      `Opaque token ${cut(stored.access_token)}: a random string the service looks up on every call ` +
      `(your backend asks /v1/auth or /v1/introspect).`;
  } else {
    const exp = claims ? `, expires ${new Date(claims.payload.exp * 1000).toLocaleTimeString()}` : '';
    $('#token-summary').textContent =
      `Signed access token ${cut(stored.access_token)}${exp}; refresh token ${cut(stored.refresh_token)} ` +
      `(single use: the SDK trades it for a new pair before the access token expires).`;
  }
  if (claims) {
    $('#jwt-header').textContent = JSON.stringify(claims.header, null, 2);
    $('#jwt-payload').textContent = JSON.stringify(claims.payload, null, 2);
  }
}

// --- the HTTP log -----------------------------------------------------------------

// Tokens are bearer secrets: show only their start. Long base64 blobs
// (encryptedData) are cut to keep the log readable.
const cut = (token) => `${token.slice(0, 10)}…`;
const TOKENS = /\b(?:wx[lr]_[A-Za-z0-9_-]{6,}|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)/g;

function redactString(s) {
  s = s.replace(TOKENS, cut);
  return s.length > 64 ? `${s.slice(0, 40)}… (${s.length} chars)` : s;
}

function redact(value) {
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v)]));
  }
  return value;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function jsonBlock(label, value) {
  const block = element('div', 'body');
  block.append(element('span', 'label', label), element('pre', '', JSON.stringify(redact(value), null, 2)));
  return block;
}

function logExchange(x) {
  const url = new URL(x.url);
  const item = element('li', `exchange side-${x.side}`);
  item.dataset.method = x.method;
  item.dataset.path = url.pathname;
  item.dataset.status = x.status ?? 'failed';
  item.dataset.platform = x.platform;

  const line = element('div', 'line');
  const status = x.status ?? 'failed';
  line.append(
    element('span', 'side', x.side === 'sim' ? PLATFORMS[x.platform].name : 'wxlogin'),
    element('span', 'method', x.method),
    element('span', 'url'),
    element('span', `http-status s${String(status).charAt(0)}`, String(status)),
    element('span', 'ms', `${x.ms} ms`),
  );
  const urlNode = line.querySelector('.url');
  urlNode.append(element('span', 'origin', url.origin), document.createTextNode(url.pathname + url.search));
  item.append(line);

  const sent = {};
  for (const [k, v] of Object.entries(x.requestHeader || {})) {
    if (/^(authorization|x-wx-appid)$/i.test(k)) sent[k] = v;
  }
  if (Object.keys(sent).length) item.append(jsonBlock('header', sent));
  if (x.requestBody !== undefined) item.append(jsonBlock('request', x.requestBody));
  if (x.error) item.append(jsonBlock('error', x.error));
  else if (x.responseBody !== '') item.append(jsonBlock('response', x.responseBody));

  const log = $('#log');
  log.append(item);
  item.scrollIntoView({ block: 'nearest' });
}

// --- start -------------------------------------------------------------------------

// #douyin (or #<appid>) in the address picks the app; WeChat's otherwise.
const wanted = decodeURIComponent(location.hash.slice(1));
select(apps.find((a) => a.platform === wanted || a.appid === wanted) || apps[0]);
setStatus('start', 'ok', current.client.token() ? greeting() : 'Logged out');
document.body.dataset.ready = 'true';
