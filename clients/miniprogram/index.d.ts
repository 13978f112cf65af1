// Types of wxlogin-miniprogram (src/index.js, dist/index.cjs, miniprogram_dist/index.js).

/** The storage key under which the credentials are kept: `"wxlogin_token"`. */
export declare const TOKEN_KEY: string;

/** Error codes of the wxlogin service (README, "Error codes") and of this client. */
export type WxLoginErrorCode =
  // service
  | 'invalid_request'
  | 'invalid_code'
  | 'unknown_app'
  | 'unauthorized'
  | 'invalid_token'
  | 'forbidden'
  | 'user_blocked'
  | 'not_found'
  | 'code_used'
  | 'session_key_stale'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'upstream_misconfigured'
  | 'internal'
  | 'upstream_unavailable'
  | 'store_unavailable'
  // client: no response, the platform's login call (wx.login, tt.login,
  // my.getAuthCode, …) failed, a 2xx without the expected body,
  // or a non-2xx whose body is not wxlogin's error shape (`http_502`, …)
  | 'network_error'
  | 'wx_login_failed'
  | 'unexpected_response'
  | `http_${number}`
  // codes added later by the service pass through unchanged
  | (string & {});

export declare class WxLoginError extends Error {
  name: 'WxLoginError' | 'SessionKeyStaleError';
  /** Stable code: branch on this, not on `message`. */
  code: WxLoginErrorCode;
  /** HTTP status; 0 when no response arrived. */
  status: number;
  /** WeChat's errcode behind the error (e.g. 40029), or null. */
  wechatErrcode: number | null;
  /** The response body, or null. */
  data: unknown;
  constructor(fields: {
    code: string;
    message: string;
    status?: number;
    wechatErrcode?: number | null;
    data?: unknown;
  });
}

/**
 * `session_key_stale` from decrypt(): call `client.login()`, fetch the open
 * data again (it is encrypted under the new key), and decrypt that.
 */
export declare class SessionKeyStaleError extends WxLoginError {
  code: 'session_key_stale';
}

/** The platforms wxlogin serves; `platform` is sent on login for all but `wechat`. */
export type Platform = 'wechat' | 'wecom' | 'douyin' | 'alipay' | 'qq' | 'baidu';

/** The subset of the mini program `wx` API the client uses (tt, qq, swan and uni look alike). */
export interface WxApi {
  login(options: {
    success?(res: { code: string }): void;
    fail?(err: { errMsg: string }): void;
  }): void;
  request(options: {
    url: string;
    method?: string;
    data?: unknown;
    header?: Record<string, string>;
    success?(res: { statusCode: number; data: any; header: Record<string, string> }): void;
    fail?(err: { errMsg: string }): void;
    [option: string]: unknown;
  }): unknown;
  getStorageSync(key: string): any;
  setStorageSync(key: string, value: any): void;
  removeStorageSync?(key: string): void;
}

/**
 * A platform's global object: `wx` (WeChat; WeCom's has `wx.qy.login`), `tt`
 * (`tt.login` → code, anonymousCode), `my` (`my.getAuthCode`, `my.request`
 * with `headers`/`status`, `my.getStorageSync({key})`), `qq`, `swan`
 * (`swan.getLoginCode`) or `uni`. Only the calls named in the README are used.
 */
export type PlatformApi = WxApi | Record<string, any>;

export interface ClientOptions {
  /** Where wxlogin is, e.g. `https://api.example.com` (a trailing `/` is ignored). */
  baseUrl: string;
  /** Sent on login and as `X-Wx-Appid` (a token of another app is then refused). */
  appid?: string;
  /**
   * The platform; found from the globals (`uni`, `qq`, `tt`, `swan`, `my`, `wx`)
   * when absent. WeCom is never guessed (its `wx` is WeChat's plus `wx.qy`): say
   * `'wecom'`. With uni-app: taken from `provider`, else from
   * `uni.getSystemInfoSync().uniPlatform`, else required.
   */
  platform?: Platform;
  /** The platform's global object; defaults to the one found (or the one of `platform`). */
  api?: PlatformApi;
  /** The `wx` API (older name of `api`, for WeChat); defaults to the mini program's global `wx`. */
  wx?: WxApi;
  /** uni-app only: `uni.login`'s provider (`weixin`, `toutiao`, `alipay`, `qq`, `baidu`). */
  provider?: string;
  /** Storage key of the credentials; default `TOKEN_KEY`. */
  storageKey?: string;
  /** The clock, in ms since the epoch (default `Date.now`); for tests. */
  now?: () => number;
}

