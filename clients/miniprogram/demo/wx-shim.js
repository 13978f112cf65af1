// The platform's global for the browser (`wx`, `tt`, `my`, `qq`, `swan`, or
// WeCom's `wx` with `wx.qy`), so that the page can play a mini program of any
// platform with the unchanged SDK. The platform's side is played by the
// wxlogin simulator:
//
//   login call          → POST {simulator}/__sim/login (mints a one-time code)
//     wx.login → {code}; wx.qy.login → {code} (WeCom); tt.login → {code,
//     anonymousCode}; my.getAuthCode({scopes}) → {authCode}; qq.login →
//     {code}; swan.getLoginCode (and swan.login) → {code}
//   getUserProfile      → POST {simulator}/__sim/open-data, kind "profile":
//                         {encryptedData, iv, rawData?, signature?}; stands in
//                         for each platform's profile API (none on Alipay)
//   getPhoneNumber      → stands in for the phone button's event: WeChat and
//                         Douyin {code} (POST /__sim/phone-code); Alipay
//                         my.getPhoneNumber {response} (the envelope string);
//                         the others {encryptedData, iv} (open data, kind "phone")
//   request             → fetch: wx.request's shape (header → statusCode,
//                         header), or my.request's (headers → status, headers;
//                         a non-2xx in `fail`, error 19)
//   *StorageSync        → localStorage, one space per mini program (appid);
//                         my.*StorageSync take {key, data} and answer {data}
//
// This browser is one phone with one user per platform: the openid the
// simulator gives on an app's first login is kept and reused. Every HTTP
// exchange is reported to `onExchange` for the page's log.

/** The platforms the shim plays: the global's name, and the host app's. */
export const PLATFORMS = {
  wechat: { global: 'wx', name: 'WeChat' },
  douyin: { global: 'tt', name: 'Douyin' },
  alipay: { global: 'my', name: 'Alipay' },
  qq: { global: 'qq', name: 'QQ' },
  baidu: { global: 'swan', name: 'Baidu' },
  wecom: { global: 'wx', name: 'WeCom' },
};

const DEVICE_KEY = 'wxlogin_demo_device_openid';

// Where the phone button hands over a code for POST /v1/phone (the service
// asks the platform for the number); elsewhere the number comes encrypted.
const PHONE_BY_CODE = ['wechat', 'douyin'];

/** Where a mini program's storage `key` lives in localStorage (each app has its own). */
export function storageKeyOf(appid, key) {
  return `mp:${appid}:${key}`;
}

/**
 * @param {object} options
 * @param {string} options.platform    wechat | douyin | alipay | qq | baidu | wecom
 * @param {string} options.simulator   simulator base URL, no trailing slash
 * @param {string} options.appid
 * @param {(exchange: object) => void} [options.onExchange]
 */
