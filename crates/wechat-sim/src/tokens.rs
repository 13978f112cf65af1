//! Access tokens: `stable_token` (one current token, shared by every caller,
//! forced refresh rationed) and legacy `/cgi-bin/token` (every call mints and
//! retires the previous one after 300 s), isolated from each other
//! (WECHAT_API.md §3 and §8 "Access tokens").

use std::collections::HashMap;

use crate::ids;
use crate::wire::code;

/// A normal-mode token is handed out only while it has more than this left.
const STABLE_MIN_REMAINING_MS: i64 = 300_000;
/// Forced refreshes closer than this return the current token unchanged.
const FORCE_SPACING_MS: i64 = 30_000;
const FORCED_PER_DAY: u32 = 20;
/// How long a retired legacy token keeps working.
const LEGACY_OVERLAP_MS: i64 = 300_000;
/// Past this many known tokens, forget the dead and the long expired.
const PURGE_ABOVE: usize = 4096;
const DAY_MS: i64 = 86_400_000;

/// A token handed to a caller and its remaining lifetime in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub access_token: String,
    pub expires_in: i64,
}

#[derive(Debug)]
struct TokenRecord {
    appid: String,
    expires_ms: i64,
    /// Superseded (forced refresh, or a legacy token's overlap ended): 40001.
    dead_from_ms: Option<i64>,
}

impl TokenRecord {
    fn is_dead(&self, now_ms: i64) -> bool {
        self.dead_from_ms.is_some_and(|dead| dead <= now_ms)
    }
}

#[derive(Debug, Default)]
struct AppTokens {
    stable: Option<String>,
    /// The stable token a normal-mode rollover replaced; valid to its own expiry
    /// unless a forced refresh kills it.
    stable_previous: Option<String>,
    legacy: Option<String>,
    legacy_previous: Option<String>,
    forced_day: i64,
    forced_today: u32,
    last_forced_ms: Option<i64>,
}

/// Every token the simulator issued, and each app's current ones.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    apps: HashMap<String, AppTokens>,
    index: HashMap<String, TokenRecord>,
}

