//! Everything the simulator remembers: apps and their users (session keys,
//! quotas), outstanding login and phone codes, tokens, faults and observations.
//! One struct behind one mutex: every call is a short critical section, and a
//! single lock makes each call atomic, as a test expects.

use std::collections::HashMap;
use std::time::Duration;

use wechat::SessionKey;

use crate::faults::FaultTable;
use crate::ids;
use crate::model::{AppSpec, Rotation, SimError, UserSpec};
use crate::observe::Observed;
use crate::opendata::Issued;
use crate::tokens::Tokens;

/// Login and phone codes live 5 minutes.
pub(crate) const CODE_TTL_MS: i64 = 5 * 60 * 1000;
/// Forget expired codes every this many mints, so long benchmarks stay bounded.
const PURGE_EVERY_MINTS: u32 = 1024;

/// Switches tests flip.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub rotation: Rotation,
    pub token_ttl: Duration,
    pub json_content_type: bool,
    pub country_code_as_number: bool,
    pub reset_limit_per_minute: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rotation: Rotation::default(),
            token_ttl: Duration::from_secs(7200),
            json_content_type: false,
            country_code_as_number: false,
            reset_limit_per_minute: 1,
        }
    }
}

impl Config {
    pub fn token_ttl_ms(&self) -> i64 {
        i64::try_from(self.token_ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

#[derive(Debug)]
pub(crate) struct App {
    pub spec: AppSpec,
    pub users: HashMap<String, User>,
}

#[derive(Debug)]
pub(crate) struct User {
    pub openid: String,
    pub unionid: String,
    pub blocked: bool,
    pub phone: String,
    /// The one valid key: every rotation or reset kills the previous one.
    pub key: SessionKey,
    /// Baidu's 24-byte key (rotated with `key`).
    pub key24: String,
    /// Douyin: the device's anonymous_openid (stable).
    pub anonymous_openid: String,
    /// Alipay: the legacy user_id beside the open_id (`openid`).
    pub alipay_user_id: String,
    pub last_rotation_ms: i64,
    pub login_quota: MinuteWindow,
    pub reset_quota: MinuteWindow,
}

/// A counter for the current sim-clock minute (a fixed window, as the 45011
/// wording "retry next minute" suggests).
#[derive(Debug, Default)]
pub(crate) struct MinuteWindow {
    minute: i64,
    count: u32,
}

impl MinuteWindow {
    /// Count one call; returns how many this minute, this one included.
    pub fn hit(&mut self, now_ms: i64) -> u32 {
        let minute = now_ms.div_euclid(60_000);
        if minute != self.minute {
            self.minute = minute;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

/// A login or phone code: single use, 5 minutes, bound to one app and user.
#[derive(Debug)]
pub(crate) struct OneTimeCode {
    pub appid: String,
    pub openid: String,
    pub minted_ms: i64,
    pub used: bool,
    /// Douyin's `anonymousCode` (only its own field takes it).
    pub anonymous: bool,
}

impl OneTimeCode {
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.minted_ms.saturating_add(CODE_TTL_MS)
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub config: Config,
    pub apps: HashMap<String, App>,
    pub login_codes: HashMap<String, OneTimeCode>,
    pub phone_codes: HashMap<String, OneTimeCode>,
    pub tokens: Tokens,
    pub faults: FaultTable,
    pub observed: Observed,
    /// Open data handed out, for `checkencryptedmsg`.
    pub issued: Issued,
    mints_since_purge: u32,
}

impl State {
    /// Register an app; re-adding an appid updates its settings and keeps its users.
    pub fn add_app(&mut self, spec: AppSpec) {
        match self.apps.get_mut(&spec.appid) {
            Some(app) => app.spec = spec,
            None => {
                let app = App {
                    spec: spec.clone(),
                    users: HashMap::new(),
                };
                self.apps.insert(spec.appid, app);
            }
        }
    }

    pub fn add_user(
        &mut self,
        appid: &str,
        spec: UserSpec,
        now_ms: i64,
    ) -> Result<String, SimError> {
        let app = self.apps.get_mut(appid).ok_or(SimError::UnknownApp)?;
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let platform = app.spec.platform;
        let openid = nonempty(spec.openid).unwrap_or_else(|| ids::openid_for(platform));
        if app.users.contains_key(&openid) {
            return Err(SimError::UserExists);
        }
        let user = User {
            openid: openid.clone(),
            unionid: nonempty(spec.unionid).unwrap_or_else(ids::openid),
            blocked: spec.blocked,
            phone: nonempty(spec.phone).unwrap_or_else(ids::phone_number),
            key: ids::session_key(),
            key24: ids::session_key_24(),
            anonymous_openid: ids::anonymous_openid(),
            alipay_user_id: ids::alipay_user_id(),
            last_rotation_ms: now_ms,
            login_quota: MinuteWindow::default(),
            reset_quota: MinuteWindow::default(),
        };
        app.users.insert(openid.clone(), user);
        Ok(openid)
    }

    pub fn app(&self, appid: &str) -> Result<&App, SimError> {
        self.apps.get(appid).ok_or(SimError::UnknownApp)
    }

    pub fn user(&self, appid: &str, openid: &str) -> Result<&User, SimError> {
        self.app(appid)?
            .users
            .get(openid)
            .ok_or(SimError::UnknownUser)
    }

    pub fn user_mut(&mut self, appid: &str, openid: &str) -> Result<&mut User, SimError> {
        let app = self.apps.get_mut(appid).ok_or(SimError::UnknownApp)?;
        app.users.get_mut(openid).ok_or(SimError::UnknownUser)
    }

    /// Play `wx.login`: a fresh code for the user, rotating the key per policy.
    pub fn mint_login_code(
        &mut self,
        appid: &str,
        openid: &str,
        now_ms: i64,
    ) -> Result<String, SimError> {
        let rotation = self.config.rotation;
        let user = self.user_mut(appid, openid)?;
        let rotate = match rotation {
            Rotation::Never => false,
            Rotation::OnMint { min_period } => {
                let min_ms = i64::try_from(min_period.as_millis()).unwrap_or(i64::MAX);
                now_ms.saturating_sub(user.last_rotation_ms) >= min_ms
            }
        };
        if rotate {
            user.key = ids::session_key();
            user.key24 = ids::session_key_24();
            user.last_rotation_ms = now_ms;
        }
        let code = ids::login_code();
        self.purge_expired_codes(now_ms);
        self.login_codes
            .insert(code.clone(), OneTimeCode::new(appid, openid, now_ms));
        Ok(code)
    }

    /// Play Douyin's `tt.login` on a logged-out device: an `anonymousCode`.
    pub fn mint_anonymous_code(
        &mut self,
        appid: &str,
        openid: &str,
        now_ms: i64,
    ) -> Result<String, SimError> {
        self.user(appid, openid)?;
        let code = ids::login_code();
        self.purge_expired_codes(now_ms);
        let mut minted = OneTimeCode::new(appid, openid, now_ms);
        minted.anonymous = true;
        self.login_codes.insert(code.clone(), minted);
        Ok(code)
    }

    /// Play the `getPhoneNumber` button.
    pub fn mint_phone_code(
        &mut self,
        appid: &str,
        openid: &str,
        now_ms: i64,
    ) -> Result<String, SimError> {
        self.user(appid, openid)?;
        let code = ids::phone_code();
        self.purge_expired_codes(now_ms);
        self.phone_codes
            .insert(code.clone(), OneTimeCode::new(appid, openid, now_ms));
        Ok(code)
    }

    fn purge_expired_codes(&mut self, now_ms: i64) {
        self.mints_since_purge += 1;
        if self.mints_since_purge < PURGE_EVERY_MINTS {
            return;
        }
        self.mints_since_purge = 0;
        // An expired code answers 40029 whether or not it is remembered.
        self.login_codes.retain(|_, code| code.is_live(now_ms));
        self.phone_codes.retain(|_, code| code.is_live(now_ms));
    }
}

impl OneTimeCode {
    fn new(appid: &str, openid: &str, now_ms: i64) -> Self {
        Self {
            appid: appid.to_owned(),
            openid: openid.to_owned(),
            minted_ms: now_ms,
            used: false,
            anonymous: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_window_restarts_each_minute() {
        let mut window = MinuteWindow::default();
        assert_eq!(window.hit(60_000), 1);
        assert_eq!(window.hit(119_999), 2);
        assert_eq!(window.hit(120_000), 1);
    }

    #[test]
    fn minting_rotates_per_policy() {
        let mut state = State::default();
        state.add_app(AppSpec {
            appid: "wx1".into(),
            secret: "s".into(),
            bound_to_open_platform: false,
            ip_whitelist: false,
            ..AppSpec::default()
        });
        let openid = state.add_user("wx1", UserSpec::default(), 0).unwrap();
        let key = |s: &State| s.user("wx1", &openid).unwrap().key.clone();
        let before = key(&state);
        state.mint_login_code("wx1", &openid, 0).unwrap();
        assert_ne!(before, key(&state));
        state.config.rotation = Rotation::OnMint {
            min_period: Duration::from_secs(60),
        };
        let before = key(&state);
        state.mint_login_code("wx1", &openid, 1_000).unwrap();
        assert_eq!(before, key(&state));
        state.mint_login_code("wx1", &openid, 61_000).unwrap();
        assert_ne!(before, key(&state));
        assert_eq!(
            state.add_user(
                "wx1",
                UserSpec {
                    openid: Some(openid.clone()),
                    ..UserSpec::default()
                },
                0
            ),
            Err(SimError::UserExists)
        );
    }
}
