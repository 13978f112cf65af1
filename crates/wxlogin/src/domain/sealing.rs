//! Encryption at rest of session_keys (and of the token kept for login replay)
//! under the operator's data key: AES-256-GCM with a random 96-bit nonce and the
//! row's identity as associated data, so a sealed value cannot be moved to
//! another row.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngExt as _;
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("data key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("sealed value is corrupt or was sealed under another data key")]
    Open,
}

/// The 32-byte data key. `Debug` is redacted.
#[derive(Clone)]
pub struct DataKey {
    cipher: Aes256Gcm,
    /// Key of the fingerprint MAC, derived from the data key.
    fingerprint_key: [u8; 32],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// Parse the base64 text that `wxlogin keygen` prints.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        let mut derive = Sha256::new();
        derive.update(b"wxlogin/fingerprint/v1");
        derive.update(key);
        Ok(Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
            fingerprint_key: derive.finalize().into(),
        })
    }

    /// A new random key as base64 text.
    pub fn generate_text() -> String {
        let key: [u8; 32] = rand::rng().random();
        STANDARD.encode(key)
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::rng().random();
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        // AES-GCM encryption fails only for messages beyond 64 GiB.
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| SealError::Open)
    }
}

impl DataKey {
    /// A keyed fingerprint of a secret: equal secrets give equal fingerprints, and
    /// without the data key the fingerprint says nothing about the secret. Lets
    /// the store detect a session_key rotation without decrypting.
    pub fn fingerprint(&self, secret: &[u8]) -> Vec<u8> {
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.fingerprint_key) {
            Ok(mac) => mac,
            Err(_) => return Vec::new(), // unreachable: HMAC takes any key length
        };
        mac.update(secret);
        mac.finalize().into_bytes()[..16].to_vec()
    }
}
