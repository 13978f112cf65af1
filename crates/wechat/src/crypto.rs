//! Open-data crypto built on `session_key` (WECHAT_API.md §5–6).
//!
//! Decryption is strict where WeChat's sample code is lenient: exact key and iv
//! lengths, a ciphertext that is a whole number of blocks, PKCS#7 padding checked
//! byte for byte, a UTF-8 JSON object with a watermark. Each failure has its own
//! variant so callers can tell a rotated key (padding / not JSON) from a client bug
//! (base64, lengths). Signatures are compared in constant time. Every primitive is
//! a RustCrypto crate; nothing here is hand-rolled.

use aes::Aes128;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::types::{AppId, SessionKey};

/// Why open data could not be decrypted or trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("session_key is not base64 of 16 bytes")]
    BadKey,
    #[error("iv is not base64 of 16 bytes")]
    BadIv,
    #[error("{0} is not valid standard base64")]
    InvalidBase64(&'static str),
    #[error("encrypted data is empty or not a multiple of 16 bytes")]
    BadLength,
    #[error("bad PKCS#7 padding (wrong key or iv, or corrupted data)")]
    BadPadding,
    #[error("decrypted data is not a UTF-8 JSON object")]
    NotJson,
    #[error("decrypted data has no valid watermark")]
    WatermarkMissing,
    #[error("watermark appid {found} does not match the app")]
    WatermarkMismatch { found: String },
}

impl CryptoError {
    /// True for the outcomes a wrong (e.g. rotated) key produces: worth trying
    /// another key before blaming the data.
    pub fn may_be_wrong_key(&self) -> bool {
        matches!(self, Self::BadPadding | Self::NotJson)
    }
}

/// The watermark WeChat embeds in every open-data payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub appid: String,
    /// When the user consented (Unix seconds); freshness policy is the caller's.
    pub timestamp: i64,
}

/// Decrypted, watermark-checked open data.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenData {
    /// The whole decrypted JSON object, watermark included.
    pub data: Map<String, Value>,
    pub watermark: Watermark,
}

fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD
        .decode(text)
        .map_err(|_| CryptoError::InvalidBase64(field))
}

/// Decrypt `encrypted_data` to bytes: AES-128-CBC with strict PKCS#7.
/// All three inputs are the base64 texts the mini program receives.
pub fn decrypt_bytes(
    session_key_b64: &str,
    iv_b64: &str,
    encrypted_data_b64: &str,
) -> Result<Vec<u8>, CryptoError> {
    let key = STANDARD
        .decode(session_key_b64)
        .ok()
        .and_then(|k| <[u8; 16]>::try_from(k.as_slice()).ok())
        .ok_or(CryptoError::BadKey)?;
    let iv = decode("iv", iv_b64)?;
    let iv = <[u8; 16]>::try_from(iv.as_slice()).map_err(|_| CryptoError::BadIv)?;
    let ct = decode("encrypted_data", encrypted_data_b64)?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return Err(CryptoError::BadLength);
    }
    cbc::Decryptor::<Aes128>::new(&key.into(), &iv.into())
        .decrypt_padded_vec::<Pkcs7>(&ct)
        .map_err(|_| CryptoError::BadPadding)
}

/// Decrypt open data with one key and check its watermark against `appid`.
pub fn decrypt_open_data(
    session_key: &SessionKey,
    iv_b64: &str,
    encrypted_data_b64: &str,
    appid: &AppId,
) -> Result<OpenData, CryptoError> {
    let plain = decrypt_bytes(session_key.expose_secret(), iv_b64, encrypted_data_b64)?;
    parse_open_data(&plain, appid)
}

/// Parse decrypted bytes as a JSON object carrying a watermark for `appid`.
pub fn parse_open_data(plain: &[u8], appid: &AppId) -> Result<OpenData, CryptoError> {
    parse_open_data_for(plain, appid.as_str())
}

/// [`decrypt_open_data`] for an app of another platform that uses WeChat's
/// scheme (QQ, Douyin, WeCom): the watermark names that app's own id.
pub fn decrypt_open_data_for(
    session_key: &SessionKey,
    iv_b64: &str,
    encrypted_data_b64: &str,
    appid: &str,
) -> Result<OpenData, CryptoError> {
    let plain = decrypt_bytes(session_key.expose_secret(), iv_b64, encrypted_data_b64)?;
    parse_open_data_for(&plain, appid)
}

/// [`parse_open_data`] with the expected appid as text.
pub fn parse_open_data_for(plain: &[u8], appid: &str) -> Result<OpenData, CryptoError> {
    let data: Map<String, Value> =
        serde_json::from_slice(plain).map_err(|_| CryptoError::NotJson)?;
    let watermark = data
        .get("watermark")
        .and_then(Value::as_object)
        .and_then(|w| {
            Some(Watermark {
                appid: w.get("appid")?.as_str()?.to_owned(),
                timestamp: w.get("timestamp")?.as_i64()?,
            })
        })
        .ok_or(CryptoError::WatermarkMissing)?;
    if watermark.appid != appid {
        return Err(CryptoError::WatermarkMismatch {
            found: watermark.appid,
        });
    }
    Ok(OpenData { data, watermark })
}

/// Encrypt `plaintext` the way WeChat does (AES-128-CBC, PKCS#7), returning the
/// base64 text. For the simulator and tests; a backend never encrypts open data.
pub fn encrypt_open_data(session_key: &SessionKey, iv: &[u8; 16], plaintext: &[u8]) -> String {
    let key = session_key.to_bytes();
    let ct = cbc::Encryptor::<Aes128>::new(&key.into(), &(*iv).into())
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    STANDARD.encode(ct)
}

/// `hex(sha1(raw_data ‖ session_key_base64_text))`, the rawData signature.
pub fn raw_data_signature(raw_data: &str, session_key: &SessionKey) -> String {
    let mut hasher = Sha1::new();
    hasher.update(raw_data.as_bytes());
    hasher.update(session_key.expose_secret().as_bytes());
    hex::encode(hasher.finalize())
}

/// Check a rawData signature in constant time. `raw_data` must be the exact string
/// the client received: re-serialising it changes the hash.
pub fn verify_raw_data_signature(
    raw_data: &str,
    session_key: &SessionKey,
    signature: &str,
) -> bool {
    ct_eq_hex(&raw_data_signature(raw_data, session_key), signature)
}

/// The login-state signature of `checksession` / `resetusersessionkey`: lowercase
/// hex of HMAC-SHA256 keyed by the session_key's base64 *text* (not its 16 bytes)
/// over `message` (the POST body, or empty for a GET).
pub fn login_state_signature(session_key: &SessionKey, message: &[u8]) -> String {
    // Infallible: HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(session_key.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

#[cold]
fn unreachable_hmac() -> ! {
    // HMAC's new_from_slice only fails for fixed-length-key MACs; SHA-256 HMAC
    // takes any key length, so this cannot run.
    unreachable!("HMAC-SHA256 accepts keys of any length")
}

/// Check a login-state signature in constant time.
pub fn verify_login_state_signature(
    session_key: &SessionKey,
    message: &[u8],
    signature: &str,
) -> bool {
    ct_eq_hex(&login_state_signature(session_key, message), signature)
}

fn ct_eq_hex(expected: &str, given: &str) -> bool {
    let given = given.to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}
