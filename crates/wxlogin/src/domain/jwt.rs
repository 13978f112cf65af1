//! Signed access tokens (`tokens.format = "jwt"`): short-lived JWTs any
//! backend can check offline against `/.well-known/jwks.json`, beside an
//! opaque, revocable refresh token (the session's own token).
//!
//! The JOSE work (header, claims, signature, `alg`/`aud`/`iss` checks) is
//! `jsonwebtoken`'s; keys are generated with `ring`. What is ours is the key
//! life cycle: the private keys live in the store, sealed under the data
//! key, so every instance signs with the same key. A new key is made (under
//! a store lock, by one instance) one `LEAD` before the current one is due
//! for rotation, and published at once; it signs only once `LEAD` has passed,
//! so verifiers that cache the JWKS have seen it. A key that no longer signs
//! stays published until every token it signed has expired, then is deleted.
//! Expiry is checked against the service's clock, not the verifier crate's.

use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::RwLock;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{Core, Error};
use crate::clock::UnixTime;
use crate::ids::{Platform, SessionId};
use crate::store::SessionRecord;

/// What the login and refresh answers carry (`tokens.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// An opaque `wxl_…` bearer token, checked by wxlogin (the default).
    #[default]
    Opaque,
    /// A signed access token plus an opaque refresh token.
    Jwt,
}

/// The signature algorithm of access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256: what every JWT library and gateway accepts.
    #[default]
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
}

/// `[tokens]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub format: TokenFormat,
    /// Lifetime of a signed access token, seconds (default 300).
    pub access_ttl: i64,
    pub algorithm: SigningAlg,
    /// The `iss` of every token and the base of `jwks_uri`: this service's
    /// public URL, e.g. `https://login.example.com` (required with `jwt`).
    pub issuer: Option<String>,
    /// How long a signing key signs before the next takes over, seconds
    /// (default 30 days).
    pub key_rotation: i64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            format: TokenFormat::Opaque,
            access_ttl: 300,
            algorithm: SigningAlg::ES256,
            issuer: None,
            key_rotation: 30 * 86_400,
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The appid.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The session (refresh chain member) the token was issued for.
    pub sid: String,
    pub openid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub platform: Platform,
}

/// A signed access token and its lifetime.
#[derive(Clone)]
pub struct AccessGrant {
    pub token: SecretString,
    pub expires_in: i64,
}

impl std::fmt::Debug for AccessGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessGrant([redacted], {} s)", self.expires_in)
    }
}

pub(crate) struct LoadedKey {
    pub(crate) kid: String,
    pub(crate) created_at: UnixTime,
    pub(crate) alg: Algorithm,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    pub(crate) jwk: Jwk,
}

/// The signing side of `jwt` mode: settings and the keys as last loaded.
pub(crate) struct Jwt {
    pub(crate) settings: TokenSettings,
    issuer: String,
    pub(crate) keys: RwLock<Arc<Vec<LoadedKey>>>,
    /// When the keys were last loaded (service clock), so signing and the
    /// JWKS pick up rotations by the clock, not only by the housekeeping.
    pub(crate) loaded_at: std::sync::atomic::AtomicI64,
}

/// Keys are loaded again when older than this, seconds.
pub(crate) const RELOAD_AFTER: i64 = 60;

impl Jwt {
    pub(crate) fn new(settings: TokenSettings) -> Option<Self> {
        let issuer = settings.issuer.clone()?;
        (settings.format == TokenFormat::Jwt).then(|| Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            settings,
            keys: RwLock::new(Arc::new(Vec::new())),
            loaded_at: std::sync::atomic::AtomicI64::new(i64::MIN),
        })
    }

    /// Before it signs, a new key is published this long (an hour, or a
    /// quarter of the rotation period if that is shorter).
    pub(crate) fn lead(&self) -> i64 {
        (self.settings.key_rotation / 4).min(3600)
    }
}

