//! Session tokens: `wxl_` + base64url of 32 random bytes. The prefix lets secret
//! scanners spot a leaked token; only the SHA-256 of a token is ever stored.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use secrecy::{ExposeSecret, SecretString};

pub const TOKEN_PREFIX: &str = "wxl_";
const TOKEN_BYTES: usize = 32;
/// `wxl_` + 43 base64url characters.
pub const TOKEN_LEN: usize = 4 + 43;

/// A bearer token as handed to the client. Redacted in `Debug`/`Display`.
#[derive(Clone)]
pub struct SessionToken(SecretString);

impl SessionToken {
    /// A fresh token from the OS RNG.
    pub fn generate() -> Self {
        let bytes: [u8; TOKEN_BYTES] = rand::rng().random();
        Self(SecretString::from(format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Accept only the exact shape we issue, so junk never reaches the store.
    pub fn parse(s: &str) -> Option<Self> {
        well_formed(s).then(|| Self(SecretString::from(s)))
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
fn well_formed(s: &str) -> bool {
    let Some(body) = s.strip_prefix(TOKEN_PREFIX) else {
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

/// The hash of a token in the shape we issue, without copying the token
/// (the verify path: the token is only ever needed as its hash).
pub fn hash_of(token: &str) -> Option<TokenHash> {
    well_formed(token).then(|| TokenHash::digest(token))
}
