//! The optional in-process verify cache (DESIGN.md: `cache_ttl`, default 0 =
//! off). Verify is on every request path of every backend; with the cache on,
//! a token seen in the last `cache_ttl` seconds is answered from memory instead
//! of a store read, so a revocation made on *another* instance is seen at most
//! `cache_ttl` later. Revocations made through this instance evict at once.
//!
//! Only positive answers are kept, and each is checked again against the
//! session's own deadlines on every hit, so a cached session still expires at
//! its boundary. Times come from the injected clock (whole seconds, rounded
//! in the safe direction): an entry made at second `t` serves while
//! `now < t + cache_ttl`.
//!
//! The users' session_keys are cached the same way for `/v1/decrypt`, for at
//! most `min(cache_ttl, key_grace)`, so a key rotated out on another instance
//! is not used longer than its grace period would allow. They are cached
//! opened (as `SessionKey`, a `secrecy` type): opening a sealed key on every hit
//! cost a quarter of a cached decrypt, and the data key that opens them all is
//! in the same memory anyway. A decrypt that no cached key opens reads the
//! store again before it answers `session_key_stale`, so a key that rotated on
//! another instance is never reported stale because of the cache. Logins and
//! key resets through this instance evict the user's entry at once.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use super::open_data::UserKeys;
use super::token::TokenHash;
use crate::clock::UnixTime;
use crate::store::SessionRecord;

/// Upper bound of entries per map; the least recently used go first.
const CAPACITY: u64 = 100_000;

struct Entry<T> {
    value: T,
    cached_at: UnixTime,
}

pub(crate) struct VerifyCache {
    ttl: i64,
    user_ttl: i64,
    sessions: Cache<[u8; 32], Arc<Entry<SessionRecord>>>,
    users: Cache<(String, String), Arc<Entry<Arc<UserKeys>>>>,
}

impl VerifyCache {
    /// `None` when `ttl_seconds` is 0 (the cache is off).
    pub(crate) fn new(ttl_seconds: i64, key_grace: i64) -> Option<Self> {
        if ttl_seconds <= 0 {
            return None;
        }
        // moka's own expiry only frees memory; freshness is judged by the
        // injected clock in `fresh`.
        let real_ttl = Duration::from_secs(ttl_seconds as u64 + 1);
        Some(Self {
            ttl: ttl_seconds,
            user_ttl: ttl_seconds.min(key_grace),
            sessions: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(real_ttl)
                .build(),
            users: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(real_ttl)
                .build(),
        })
    }

    fn fresh<T: Clone>(entry: Option<Arc<Entry<T>>>, ttl: i64, now: UnixTime) -> Option<T> {
        entry
            .filter(|e| now >= e.cached_at && now < e.cached_at + ttl)
            .map(|e| e.value.clone())
    }

    pub(crate) fn session(&self, hash: &TokenHash, now: UnixTime) -> Option<SessionRecord> {
        Self::fresh(self.sessions.get(&hash.0), self.ttl, now)
    }

    pub(crate) fn put_session(&self, record: &SessionRecord, now: UnixTime) {
        let entry = Entry {
            value: record.clone(),
            cached_at: now,
        };
        self.sessions.insert(record.token_hash.0, Arc::new(entry));
    }

    pub(crate) fn forget_session(&self, hash: &TokenHash) {
        self.sessions.invalidate(&hash.0);
    }

    /// Revoke-all by user: rare and administrative, so everything goes rather
    /// than keeping an index from users to token hashes.
    pub(crate) fn forget_all_sessions(&self) {
        self.sessions.invalidate_all();
    }

    pub(crate) fn user(&self, appid: &str, openid: &str, now: UnixTime) -> Option<Arc<UserKeys>> {
        let key = (appid.to_owned(), openid.to_owned());
        Self::fresh(self.users.get(&key), self.user_ttl, now)
    }

    pub(crate) fn put_user(&self, appid: &str, openid: &str, keys: Arc<UserKeys>, now: UnixTime) {
        let entry = Entry {
            value: keys,
            cached_at: now,
        };
        self.users
            .insert((appid.to_owned(), openid.to_owned()), Arc::new(entry));
    }

    pub(crate) fn forget_user(&self, appid: &str, openid: &str) {
        self.users
            .invalidate(&(appid.to_owned(), openid.to_owned()));
    }
}
