//! Baidu smart mini programs, PLATFORMS.md §4: `POST oauth/jscode2sessionkey`
//! (form: `code`, `client_id` = the App **Key**, `sk` = the App Secret)
//! answers `{openid, session_key}`, or `errno`/`error`/`error_description`.
//! No unionid. Codes are single use (10 minutes by one page, 5 by another).
//!
//! The full `errno` table is not published: only the OAuth-style `error`
//! values are classified (`invalid_grant`: the code; `invalid_client`: our
//! credentials); everything else is "unavailable", never a guess.
//!
//! Open data (and phone numbers) use AES-192-CBC with the 24-byte
//! session_key, and a plaintext of 16 random bytes ‖ big-endian u32 length
//! ‖ the JSON ‖ the App Key, padded to a multiple of **32** bytes: the pad
//! byte runs to 32, so 16-byte PKCS#7 unpadding would refuse it. There is
//! no watermark; the App Key trailer binds the data to the app.

use aes::Aes192;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};
use wechat::AppSecret;

use crate::http::{Upstream, json};
use crate::{Error, Exchanged, Kind};

/// Baidu's API host for smart mini programs.
pub const BASE_URL: &str = "https://spapi.baidu.com/";

const ENDPOINT: &str = "jscode2sessionkey";

#[derive(Clone, Debug)]
pub struct Client {
    upstream: Upstream,
}

#[derive(Deserialize)]
struct Answer {
    openid: Option<String>,
    session_key: Option<String>,
    errno: Option<Value>,
    error: Option<String>,
    error_description: Option<String>,
}

/// What wxlogin does about an OAuth-style `error`.
pub fn kind(error: &str) -> Kind {
    match error {
        "invalid_grant" => Kind::InvalidCode,
        "invalid_client" => Kind::Misconfigured,
        _ => Kind::Unavailable,
    }
}

impl Client {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }

    /// Trade a `swan.getLoginCode` code for the user's openid and session_key.
    pub async fn jscode2sessionkey(
        &self,
        app_key: &str,
        secret: &AppSecret,
        code: &str,
    ) -> Result<Exchanged, Error> {
        let form = [
            ("code", code),
            ("client_id", app_key),
            ("sk", secret.expose_secret()),
        ];
        self.upstream
            .call(
                ENDPOINT,
                Method::POST,
                "oauth/jscode2sessionkey",
                |r| r.form(&form),
                |raw| {
                    let answer: Answer =
                        json(raw).map_err(|d| self.upstream.malformed(ENDPOINT, &d))?;
                    if answer.errno.is_some() || answer.error.is_some() {
                        let error = answer.error.unwrap_or_default();
                        let code = match answer.errno {
                            Some(n) => n.to_string(),
                            None => error.clone(),
                        };
                        return Err(Error::Api {
                            platform: "baidu",
                            endpoint: ENDPOINT,
                            kind: kind(&error),
                            code,
                            message: answer.error_description.unwrap_or(error),
                        });
                    }
                    match (answer.openid, answer.session_key) {
                        (Some(openid), Some(key)) if !openid.is_empty() && !key.is_empty() => {
                            Ok(Exchanged {
                                subject: openid,
                                unionid: None,
                                session_key: Some(key.into()),
                                anonymous: false,
                            })
                        }
                        _ => Err(self
                            .upstream
                            .malformed(ENDPOINT, "openid or session_key missing")),
                    }
                },
            )
            .await
    }
}

/// Why Baidu open data did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("session_key is not base64 of 24 bytes")]
    BadKey,
    #[error("iv is not base64 of 16 bytes")]
    BadIv,
    #[error("{0} is not valid standard base64")]
    InvalidBase64(&'static str),
    #[error("encrypted data is empty or not a multiple of 16 bytes")]
    BadLength,
    /// Wrong key or iv, or corrupted data: the padding, length or layout is off.
    #[error("the decrypted data has no valid layout (wrong key or iv?)")]
    BadLayout,
    #[error("the data was encrypted for another app (App Key trailer differs)")]
    AppKeyMismatch,
    #[error("the user data is not a UTF-8 JSON object")]
    NotJson,
}

impl CryptoError {
    /// The outcomes a wrong (rotated) key gives.
    pub fn may_be_wrong_key(&self) -> bool {
        matches!(self, Self::BadLayout | Self::NotJson)
    }
}

fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD
        .decode(text)
        .map_err(|_| CryptoError::InvalidBase64(field))
}

fn key_and_iv(session_key: &str, iv: &str) -> Result<([u8; 24], [u8; 16]), CryptoError> {
    let key = STANDARD
        .decode(session_key)
        .ok()
        .and_then(|k| <[u8; 24]>::try_from(k.as_slice()).ok())
        .ok_or(CryptoError::BadKey)?;
    let iv = <[u8; 16]>::try_from(decode("iv", iv)?.as_slice()).map_err(|_| CryptoError::BadIv)?;
    Ok((key, iv))
}

