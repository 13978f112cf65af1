//! Newtypes for every value that crosses the WeChat boundary.
//!
//! "Parse, don't validate": a value of one of these types has the shape WeChat
//! documents (or, where WeChat documents nothing, a loose and safe shape), so the
//! rest of the code never checks again. Types that hold a secret keep it in a
//! `secrecy` box and print `[redacted]` from both `Debug` and `Display`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

/// Why a value was refused by a `parse` constructor. The message names the field
/// and the rule, never the value (which may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {rule}")]
pub struct ParseError {
    pub field: &'static str,
    pub rule: &'static str,
}

impl ParseError {
    fn new(field: &'static str, rule: &'static str) -> Self {
        Self { field, rule }
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn has_no_control_or_space(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

macro_rules! public_string_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

macro_rules! secret_string_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// The secret text. Call only where it must leave the process (a request
            /// to WeChat) or be hashed; never log or format it.
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}([redacted])", stringify!($name))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl PartialEq for $name {
            /// Constant-time: secrets are compared without leaking where they differ.
            fn eq(&self, other: &Self) -> bool {
                use subtle::ConstantTimeEq as _;
                self.expose_secret()
                    .as_bytes()
                    .ct_eq(other.expose_secret().as_bytes())
                    .into()
            }
        }
        impl Eq for $name {}
    };
}

public_string_type!(
    /// A mini program's appid: `wx` followed by 16 hex digits, e.g. `wx4f4bc4dec97d474b`.
    AppId
);

impl AppId {
    /// The app id of a platform that speaks WeChat's protocol with ids of
    /// its own shape (QQ: digits): 1..=64 of `[A-Za-z0-9._-]`.
    pub fn parse_loose(s: &str) -> Result<Self, ParseError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return Err(ParseError::new("appid", "must be 1..=64 of [A-Za-z0-9._-]"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let rest = s
            .strip_prefix("wx")
            .ok_or(ParseError::new("appid", "must start with `wx`"))?;
        if rest.len() != 16 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseError::new("appid", "must be `wx` + 16 hex digits"));
        }
        Ok(Self(s.to_owned()))
    }
}

public_string_type!(
    /// A user's openid within one mini program (28 chars in practice; we accept
    /// 1..=128 of `[A-Za-z0-9_-]`, since WeChat does not document the shape).
    OpenId
);

impl OpenId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        parse_token_like(s, "openid").map(Self)
    }
}

public_string_type!(
    /// A user's unionid across the mini programs of one Open Platform account.
    UnionId
);

impl UnionId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        parse_token_like(s, "unionid").map(Self)
    }
}

fn parse_token_like(s: &str, field: &'static str) -> Result<String, ParseError> {
    if s.is_empty() || s.len() > 128 || !s.bytes().all(is_token_char) {
        return Err(ParseError::new(field, "must be 1..=128 of [A-Za-z0-9_-]"));
    }
    Ok(s.to_owned())
}

secret_string_type!(
    /// A mini program's AppSecret. Only ever sent to WeChat, in a URL-encoded query
    /// or a JSON body; never logged.
    AppSecret
);

impl AppSecret {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ParseError::new(
                "appsecret",
                "must be 1..=128 printable ASCII characters",
            ));
        }
        Ok(Self(SecretString::from(s)))
    }
}

secret_string_type!(
    /// The one-time code of `wx.login()`. Whoever holds it within its 5 minutes can
    /// log in as the user, so it is redacted like a secret.
    ///
    /// The crate accepts any 1..=256 characters without spaces or control
    /// characters, because WeChat documents no shape and the query encoder makes
    /// any value safe; a service should apply its own stricter policy on top
    /// (wxlogin accepts 1..=128 of `[A-Za-z0-9_-]`).
    JsCode
);

impl JsCode {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > 256 || !has_no_control_or_space(s) {
            return Err(ParseError::new(
                "js_code",
                "must be 1..=256 characters without spaces or control characters",
            ));
        }
        Ok(Self(SecretString::from(s)))
    }
}

secret_string_type!(
    /// The one-time code of the `getPhoneNumber` button (64 hex in WeChat's sample).
    PhoneCode
);

impl PhoneCode {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > 256 || !has_no_control_or_space(s) {
            return Err(ParseError::new(
                "phone code",
                "must be 1..=256 characters without spaces or control characters",
            ));
        }
        Ok(Self(SecretString::from(s)))
    }
}

secret_string_type!(
    /// An app-wide `access_token`. Opaque; WeChat asks callers to reserve 512 chars.
    AccessToken
);

impl AccessToken {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > 2048 || !has_no_control_or_space(s) {
            return Err(ParseError::new(
                "access_token",
                "must be 1..=2048 characters without spaces or control characters",
            ));
        }
        Ok(Self(SecretString::from(s)))
    }
}

secret_string_type!(
    /// A user's `session_key`: standard, padded base64 of exactly 16 bytes. Its
    /// base64 *text* is the HMAC key of login-state signatures and the suffix of
    /// the rawData SHA-1; its decoded bytes are the AES-128 key of open data.
    SessionKey
);

impl SessionKey {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match STANDARD.decode(s) {
            Ok(bytes) if bytes.len() == 16 => Ok(Self(SecretString::from(s))),
            Ok(_) => Err(ParseError::new("session_key", "must decode to 16 bytes")),
            Err(_) => Err(ParseError::new("session_key", "must be standard base64")),
        }
    }

    /// Build a key from its 16 raw bytes (used by the simulator and tests).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(SecretString::from(STANDARD.encode(bytes)))
    }

    /// The 16 key bytes for AES-128.
    pub fn to_bytes(&self) -> [u8; 16] {
        // Infallible: `parse`/`from_bytes` guarantee 16 bytes of valid base64.
        STANDARD
            .decode(self.expose_secret())
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_slice()).ok())
            .unwrap_or_default()
    }
}
