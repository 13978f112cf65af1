//! The login exchanges and open-data crypto of the mini program platforms
//! beside WeChat (`wechat` crate): Douyin, Alipay, Baidu and WeCom. QQ speaks
//! WeChat's protocol at another host: use `wechat::Client` with
//! [`qq::BASE_URL`].
//!
//! Every client keeps the habits of the `wechat` crate (its `transport`
//! module is shared): typed errors that keep the platform's own code,
//! URL-encoded parameters, no redirect followed, http only to a loopback
//! host, a deadline per call with bounded retries of "busy" answers, and
//! secrets that never reach an error, a log line or `Debug` output.
//!
//! Facts and their sources: `PLATFORMS.md` (each module's doc names the
//! sections it follows, and what is uncertain there stays uncertain here).

pub mod alipay;
pub mod baidu;
pub mod douyin;
mod error;
mod http;
pub mod qq;
pub mod wecom;

pub use error::{Error, Kind};
pub use http::Upstream;

/// An app-wide token a platform issues (WeCom's corp access_token, Douyin's
/// `client_token`) and how long the platform says it lives.
pub struct AppToken {
    pub token: secrecy::SecretString,
    pub expires_in: std::time::Duration,
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppToken([redacted], {:?})", self.expires_in)
    }
}

/// What a login exchange yields, whatever the platform.
#[derive(Debug, Clone)]
pub struct Exchanged {
    /// The platform's id of the user within the app (openid, Alipay's
    /// open_id or user_id, WeCom's `corpid:userid`).
    pub subject: String,
    pub unionid: Option<String>,
    /// The key of the user's open data, as the platform sends it (base64
    /// text); Alipay has none.
    pub session_key: Option<secrecy::SecretString>,
    /// Douyin's device-scoped anonymous identity (from `anonymous_code`
    /// alone); never to be merged with a logged-in one.
    pub anonymous: bool,
}
