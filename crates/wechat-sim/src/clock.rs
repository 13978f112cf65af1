//! The simulator's clock: real time plus a manual offset, so tests can expire
//! codes, tokens and quota windows by advancing it instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time shifted by an offset that only ever grows. Clones share the
/// offset, so a test's clone of the simulator's clock moves the simulator too.
#[derive(Clone, Debug, Default)]
pub struct SimClock {
    offset_millis: Arc<AtomicI64>,
}

impl SimClock {
    /// A clock reading the real time (offset 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Unix seconds by the sim clock.
    pub fn now_unix(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// Unix milliseconds by the sim clock.
    pub fn now_millis(&self) -> i64 {
        // A system clock before 1970 is a broken host; reading it as the epoch
        // keeps the simulator running instead of panicking.
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_millis.load(Ordering::Relaxed))
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _previous =
            self.offset_millis
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                    Some(offset.saturating_add(millis))
                });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = SimClock::new();
        let other = clock.clone();
        let before = clock.now_unix();
        other.advance(Duration::from_secs(3600));
        assert!(clock.now_unix() >= before + 3600);
    }
}
