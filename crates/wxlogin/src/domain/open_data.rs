//! Open-data decryption for a session: the reason the service keeps
//! `session_key` at all. Tries the user's current key, then the previous one
//! while its grace period lasts, so data encrypted just before another device's
//! `wx.login` still decrypts. Every wrong-key outcome (bad padding, non-JSON)
//! collapses into one `session_key_stale` so the API is not a padding oracle.

use std::sync::Arc;

use serde_json::{Map, Value};
use wechat::SessionKey;
use wechat::crypto::{CryptoError, decrypt_open_data, verify_raw_data_signature};

use super::login::aad;
use super::{Core, Error};
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId};
use crate::store::IdentityRecord;

/// What the mini program forwards from WeChat.
#[derive(Debug, Clone)]
pub struct EncryptedData {
    pub encrypted_data: String,
    pub iv: String,
    /// Profile data only: the exact `rawData` string and its `signature`.
    pub raw_data: Option<String>,
    pub signature: Option<String>,
}

/// Decrypted, watermark-checked data and which key opened it.
#[derive(Debug, Clone)]
pub struct Decrypted {
    pub data: Map<String, Value>,
    pub watermark_timestamp: i64,
    /// True when the previous (rotated-out) key was needed.
    pub used_previous_key: bool,
    /// The session's user, whose key opened the data.
    pub appid: AppId,
    pub openid: OpenId,
}

/// A user's session_keys, opened: the current one, and the previous one with
/// the end of its grace period.
pub(crate) struct UserKeys {
    appid: String,
    current: SessionKey,
    previous: Option<(SessionKey, UnixTime)>,
}

impl UserKeys {
    /// The keys usable at `now`, current first.
    pub(crate) fn usable(&self, now: UnixTime) -> impl Iterator<Item = &SessionKey> {
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(key, _)| key);
        std::iter::once(&self.current).chain(previous)
    }

    pub(crate) fn current(&self) -> &SessionKey {
        &self.current
    }

    #[cfg(test)]
    pub(crate) fn for_test(appid: &str, current: SessionKey) -> Self {
        Self {
            appid: appid.to_owned(),
            current,
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
            // inside `SessionKey` (zeroized on drop too).
            let text = zeroize::Zeroizing::new(self.data_key.open(sealed, &row).map_err(|e| {
                tracing::error!(error = %e, "a stored session_key does not open under the data key");
                Error::Internal
            })?);
            let text = std::str::from_utf8(&text).map_err(|_| Error::Internal)?;
            SessionKey::parse(text).map_err(|_| Error::Internal)
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
        // The configured app's parsed id; a session of an app since removed
        // from the config still decrypts.
        let parsed;
        let appid = match self.apps.get(session.appid.as_str()) {
            Some(app) => &app.appid,
            None => {
                parsed = session.appid.clone();
                &parsed
            }
        };
        let now = self.clock.now();
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.user(session.appid.as_str(), session.openid.as_str(), now));
        if let Some(keys) = cached {
            match self.decrypt_with(keys.usable(now), appid, &session.openid, input) {
                // No cached key fits: the key may have rotated on another
                // instance, so the store has the last word.
                Err(Error::SessionKeyStale) => {}
                answer => return answer,
            }
        }
        let keys = self.session_keys(&session.appid, &session.openid).await?;
        self.decrypt_with(keys.usable(self.clock.now()), appid, &session.openid, input)
    }

    /// Open `input` with the first key that fits. The data is AES-CBC
    /// without a MAC: its owner can rewrite parts of it and still pass the
    /// watermark check, so an `openId` inside (user info) must be the
    /// session's own; a backend trusts nothing else in a profile beyond what
    /// its owner could claim anyway (docs/SECURITY.md).
    fn decrypt_with<'k>(
        &self,
        keys: impl Iterator<Item = &'k SessionKey>,
        appid: &wechat::AppId,
        openid: &OpenId,
        input: &EncryptedData,
    ) -> Result<Decrypted, Error> {
        let mut tried = 0;
        for key in keys {
            tried += 1;
            match decrypt_open_data(key, &input.iv, &input.encrypted_data, appid) {
                Ok(open) => {
                    if let (Some(raw), Some(signature)) = (&input.raw_data, &input.signature)
                        && !verify_raw_data_signature(raw, key, signature)
                    {
                        return Err(Error::BadSignature);
                    }
                    if let Some(named) = open.data.get("openId")
                        && named.as_str() != Some(openid.as_str())
                    {
                        return Err(Error::InvalidOpenData {
                            code: "openid_mismatch",
                            detail: "the data names another user than the session's".into(),
                        });
                    }
                    return Ok(Decrypted {
                        data: open.data,
                        watermark_timestamp: open.watermark.timestamp,
                        used_previous_key: tried > 1,
                        appid: AppId::parse(appid.as_str()).map_err(|_| Error::Internal)?,
                        openid: openid.clone(),
                    });
                }
                Err(e) if e.may_be_wrong_key() => continue,
                Err(e) => return Err(crypto_error(e)),
            }
        }
        tracing::debug!(keys = tried, "no session_key opens the data");
        Err(Error::SessionKeyStale)
    }
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
