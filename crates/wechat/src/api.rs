//! The WeChat endpoints wxlogin needs, each a thin description over the shared
//! request path in `client.rs`: path, parameters, and the answer's shape.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{Client, Request};
use crate::crypto::{Watermark, login_state_signature};
use crate::error::{Endpoint, ErrCode, Error};
use crate::types::{
    AccessToken, AppId, AppSecret, JsCode, OpenId, ParseError, PhoneCode, SessionKey, UnionId,
};

/// What `jscode2session` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code2Session {
    pub openid: OpenId,
    /// Present only when the mini program is bound to an Open Platform account.
    pub unionid: Option<UnionId>,
    pub session_key: SessionKey,
}

/// An access_token and how long WeChat says it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: AccessToken,
    pub expires_in: Duration,
}

/// What `getuserphonenumber` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneInfo {
    /// With the country prefix for non-mainland numbers.
    pub phone_number: String,
    pub pure_phone_number: String,
    /// Normalised to a string (WeChat's example prints a number).
    pub country_code: String,
    pub watermark: Watermark,
}

#[derive(Deserialize)]
struct SessionWire {
    openid: String,
    session_key: String,
    unionid: Option<String>,
}

#[derive(Deserialize)]
struct TokenWire {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct PhoneWire {
    phone_info: PhoneInfoWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfoWire {
    phone_number: String,
    pure_phone_number: String,
    country_code: Value,
    watermark: WatermarkWire,
}

#[derive(Deserialize)]
struct WatermarkWire {
    appid: String,
    timestamp: i64,
}

/// What `checkencryptedmsg` says of one `encryptedData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedMsgCheck {
    /// WeChat's `vaild` (sic): it issued this data.
    pub valid: bool,
    /// When WeChat made the data (unix seconds), when it says.
    pub create_time: Option<i64>,
}

#[derive(Deserialize)]
struct CheckWire {
    vaild: bool,
    create_time: Option<i64>,
}

#[derive(Deserialize)]
struct ResetWire {
    session_key: String,
}

/// An empty success (`{"errcode":0,"errmsg":"ok"}`).
#[derive(Deserialize)]
struct Ok {}

fn malformed(endpoint: Endpoint) -> impl Fn(ParseError) -> Error {
    move |e| Error::Malformed {
        endpoint,
        detail: e.to_string(),
    }
}

impl Client {
    /// Trade a `wx.login()` code for openid, unionid and session_key.
    /// `-1` is retried within the deadline; nothing else is (a retried exchange
    /// would meet 40163).
    pub async fn code2session(
        &self,
        appid: &AppId,
        secret: &AppSecret,
        js_code: &JsCode,
    ) -> Result<Code2Session, Error> {
        let endpoint = Endpoint::Code2Session;
        let query = vec![
            ("appid", appid.as_str()),
            ("secret", secret.expose_secret()),
            ("js_code", js_code.expose_secret()),
            ("grant_type", "authorization_code"),
        ];
        let wire: SessionWire = self.call(endpoint, get(query)).await?;
        Ok(Code2Session {
            openid: OpenId::parse(&wire.openid).map_err(malformed(endpoint))?,
            unionid: wire
                .unionid
                .map(|u| UnionId::parse(&u))
                .transpose()
                .map_err(malformed(endpoint))?,
            session_key: SessionKey::parse(&wire.session_key).map_err(malformed(endpoint))?,
        })
    }

    /// `POST /cgi-bin/stable_token`: in normal mode the same token while it is
    /// valid; `force_refresh` kills it and issues a new one (20 a day).
    pub async fn stable_token(
        &self,
        appid: &AppId,
        secret: &AppSecret,
        force_refresh: bool,
    ) -> Result<TokenGrant, Error> {
        let body = json!({
            "grant_type": "client_credential",
            "appid": appid.as_str(),
            "secret": secret.expose_secret(),
            "force_refresh": force_refresh,
        });
        let request = Request {
            method: Method::POST,
            query: Vec::new(),
            body: Some(body),
        };
        let wire: TokenWire = self.call(Endpoint::StableToken, request).await?;
        token_grant(Endpoint::StableToken, wire)
    }

    /// Legacy `GET /cgi-bin/token`: every call retires the previous token. Prefer
    /// [`Client::stable_token`]; this exists for completeness and for tests.
    pub async fn token(&self, appid: &AppId, secret: &AppSecret) -> Result<TokenGrant, Error> {
        let query = vec![
            ("grant_type", "client_credential"),
            ("appid", appid.as_str()),
            ("secret", secret.expose_secret()),
        ];
        let wire: TokenWire = self.call(Endpoint::Token, get(query)).await?;
        token_grant(Endpoint::Token, wire)
    }

    /// Trade a `getPhoneNumber` code for the user's phone number. The code travels
    /// in the JSON body (in the query it gives 40029). With `openid`, WeChat checks
    /// the code belongs to that user.
    pub async fn get_user_phone_number(
        &self,
        access_token: &AccessToken,
        code: &PhoneCode,
        openid: Option<&OpenId>,
    ) -> Result<PhoneInfo, Error> {
        let mut body = json!({ "code": code.expose_secret() });
        if let Some(openid) = openid {
            body["openid"] = Value::from(openid.as_str());
        }
        let request = Request {
            method: Method::POST,
            query: vec![("access_token", access_token.expose_secret())],
            body: Some(body),
        };
        let wire: PhoneWire = self.call(Endpoint::GetUserPhoneNumber, request).await?;
        let info = wire.phone_info;
        let country_code = match info.country_code {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(Error::Malformed {
                    endpoint: Endpoint::GetUserPhoneNumber,
                    detail: "countryCode is neither a string nor a number".to_owned(),
                });
            }
        };
        Ok(PhoneInfo {
            phone_number: info.phone_number,
            pure_phone_number: info.pure_phone_number,
            country_code,
            watermark: Watermark {
                appid: info.watermark.appid,
                timestamp: info.watermark.timestamp,
            },
        })
    }

