//! Alipay phone numbers (PLATFORMS.md §2.4): `my.getPhoneNumber` answers a
//! signed envelope whose `response` is encrypted with the app's AES key
//! (zero IV). Verify first (over the ciphertext wrapped in quotes), then
//! decrypt; the plaintext carries no user id, so it is bound to the session
//! that presented it.

use aes::Aes128;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use serde::Deserialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{KeyError, verify_with};

/// Why a phone envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the envelope is not the documented JSON")]
    Envelope,
    #[error("the envelope's signature does not verify")]
    BadSignature,
    #[error("the response does not decrypt with the app's AES key")]
    Decrypt,
    /// Alipay answered an error inside the envelope (`subCode`).
    #[error("Alipay refused: {0}")]
    Refused(String),
}

#[derive(Deserialize)]
struct PhoneEnvelope {
    response: String,
    sign: String,
    #[serde(default)]
    sign_type: Option<String>,
    #[serde(default)]
    encrypt_type: Option<String>,
}

/// The AES key of "接口内容加密方式", base64.
pub fn aes_key(text: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let key = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| KeyError::AesKey)?);
    if key.len() != 16 {
        return Err(KeyError::AesKey);
    }
    Ok(key)
}

/// `my.getPhoneNumber`'s `response` (a JSON string): verify the signature
/// over the quoted ciphertext, then decrypt with the app's AES key (zero
/// IV); returns the decrypted object (`mobile`, …). PLATFORMS.md §2.4.
pub fn decrypt_phone(
    envelope: &str,
    aes_key: &[u8],
    alipay_public_key: &[u8],
) -> Result<Map<String, Value>, PhoneError> {
    let envelope: PhoneEnvelope =
        serde_json::from_str(envelope).map_err(|_| PhoneError::Envelope)?;
    if envelope.sign_type.as_deref().is_some_and(|t| t != "RSA2")
        || envelope.encrypt_type.as_deref().is_some_and(|t| t != "AES")
    {
        return Err(PhoneError::Envelope);
    }
    let content = envelope.response;
    let encrypted = !content.starts_with('{');
    let signed = if encrypted {
        format!("\"{content}\"")
    } else {
        content.clone()
    };
    if !verify_with(alipay_public_key, &signed, &envelope.sign) {
        return Err(PhoneError::BadSignature);
    }
    let plain = if encrypted {
        let key: [u8; 16] = aes_key.try_into().map_err(|_| PhoneError::Decrypt)?;
        let ct = STANDARD.decode(&content).map_err(|_| PhoneError::Decrypt)?;
        cbc::Decryptor::<Aes128>::new(&key.into(), &[0u8; 16].into())
            .decrypt_padded_vec::<Pkcs7>(&ct)
            .map_err(|_| PhoneError::Decrypt)?
    } else {
        content.into_bytes()
    };
    let data: Map<String, Value> =
        serde_json::from_slice(&plain).map_err(|_| PhoneError::Decrypt)?;
    match data.get("code").and_then(Value::as_str) {
        Some("10000") => Ok(data),
        _ => Err(PhoneError::Refused(
            data.get("subCode")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
        )),
    }
}

/// Encrypt a phone response the way Alipay does (simulator and tests).
pub fn encrypt_phone(aes_key: &[u8; 16], plaintext: &str) -> String {
    let ct = cbc::Encryptor::<Aes128>::new(&(*aes_key).into(), &[0u8; 16].into())
        .encrypt_padded_vec::<Pkcs7>(plaintext.as_bytes());
    STANDARD.encode(ct)
}