/// Decrypt Baidu open data (or a phone number) and check its App Key
/// trailer; returns the user data object.
pub fn decrypt(
    session_key: &str,
    iv: &str,
    encrypted_data: &str,
    app_key: &str,
) -> Result<Map<String, Value>, CryptoError> {
    let (key, iv) = key_and_iv(session_key, iv)?;
    let ct = decode("encrypted_data", encrypted_data)?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return Err(CryptoError::BadLength);
    }
    let mut plain = cbc::Decryptor::<Aes192>::new(&key.into(), &iv.into())
        .decrypt_padded_vec::<NoPadding>(&ct)
        .map_err(|_| CryptoError::BadLayout)?;
    let pad = usize::from(*plain.last().ok_or(CryptoError::BadLayout)?);
    if !(1..=32).contains(&pad) || pad > plain.len() {
        return Err(CryptoError::BadLayout);
    }
    plain.truncate(plain.len() - pad);
    let len_bytes: [u8; 4] = plain
        .get(16..20)
        .and_then(|b| b.try_into().ok())
        .ok_or(CryptoError::BadLayout)?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let data = plain.get(20..20 + len).ok_or(CryptoError::BadLayout)?;
    let trailer = plain.get(20 + len..).ok_or(CryptoError::BadLayout)?;
    let data: Map<String, Value> =
        serde_json::from_slice(data).map_err(|_| CryptoError::NotJson)?;
    if trailer != app_key.as_bytes() {
        return Err(CryptoError::AppKeyMismatch);
    }
    Ok(data)
}

/// Encrypt the way Baidu does (for the simulator and tests): `random` is
/// the 16 leading bytes; padded to a multiple of 32 bytes.
pub fn encrypt(
    session_key: &str,
    iv: &str,
    data: &[u8],
    app_key: &str,
    random: [u8; 16],
) -> Result<String, CryptoError> {
    let (key, iv) = key_and_iv(session_key, iv)?;
    let len = u32::try_from(data.len()).map_err(|_| CryptoError::BadLength)?;
    let mut plain = random.to_vec();
    plain.extend_from_slice(&len.to_be_bytes());
    plain.extend_from_slice(data);
    plain.extend_from_slice(app_key.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let ct = cbc::Encryptor::<Aes192>::new(&key.into(), &iv.into())
        .encrypt_padded_vec::<NoPadding>(&plain);
    Ok(STANDARD.encode(ct))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The official sample (PLATFORMS.md §4.5): 160 bytes, pad byte 28.
    const KEY: &str = "1df09d0a1677dd72b8325aec59576e0c";
    const IV: &str = "1df09d0a1677dd72b8325Q==";
    const APP_KEY: &str = "y2dTfnWfkx2OXttMEMWlGHoB1KzMogm7";
    const DATA: &str = "OpCoJgs7RrVgaMNDixIvaCIyV2SFDBNLivgkVqtzq2GC10egsn+PKmQ/+5q+chT8xzldLUog2haTItyIkKyvzvmXonBQLIMeq54axAu9c3KG8IhpFD6+ymHocmx07ZKi7eED3t0KyIxJgRNSDkFk5RV1ZP2mSWa7ZgCXXcAbP0RsiUcvhcJfrSwlpsm0E1YJzKpYy429xrEEGvK+gfL+Cw==";

    #[test]
    fn the_official_vector_decrypts_with_its_32_byte_padding() {
        let data = decrypt(KEY, IV, DATA, APP_KEY).unwrap();
        assert_eq!(
            serde_json::Value::Object(data),
            serde_json::json!({"openid":"open_id","nickname":"baidu_user","headimgurl":"url of image","sex":1})
        );
        assert_eq!(
            decrypt(KEY, IV, DATA, "another-app-key").unwrap_err(),
            CryptoError::AppKeyMismatch
        );
    }

    #[test]
    fn our_encryption_round_trips_and_a_wrong_key_is_a_layout_error() {
        let json = br#"{"mobile":"13800000000"}"#;
        let sealed = encrypt(KEY, IV, json, APP_KEY, [7; 16]).unwrap();
        let plain = decrypt(KEY, IV, &sealed, APP_KEY).unwrap();
        assert_eq!(plain["mobile"], "13800000000");
        let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(
            decrypt(other, IV, &sealed, APP_KEY)
                .unwrap_err()
                .may_be_wrong_key()
        );
        assert_eq!(
            decrypt("short", IV, &sealed, APP_KEY).unwrap_err(),
            CryptoError::BadKey
        );
    }
}
