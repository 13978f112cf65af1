//! Douyin's phone number by code (PLATFORMS.md §1.4, the "new" route, base
//! library ≥ 3.51.0): the button gives a code (5 minutes, single use); the
//! server trades it at `open.douyin.com` with a `client_token` in the
//! `access-token` header and receives the number RSA-encrypted with the
//! app's public key (configured in Douyin's console); the app's private key
//! decrypts it. Uncertain, and built to the documented shape only: which
//! token the header takes (third-party SDKs use the `client_token`), the
//! padding (PKCS#1 v1.5, one block, as third-party code decrypts it), and
//! the code of an expired phone code (28005187 by one README).
//! RSA decryption is the `rsa` crate's (ring has none); nothing is hand-written.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Pkcs1v15Encrypt, PrivateKey as RsaPrivateKey};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wechat::AppSecret;

use super::Client;
use crate::http::json;
use crate::{AppToken, Error, Kind};

/// What wxlogin does about the codes `open.douyin.com` documents.
pub fn kind(code: i64) -> Kind {
    match code {
        28001005 => Kind::Busy,
        28001008 => Kind::TokenRejected,
        28003018 | 28003017 => Kind::RateLimited,
        28001007 | 28005187 => Kind::InvalidCode,
        10002 | 10003 | 10013 => Kind::Misconfigured,
        _ => Kind::Unavailable,
    }
}

/// The app's RSA private key (PKCS#8 or PKCS#1, PEM or base64), to open
/// phone numbers.
pub struct PhoneKey(RsaPrivateKey);

impl std::fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("douyin::PhoneKey([redacted])")
    }
}

impl PhoneKey {
    pub fn parse(text: &str) -> Result<Self, crate::alipay::KeyError> {
        let der = crate::alipay::der("app_private_key", text)?;
        RsaPrivateKey::from_pkcs8_der(&der)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
            .map(Self)
            .map_err(|_| crate::alipay::KeyError::NotRsa("app_private_key"))
    }
}

#[derive(Deserialize)]
struct TokenEnvelope {
    data: TokenData,
}

#[derive(Deserialize)]
struct TokenData {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    error_code: i64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires_in: u64,
}

#[derive(Deserialize)]
struct PhoneEnvelope {
    err_no: i64,
    #[serde(default)]
    err_tips: String,
    #[serde(default)]
    data: Value,
}

impl Client {
    /// `POST oauth/client_token/` on `open.douyin.com`: 2 hours; a new one
    /// leaves the previous valid for 5 more minutes.
    pub async fn client_token(&self, appid: &str, secret: &AppSecret) -> Result<AppToken, Error> {
        let body = json!({
            "client_key": appid,
            "client_secret": secret.expose_secret(),
            "grant_type": "client_credential",
        });
        let open = &self.open;
        open.call(
            "client_token",
            Method::POST,
            "oauth/client_token/",
            |r| r.json(&body),
            |raw| {
                let answer: TokenEnvelope =
                    json(raw).map_err(|d| open.malformed("client_token", &d))?;
                let data = answer.data;
                if data.error_code != 0 || data.access_token.is_empty() {
                    return Err(Error::Api {
                        platform: "douyin",
                        endpoint: "client_token",
                        code: data.error_code.to_string(),
                        message: data.description,
                        kind: kind(data.error_code),
                    });
                }
                Ok(AppToken {
                    token: data.access_token.into(),
                    expires_in: Duration::from_secs(data.expires_in),
                })
            },
        )
        .await
    }

    /// Trade a phone code for the number, opened with the app's key.
    pub async fn phone_number(
        &self,
        client_token: &str,
        code: &str,
        key: &PhoneKey,
    ) -> Result<Map<String, Value>, Error> {
        let body = json!({ "code": code });
        let open = &self.open;
        let sealed: String = open
            .call(
                "get_phonenumber_info",
                Method::POST,
                "api/apps/v1/get_phonenumber_info/",
                |r| r.header("access-token", client_token).json(&body),
                |raw| {
                    let answer: PhoneEnvelope =
                        json(raw).map_err(|d| open.malformed("get_phonenumber_info", &d))?;
                    if answer.err_no != 0 {
                        return Err(Error::Api {
                            platform: "douyin",
                            endpoint: "get_phonenumber_info",
                            code: answer.err_no.to_string(),
                            message: answer.err_tips,
                            kind: kind(answer.err_no),
                        });
                    }
                    answer.data.as_str().map(str::to_owned).ok_or_else(|| {
                        open.malformed("get_phonenumber_info", "data is not a string")
                    })
                },
            )
            .await?;
        let malformed = |d: &str| open.malformed("get_phonenumber_info", d);
        let cipher = STANDARD
            .decode(sealed)
            .map_err(|_| malformed("data is not base64"))?;
        let plain = key
            .0
            .decrypt(Pkcs1v15Encrypt, &cipher)
            .map_err(|_| malformed("data does not open with the app's private key"))?;
        serde_json::from_slice(&plain)
            .map_err(|_| malformed("the opened data is not a JSON object"))
    }
}