export function createShim({ platform, simulator, appid, onExchange = () => {} }) {
  if (!PLATFORMS[platform]) throw new Error(`no shim for platform ${platform}`);
  const deviceKey = `${DEVICE_KEY}:${appid}`;

  // One fetch, reported as {side, platform, method, url, requestHeader,
  // requestBody, status, responseBody, ms, error}. Resolves with {status, body, header}.
  async function exchange(side, method, url, header, body) {
    const started = performance.now();
    const entry = { side, platform, method, url, requestHeader: header, requestBody: body, status: null, responseBody: null };
    try {
      const res = await fetch(url, {
        method,
        headers: header,
        body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(15000),
      });
      const text = await res.text();
      let parsed = text;
      try {
        parsed = text ? JSON.parse(text) : '';
      } catch {
        // not JSON: keep the text, as wx.request does
      }
      Object.assign(entry, { status: res.status, responseBody: parsed, ms: Math.round(performance.now() - started) });
      onExchange(entry);
      return { status: res.status, body: parsed, text, header: Object.fromEntries(res.headers) };
    } catch (e) {
      Object.assign(entry, { error: String(e.message || e), ms: Math.round(performance.now() - started) });
      onExchange(entry);
      throw e;
    }
  }

  // The simulator's test API: JSON in, JSON out, 2xx or an Error.
  async function simulatorCall(path, body) {
    const res = await exchange('sim', 'POST', `${simulator}${path}`, { 'content-type': 'application/json' }, body);
    if (res.status < 200 || res.status >= 300) {
      const error = new Error(`simulator ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      error.status = res.status;
      throw error;
    }
    return res.body;
  }

  function deviceOpenid() {
    const openid = localStorage.getItem(deviceKey);
    if (!openid) throw new Error(`no ${PLATFORMS[platform].name} user on this device yet: log in first`);
    return openid;
  }

  // A login at the simulator: this device's user, or a new one.
  async function simulatorLogin() {
    const known = localStorage.getItem(deviceKey);
    let answer;
    try {
      answer = await simulatorCall('/__sim/login', known ? { appid, openid: known } : { appid });
    } catch (e) {
      // The demo was restarted: its simulator forgot our user. Sign up again.
      if (!(known && e.status === 404)) throw e;
      answer = await simulatorCall('/__sim/login', { appid });
    }
    localStorage.setItem(deviceKey, answer.openid);
    return answer;
  }

  // Callback style, as the platforms' APIs are. WeChat-like ones fail with
  // {errMsg: "<api>:fail …"}, Alipay with {error, errorMessage}.
  function callbacks(api, promise, { success, fail, complete } = {}) {
    promise.then(
      (res) => {
        success && success(platform === 'alipay' ? res : { ...res, errMsg: `${api}:ok` });
        complete && complete();
      },
      (e) => {
        const message = String(e.message || e);
        const err = platform === 'alipay' ? { error: e.error || 3, errorMessage: message, ...e.response } : { errMsg: `${api}:fail ${message}` };
        fail && fail(err);
        complete && complete();
      },
    );
  }

  const api = {};

  // --- the login call -------------------------------------------------------------
  const login = (name, shape) => (options) => callbacks(name, simulatorLogin().then(shape), options);
  const code = (answer) => ({ code: answer.code });
  switch (platform) {
    case 'wechat':
    case 'qq':
      api.login = login('login', code);
      break;
    case 'wecom':
      // WeCom's own login; its `wx.login` would be WeChat's, which this app is not.
      api.qy = { login: login('qy.login', code) };
      break;
    case 'douyin':
      api.login = login('login', (a) => ({ code: a.code, anonymousCode: a.anonymous_code, isLogin: true }));
      break;
    case 'alipay':
      api.getAuthCode = login('getAuthCode', (a) => ({ authCode: a.code }));
      break;
    case 'baidu':
      api.getLoginCode = login('getLoginCode', code);
      api.login = api.getLoginCode;
      break;
  }

  // --- open data: profile and phone -------------------------------------------
  const openData = (kind) => simulatorCall('/__sim/open-data', { appid, openid: deviceOpenid(), kind });

  if (platform !== 'alipay') {
    api.getUserProfile = (options) =>
      callbacks(
        'getUserProfile',
        openData('profile').then((data) => (data.rawData ? { ...data, userInfo: JSON.parse(data.rawData) } : data)),
        options,
      );
  }

  api.getPhoneNumber = (options) =>
    callbacks(
      'getPhoneNumber',
      (async () => {
        if (PHONE_BY_CODE.includes(platform)) {
          const { code } = await simulatorCall('/__sim/phone-code', { appid, openid: deviceOpenid() });
          return { code };
        }
        const data = await openData('phone');
        // my.getPhoneNumber answers the envelope string as `response`.
        if (platform === 'alipay') return { response: data.encryptedData };
        return { encryptedData: data.encryptedData, iv: data.iv };
      })(),
      options,
    );

  // --- request ------------------------------------------------------------------
  function target(url, method, data) {
    const u = new URL(url, location.href);
    let body;
    if (data !== undefined && method === 'GET') {
      for (const [k, v] of Object.entries(data)) u.searchParams.set(k, String(v));
    } else {
      body = data;
    }
    return { href: u.href, body };
  }

  if (platform === 'alipay') {
    // my.request: `headers`; answers {status, headers, data}; dataType
    // json (the old default) or text; a non-2xx status comes through `fail`
    // (error 19) with the response beside it.
    api.request = ({ url, method = 'GET', data, headers = {}, dataType = 'json', success, fail, complete }) => {
      method = method.toUpperCase();
      const { href, body } = target(url, method, data);
      callbacks(
        'request',
        exchange('api', method, href, headers, body).then((res) => {
          const response = { status: res.status, headers: res.header, data: dataType === 'text' ? res.text : res.body };
          if (res.status >= 200 && res.status < 300) return response;
          throw Object.assign(new Error('http status error'), { error: 19, response });
        }),
        { success, fail, complete },
      );
      return { abort() {} };
    };
  } else {
    api.request = ({ url, method = 'GET', data, header = {}, success, fail, complete }) => {
      method = method.toUpperCase();
      const { href, body } = target(url, method, data);
      callbacks(
        'request',
        exchange('api', method, href, header, body).then((res) => ({ statusCode: res.status, data: res.body, header: res.header })),
        { success, fail, complete },
      );
      return { abort() {} };
    };
  }

  // --- storage: this mini program's own space ---------------------------------------
  const read = (key) => {
    const value = localStorage.getItem(storageKeyOf(appid, key));
    return value === null ? undefined : JSON.parse(value);
  };
  const write = (key, value) => localStorage.setItem(storageKeyOf(appid, key), JSON.stringify(value));
  const remove = (key) => localStorage.removeItem(storageKeyOf(appid, key));
  if (platform === 'alipay') {
    api.getStorageSync = ({ key }) => ({ data: read(key) ?? null });
    api.setStorageSync = ({ key, data }) => write(key, data);
    api.removeStorageSync = ({ key }) => remove(key);
  } else {
    api.getStorageSync = (key) => read(key) ?? '';
    api.setStorageSync = write;
    api.removeStorageSync = remove;
  }

  return api;
}

/** Callback-style API → promise: `promisify(wx.login)()`. */
export function promisify(fn) {
  return (options = {}) =>
    new Promise((resolve, reject) =>
      fn({ ...options, success: resolve, fail: (e) => reject(new Error(e.errMsg || e.errorMessage || String(e))) }),
    );
}
