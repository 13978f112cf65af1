//! Alipay mini programs, PLATFORMS.md §2: `alipay.system.oauth.token` on the
//! OpenAPI v1 gateway (`POST gateway.do`), requests signed with the app's
//! RSA private key (RSA2: SHA256withRSA, PKCS#1 v1.5), answers signed by
//! Alipay's key and verified here over the exact text of the
//! `<method>_response` value, never re-serialized JSON. RSA is `ring`'s;
//! the SubjectPublicKeyInfo around Alipay's public key is read by `spki`.
//!
//! There is no session_key: the identity is `open_id` (the per-app id new
//! apps get) or the legacy `user_id`, with `union_id` when apps are grouped.
//! Phone numbers arrive in a signed envelope encrypted with the app's AES
//! key (zero IV), verified then decrypted locally ([`decrypt_phone`]).
//! Whether a success carries `code: "10000"`, whether error bodies are
//! signed, and the gateway's time zone are uncertain: both forms are
//! accepted and a success must verify.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::http::Upstream;
use crate::{Error, Exchanged, Kind};

/// Alipay's OpenAPI gateway host.
pub const BASE_URL: &str = "https://openapi.alipay.com/";

mod phone;
pub use phone::{PhoneError, aes_key, decrypt_phone, encrypt_phone};

const METHOD: &str = "alipay.system.oauth.token";
const ENDPOINT: &str = "alipay.system.oauth.token";

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{0} is not PEM or base64 DER")]
    Encoding(&'static str),
    #[error("{0} is not an RSA key of 2048 bits or more")]
    NotRsa(&'static str),
    #[error("the AES key is not base64 of 16 bytes")]
    AesKey,
}

/// DER from PEM (any label) or bare base64, as Alipay's console shows keys
/// (and as Douyin's phone key is configured).
pub(crate) fn der(what: &'static str, text: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Encoding(what))
}

/// The app's private key and Alipay's public key.
pub struct Keys {
    app_private_key: RsaKeyPair,
    /// PKCS#1 RSAPublicKey.
    alipay_public_key: Vec<u8>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("alipay::Keys([redacted])")
    }
}

impl KeyError {
    /// The setting the error is about.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::Encoding(what) | Self::NotRsa(what) => what,
            Self::AesKey => "aes_key",
        }
    }
}

impl Keys {
    /// `app_private_key`: PKCS#8 or PKCS#1, PEM or bare base64.
    /// `alipay_public_key`: SubjectPublicKeyInfo or PKCS#1, PEM or base64.
    pub fn parse(app_private_key: &str, alipay_public_key: &str) -> Result<Self, KeyError> {
        let private = der("app_private_key", app_private_key)?;
        let app_private_key = RsaKeyPair::from_pkcs8(&private)
            .or_else(|_| RsaKeyPair::from_der(&private))
            .map_err(|_| KeyError::NotRsa("app_private_key"))?;
        Ok(Self {
            app_private_key,
            alipay_public_key: public_key(alipay_public_key)?,
        })
    }

    /// Sign `content` with the app's key (RSA2), base64.
    pub fn sign(&self, content: &str) -> String {
        sign_with(&self.app_private_key, content)
    }

    /// Whether Alipay signed `content` (RSA2, base64 `sign`).
    pub fn verify(&self, content: &str, sign: &str) -> bool {
        verify_with(&self.alipay_public_key, content, sign)
    }
}

/// An RSA public key as PKCS#1 bytes, from SPKI or PKCS#1.
pub fn public_key(text: &str) -> Result<Vec<u8>, KeyError> {
    let der = der("alipay_public_key", text)?;
    match spki::SubjectPublicKeyInfoRef::try_from(der.as_slice()) {
        Ok(info) => info
            .subject_public_key
            .as_bytes()
            .map(<[u8]>::to_vec)
            .ok_or(KeyError::NotRsa("alipay_public_key")),
        Err(_) => Ok(der.to_vec()),
    }
}

