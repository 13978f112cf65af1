//! Open-data decryption for a session: the reason the service keeps
//! `session_key` at all. Tries the user's current key, then the previous one
//! while its grace period lasts, so data encrypted just before another device's
//! login still decrypts. Every wrong-key outcome (bad padding, non-JSON)
//! collapses into one `session_key_stale` so the API is not a padding oracle.
//!
//! Per platform: WeChat, QQ and Douyin use WeChat's scheme (watermark naming
//! the app; WeCom's too, its watermark being undocumented, checked only when
//! present); Baidu its AES-192 scheme whose App Key trailer binds the data
//! to the app; Alipay has no session_key: its phone envelope is verified
//! with Alipay's key and decrypted with the app's AES key.

use std::sync::Arc;

use platforms::{alipay, baidu};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use wechat::SessionKey;
use wechat::crypto::{CryptoError, decrypt_open_data_for, verify_raw_data_signature};

use super::login::aad;
use super::providers::Provider;
use super::{Core, Error};
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId};
use crate::store::IdentityRecord;

/// What the mini program forwards from its platform.
#[derive(Debug, Clone)]
pub struct EncryptedData {
    /// `encryptedData` (Alipay: the `response` string of `my.getPhoneNumber`).
    pub encrypted_data: String,
    /// Absent only for Alipay.
    pub iv: Option<String>,
    /// Profile data only: the exact `rawData` string and its `signature`.
    pub raw_data: Option<String>,
    pub signature: Option<String>,
}

/// Decrypted, checked data and which key opened it.
#[derive(Debug, Clone)]
pub struct Decrypted {
    pub data: Map<String, Value>,
    /// The watermark's time, where the platform has one.
    pub watermark_timestamp: Option<i64>,
    /// True when the previous (rotated-out) key was needed.
    pub used_previous_key: bool,
    /// The session's user, whose key opened the data.
    pub appid: AppId,
    pub openid: OpenId,
}

/// A user's session_keys, opened (as the platform's base64 text): the
/// current one, and the previous one with the end of its grace period.
pub(crate) struct UserKeys {
    appid: String,
    current: SecretString,
    previous: Option<(SecretString, UnixTime)>,
}

impl UserKeys {
    /// The keys usable at `now`, current first.
    pub(crate) fn usable(&self, now: UnixTime) -> impl Iterator<Item = &SecretString> {
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(key, _)| key);
        std::iter::once(&self.current).chain(previous)
    }

    /// The current key as WeChat's type (WeChat-protocol calls).
    pub(crate) fn current_wechat(&self) -> Result<SessionKey, Error> {
        SessionKey::parse(self.current.expose_secret()).map_err(|_| Error::Internal)
    }

    #[cfg(test)]
    pub(crate) fn for_test(appid: &str, current: SessionKey) -> Self {
        Self {
            appid: appid.to_owned(),
            current: SecretString::from(current.expose_secret().to_owned()),
            previous: None,
        }
    }

    /// The app whose user these keys belong to.
    pub(crate) fn appid(&self) -> &str {
        &self.appid
    }
}

