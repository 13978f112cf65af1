//! A typed, correct async client for WeChat Mini Program server APIs, and the
//! open-data crypto built on `session_key`.
//!
//! - [`Client`]: `jscode2session`, `stable_token`/`token`, `getuserphonenumber`,
//!   `checksession`, `resetusersessionkey`; queries built by the URL encoder,
//!   bodies parsed as JSON whatever the Content-Type, typed [`ErrCode`]s with the
//!   `rid`, `-1` retried with jittered backoff inside a per-call deadline.
//! - [`crypto`]: strict AES-128-CBC open-data decryption with watermark check,
//!   rawData (SHA-1) and login-state (HMAC-SHA256) signatures in constant time.
//! - Newtypes ([`AppId`], [`SessionKey`], ...) that are valid once constructed and
//!   print `[redacted]` when they hold a secret.
//!
//! No web framework and no database: usable on its own.
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod client;
pub mod crypto;
mod error;
pub mod transport;
mod types;

pub use api::{Code2Session, EncryptedMsgCheck, PhoneInfo, TokenGrant, encrypted_msg_hash};
pub use client::{Client, ClientBuilder, ConfigError, DEFAULT_BASE_URL, RetryPolicy};
pub use error::{ApiError, Endpoint, ErrCode, Error, extract_rid};
pub use types::{
    AccessToken, AppId, AppSecret, JsCode, OpenId, ParseError, PhoneCode, SessionKey, UnionId,
};

/// Entry points for the fuzz targets in `fuzz/`; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::fuzz_parse_every_answer as parse_every_answer;
}