/// RSA2-sign `content` with a key pair (also the simulator's signer).
pub fn sign_with(key: &RsaKeyPair, content: &str) -> String {
    let mut out = vec![0; key.public().modulus_len()];
    // Signing fails only on a key/buffer mismatch, impossible here.
    let _ = key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        content.as_bytes(),
        &mut out,
    );
    STANDARD.encode(out)
}

/// Verify an RSA2 `sign` over `content` with a PKCS#1 public key.
pub fn verify_with(pkcs1: &[u8], content: &str, sign: &str) -> bool {
    let Ok(sig) = STANDARD.decode(sign) else {
        return false;
    };
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pkcs1)
        .verify(content.as_bytes(), &sig)
        .is_ok()
}

/// The string to sign: every parameter but `sign`, empty values dropped,
/// sorted by key (ASCII), `key=value` joined by `&`, raw (not URL-encoded).
pub fn canonical(params: &[(&str, &str)]) -> String {
    let mut kept: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.cmp(b.0));
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The gateway's `timestamp`: `yyyy-MM-dd HH:mm:ss`, Beijing time (UTC+8;
/// the zone is not documented).
pub fn timestamp(unix: i64) -> String {
    let offset = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let at = time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// What wxlogin does about a gateway `code` and business `sub_code`.
pub fn kind(code: &str, sub_code: &str) -> Kind {
    match sub_code {
        "isv.code-invalid" | "isv.unmatched-app-id" => Kind::InvalidCode,
        "isp.unknow-error" | "aop.unknow-error" => Kind::Busy,
        s if s.starts_with("isv.invalid-signature")
            || s.starts_with("isv.missing-")
            || s.starts_with("isv.invalid-app-id")
            || s == "isv.insufficient-isv-permissions" =>
        {
            Kind::Misconfigured
        }
        _ => match code {
            "20000" => Kind::Busy,
            "40001" | "40006" => Kind::Misconfigured,
            _ => Kind::Unavailable,
        },
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "alipay_system_oauth_token_response")]
    response: Option<&'a RawValue>,
    error_response: Option<Value>,
    sign: Option<String>,
}

#[derive(Deserialize)]
struct Token {
    code: Option<String>,
    sub_code: Option<String>,
    msg: Option<String>,
    user_id: Option<String>,
    open_id: Option<String>,
    union_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Client {
    upstream: Upstream,
}

fn api_error(fields: &Value) -> Error {
    let text = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (code, sub_code) = (text("code"), text("sub_code"));
    Error::Api {
        platform: "alipay",
        endpoint: ENDPOINT,
        kind: kind(&code, &sub_code),
        // `sub_msg` may echo the signed request (the auth code): not kept.
        message: text("msg"),
        code: if sub_code.is_empty() {
            code
        } else {
            format!("{code}/{sub_code}")
        },
    }
}

impl Client {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }

    /// Trade a `my.getAuthCode` auth code for the user's ids; `now` (unix
    /// seconds) stamps the request.
    pub async fn oauth_token(
        &self,
        app_id: &str,
        keys: &Keys,
        code: &str,
        now: i64,
    ) -> Result<Exchanged, Error> {
        let timestamp = timestamp(now);
        let mut params = vec![
            ("app_id", app_id),
            ("method", METHOD),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", timestamp.as_str()),
            ("version", "1.0"),
            ("grant_type", "authorization_code"),
            ("code", code),
        ];
        let sign = keys.sign(&canonical(&params));
        params.push(("sign", &sign));
        // Common parameters in the query, the business ones in the form body,
        // as Alipay's own SDK sends them.
        type Pairs<'p> = Vec<&'p (&'p str, &'p str)>;
        let (body, query): (Pairs<'_>, Pairs<'_>) = params
            .iter()
            .partition(|(k, _)| matches!(*k, "grant_type" | "code"));
        self.upstream
            .call(
                ENDPOINT,
                Method::POST,
                "gateway.do",
                |r| {
                    r.query(&query)
                        .form(&body)
                        .header("accept", "application/json")
                },
                |raw| self.read(raw, keys),
            )
            .await
    }

