// A `wx` for the browser, so that the page can play the mini program with the
// unchanged SDK. WeChat's side is played by the wxlogin simulator:
//
//   wx.login           → POST {simulator}/__sim/login (mints a one-time code)
//   wx.getUserProfile  → POST {simulator}/__sim/open-data, kind "profile"
//   wx.getPhoneNumber  → POST {simulator}/__sim/phone-code; stands in for the
//                        <button open-type="getPhoneNumber"> event (detail.code)
//   wx.request         → fetch
//   wx.*StorageSync    → localStorage
//
// This browser is one phone with one WeChat user: the openid the simulator
// gives on the first login is kept and reused. Every HTTP exchange is reported
// to `onExchange` for the page's log.

const DEVICE_KEY = 'wxlogin_demo_device_openid';

/**
 * @param {object} options
 * @param {string} options.simulator   simulator base URL, no trailing slash
 * @param {string} options.appid
 * @param {(exchange: object) => void} [options.onExchange]
 */
export function createWxShim({ simulator, appid, onExchange = () => {} }) {
  // One fetch, reported as {side, method, url, requestHeader, requestBody,
  // status, responseBody, ms, error}. Resolves with {status, body, header}.
  async function exchange(side, method, url, header, body) {
    const started = performance.now();
    const entry = { side, method, url, requestHeader: header, requestBody: body, status: null, responseBody: null };
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
      return { status: res.status, body: parsed, header: Object.fromEntries(res.headers) };
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
    const openid = localStorage.getItem(DEVICE_KEY);
    if (!openid) throw new Error('no WeChat user on this device yet: log in first');
    return openid;
  }

  // Turn a promise into wx's success/fail callbacks (errMsg "<api>:ok|fail …").
  function callbacks(api, promise, { success, fail, complete } = {}) {
    promise.then(
      (res) => {
        success && success({ ...res, errMsg: `${api}:ok` });
        complete && complete();
      },
      (e) => {
        fail && fail({ errMsg: `${api}:fail ${e.message || e}` });
        complete && complete();
      },
    );
  }

  return {
    login(options) {
      callbacks(
        'login',
        (async () => {
          const known = localStorage.getItem(DEVICE_KEY);
          let answer;
          try {
            answer = await simulatorCall('/__sim/login', known ? { appid, openid: known } : { appid });
          } catch (e) {
            // The demo was restarted: its simulator forgot our user. Sign up again.
            if (!(known && e.status === 404)) throw e;
            answer = await simulatorCall('/__sim/login', { appid });
          }
          localStorage.setItem(DEVICE_KEY, answer.openid);
          return { code: answer.code };
        })(),
        options,
      );
    },

    getUserProfile(options) {
      callbacks(
        'getUserProfile',
        (async () => {
          const data = await simulatorCall('/__sim/open-data', { appid, openid: deviceOpenid(), kind: 'profile' });
          return { ...data, userInfo: JSON.parse(data.rawData) };
        })(),
        options,
      );
    },

    getPhoneNumber(options) {
      callbacks(
        'getPhoneNumber',
        (async () => {
          const { code } = await simulatorCall('/__sim/phone-code', { appid, openid: deviceOpenid() });
          return { code };
        })(),
        options,
      );
    },

    request({ url, method = 'GET', data, header = {}, success, fail, complete }) {
      method = method.toUpperCase();
      const target = new URL(url, location.href);
      let body;
      if (data !== undefined && method === 'GET') {
        for (const [k, v] of Object.entries(data)) target.searchParams.set(k, String(v));
      } else {
        body = data;
      }
      callbacks(
        'request',
        exchange('api', method, target.href, header, body).then((res) => ({
          statusCode: res.status,
          data: res.body,
          header: res.header,
        })),
        { success, fail, complete },
      );
      return { abort() {} };
    },

    getStorageSync(key) {
      const value = localStorage.getItem(key);
      return value === null ? '' : JSON.parse(value);
    },
    setStorageSync(key, value) {
      localStorage.setItem(key, JSON.stringify(value));
    },
    removeStorageSync(key) {
      localStorage.removeItem(key);
    },
  };
}

/** wx-style API → promise: `promisify(wx.login)()` */
export function promisify(api) {
  return (options = {}) =>
    new Promise((resolve, reject) => api({ ...options, success: resolve, fail: (e) => reject(new Error(e.errMsg)) }));
}
