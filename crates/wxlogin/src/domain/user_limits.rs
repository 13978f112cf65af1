//! Per-user limits of the calls that spend the app's WeChat quota (phone
//! number, `checksession`, `checkencryptedmsg`) or write rows (refresh). A logged-in client
//! looping on them would otherwise drive hundreds of upstream calls or
//! durable writes a second from one token. Each user (appid, openid) gets
//! `sessions.user_calls_per_minute` of each kind, shared by all of the
//! user's sessions (so a refresh chain or many devices count together), in
//! this process; several instances each allow as much.

use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::Error;
use crate::ids::{AppId, OpenId};

/// The limited calls.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum UserCall {
    Phone,
    CheckSession,
    Refresh,
    OpenDataCheck,
}

type Key = (UserCall, AppId, OpenId);

/// Buckets kept at most; beyond, new users share one bucket per call until
/// idle ones are dropped, so memory stays bounded.
const MAX_TRACKED: usize = 100_000;

pub(crate) struct UserLimits {
    limiter: DefaultKeyedRateLimiter<Key>,
    overflow: Option<(AppId, OpenId)>,
}

impl UserLimits {
    pub(crate) fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        let overflow = AppId::parse("wx0000000000000000")
            .ok()
            .zip(OpenId::parse("overflow").ok());
        Self {
            limiter: RateLimiter::keyed(quota),
            overflow,
        }
    }

    /// Count one call; `rate_limited` with the wait when over the limit.
    pub(crate) fn check(
        &self,
        call: UserCall,
        appid: &AppId,
        openid: &OpenId,
    ) -> Result<(), Error> {
        let mut key = (call, appid.clone(), openid.clone());
        if self.limiter.len() >= MAX_TRACKED {
            self.limiter.retain_recent();
            if let Some((app, user)) = self
                .overflow
                .clone()
                .filter(|_| self.limiter.len() >= MAX_TRACKED)
            {
                key = (call, app, user);
            }
        }
        self.limiter
            .check_key(&key)
            .map_err(|not_until| Error::RateLimited {
                retry_after_secs: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1),
                wechat_errcode: None,
            })
    }

    /// Drop the buckets of users back to full capacity (housekeeping).
    pub(crate) fn shrink(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_call_of_each_user_has_its_own_budget() {
        let limits = UserLimits::new(3);
        let app = AppId::parse("wx4f4bc4dec97d474b").unwrap();
        let (a, b) = (OpenId::parse("a").unwrap(), OpenId::parse("b").unwrap());
        let allowed = (0..10)
            .filter(|_| limits.check(UserCall::Phone, &app, &a).is_ok())
            .count();
        assert_eq!(allowed, 3);
        assert!(matches!(
            limits.check(UserCall::Phone, &app, &a),
            Err(Error::RateLimited { retry_after_secs, .. }) if retry_after_secs >= 1
        ));
        assert!(limits.check(UserCall::Refresh, &app, &a).is_ok());
        assert!(limits.check(UserCall::Phone, &app, &b).is_ok());
    }
}