    fn read(&self, raw: &[u8], keys: &Keys) -> Result<Exchanged, Error> {
        let malformed = |d: &str| self.upstream.malformed(ENDPOINT, d);
        let envelope: Envelope<'_> =
            serde_json::from_slice(raw).map_err(|_| malformed("not the documented JSON shape"))?;
        if let Some(error) = &envelope.error_response {
            return Err(api_error(error));
        }
        let response = envelope
            .response
            .ok_or_else(|| malformed("no response object"))?;
        let fields: Value = serde_json::from_str(response.get())
            .map_err(|_| malformed("response is not an object"))?;
        let token: Token = serde_json::from_value(fields.clone())
            .map_err(|_| malformed("unexpected field types"))?;
        let failed =
            token.sub_code.is_some() || token.code.as_deref().is_some_and(|c| c != "10000");
        if failed {
            return Err(api_error(&fields));
        }
        let verified = envelope
            .sign
            .as_deref()
            .is_some_and(|sign| keys.verify(response.get(), sign));
        if !verified {
            return Err(Error::BadSignature {
                platform: "alipay",
                endpoint: ENDPOINT,
            });
        }
        let _ = token.msg;
        let subject = token
            .open_id
            .filter(|s| !s.is_empty())
            .or(token.user_id.filter(|s| !s.is_empty()))
            .ok_or_else(|| malformed("neither open_id nor user_id"))?;
        Ok(Exchanged {
            subject,
            unionid: token.union_id.filter(|s| !s.is_empty()),
            session_key: None,
            anonymous: false,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_string_is_sorted_raw_and_skips_sign_and_empty_values() {
        let params = [
            ("method", "alipay.system.oauth.token"),
            ("app_id", "2021000122671080"),
            ("sign", "x"),
            ("app_auth_token", ""),
            ("timestamp", "2014-07-24 03:07:50"),
            ("code", "4b203fe6c11548bcabd8da5bb087a83b"),
            ("charset", "utf-8"),
            ("format", "JSON"),
            ("grant_type", "authorization_code"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ];
        assert_eq!(
            canonical(&params),
            "app_id=2021000122671080&charset=utf-8&code=4b203fe6c11548bcabd8da5bb087a83b&format=JSON&grant_type=authorization_code&method=alipay.system.oauth.token&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0"
        );
    }

    #[test]
    fn timestamps_are_beijing_time() {
        // 2014-07-23 19:07:50 UTC is 03:07:50 the next day in Beijing.
        assert_eq!(timestamp(1_406_142_470), "2014-07-24 03:07:50");
    }

    #[test]
    fn the_phone_vector_decrypts() {
        let key = STANDARD.decode("aYA0GP8JEW+D7/UFaskCWA==").unwrap();
        let sealed = encrypt_phone(
            &key.clone().try_into().unwrap(),
            r#"{"code":"10000","msg":"Success","mobile":"1597671905"}"#,
        );
        assert_eq!(
            sealed,
            "4AOYHE0rpPnRnghunsGo+mY02DzANFLwNJJCiHfrNh2we+X5AAoad9ZH/8U2jkBBReukwx0ETW2b88v62vA4iw=="
        );
    }

    #[test]
    fn error_kinds_follow_the_documented_codes() {
        assert_eq!(kind("40002", "isv.code-invalid"), Kind::InvalidCode);
        assert_eq!(kind("40002", "isv.unmatched-app-id"), Kind::InvalidCode);
        assert_eq!(kind("20000", "isp.unknow-error"), Kind::Busy);
        assert_eq!(kind("40002", "isv.invalid-signature"), Kind::Misconfigured);
        assert_eq!(kind("40004", "isv.other"), Kind::Unavailable);
    }
}
