//! Session tokens: `wxl_` + base64url of 32 random bytes (a bearer token,
//! `tokens.format = "opaque"`), or `wxr_` + the same (a refresh token beside
//! a signed access token, `"jwt"`). The prefixes let secret scanners spot a
//! leaked token, and keep a refresh token from being used as a bearer one;
//! only the SHA-256 of a token is ever stored.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use secrecy::{ExposeSecret, SecretString};

pub const TOKEN_PREFIX: &str = "wxl_";
pub const REFRESH_PREFIX: &str = "wxr_";
const TOKEN_BYTES: usize = 32;
/// `wxl_` + 43 base64url characters.
pub const TOKEN_LEN: usize = 4 + 43;

/// A bearer token as handed to the client. Redacted in `Debug`/`Display`.
#[derive(Clone)]
pub struct SessionToken(SecretString);

impl SessionToken {
    /// A fresh token from the OS RNG.
    pub fn generate() -> Self {
        Self::generate_with(TOKEN_PREFIX)
    }

    /// A fresh refresh token (`wxr_…`).
    pub fn generate_refresh() -> Self {
        Self::generate_with(REFRESH_PREFIX)
    }

    fn generate_with(prefix: &str) -> Self {
        let bytes: [u8; TOKEN_BYTES] = rand::rng().random();
        Self(SecretString::from(format!(
            "{prefix}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Accept only the exact shapes we issue, so junk never reaches the store.
    pub fn parse(s: &str) -> Option<Self> {
        (well_formed(s, TOKEN_PREFIX) || well_formed(s, REFRESH_PREFIX))
            .then(|| Self(SecretString::from(s)))
    }

    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::digest(self.expose_secret())
    }
}

/// True for exactly the shape we issue. Decodes into a stack buffer: this runs
/// on every verify.
fn well_formed(s: &str, prefix: &str) -> bool {
    let Some(body) = s.strip_prefix(prefix) else {
        return false;
    };
    let mut bytes = [0u8; TOKEN_BYTES];
    s.len() == TOKEN_LEN
        && URL_SAFE_NO_PAD
            .decode_slice(body, &mut bytes)
            .is_ok_and(|n| n == TOKEN_BYTES)
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

pub use crate::ids::TokenHash;

/// The hash of a bearer token in the shape we issue, without copying the
/// token (the verify path: the token is only ever needed as its hash). A
/// refresh token is not a bearer token.
pub fn hash_of(token: &str) -> Option<TokenHash> {
    well_formed(token, TOKEN_PREFIX).then(|| TokenHash::digest(token))
}

/// The hash of a refresh token in the shape we issue.
pub fn refresh_hash_of(token: &str) -> Option<TokenHash> {
    well_formed(token, REFRESH_PREFIX).then(|| TokenHash::digest(token))
}