interface Identity {
  /** The user: one across apps and platforms when they share a unionid. */
  user_id: string;
  platform: Platform;
  appid: string;
  openid: string;
  unionid?: string | null;
  new_user: boolean;
}

/** The login answer of a service with opaque tokens (the default). */
export interface OpaqueLoginResult extends Identity {
  token: string;
  token_type: 'Bearer';
  /** RFC 3339, e.g. `2026-12-25T10:20:32Z`. */
  expires_at: string;
}

/**
 * The login answer of a service with `tokens.format = "jwt"`. (The refresh,
 * which the client makes by itself, answers the same token fields plus
 * `session: SessionInfo`, without the identity fields at the top level.)
 */
export interface PairLoginResult extends Identity {
  /** A JWT, verifiable by any backend with the service's JWKS. */
  access_token: string;
  token_type: 'Bearer';
  /** Seconds the access token lives. */
  expires_in: number;
  /** `wxr_…`; single use: every refresh answers a new one. */
  refresh_token: string;
  /** RFC 3339. */
  refresh_expires_at: string;
}

export type LoginResult = OpaqueLoginResult | PairLoginResult;

/** What `tokens()` reports; times in ms since the epoch (null: not said by the service). */
export type StoredTokens =
  | { format: 'opaque'; access_token: string }
  | {
      format: 'jwt';
      access_token: string;
      /** From `expires_in`, on this device's clock (the client renews 30 s earlier). */
      expires_at: number | null;
      refresh_token: string;
      refresh_expires_at: number | null;
    };

export interface SessionInfo {
  session_id: string;
  user_id: string;
  platform: Platform;
  appid: string;
  openid: string;
  unionid?: string | null;
  /** RFC 3339 times. */
  created_at: string;
  expires_at: string;
  idle_expires_at: string;
  [field: string]: unknown;
}

/**
 * Open data as the platform hands it to the mini program (wx.getUserProfile,
 * tt.getUserProfile, the getPhoneNumber button's encrypted form, …), or
 * Alipay's my.getPhoneNumber answer as is (`{response}`, no iv).
 */
export type OpenData =
  | {
      encryptedData: string;
      /** Sent only when not empty. */
      iv?: string;
      rawData?: string;
      signature?: string;
    }
  | {
      /** Alipay: my.getPhoneNumber's `response`, the whole envelope string. */
      response: string;
    };

export interface PhoneInfo {
  phone_number: string;
  pure_phone_number: string;
  country_code: string;
}

export interface RequestOptions {
  /** Absolute, or a path relative to `baseUrl` (`/api/orders`). */
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
  data?: unknown;
  header?: Record<string, string>;
  timeout?: number;
  [option: string]: unknown;
}

export interface Response<T = any> {
  statusCode: number;
  data: T;
  header: Record<string, string>;
}

export interface WxLoginClient {
  /** The platform this client logs in on. */
  readonly platform: Platform;
  /** The platform's login call + POST /v1/login; joins a login already in progress. */
  login(): Promise<LoginResult>;
  /**
   * The platform's request with `Authorization: Bearer <token>`: logs in first
   * when there is no token. Opaque tokens: on a 401, logs in again and
   * retries once. Token pairs: refreshes first when the access token is about
   * to expire; on a 401 refreshes (once for all concurrent calls; a refresh
   * answering 401 means a login) and retries once. Resolves for a 2xx answer,
   * rejects with WxLoginError otherwise.
   */
  request<T = any>(options: RequestOptions): Promise<Response<T>>;
  /** GET /v1/session. */
  session(): Promise<SessionInfo>;
  /** POST /v1/decrypt; throws SessionKeyStaleError on 409 session_key_stale. */
  decrypt<T = Record<string, unknown>>(openData: OpenData): Promise<T>;
  /** POST /v1/phone with the getPhoneNumber button's code (WeChat, Douyin; elsewhere 400 not_supported). */
  phone(code: string): Promise<PhoneInfo>;
  /**
   * End the session and clear the stored credentials (cleared even if the
   * call fails; never logs in): POST /v1/logout with the token (pair: the
   * access token, refreshing an expired one first).
   */
  logout(): Promise<void>;
  /** The stored token (opaque token or access token), or null. */
  token(): string | null;
  /** The stored credentials and their format, or null. */
  tokens(): StoredTokens | null;
  /**
   * A token good for a call now, for requests the client does not make
   * (uploadFile, a socket, …): logs in or refreshes first when needed.
   */
  accessToken(): Promise<string>;
}

export declare function createClient(options: ClientOptions): WxLoginClient;
