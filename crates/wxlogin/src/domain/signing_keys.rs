//! The life cycle of the keys that sign access tokens (`jwt.rs`): made
//! with `ring` by one instance under a store lock, sealed under the data
//! key in the store, loaded and turned into JWKs by every instance; the
//! next key published `lead` before it signs, a retired one deleted once no
//! token it signed can still be valid.

use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use zeroize::Zeroizing;

use super::jwt::{Jwt, LoadedKey, RELOAD_AFTER, SigningAlg};
use super::login::aad;
use super::{Core, Error};
use crate::clock::UnixTime;
use crate::ids::{LockName, Owner};
use crate::store::SigningKeyRecord;

/// The PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): the seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A fresh private key, PKCS#8 DER.
pub(crate) fn generate(alg: SigningAlg) -> Result<Zeroizing<Vec<u8>>, Error> {
    let rng = SystemRandom::new();
    match alg {
        SigningAlg::ES256 => {
            let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(|_| Error::Internal)?;
            Ok(Zeroizing::new(doc.as_ref().to_vec()))
        }
        SigningAlg::EdDSA => {
            let mut seed = Zeroizing::new([0u8; 32]);
            rng.fill(&mut seed[..]).map_err(|_| Error::Internal)?;
            let mut der = Zeroizing::new(ED25519_PKCS8_PREFIX.to_vec());
            der.extend_from_slice(&seed[..]);
            Ok(der)
        }
    }
}

impl Core {
    /// Load the signing keys from the store; make the next one when due
    /// (one instance, under a lock); delete the ones no valid token needs.
    /// Runs at startup and with the periodic housekeeping.
    pub async fn refresh_signing_keys(&self) -> Result<(), Error> {
        let Some(jwt) = &self.jwt else {
            return Ok(());
        };
        let now = self.clock.now();
        let mut stored = self.store.signing_keys().await?;
        let due = |keys: &[SigningKeyRecord]| {
            keys.last()
                .is_none_or(|k| k.created_at <= now - jwt.settings.key_rotation + jwt.lead())
        };
        if due(&stored) {
            let made = self
                .under_keys_lock(now, async {
                    let mut keys = self.store.signing_keys().await?;
                    if due(&keys) {
                        let key = self.new_signing_key(jwt.settings.algorithm, now)?;
                        self.store.add_signing_key(&key).await?;
                        tracing::info!(kid = %key.kid, "made a new token signing key");
                        keys.push(key);
                    }
                    Ok(keys)
                })
                .await?;
            match made {
                Some(keys) => stored = keys,
                // Another instance is making the first key: wait for it
                // (bounded), rather than start with no key to sign with.
                None if stored.is_empty() => {
                    for _ in 0..60 {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        stored = self.store.signing_keys().await?;
                        if !stored.is_empty() {
                            break;
                        }
                    }
                }
                None => {}
            }
        }
        // A key is retired once the next one has signed for access_ttl (plus
        // a minute of clock skew): no token it signed is still valid.
        let mut kept = Vec::with_capacity(stored.len());
        for (i, key) in stored.iter().enumerate() {
            let superseded_at = stored.get(i + 1).map(|next| next.created_at + jwt.lead());
            let retired = superseded_at
                .is_some_and(|at| at <= now && now >= at + jwt.settings.access_ttl + 60);
            if retired {
                self.store.delete_signing_key(&key.kid).await?;
            } else {
                kept.push(self.load_key(key)?);
            }
        }
        *jwt.keys.write() = Arc::new(kept);
        jwt.loaded_at
            .store(now, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Run `work` under the store lock that lets one instance at a time add
    /// or delete signing keys; `None` when another instance holds it.
    async fn under_keys_lock<T>(
        &self,
        now: UnixTime,
        work: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<Option<T>, Error> {
        let lock = LockName::named("signing_keys");
        let owner = Owner::generate();
        if self
            .store
            .try_lock(&lock, &owner, now, now + 30)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let done = work.await;
        self.store.unlock(&lock, &owner).await?;
        done.map(Some)
    }

    /// The keys, loaded again (and rotated when due) if they are stale.
    pub(crate) async fn current_keys(&self, jwt: &Jwt) -> Result<Arc<Vec<LoadedKey>>, Error> {
        let loaded_at = jwt.loaded_at.load(std::sync::atomic::Ordering::Relaxed);
        if self.clock.now().saturating_sub(loaded_at) >= RELOAD_AFTER {
            self.refresh_signing_keys().await?;
        }
        Ok(jwt.keys.read().clone())
    }

    fn new_signing_key(&self, alg: SigningAlg, now: UnixTime) -> Result<SigningKeyRecord, Error> {
        let kid = uuid::Uuid::now_v7().simple().to_string();
        let der = generate(alg)?;
        Ok(SigningKeyRecord {
            sealed_key: self
                .data_key
                .seal(&der, &aad("signing_key", &[kid.as_str()])),
            alg: alg.name().to_owned(),
            kid,
            created_at: now,
        })
    }

    fn load_key(&self, key: &SigningKeyRecord) -> Result<LoadedKey, Error> {
        let der = Zeroizing::new(
            self.data_key
                .open(&key.sealed_key, &aad("signing_key", &[key.kid.as_str()]))
                .map_err(|e| {
                    tracing::error!(kid = %key.kid, error = %e, "a signing key does not open under the data key");
                    Error::Internal
                })?
                .to_vec(),
        );
        let (alg, encoding) = match key.alg.as_str() {
            "ES256" => (Algorithm::ES256, EncodingKey::from_ec_der(&der)),
            "EdDSA" => (Algorithm::EdDSA, EncodingKey::from_ed_der(&der)),
            _ => return Err(Error::Internal),
        };
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).map_err(|_| Error::Internal)?;
        jwk.common.key_id = Some(key.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| Error::Internal)?;
        Ok(LoadedKey {
            kid: key.kid.clone(),
            created_at: key.created_at,
            alg,
            encoding,
            decoding,
            jwk,
        })
    }

    /// Make a new signing key that signs at once (the operator's answer to
    /// a compromised key, `wxlogin rotate-signing-key`); with `drop_old`,
    /// delete every other key, so no token they signed verifies any more
    /// (every access token in flight is refused; clients refresh). Other
    /// instances load the new key within a minute, and at once when they
    /// meet a token it signed. Returns the new kid.
    pub async fn rotate_signing_key(&self, drop_old: bool) -> Result<String, Error> {
        let Some(jwt) = &self.jwt else {
            return Err(Error::InvalidRequest(
                "tokens.format is not \"jwt\": there are no signing keys".into(),
            ));
        };
        let now = self.clock.now();
        let made = self
            .under_keys_lock(now, async {
                // Dated one lead back: it is the newest key already published
                // that long, so it signs at once.
                let key = self.new_signing_key(jwt.settings.algorithm, now - jwt.lead())?;
                self.store.add_signing_key(&key).await?;
                if drop_old {
                    for old in self.store.signing_keys().await? {
                        if old.kid != key.kid {
                            self.store.delete_signing_key(&old.kid).await?;
                        }
                    }
                }
                Ok(key.kid)
            })
            .await?;
        let Some(kid) = made else {
            return Err(Error::InvalidRequest(
                "another instance is rotating the signing keys: try again in a minute".into(),
            ));
        };
        tracing::warn!(%kid, drop_old, "signing key rotated by the operator");
        self.refresh_signing_keys().await?;
        Ok(kid)
    }
}
