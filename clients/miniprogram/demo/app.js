// The demo "mini program": the real SDK (/sdk/wxlogin.js is
// clients/miniprogram/src/index.js, unchanged) on a `wx` played by the
// simulator (wx-shim.js). Each button is what a mini program page would do.

import { createClient, WxLoginError } from '/sdk/wxlogin.js';
import { createWxShim, promisify } from '/demo/wx-shim.js';

const $ = (selector) => document.querySelector(selector);

const config = await (await fetch('/demo/config.json')).json();
const wx = createWxShim({ simulator: config.simulator, appid: config.appid, onExchange: logExchange });
// The service is this page's origin; a mini program would use its HTTPS domain.
const client = createClient({ baseUrl: location.origin, appid: config.appid, wx });

$('#appid').textContent = config.appid;

// --- the buttons ---------------------------------------------------------------

const actions = {
  // client.login(): wx.login → code → POST /v1/login → token in storage.
  async login() {
    const answer = await client.login();
    show({ openid: answer.openid, unionid: answer.unionid, expires: answer.expires_at });
    return `Logged in${answer.new_user ? ' (new user)' : ''}`;
  },

  // Any authenticated call logs in by itself when there is no token yet.
  async session() {
    const session = await client.session();
    show({ openid: session.openid, unionid: session.unionid, expires: session.expires_at });
    return `Session valid until ${formatTime(session.expires_at)}`;
  },

  // Open data is encrypted with the session_key of the latest wx.login, so a
  // mini program logs in before asking for it (never after).
  async userinfo() {
    if (!client.token()) await client.login();
    const profile = await promisify(wx.getUserProfile)({ desc: 'show your profile' });
    const user = await client.decrypt(profile);
    show({
      openid: user.openId,
      unionid: user.unionId,
      nickname: user.nickName,
      city: [user.city, user.province, user.country].filter(Boolean).join(', '),
    });
    return `Got user info of ${user.nickName}`;
  },

  // In a mini program: <button open-type="getPhoneNumber" bindgetphonenumber>,
  // whose event.detail.code goes to the service.
  async phone() {
    if (!client.token()) await client.login();
    const { code } = await promisify(wx.getPhoneNumber)();
    const info = await client.phone(code);
    show({ phone: info.country_code === '86' ? info.phone_number : `+${info.country_code} ${info.pure_phone_number}` });
    return 'Got phone number';
  },

  async logout() {
    await client.logout();
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
  const buttons = document.querySelectorAll('.actions button');
  buttons.forEach((b) => (b.disabled = true));
  setStatus(name, 'busy', '…');
  try {
    setStatus(name, 'ok', await action());
  } catch (e) {
    setStatus(name, 'error', describeError(e));
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
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

const FIELDS = ['openid', 'unionid', 'nickname', 'city', 'phone', 'expires'];

function show(values) {
  for (const [field, value] of Object.entries(values)) {
    if (value === undefined || value === null) continue;
    $(`#${field === 'phone' ? 'phonenumber' : field}`).textContent = field === 'expires' ? formatTime(value) : value;
  }
  const nickname = $('#nickname').textContent;
  $('#avatar').textContent = nickname && nickname !== '—' ? nickname.charAt(0).toUpperCase() : '?';
  $('#profile').classList.add('signed-in');
}

function clearProfile() {
  for (const field of FIELDS) $(`#${field === 'phone' ? 'phonenumber' : field}`).textContent = '—';
  $('#avatar').textContent = '?';
  $('#profile').classList.remove('signed-in');
}

function formatTime(rfc3339) {
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime()) ? rfc3339 : date.toLocaleString();
}

// --- the HTTP log -----------------------------------------------------------------

// Tokens are bearer secrets: show only their start. Long base64 blobs
// (encryptedData) are cut to keep the log readable.
function redactString(s) {
  s = s.replace(/wxl_[A-Za-z0-9_-]{6,}/g, (token) => `${token.slice(0, 10)}…`);
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

  const line = element('div', 'line');
  const status = x.status ?? 'failed';
  line.append(
    element('span', 'side', x.side === 'sim' ? 'WeChat' : 'wxlogin'),
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

if (client.token()) {
  setStatus('start', 'ok', 'A token is stored from an earlier visit: "Show session" uses it (or logs in again if it is dead)');
} else {
  setStatus('start', 'ok', 'Logged out');
}
document.body.dataset.ready = 'true';
