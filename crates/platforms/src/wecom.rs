//! WeCom (企业微信) mini programs, PLATFORMS.md §5: the login exchange
//! `GET cgi-bin/miniprogram/jscode2session?access_token&js_code&grant_type`
//! needs the **corp** access_token of the WeCom app the mini program is
//! associated with (`cgi-bin/gettoken?corpid&corpsecret`, 2 hours, the same
//! token while valid), not the mini program's appid and secret. The answer
//! names the user by (corpid, userid), unique only together; wxlogin's
//! subject is `corpid:userid`. `session_key` is 16 bytes and open data uses
//! WeChat's scheme. Errors are WeChat's shape (`errcode`/`errmsg`); 48002
//! means the token is of an app not associated with this mini program.
//! Third-party (suite) apps are out of scope.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use wechat::AppSecret;

use crate::http::{Upstream, json};
use crate::{AppToken, Error, Exchanged, Kind};

/// WeCom's API host.
pub const BASE_URL: &str = "https://qyapi.weixin.qq.com/";

#[derive(Clone, Debug)]
pub struct Client {
    upstream: Upstream,
}

/// What wxlogin does about each documented `errcode`.
pub fn kind(errcode: i64) -> Kind {
    match errcode {
        -1 => Kind::Busy,
        40029 => Kind::InvalidCode,
        40001 | 40013 | 48002 => Kind::Misconfigured,
        45009 => Kind::RateLimited,
        40014 | 42001 => Kind::TokenRejected,
        _ => Kind::Unavailable,
    }
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

#[derive(Deserialize)]
struct TokenWire {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct SessionWire {
    corpid: String,
    userid: String,
    session_key: String,
}

impl Client {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }

    fn read<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &'static str,
        raw: &[u8],
    ) -> Result<T, Error> {
        let errors: Errors = json(raw).map_err(|d| self.upstream.malformed(endpoint, &d))?;
        if errors.errcode != 0 {
            return Err(Error::Api {
                platform: "wecom",
                endpoint,
                code: errors.errcode.to_string(),
                // "…, hint: […], from ip: …": no secret in it.
                message: errors.errmsg,
                kind: kind(errors.errcode),
            });
        }
        json(raw).map_err(|d| self.upstream.malformed(endpoint, &d))
    }

    /// The corp access_token of the associated WeCom app.
    pub async fn gettoken(&self, corpid: &str, corpsecret: &AppSecret) -> Result<AppToken, Error> {
        let query = [
            ("corpid", corpid),
            ("corpsecret", corpsecret.expose_secret()),
        ];
        let wire: TokenWire = self
            .upstream
            .call(
                "gettoken",
                Method::GET,
                "cgi-bin/gettoken",
                |r| r.query(&query),
                |raw| self.read("gettoken", raw),
            )
            .await?;
        if wire.access_token.is_empty() {
            return Err(self.upstream.malformed("gettoken", "empty access_token"));
        }
        Ok(AppToken {
            token: wire.access_token.into(),
            expires_in: Duration::from_secs(wire.expires_in),
        })
    }

    /// Trade a `wx.qy.login` code for (corpid, userid) and the session_key.
    pub async fn jscode2session(&self, access_token: &str, code: &str) -> Result<Exchanged, Error> {
        let query = [
            ("access_token", access_token),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ];
        let wire: SessionWire = self
            .upstream
            .call(
                "jscode2session",
                Method::GET,
                "cgi-bin/miniprogram/jscode2session",
                |r| r.query(&query),
                |raw| self.read("jscode2session", raw),
            )
            .await?;
        if wire.corpid.is_empty() || wire.userid.is_empty() || wire.session_key.is_empty() {
            return Err(self
                .upstream
                .malformed("jscode2session", "corpid, userid or session_key empty"));
        }
        Ok(Exchanged {
            subject: format!("{}:{}", wire.corpid, wire.userid),
            unionid: None,
            session_key: Some(wire.session_key.into()),
            anonymous: false,
        })
    }
}