impl Core {
    /// The user's session_keys for a verified session, read from the store
    /// (and, with the verify cache on, remembered for decrypt).
    pub(crate) async fn session_keys(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> Result<Arc<UserKeys>, Error> {
        let read_at = self.clock.now();
        let generation = self.cache.as_ref().map(|c| c.generation());
        let user = self
            .store
            .get_identity(appid, openid)
            .await?
            .ok_or(Error::SessionKeyStale)?;
        let keys = Arc::new(self.open_keys(&user, read_at)?);
        if let (Some(cache), Some(seen)) = (&self.cache, generation) {
            cache.put_user(openid.as_str(), &keys, read_at, seen);
        }
        Ok(keys)
    }

    fn open_keys(&self, user: &IdentityRecord, now: UnixTime) -> Result<UserKeys, Error> {
        let row = aad("session_key", &[user.appid.as_str(), user.openid.as_str()]);
        let open = |sealed: &[u8]| {
            // The opened bytes are wiped when dropped; the key lives on only
            // inside a `SecretString` (zeroized on drop too).
            let text = zeroize::Zeroizing::new(self.data_key.open(sealed, &row).map_err(|e| {
                tracing::error!(error = %e, "a stored session_key does not open under the data key");
                Error::Internal
            })?);
            let text = std::str::from_utf8(&text).map_err(|_| Error::Internal)?;
            Ok::<_, Error>(SecretString::from(text.to_owned()))
        };
        let previous = match (&user.sealed_previous_key, user.previous_key_until) {
            (Some(sealed), Some(until)) if now < until => Some((open(sealed)?, until)),
            _ => None,
        };
        Ok(UserKeys {
            appid: user.appid.to_string(),
            current: open(&user.sealed_session_key)?,
            previous,
        })
    }

    /// Decrypt open data for the session behind `token`.
    pub async fn decrypt(
        &self,
        token: &str,
        expected_app: Option<&str>,
        input: &EncryptedData,
    ) -> Result<Decrypted, Error> {
        if input.raw_data.is_some() != input.signature.is_some() {
            return Err(Error::InvalidRequest(
                "raw_data and signature go together".into(),
            ));
        }
        let session = self.verified(token, expected_app).await?;
        // A session of an app since removed from the config still decrypts
        // WeChat's way.
        let fallback;
        let provider = match self.apps.get(session.appid.as_str()) {
            Some(app) => &app.provider,
            None => {
                fallback = Provider::Wechat {
                    appid: wechat::AppId::parse("wx0000000000000000")
                        .map_err(|_| Error::Internal)?,
                    secret: wechat::AppSecret::parse("unused").map_err(|_| Error::Internal)?,
                };
                &fallback
            }
        };
        if let Provider::Alipay {
            aes_key,
            alipay_public_key,
            ..
        } = provider
        {
            return alipay_phone(aes_key.as_deref(), alipay_public_key, &session, input);
        }
        let now = self.clock.now();
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.user(session.appid.as_str(), session.openid.as_str(), now));
        let (appid, openid) = (&session.appid, &session.openid);
        if let Some(keys) = cached {
            match decrypt_with(keys.usable(now), provider, appid, openid, input) {
                // No cached key fits: the key may have rotated on another
                // instance, so the store has the last word.
                Err(Error::SessionKeyStale) => {}
                answer => return answer,
            }
        }
        let keys = self.session_keys(appid, openid).await?;
        decrypt_with(
            keys.usable(self.clock.now()),
            provider,
            appid,
            openid,
            input,
        )
    }
}

/// Alipay's phone envelope, verified then decrypted with the app's keys.
fn alipay_phone(
    aes_key: Option<&zeroize::Zeroizing<Vec<u8>>>,
    alipay_public_key: &[u8],
    session: &crate::store::SessionRecord,
    input: &EncryptedData,
) -> Result<Decrypted, Error> {
    let aes_key = aes_key.ok_or(Error::NotSupported(crate::ids::Platform::Alipay))?;
    let data =
        alipay::decrypt_phone(&input.encrypted_data, aes_key, alipay_public_key).map_err(|e| {
            match e {
                alipay::PhoneError::BadSignature => Error::BadSignature,
                alipay::PhoneError::Refused(sub_code) => Error::InvalidOpenData {
                    code: "open_data_refused",
                    detail: format!("Alipay refused: {sub_code}"),
                },
                alipay::PhoneError::Envelope | alipay::PhoneError::Decrypt => {
                    Error::InvalidOpenData {
                        code: "invalid_encrypted_data",
                        detail: "the response does not open with the app's AES key".into(),
                    }
                }
            }
        })?;
    Ok(Decrypted {
        data,
        watermark_timestamp: None,
        used_previous_key: false,
        appid: session.appid.clone(),
        openid: session.openid.clone(),
    })
}