    /// Ask WeChat whether `session_key` is the user's current key. `Ok(false)` is
    /// WeChat's 87009 ("invalid signature": rotated, expired or wrong key).
    pub async fn check_session(
        &self,
        access_token: &AccessToken,
        openid: &OpenId,
        session_key: &SessionKey,
    ) -> Result<bool, Error> {
        let signature = login_state_signature(session_key, b"");
        let query = signed_query(access_token, openid, &signature);
        match self.call::<Ok>(Endpoint::CheckSession, get(query)).await {
            Ok(Ok {}) => Ok(true),
            Err(e) if e.errcode() == Some(ErrCode::InvalidSignature) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Make WeChat issue a new session_key for the user; the old one dies at once.
    /// The request is signed with the user's current key.
    pub async fn reset_user_session_key(
        &self,
        access_token: &AccessToken,
        openid: &OpenId,
        session_key: &SessionKey,
    ) -> Result<SessionKey, Error> {
        let endpoint = Endpoint::ResetUserSessionKey;
        let signature = login_state_signature(session_key, b"");
        let query = signed_query(access_token, openid, &signature);
        let wire: ResetWire = self.call(endpoint, get(query)).await?;
        SessionKey::parse(&wire.session_key).map_err(malformed(endpoint))
    }

    /// `POST /wxa/business/checkencryptedmsg`: ask WeChat whether it issued an
    /// `encryptedData` (open data is AES-CBC without a MAC, so its owner can
    /// alter it; this is the only authenticity check WeChat offers).
    ///
    /// Sent as `encrypted_msg_hash` = lowercase hex of SHA-256 over the
    /// `encryptedData` text as the mini program received it (base64). Uncertain:
    /// the official page says SHA-256 of "the encrypted data"; WxJava hashes the
    /// base64 text with SHA-256, other public SDKs use SHA-1; one notes WeChat
    /// only knows phone data of the last 3 days. We follow the official page;
    /// a `valid: false` answer may therefore also mean "too old" or "hashed
    /// differently than WeChat expects". The answer's field is spelled `vaild`.
    pub async fn check_encrypted_msg(
        &self,
        access_token: &AccessToken,
        encrypted_data: &str,
    ) -> Result<EncryptedMsgCheck, Error> {
        let body = json!({ "encrypted_msg_hash": encrypted_msg_hash(encrypted_data) });
        let request = Request {
            method: Method::POST,
            query: vec![("access_token", access_token.expose_secret())],
            body: Some(body),
        };
        let wire: CheckWire = self.call(Endpoint::CheckEncryptedMsg, request).await?;
        Ok(EncryptedMsgCheck {
            valid: wire.vaild,
            create_time: wire.create_time,
        })
    }
}

/// The `encrypted_msg_hash` of `checkencryptedmsg`: hex SHA-256 of the
/// base64 text (see [`Client::check_encrypted_msg`] for why this is uncertain).
pub fn encrypted_msg_hash(encrypted_data: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(encrypted_data.as_bytes()))
}

fn get<'a>(query: Vec<(&'static str, &'a str)>) -> Request<'a> {
    Request {
        method: Method::GET,
        query,
        body: None,
    }
}

fn signed_query<'a>(
    access_token: &'a AccessToken,
    openid: &'a OpenId,
    signature: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("access_token", access_token.expose_secret()),
        ("openid", openid.as_str()),
        ("signature", signature),
        ("sig_method", "hmac_sha256"),
    ]
}

fn token_grant(endpoint: Endpoint, wire: TokenWire) -> Result<TokenGrant, Error> {
    Ok(TokenGrant {
        access_token: AccessToken::parse(&wire.access_token).map_err(malformed(endpoint))?,
        expires_in: Duration::from_secs(wire.expires_in),
    })
}

/// Parse `body` as the answer of every endpoint (for the fuzz targets).
#[doc(hidden)]
pub fn fuzz_parse_every_answer(body: &[u8]) {
    use crate::client::parse_answer;
    if let Ok(w) = parse_answer::<SessionWire>(Endpoint::Code2Session, body) {
        let _ = (
            OpenId::parse(&w.openid),
            SessionKey::parse(&w.session_key),
            w.unionid.map(|u| UnionId::parse(&u)),
        );
    }
    if let Ok(w) = parse_answer::<TokenWire>(Endpoint::StableToken, body) {
        let _ = token_grant(Endpoint::StableToken, w);
    }
    let _ = parse_answer::<PhoneWire>(Endpoint::GetUserPhoneNumber, body);
    if let Ok(w) = parse_answer::<ResetWire>(Endpoint::ResetUserSessionKey, body) {
        let _ = SessionKey::parse(&w.session_key);
    }
    let _ = parse_answer::<Ok>(Endpoint::CheckSession, body);
    let _ = parse_answer::<CheckWire>(Endpoint::CheckEncryptedMsg, body);
}