impl Core {
    /// The published keys (`/.well-known/jwks.json`); `None` in opaque mode.
    pub async fn jwks(&self) -> Result<Option<JwkSet>, Error> {
        let Some(jwt) = &self.jwt else {
            return Ok(None);
        };
        let keys = self.current_keys(jwt).await?;
        Ok(Some(JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        }))
    }

    /// The issuer (`/.well-known/openid-configuration`) and the algorithm.
    pub fn token_issuer(&self) -> Option<(&str, &'static str)> {
        let jwt = self.jwt.as_ref()?;
        Some((&jwt.issuer, jwt.settings.algorithm.name()))
    }

    /// A signed access token for a session (jwt mode), or `None` (opaque).
    pub(crate) async fn grant_for(
        &self,
        session: &SessionRecord,
    ) -> Result<Option<AccessGrant>, Error> {
        let Some(jwt) = &self.jwt else {
            return Ok(None);
        };
        let keys = self.current_keys(jwt).await?;
        let now = self.clock.now();
        // The newest key published for at least LEAD; the first key ever
        // signs at once.
        let key = keys
            .iter()
            .rev()
            .find(|k| k.created_at + jwt.lead() <= now)
            .or_else(|| keys.first())
            .ok_or(Error::Internal)?;
        let exp = (now + jwt.settings.access_ttl).min(session.expires_at);
        let claims = Claims {
            iss: jwt.issuer.clone(),
            sub: session.user_id.to_string(),
            aud: session.appid.to_string(),
            exp,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session.id.to_string(),
            openid: session.openid.to_string(),
            unionid: session.unionid.as_ref().map(|u| u.to_string()),
            platform: self.apps.platform_of(session.appid.as_str()),
        };
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|e| {
            tracing::error!(error = %e, "cannot sign an access token");
            Error::Internal
        })?;
        Ok(Some(AccessGrant {
            token: SecretString::from(token),
            expires_in: exp - now,
        }))
    }

    /// Check a signed access token: signature by one of our keys, `alg`,
    /// `iss`, `aud` (the expected app, else any configured app), `exp` and
    /// `iat` by our clock; then its session must still be active, so a
    /// logout or revocation is seen here at once.
    pub(crate) async fn verify_jwt(
        &self,
        token: &str,
        expected_app: Option<&str>,
    ) -> Result<Arc<SessionRecord>, Error> {
        let jwt = self.jwt.as_ref().ok_or(Error::InvalidToken)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::InvalidToken)?;
        let kid = header.kid.ok_or(Error::InvalidToken)?;
        let mut keys = jwt.keys.read().clone();
        let loaded_at = jwt.loaded_at.load(std::sync::atomic::Ordering::Relaxed);
        // Another instance may have made a key since we loaded ours; at most
        // one reload per 10 s, so tokens with made-up kids cost no store reads.
        let stale = self.clock.now().saturating_sub(loaded_at) >= 10;
        if stale && !keys.iter().any(|k| k.kid == kid) {
            self.refresh_signing_keys().await?;
            keys = jwt.keys.read().clone();
        }
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(Error::InvalidToken)?;
        let mut validation = Validation::new(key.alg);
        validation.set_issuer(&[jwt.issuer.as_str()]);
        match expected_app {
            Some(app) => validation.set_audience(&[app]),
            None => {
                let apps: Vec<&str> = self.apps.iter().map(|a| a.appid.as_str()).collect();
                validation.set_audience(&apps);
            }
        }
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Time is checked below, by the service's clock.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|_| Error::InvalidToken)?
            .claims;
        let now = self.clock.now();
        if now >= claims.exp || claims.iat > now + 60 {
            return Err(Error::InvalidToken);
        }
        let sid = SessionId::parse(&claims.sid).ok_or(Error::InvalidToken)?;
        let session = self
            .store
            .get_session(&sid)
            .await?
            .filter(|s| s.is_active(now) && s.user_id.as_str() == claims.sub)
            .ok_or(Error::InvalidToken)?;
        Ok(Arc::new(session))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_in_the_jose_crate_and_make_public_jwks() {
        for (alg, jose) in [
            (SigningAlg::ES256, Algorithm::ES256),
            (SigningAlg::EdDSA, Algorithm::EdDSA),
        ] {
            let der = super::super::signing_keys::generate(alg).unwrap();
            let encoding = match alg {
                SigningAlg::ES256 => EncodingKey::from_ec_der(&der),
                SigningAlg::EdDSA => EncodingKey::from_ed_der(&der),
            };
            let jwk = Jwk::from_encoding_key(&encoding, jose).unwrap();
            let text = serde_json::to_string(&jwk).unwrap();
            assert!(!text.contains("\"d\""), "no private part: {text}");
            let decoding = DecodingKey::from_jwk(&jwk).unwrap();
            let token = jsonwebtoken::encode(
                &Header::new(jose),
                &serde_json::json!({"exp": 1}),
                &encoding,
            )
            .unwrap();
            let mut v = Validation::new(jose);
            v.validate_exp = false;
            v.required_spec_claims.clear();
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &v).unwrap();
        }
    }
}