/// Open `input` with the first key that fits. The data is AES-CBC
/// without a MAC: its owner can rewrite parts of it and still pass the
/// watermark check, so an `openId` inside (user info) must be the
/// session's own; a backend trusts nothing else in a profile beyond what
/// its owner could claim anyway (docs/SECURITY.md).
fn decrypt_with<'k>(
    keys: impl Iterator<Item = &'k SecretString>,
    provider: &Provider,
    appid: &AppId,
    openid: &OpenId,
    input: &EncryptedData,
) -> Result<Decrypted, Error> {
    let iv = input
        .iv
        .as_deref()
        .ok_or_else(|| Error::InvalidRequest("iv is required".into()))?;
    let mut tried = 0;
    for key in keys {
        tried += 1;
        // An identity without a session_key (Douyin's anonymous login).
        if key.expose_secret().is_empty() {
            return Err(Error::InvalidRequest(
                "this session has no session_key (an anonymous login): nothing to decrypt with"
                    .into(),
            ));
        }
        let opened = match provider {
            Provider::Baidu { app_key, .. } => {
                if input.raw_data.is_some() {
                    return Err(Error::InvalidRequest(
                        "Baidu open data has no rawData signature".into(),
                    ));
                }
                match baidu::decrypt(key.expose_secret(), iv, &input.encrypted_data, app_key) {
                    Ok(data) => (data, None),
                    Err(e) if e.may_be_wrong_key() => continue,
                    Err(e) => return Err(baidu_error(e)),
                }
            }
            _ => {
                let session_key =
                    SessionKey::parse(key.expose_secret()).map_err(|_| Error::Internal)?;
                let wecom = matches!(provider, Provider::Wecom { .. });
                match open_wechat_scheme(&session_key, iv, input, appid, wecom) {
                    Ok(opened) => opened,
                    Err(e) if e.may_be_wrong_key() => continue,
                    Err(e) => return Err(crypto_error(e)),
                }
            }
        };
        let (data, watermark_timestamp) = opened;
        if let (Some(raw), Some(signature)) = (&input.raw_data, &input.signature)
            && !verify_raw_data_signature(
                raw,
                &SessionKey::parse(key.expose_secret()).map_err(|_| Error::Internal)?,
                signature,
            )
        {
            return Err(Error::BadSignature);
        }
        if let Some(named) = data.get("openId").or_else(|| data.get("openid"))
            && named.as_str() != Some(openid.as_str())
        {
            return Err(Error::InvalidOpenData {
                code: "openid_mismatch",
                detail: "the data names another user than the session's".into(),
            });
        }
        return Ok(Decrypted {
            data,
            watermark_timestamp,
            used_previous_key: tried > 1,
            appid: appid.clone(),
            openid: openid.clone(),
        });
    }
    tracing::debug!(keys = tried, "no session_key opens the data");
    Err(Error::SessionKeyStale)
}

/// WeChat's scheme; with `optional_watermark` (WeCom) a missing watermark
/// is accepted, one naming another app is not.
fn open_wechat_scheme(
    key: &SessionKey,
    iv: &str,
    input: &EncryptedData,
    appid: &AppId,
    optional_watermark: bool,
) -> Result<(Map<String, Value>, Option<i64>), CryptoError> {
    match decrypt_open_data_for(key, iv, &input.encrypted_data, appid.as_str()) {
        Ok(open) => Ok((open.data, Some(open.watermark.timestamp))),
        Err(CryptoError::WatermarkMissing) if optional_watermark => {
            let plain =
                wechat::crypto::decrypt_bytes(key.expose_secret(), iv, &input.encrypted_data)?;
            let data: Map<String, Value> =
                serde_json::from_slice(&plain).map_err(|_| CryptoError::NotJson)?;
            Ok((data, None))
        }
        Err(e) => Err(e),
    }
}

fn baidu_error(e: baidu::CryptoError) -> Error {
    let (code, detail) = match e {
        baidu::CryptoError::InvalidBase64(field) => (
            "invalid_base64",
            format!("{field} is not valid standard base64"),
        ),
        baidu::CryptoError::BadIv => ("invalid_iv", "iv must be base64 of 16 bytes".to_owned()),
        baidu::CryptoError::BadLength => (
            "invalid_encrypted_data",
            "encrypted_data must be a non-empty multiple of 16 bytes".to_owned(),
        ),
        baidu::CryptoError::AppKeyMismatch => return Error::WatermarkMismatch,
        baidu::CryptoError::BadKey
        | baidu::CryptoError::BadLayout
        | baidu::CryptoError::NotJson => {
            return Error::SessionKeyStale;
        }
    };
    Error::InvalidOpenData { code, detail }
}

fn crypto_error(e: CryptoError) -> Error {
    match e {
        CryptoError::InvalidBase64(field) => Error::InvalidOpenData {
            code: "invalid_base64",
            detail: format!(
                "{field} is not valid standard base64 (was it sent through a URL without encoding?)"
            ),
        },
        CryptoError::BadIv => Error::InvalidOpenData {
            code: "invalid_iv",
            detail: "iv must be base64 of 16 bytes".into(),
        },
        CryptoError::BadLength => Error::InvalidOpenData {
            code: "invalid_encrypted_data",
            detail: "encrypted_data must be a non-empty multiple of 16 bytes".into(),
        },
        CryptoError::WatermarkMismatch { .. } => Error::WatermarkMismatch,
        CryptoError::WatermarkMissing => Error::InvalidOpenData {
            code: "invalid_open_data",
            detail: "the decrypted data carries no watermark".into(),
        },
        // A stored key that is not 16 bytes, or wrong-key outcomes handled above.
        CryptoError::BadKey | CryptoError::BadPadding | CryptoError::NotJson => {
            Error::SessionKeyStale
        }
    }
}
