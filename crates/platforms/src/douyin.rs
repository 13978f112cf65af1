//! Douyin (ByteDance) mini programs, PLATFORMS.md §1: `POST
//! api/apps/v2/jscode2session` with a JSON body `{appid, secret, code,
//! anonymous_code}` (at least one code), answered in the envelope
//! `{err_no, err_tips, log_id, data}` whose `data` holds `session_key`,
//! `openid`, `anonymous_openid` and `unionid`, empty strings for what was
//! not asked or is not known.
//!
//! A login with `code` gives the logged-in user (openid, session_key,
//! unionid); one with only `anonymous_code` gives a device-scoped
//! `anonymous_openid`, which wxlogin keeps apart (subject `anon:<id>`, no
//! unionid) so it can never be merged with a logged-in identity. Codes live
//! 3 minutes and are single use; no "code used" or rate-limit code is
//! documented, so a used code is the documented 40018 (bad code).
//! The phone-by-code route is `phone.rs`; the legacy phone route decrypts
//! like open data. The v1 endpoint is not implemented (PLATFORMS.md: do not).

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use wechat::AppSecret;

use crate::http::{Upstream, json};
use crate::{Error, Exchanged, Kind};

/// Douyin's API host for mini programs.
pub const BASE_URL: &str = "https://developer.toutiao.com/";
/// Douyin's open platform host (client_token, phone numbers).
pub const OPEN_BASE_URL: &str = "https://open.douyin.com/";

mod phone;
pub use phone::{PhoneKey, kind as open_kind};

const ENDPOINT: &str = "jscode2session";

#[derive(Clone, Debug)]
pub struct Client {
    upstream: Upstream,
    /// `open.douyin.com`.
    open: Upstream,
}

#[derive(Deserialize)]
struct Envelope {
    err_no: i64,
    #[serde(default)]
    err_tips: String,
    data: Option<Data>,
}

#[derive(Deserialize, Default)]
struct Data {
    #[serde(default)]
    session_key: String,
    #[serde(default)]
    openid: String,
    #[serde(default)]
    anonymous_openid: String,
    #[serde(default)]
    unionid: String,
}

/// What wxlogin does about each documented `err_no`.
pub fn kind(err_no: i64) -> Kind {
    match err_no {
        -1 => Kind::Busy,
        40014 | 40018 | 40019 => Kind::InvalidCode,
        40015 | 40017 => Kind::Misconfigured,
        _ => Kind::Unavailable,
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl Client {
    /// `upstream` is developer.toutiao.com's host, `open` open.douyin.com's
    /// (both the simulator's in tests).
    pub fn new(upstream: Upstream, open: Upstream) -> Self {
        Self { upstream, open }
    }

    /// Trade a `tt.login` code (and/or its `anonymousCode`) for an identity.
    pub async fn code2session(
        &self,
        appid: &str,
        secret: &AppSecret,
        code: Option<&str>,
        anonymous_code: Option<&str>,
    ) -> Result<Exchanged, Error> {
        let mut body = json!({"appid": appid, "secret": secret.expose_secret()});
        if let Some(code) = code {
            body["code"] = code.into();
        }
        if let Some(anonymous) = anonymous_code {
            body["anonymous_code"] = anonymous.into();
        }
        let logged_in = code.is_some();
        self.upstream
            .call(
                ENDPOINT,
                Method::POST,
                "api/apps/v2/jscode2session",
                |r| r.json(&body),
                |raw| {
                    let answer: Envelope =
                        json(raw).map_err(|d| self.upstream.malformed(ENDPOINT, &d))?;
                    if answer.err_no != 0 {
                        return Err(Error::Api {
                            platform: "douyin",
                            endpoint: ENDPOINT,
                            code: answer.err_no.to_string(),
                            message: answer.err_tips,
                            kind: kind(answer.err_no),
                        });
                    }
                    let data = answer.data.unwrap_or_default();
                    if logged_in {
                        let missing = data.openid.is_empty() || data.session_key.is_empty();
                        if missing {
                            return Err(self
                                .upstream
                                .malformed(ENDPOINT, "openid or session_key is empty"));
                        }
                        return Ok(Exchanged {
                            subject: data.openid,
                            unionid: non_empty(data.unionid),
                            session_key: Some(data.session_key.into()),
                            anonymous: false,
                        });
                    }
                    let anonymous = non_empty(data.anonymous_openid).ok_or_else(|| {
                        self.upstream
                            .malformed(ENDPOINT, "anonymous_openid is empty")
                    })?;
                    Ok(Exchanged {
                        subject: format!("anon:{anonymous}"),
                        unionid: None,
                        session_key: None,
                        anonymous: true,
                    })
                },
            )
            .await
    }
}
