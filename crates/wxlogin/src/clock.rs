//! Time as an injected dependency: every expiry (sessions, claims, key grace
//! periods) reads a [`Clock`], so tests move time instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Unix time in seconds.
pub type UnixTime = i64;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixTime;

    /// Milliseconds, for ordering events within a second (which of two
    /// logins WeChat answered last).
    fn now_millis(&self) -> i64 {
        self.now() * 1000
    }
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn now_millis(&self) -> i64 {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// A clock that starts at the wall clock and moves only when told; for tests
/// and the demo. Within a second, each reading of `now_millis` is one
/// millisecond later than the last, so events still have an order.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>, Arc<AtomicI64>);

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self(
            Arc::new(AtomicI64::new(SystemClock.now())),
            Arc::new(AtomicI64::new(0)),
        )
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }

    fn now_millis(&self) -> i64 {
        self.now() * 1000 + self.1.fetch_add(1, Ordering::SeqCst) % 1000
    }
}

/// RFC 3339 text of a Unix time, for API responses.
pub fn rfc3339(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|dt| {
            dt.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
