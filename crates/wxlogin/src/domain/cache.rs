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
//!
//! A verify that read the store before a logout (refresh, revoke-all, key
//! reset) on this instance must not put the old answer back after the
//! eviction. Every eviction bumps a generation first and evicts second; a put
//! remembers the generation it saw before its store read, inserts, and takes
//! its entry out again if the generation moved. Whichever order the two run
//! in, the stale entry does not survive (`tests::a_put_that_raced_*`).
//!
//! A hit is one sharded read lock in `quick_cache` (moka, used before, read
//! the clock and queued an access record on every hit: a tenth of a cached
//! decrypt). Its own expiry is gone with it; stale entries never answer and
//! leave memory at the next `sweep` (the service runs one every `cache_ttl`
//! seconds) or when the capacity bound evicts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

use super::open_data::UserKeys;
use super::token::TokenHash;
use crate::clock::UnixTime;
use crate::store::SessionRecord;

/// Upper bound of entries per map; quick_cache's S3-FIFO picks what goes.
/// Stale entries are also dropped by `sweep` (the service's housekeeping
/// tick), so an idle cache does not keep old records.
const CAPACITY: usize = 100_000;

/// A cached value and when it was read. Values are `Arc`s: a hit costs a
/// reference count, not a copy.
struct Entry<T> {
    value: Arc<T>,
    cached_at: UnixTime,
}

impl<T> Entry<T> {
    /// Serves while `cached_at <= now < cached_at + ttl` (a clock that went
    /// back makes it stale, never older than it says).
    fn fresh(&self, ttl: i64, now: UnixTime) -> bool {
        now >= self.cached_at && now < self.cached_at + ttl
    }
}

// By hand: a derive would ask `T: Clone`, and the point is not to clone `T`.
impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Self {
            value: Arc::clone(&self.value),
            cached_at: self.cached_at,
        }
    }
}

pub(crate) struct VerifyCache {
    ttl: i64,
    user_ttl: i64,
    sessions: Cache<[u8; 32], Entry<SessionRecord>>,
    /// Keyed by openid alone so a lookup borrows instead of building a key;
    /// the entry's own appid is checked on every hit (openids are per app).
    users: Cache<String, Entry<UserKeys>>,
    /// Bumped before every eviction (see the module doc).
    generation: AtomicU64,
}

impl VerifyCache {
    /// `None` when `ttl_seconds` is 0 (the cache is off).
    pub(crate) fn new(ttl_seconds: i64, key_grace: i64) -> Option<Self> {
        if ttl_seconds <= 0 {
            return None;
        }
        Some(Self {
            ttl: ttl_seconds,
            user_ttl: ttl_seconds.min(key_grace),
            sessions: Cache::new(CAPACITY),
            users: Cache::new(CAPACITY),
            generation: AtomicU64::new(0),
        })
    }

    fn fresh<T>(entry: Option<Entry<T>>, ttl: i64, now: UnixTime) -> Option<Arc<T>> {
        entry.filter(|e| e.fresh(ttl, now)).map(|e| e.value)
    }

    /// Drop every entry that can no longer serve: memory only, since a
    /// stale entry is never answered from anyway.
    pub(crate) fn sweep(&self, now: UnixTime) {
        self.sessions.retain(|_, e| e.fresh(self.ttl, now));
        self.users.retain(|_, e| e.fresh(self.user_ttl, now));
    }

    pub(crate) fn session(&self, hash: &TokenHash, now: UnixTime) -> Option<Arc<SessionRecord>> {
        Self::fresh(self.sessions.get(&hash.0), self.ttl, now)
    }

    /// Taken before a store read whose answer may be put in the cache.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn evicting(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Cache a session read from the store after `generation()` said `seen`.
    pub(crate) fn put_session(&self, record: &Arc<SessionRecord>, now: UnixTime, seen: u64) {
        let entry = Entry {
            value: Arc::clone(record),
            cached_at: now,
        };
        self.sessions.insert(record.token_hash.0, entry);
        if self.generation() != seen {
            self.sessions.remove(&record.token_hash.0);
        }
    }

    pub(crate) fn forget_session(&self, hash: &TokenHash) {
        self.evicting();
        self.sessions.remove(&hash.0);
    }

    /// Revoke-all by user: rare and administrative, so everything goes rather
    /// than keeping an index from users to token hashes.
    pub(crate) fn forget_all_sessions(&self) {
        self.evicting();
        self.sessions.clear();
    }

    pub(crate) fn user(&self, appid: &str, openid: &str, now: UnixTime) -> Option<Arc<UserKeys>> {
        Self::fresh(self.users.get(openid), self.user_ttl, now).filter(|k| k.appid() == appid)
    }