impl Tokens {
    /// `stable_token` for an app whose appid and secret were already checked.
    pub fn stable(
        &mut self,
        appid: &str,
        force: bool,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Grant, i64> {
        let current = self.live_stable(appid, now_ms);
        let app = self.apps.entry(appid.to_owned()).or_default();
        if force {
            let too_soon = app
                .last_forced_ms
                .is_some_and(|last| now_ms.saturating_sub(last) < FORCE_SPACING_MS);
            // Undocumented in WeChat; our choice: an early forced call behaves
            // like a normal one and returns the current token unchanged.
            if let (true, Some((grant, _))) = (too_soon, current) {
                return Ok(grant);
            }
            let day = now_ms.div_euclid(DAY_MS);
            if app.forced_day != day {
                app.forced_day = day;
                app.forced_today = 0;
            }
            if app.forced_today >= FORCED_PER_DAY {
                return Err(code::DAILY_QUOTA);
            }
            app.forced_today += 1;
            app.last_forced_ms = Some(now_ms);
            let killed = [app.stable.take(), app.stable_previous.take()];
            for token in killed.into_iter().flatten() {
                self.kill(&token, now_ms);
            }
            return Ok(self.mint_stable(appid, ttl_ms, now_ms));
        }
        match current {
            Some((grant, remaining_ms)) if remaining_ms > STABLE_MIN_REMAINING_MS => Ok(grant),
            // The old token stays valid until its own expiry: a caller that
            // fetched it a moment ago is not broken by the rollover.
            _ => {
                app.stable_previous = app.stable.take();
                Ok(self.mint_stable(appid, ttl_ms, now_ms))
            }
        }
    }

    /// Legacy `/cgi-bin/token`: a new token per call; the previous one keeps
    /// working for 300 s, the one before it dies now.
    pub fn legacy(&mut self, appid: &str, ttl_ms: i64, now_ms: i64) -> Grant {
        let token = ids::access_token();
        let app = self.apps.entry(appid.to_owned()).or_default();
        let older = app.legacy_previous.take();
        let previous = app.legacy.replace(token.clone());
        app.legacy_previous = previous.clone();
        if let Some(older) = older {
            self.kill(&older, now_ms);
        }
        if let Some(previous) = previous {
            self.kill(&previous, now_ms.saturating_add(LEGACY_OVERLAP_MS));
        }
        self.insert(&token, appid, ttl_ms, now_ms);
        Grant {
            access_token: token,
            expires_in: ttl_ms / 1000,
        }
    }

    /// The app a token belongs to, or 40001 (unknown, superseded) / 42001 (expired).
    pub fn check(&self, token: &str, now_ms: i64) -> Result<&str, i64> {
        let record = self.index.get(token).ok_or(code::INVALID_CREDENTIAL)?;
        if record.is_dead(now_ms) {
            return Err(code::INVALID_CREDENTIAL);
        }
        if now_ms >= record.expires_ms {
            return Err(code::ACCESS_TOKEN_EXPIRED);
        }
        Ok(&record.appid)
    }

    /// The app a token was issued to, valid or not (for per-app counters).
    pub fn owner(&self, token: &str) -> Option<&str> {
        self.index.get(token).map(|record| record.appid.as_str())
    }

    /// The app's current stable token if it is still valid.
    pub fn current_stable(&self, appid: &str, now_ms: i64) -> Option<String> {
        self.live_stable(appid, now_ms)
            .map(|(grant, _)| grant.access_token)
    }

    /// The current stable token and its remaining milliseconds, if valid.
    /// `expires_in` rounds down: a client never believes in a dead token.
    fn live_stable(&self, appid: &str, now_ms: i64) -> Option<(Grant, i64)> {
        let token = self.apps.get(appid)?.stable.as_ref()?;
        let record = self.index.get(token)?;
        let remaining_ms = record.expires_ms.saturating_sub(now_ms);
        let grant = Grant {
            access_token: token.clone(),
            expires_in: remaining_ms / 1000,
        };
        (!record.is_dead(now_ms) && remaining_ms > 0).then_some((grant, remaining_ms))
    }

    fn mint_stable(&mut self, appid: &str, ttl_ms: i64, now_ms: i64) -> Grant {
        let token = ids::access_token();
        self.insert(&token, appid, ttl_ms, now_ms);
        self.apps.entry(appid.to_owned()).or_default().stable = Some(token.clone());
        Grant {
            access_token: token,
            expires_in: ttl_ms / 1000,
        }
    }

    /// Make `token` invalid from `at_ms` (or earlier, if it already was).
    fn kill(&mut self, token: &str, at_ms: i64) {
        if let Some(record) = self.index.get_mut(token) {
            let dead = record.dead_from_ms.map_or(at_ms, |d| d.min(at_ms));
            record.dead_from_ms = Some(dead);
        }
    }

    fn insert(&mut self, token: &str, appid: &str, ttl_ms: i64, now_ms: i64) {
        if self.index.len() >= PURGE_ABOVE {
            // A forgotten token answers 40001 like a superseded one; only tokens
            // expired for a day lose their more precise 42001.
            self.index.retain(|_, record| {
                !record.is_dead(now_ms) && record.expires_ms > now_ms.saturating_sub(DAY_MS)
            });
        }
        self.index.insert(
            token.to_owned(),
            TokenRecord {
                appid: appid.to_owned(),
                expires_ms: now_ms.saturating_add(ttl_ms),
                dead_from_ms: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: i64 = 7_200_000;

    #[test]
    fn normal_mode_rolls_over_in_the_last_five_minutes_and_keeps_the_old_token() {
        let mut tokens = Tokens::default();
        let first = tokens.stable("wxa", false, TTL, 0).unwrap();
        let same = tokens.stable("wxa", false, TTL, 1_000).unwrap();
        assert_eq!(first.access_token, same.access_token);
        let late = TTL - 200_000;
        let next = tokens.stable("wxa", false, TTL, late).unwrap();
        assert_ne!(first.access_token, next.access_token);
        assert_eq!(tokens.check(&first.access_token, late), Ok("wxa"));
        assert_eq!(
            tokens.check(&first.access_token, TTL),
            Err(code::ACCESS_TOKEN_EXPIRED)
        );
    }

    #[test]
    fn forced_refresh_is_spaced_and_rationed() {
        let mut tokens = Tokens::default();
        let mut now = 0;
        let first = tokens.stable("wxa", true, TTL, now).unwrap();
        let early = tokens.stable("wxa", true, TTL, now + 10_000).unwrap();
        assert_eq!(first.access_token, early.access_token);
        for _ in 1..FORCED_PER_DAY {
            now += FORCE_SPACING_MS;
            assert!(tokens.stable("wxa", true, TTL, now).is_ok());
        }
        assert_eq!(
            tokens.check(&first.access_token, now),
            Err(code::INVALID_CREDENTIAL)
        );
        now += FORCE_SPACING_MS;
        assert_eq!(tokens.stable("wxa", true, TTL, now), Err(code::DAILY_QUOTA));
    }
}
