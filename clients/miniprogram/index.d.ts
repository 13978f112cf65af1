// Types of wxlogin-miniprogram (src/index.js, dist/index.cjs, miniprogram_dist/index.js).

/** The storage key under which the session token is kept: `"wxlogin_token"`. */
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
  // client: no response, wx.login failed, a 2xx without the expected body,
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

/** The subset of the mini program `wx` API the client uses. */
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

export interface ClientOptions {
  /** Where wxlogin is, e.g. `https://api.example.com` (a trailing `/` is ignored). */
  baseUrl: string;
  /** Sent on login and as `X-Wx-Appid` (a token of another app is then refused). */
  appid?: string;
  /** The `wx` API; defaults to the mini program's global `wx`. */
  wx?: WxApi;
  /** Storage key of the token; default `TOKEN_KEY`. */
  storageKey?: string;
}

export interface LoginResult {
  token: string;
  token_type: 'Bearer';
  /** RFC 3339, e.g. `2026-12-25T10:20:32Z`. */
  expires_at: string;
  appid: string;
  openid: string;
  unionid?: string | null;
  new_user: boolean;
}

export interface SessionInfo {
  session_id: string;
  appid: string;
  openid: string;
  unionid?: string | null;
  /** RFC 3339 times. */
  created_at: string;
  expires_at: string;
  idle_expires_at: string;
  [field: string]: unknown;
}

/** Open data as WeChat hands it to the mini program (wx.getUserProfile, …). */
export interface OpenData {
  encryptedData: string;
  iv: string;
  rawData?: string;
  signature?: string;
}

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
  /** wx.login + POST /v1/login; joins a login already in progress. */
  login(): Promise<LoginResult>;
  /**
   * wx.request with `Authorization: Bearer <token>`: logs in first when there
   * is no token, and once more (then retries once) on a 401. Resolves for a
   * 2xx answer, rejects with WxLoginError otherwise.
   */
  request<T = any>(options: RequestOptions): Promise<Response<T>>;
  /** GET /v1/session. */
  session(): Promise<SessionInfo>;
  /** POST /v1/decrypt; throws SessionKeyStaleError on 409 session_key_stale. */
  decrypt<T = Record<string, unknown>>(openData: OpenData): Promise<T>;
  /** POST /v1/phone with the getPhoneNumber button's code. */
  phone(code: string): Promise<PhoneInfo>;
  /** POST /v1/logout and clear the stored token (cleared even if the call fails). */
  logout(): Promise<void>;
  /** The stored token, or null. */
  token(): string | null;
}

export declare function createClient(options: ClientOptions): WxLoginClient;
