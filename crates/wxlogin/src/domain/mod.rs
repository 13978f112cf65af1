//! The login policy and session lifecycle, independent of HTTP and SQL: it
//! talks to WeChat through the `wechat` crate and to storage through the
//! `store` traits, and reads time from an injected clock.

pub mod access_token;
pub mod apps;
mod cache;
pub mod error;
pub mod jwt;
pub mod login;
mod login_codes;
pub mod open_data;
pub mod providers;
pub mod rekey;
pub mod sealing;
pub mod sessions;
mod signing_keys;
pub mod token;
pub mod user_calls;
mod user_limits;
pub mod users;

use std::sync::Arc;

use crate::clock::Clock;
use crate::store::Store;
pub use apps::{App, Apps};
pub use error::Error;
pub use sealing::DataKey;

/// Lifetimes and windows of the login policy, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Absolute session lifetime (default 30 days).
    pub session_ttl: i64,
    /// Idle timeout, sliding on use (default 7 days).
    pub idle_ttl: i64,
    /// How long a replaced session_key stays usable (default 10 minutes).
    pub key_grace: i64,
    /// How long a replayed login code returns the same session (WeChat codes
    /// live 5 minutes).
    pub replay_window: i64,
    /// The idle deadline is written back at most this often per session, so the
    /// hot path is a read, not a write.
    pub touch_interval: i64,
    /// How long this process may answer a verify from memory (0 = never, the
    /// default): a revocation made on another instance is seen at most this
    /// late. Revocations through this instance take effect at once.
    pub cache_ttl: i64,
    /// Live sessions a user may have; a login beyond it revokes the oldest.
    pub max_per_user: u32,
    /// Calls per minute each user may make to `/v1/phone`,
    /// `/v1/session/check` and `/v1/session/refresh` (each its own budget).
    pub user_calls_per_minute: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            session_ttl: 30 * 86_400,
            idle_ttl: 7 * 86_400,
            key_grace: 600,
            replay_window: 300,
            touch_interval: 60,
            cache_ttl: 0,
            max_per_user: 20,
            user_calls_per_minute: 10,
        }
    }
}

/// How identities join users (`[identity]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityPolicy {
    /// A login whose unionid is already known joins that user, across apps
    /// of one platform (default on). Never by phone number.
    pub link_by_unionid: bool,
    /// Keep the phone number a user proved through `/v1/phone` on the user,
    /// sealed, for the admin API (default off).
    pub store_phone: bool,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        Self {
            link_by_unionid: true,
            store_phone: false,
        }
    }
}

/// Everything the domain needs, shared by the HTTP handlers and the embedding
/// extractor.
pub struct Core {
    pub store: Arc<dyn Store>,
    pub wechat: wechat::Client,
    pub clock: Arc<dyn Clock>,
    pub data_key: DataKey,
    pub apps: Apps,
    pub policy: Policy,
    pub identity: IdentityPolicy,
    /// Signed access tokens, when `tokens.format = "jwt"`.
    pub(crate) jwt: Option<jwt::Jwt>,
    pub(crate) inflight: login::InFlight,
    pub(crate) tokens: access_token::AccessTokens,
    pub(crate) cache: Option<cache::VerifyCache>,
    pub(crate) user_limits: user_limits::UserLimits,
}

impl Core {
    pub fn new(
        store: Arc<dyn Store>,
        wechat: wechat::Client,
        clock: Arc<dyn Clock>,
        data_key: DataKey,
        apps: Apps,
        policy: Policy,
    ) -> Self {
        Self {
            store,
            wechat,
            clock,
            data_key,
            apps,
            policy,
            identity: IdentityPolicy::default(),
            jwt: None,
            inflight: login::InFlight::default(),
            tokens: access_token::AccessTokens::new(),
            cache: cache::VerifyCache::new(policy.cache_ttl, policy.key_grace),
            user_limits: user_limits::UserLimits::new(policy.user_calls_per_minute),
        }
    }

    /// With identity linking rules other than the defaults.
    pub fn with_identity(mut self, identity: IdentityPolicy) -> Self {
        self.identity = identity;
        self
    }

    /// With the access token format of `[tokens]` (jwt mode needs an issuer,
    /// which the configuration checks).
    pub fn with_tokens(mut self, tokens: jwt::TokenSettings) -> Self {
        self.jwt = jwt::Jwt::new(tokens);
        self
    }

    /// The access token format in force.
    pub fn token_format(&self) -> jwt::TokenFormat {
        if self.jwt.is_some() {
            jwt::TokenFormat::Jwt
        } else {
            jwt::TokenFormat::Opaque
        }
    }

    /// Free the verify cache's entries that can no longer answer (part of
    /// the service's periodic housekeeping; a no-op with the cache off).
    pub fn sweep_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.sweep(self.clock.now());
        }
    }

    /// Drop per-user limit buckets that are back to full (housekeeping).
    pub fn shrink_limits(&self) {
        self.user_limits.shrink();
    }
}