    /// Cache a user's keys read after `generation()` said `seen`.
    pub(crate) fn put_user(&self, openid: &str, keys: &Arc<UserKeys>, now: UnixTime, seen: u64) {
        // `key_grace = 0`: an entry could never serve, so keep no opened key.
        if self.user_ttl <= 0 {
            return;
        }
        let entry = Entry {
            value: Arc::clone(keys),
            cached_at: now,
        };
        self.users.insert(openid.to_owned(), entry);
        if self.generation() != seen {
            self.users.remove(openid);
        }
    }

    /// Evicts the openid whatever app the entry is for: at worst one extra
    /// store read for another app's user with the same openid.
    pub(crate) fn forget_user(&self, openid: &str) {
        self.evicting();
        self.users.remove(openid);
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn record(hash: u8) -> Arc<SessionRecord> {
        Arc::new(SessionRecord {
            id: crate::ids::SessionId::parse(&format!("s{hash}")).expect("id"),
            token_hash: TokenHash([hash; 32]),
            user_id: crate::ids::UserId::generate(),
            family: crate::ids::SessionId::parse(&format!("s{hash}")).expect("id"),
            appid: crate::ids::AppId::parse("wx0000000000000001").expect("appid"),
            openid: crate::ids::OpenId::parse("o1").expect("openid"),
            unionid: None,
            created_at: 0,
            expires_at: 1_000,
            idle_expires_at: 1_000,
            revoked_at: None,
        })
    }

    fn keys(appid: &str) -> Arc<UserKeys> {
        let key = wechat::SessionKey::parse("tiihtNczf5v6AKRyjwEUhQ==").expect("key");
        Arc::new(UserKeys::for_test(appid, key))
    }

    /// A verify read the session, then a logout evicted it, then the verify
    /// puts what it read: the entry must not serve.
    #[test]
    fn a_put_that_raced_an_eviction_does_not_serve() {
        let cache = VerifyCache::new(30, 300).expect("on");
        let r = record(7);
        let seen = cache.generation();
        cache.forget_session(&r.token_hash);
        cache.put_session(&r, 100, seen);
        assert!(cache.session(&r.token_hash, 100).is_none());
        let seen = cache.generation();
        cache.forget_all_sessions();
        cache.put_session(&r, 100, seen);
        assert!(cache.session(&r.token_hash, 100).is_none());
        let k = keys("wx0000000000000001");
        let seen = cache.generation();
        cache.forget_user("o1");
        cache.put_user("o1", &k, 100, seen);
        assert!(cache.user("wx0000000000000001", "o1", 100).is_none());
    }

    /// The other order: the put lands first, the eviction after it.
    #[test]
    fn a_put_that_raced_an_eviction_the_other_way_is_evicted() {
        let cache = VerifyCache::new(30, 300).expect("on");
        let r = record(8);
        let seen = cache.generation();
        cache.put_session(&r, 100, seen);
        cache.forget_session(&r.token_hash);
        assert!(cache.session(&r.token_hash, 100).is_none());
        // Without a race, a put serves.
        let seen = cache.generation();
        cache.put_session(&r, 100, seen);
        assert!(cache.session(&r.token_hash, 100).is_some());
    }

    #[test]
    fn an_entry_serves_for_ttl_seconds_and_a_sweep_frees_it_after() {
        let cache = VerifyCache::new(5, 300).expect("on");
        cache.put_session(&record(1), 100, cache.generation());
        cache.put_session(&record(2), 103, cache.generation());
        assert!(cache.session(&TokenHash([1; 32]), 104).is_some());
        assert!(cache.session(&TokenHash([1; 32]), 105).is_none());
        // A clock that went back does not make an entry older than it says.
        assert!(cache.session(&TokenHash([1; 32]), 99).is_none());
        cache.sweep(105);
        assert_eq!(cache.sessions.len(), 1, "only the stale entry goes");
        assert!(cache.session(&TokenHash([2; 32]), 107).is_some());
    }

    #[test]
    fn user_keys_are_found_only_for_their_own_app() {
        let cache = VerifyCache::new(5, 2).expect("on");
        cache.put_user("o1", &keys("wx0000000000000001"), 100, cache.generation());
        assert!(cache.user("wx0000000000000001", "o1", 100).is_some());
        assert!(cache.user("wx0000000000000002", "o1", 100).is_none());
        // Keys are kept for min(cache_ttl, key_grace).
        assert!(cache.user("wx0000000000000001", "o1", 102).is_none());
        cache.forget_user("o1");
        assert!(cache.user("wx0000000000000001", "o1", 101).is_none());
        // No grace period: no opened key is kept at all.
        let cache = VerifyCache::new(5, 0).expect("on");
        cache.put_user("o1", &keys("wx0000000000000001"), 100, cache.generation());
        assert_eq!(cache.users.len(), 0);
    }
}
