//! Encryption at rest of session_keys (and of the token kept for login replay)
//! under the operator's data key: AES-256-GCM with a random 96-bit nonce and the
//! row's identity as associated data, so a sealed value cannot be moved to
//! another row.
//!
//! The data key is a ring: the first key seals, every key opens, and each
//! sealed value names its key (the first 4 bytes of a hash of it), so an
//! operator rotates by putting a new key first, running `wxlogin rekey`
//! (which re-seals every stored value under it), then dropping the old one.
//! Values sealed before rings existed (format 1, no key id) open with
//! whichever key of the ring fits.
//!
//! Key material is zeroized when dropped (the AES key schedule by `aes-gcm`'s
//! `zeroize` feature, the fingerprint key here).

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngExt as _;
use sha2::{Digest, Sha256};

/// Format 1: version, nonce, ciphertext. Format 2 adds the key id.
const LEGACY: u8 = 1;
const VERSION: u8 = 2;
const NONCE_LEN: usize = 12;
const KEY_ID_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("data key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("sealed value is corrupt or was sealed under another data key")]
    Open,
    #[error(
        "sealed under a data key that is not in the ring (was it removed before `wxlogin rekey` finished?)"
    )]
    UnknownKey,
    #[error("the same data key is in the ring twice")]
    Duplicate,
}

/// One key of the ring.
struct RingKey {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
    /// Key of the fingerprint MAC, derived from the data key.
    fingerprint_key: zeroize::Zeroizing<[u8; 32]>,
}

/// The data key ring: the first key seals, every key opens. `Debug` is
/// redacted.
#[derive(Clone)]
pub struct DataKey {
    keys: std::sync::Arc<[RingKey]>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey([redacted]; {} in the ring)", self.keys.len())
    }
}

fn ring_key(text: &str) -> Result<RingKey, SealError> {
    let bytes = zeroize::Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey)?,
    );
    let key: zeroize::Zeroizing<[u8; 32]> =
        zeroize::Zeroizing::new(bytes.as_slice().try_into().map_err(|_| SealError::BadKey)?);
    let mut derive = Sha256::new();
    derive.update(b"wxlogin/fingerprint/v1");
    derive.update(key.as_slice());
    let mut name = Sha256::new();
    name.update(b"wxlogin/key-id/v1");
    name.update(key.as_slice());
    let name: [u8; 32] = name.finalize().into();
    let mut id = [0; KEY_ID_LEN];
    id.copy_from_slice(&name[..KEY_ID_LEN]);
    Ok(RingKey {
        id,
        cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        fingerprint_key: zeroize::Zeroizing::new(derive.finalize().into()),
    })
}

impl DataKey {
    /// Parse the base64 text that `wxlogin keygen` prints.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        Self::ring(&[text])
    }

    /// A ring: the first key seals, all of them open.
    pub fn ring(texts: &[&str]) -> Result<Self, SealError> {
        let keys: Vec<RingKey> = texts
            .iter()
            .map(|t| ring_key(t))
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Err(SealError::BadKey);
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(SealError::Duplicate);
            }
        }
        Ok(Self { keys: keys.into() })
    }

    /// A new random key as base64 text.
    pub fn generate_text() -> String {
        let key: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(rand::rng().random());
        STANDARD.encode(key.as_slice())
    }

    fn sealing(&self) -> &RingKey {
        &self.keys[0]
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = self.sealing();
        let nonce: [u8; NONCE_LEN] = rand::rng().random();
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        // AES-GCM encryption fails only for messages beyond 64 GiB.
        let ciphertext = key
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        match version {
            VERSION if rest.len() >= KEY_ID_LEN + NONCE_LEN => {
                let (id, rest) = rest.split_at(KEY_ID_LEN);
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.id == id)
                    .ok_or(SealError::UnknownKey)?;
                open_with(key, rest, aad)
            }
            LEGACY if rest.len() >= NONCE_LEN => self
                .keys
                .iter()
                .find_map(|k| open_with(k, rest, aad).ok())
                .ok_or(SealError::Open),
            _ => Err(SealError::Open),
        }
    }

    /// Whether `sealed` is sealed under the current sealing key already
    /// (`wxlogin rekey` leaves those alone).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.first() == Some(&VERSION)
            && sealed.get(1..1 + KEY_ID_LEN) == Some(&self.sealing().id[..])
    }
}

fn open_with(key: &RingKey, nonce_and_ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let (nonce, ciphertext) = nonce_and_ciphertext.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
    key.cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| SealError::Open)
}

impl DataKey {
    /// A keyed fingerprint of a secret: equal secrets give equal fingerprints, and
    /// without the data key the fingerprint says nothing about the secret. Lets
    /// the store detect a session_key rotation without decrypting.
    pub fn fingerprint(&self, secret: &[u8]) -> Vec<u8> {
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(
            self.sealing().fingerprint_key.as_slice(),
        ) {
            Ok(mac) => mac,
            Err(_) => return Vec::new(), // unreachable: HMAC takes any key length
        };
        mac.update(secret);
        mac.finalize().into_bytes()[..16].to_vec()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_seals_with_its_first_key_and_opens_with_any() {
        let (old, new) = (DataKey::generate_text(), DataKey::generate_text());
        let before = DataKey::parse(&old).unwrap();
        let sealed = before.seal(b"session key", b"row");
        let rotated = DataKey::ring(&[&new, &old]).unwrap();
        assert_eq!(rotated.open(&sealed, b"row").unwrap(), b"session key");
        assert!(!rotated.is_current(&sealed));
        let resealed = rotated.seal(b"session key", b"row");
        assert!(rotated.is_current(&resealed));
        let only_new = DataKey::parse(&new).unwrap();
        assert_eq!(only_new.open(&resealed, b"row").unwrap(), b"session key");
        assert_eq!(only_new.open(&sealed, b"row"), Err(SealError::UnknownKey));
        assert_eq!(rotated.open(&resealed, b"other row"), Err(SealError::Open));
        assert_eq!(
            DataKey::ring(&[&old, &old]).err(),
            Some(SealError::Duplicate)
        );
    }

    /// Values sealed by earlier releases (format 1, no key id) still open,
    /// with whichever key of the ring fits.
    #[test]
    fn format_1_values_open_with_any_key_of_the_ring() {
        let (old, new) = (DataKey::generate_text(), DataKey::generate_text());
        let key = ring_key(&old).unwrap();
        let nonce = [7u8; NONCE_LEN];
        let ct = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: b"k".as_slice(),
                    aad: b"a",
                },
            )
            .unwrap();
        let mut legacy = vec![LEGACY];
        legacy.extend_from_slice(&nonce);
        legacy.extend_from_slice(&ct);
        let ring = DataKey::ring(&[&new, &old]).unwrap();
        assert_eq!(ring.open(&legacy, b"a").unwrap(), b"k");
        assert!(!ring.is_current(&legacy));
    }

    #[test]
    fn debug_names_no_key() {
        let text = DataKey::generate_text();
        let key = DataKey::parse(&text).unwrap();
        assert!(!format!("{key:?}").contains(&text));
    }
}
