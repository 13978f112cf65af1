//! [`Simulator`]: the handle tests hold. Seeds apps and users, plays the mini
//! program's side (`wx.login`, the phone button, open data), flips behaviour
//! switches and faults, and reads back what the HTTP surface saw.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use parking_lot::{Mutex, MutexGuard};
use wechat::SessionKey;

use crate::clock::SimClock;
use crate::faults::Fault;
use crate::model::{
    AppSpec, OpenDataBlob, OpenDataKind, RecordedRequest, Rotation, SimEndpoint, SimError, UserSpec,
};
use crate::opendata;
use crate::state::State;

/// An in-memory WeChat. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    clock: SimClock,
    state: Mutex<State>,
}

/// Only a summary: the state holds secrets, codes and tokens.
impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("now_unix", &self.inner.clock.now_unix())
            // try_lock: formatting must never deadlock a caller holding the lock.
            .field(
                "apps",
                &self.inner.state.try_lock().map(|state| state.apps.len()),
            )
            .finish_non_exhaustive()
    }
}

impl Default for Simulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Simulator {
    /// A simulator with its own clock (real time, offset 0) and no apps.
    pub fn new() -> Self {
        Self::with_clock(SimClock::new())
    }

    /// A simulator reading `clock`, e.g. one shared with the code under test.
    pub fn with_clock(clock: SimClock) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock,
                state: Mutex::new(State::default()),
            }),
        }
    }

    pub fn clock(&self) -> SimClock {
        self.inner.clock.clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock()
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_millis()
    }

    /// Register an app (re-adding an appid updates it and keeps its users).
    pub fn add_app(&self, app: AppSpec) {
        self.lock().add_app(app);
    }

    /// Add a user to an app; returns its openid.
    pub fn add_user(&self, appid: &str, user: UserSpec) -> Result<String, SimError> {
        let now = self.now_ms();
        self.lock().add_user(appid, user, now)
    }

    pub fn set_blocked(&self, appid: &str, openid: &str, blocked: bool) -> Result<(), SimError> {
        self.lock().user_mut(appid, openid)?.blocked = blocked;
        Ok(())
    }

    /// Play `wx.login`: a 32-char code, valid 5 minutes, single use; rotates the
    /// user's session key per [`Rotation`].
    pub fn mint_login_code(&self, appid: &str, openid: &str) -> Result<String, SimError> {
        let now = self.now_ms();
        self.lock().mint_login_code(appid, openid, now)
    }

    /// Play Douyin's `tt.login` on a logged-out device: an `anonymousCode`
    /// (single use, exchanged for the device's `anonymous_openid`).
    pub fn mint_anonymous_code(&self, appid: &str, openid: &str) -> Result<String, SimError> {
        let now = self.now_ms();
        self.lock().mint_anonymous_code(appid, openid, now)
    }

    /// The platform of a registered app.
    pub fn platform_of(&self, appid: &str) -> Option<crate::model::Platform> {
        Some(self.lock().app(appid).ok()?.spec.platform)
    }

    /// The user's current key on a Baidu app (24 bytes, base64).
    pub fn baidu_session_key(&self, appid: &str, openid: &str) -> Option<String> {
        Some(self.lock().user(appid, openid).ok()?.key24.clone())
    }

    /// Play the `getPhoneNumber` button: a 64-hex code, valid 5 minutes, single use.
    pub fn mint_phone_code(&self, appid: &str, openid: &str) -> Result<String, SimError> {
        let now = self.now_ms();
        self.lock().mint_phone_code(appid, openid, now)
    }

    /// The user's current session key (base64).
    pub fn session_key(&self, appid: &str, openid: &str) -> Option<String> {
        let state = self.lock();
        // The signature promises `None` for an unknown app or user.
        let user = state.user(appid, openid).ok()?;
        Some(user.key.expose_secret().to_owned())
    }

    /// Replace the user's key, e.g. with a test vector's key.
    pub fn set_session_key(
        &self,
        appid: &str,
        openid: &str,
        key_b64: &str,
    ) -> Result<(), SimError> {
        let key = SessionKey::parse(key_b64).map_err(|_| SimError::InvalidSessionKey)?;
        let now = self.now_ms();
        let mut state = self.lock();
        let user = state.user_mut(appid, openid)?;
        user.key = key;
        user.last_rotation_ms = now;
        Ok(())
    }

    /// What the mini program would receive now: encrypted under the user's
    /// current key, so a later rotation makes it stale as in production.
    pub fn open_data(
        &self,
        appid: &str,
        openid: &str,
        kind: OpenDataKind,
    ) -> Result<OpenDataBlob, SimError> {
        let now_unix = self.inner.clock.now_unix();
        let mut state = self.lock();
        let spec = state.app(appid)?.spec.clone();
        let user = state.user(appid, openid)?;
        let blob = opendata::seal_for(&spec, user, kind, now_unix)?;
        state.issued.record(appid, &blob.encrypted_data, now_unix);
        Ok(blob)
    }

    pub fn set_rotation(&self, rotation: Rotation) {
        self.lock().config.rotation = rotation;
    }

    /// Lifetime of stable and legacy tokens (default 7200 s).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.lock().config.token_ttl = ttl;
    }

    /// `application/json` instead of the default `text/plain`.
    pub fn set_json_content_type(&self, on: bool) {
        self.lock().config.json_content_type = on;
    }

    /// getuserphonenumber's `countryCode` as the number 86 instead of "86".
    pub fn set_country_code_as_number(&self, on: bool) {
        self.lock().config.country_code_as_number = on;
    }

    /// resetusersessionkey calls allowed per user per minute (default 1).
    pub fn set_reset_limit_per_minute(&self, n: u32) {
        self.lock().config.reset_limit_per_minute = n;
    }

    /// Arm `fault` on `endpoint`, replacing any fault already there.
    pub fn set_fault(&self, endpoint: SimEndpoint, fault: Fault) {
        self.lock().faults.set(endpoint, fault);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Requests received by `endpoint`, faulted and refused ones included.
    pub fn calls(&self, endpoint: SimEndpoint) -> u64 {
        self.lock().observed.calls(endpoint)
    }

    /// jscode2session calls whose `js_code` was exactly `code`.
    pub fn calls_for_code(&self, code: &str) -> u64 {
        self.lock().observed.calls_for_code(code)
    }

    /// Calls about `appid` (by their `appid` parameter or their token's app).
    pub fn calls_for_app(&self, appid: &str) -> u64 {
        self.lock().observed.calls_for_app(appid)
    }

    /// The decoded, unredacted query of each call to `endpoint` (last 1000).
    pub fn seen_query(&self, endpoint: SimEndpoint) -> Vec<Vec<(String, String)>> {
        self.lock().observed.seen_query(endpoint)
    }

    /// The last `n` requests (oldest first), secrets redacted.
    pub fn last_requests(&self, n: usize) -> Vec<RecordedRequest> {
        self.lock().observed.last_requests(n)
    }

    /// Forget counters, the request log and the seen queries.
    pub fn reset_counters(&self) {
        self.lock().observed.reset();
    }

    /// The app's current stable token, if one is valid.
    pub fn current_access_token(&self, appid: &str) -> Option<String> {
        let now = self.now_ms();
        self.lock().tokens.current_stable(appid, now)
    }

    /// The whole HTTP surface: WeChat's endpoints, `/__sim/` test endpoints, and
    /// 40066 for anything else.
    pub fn router(&self) -> Router {
        crate::http::routes()
            .merge(crate::test_api::routes())
            .fallback(crate::http::unknown_path)
            .with_state(self.clone())
    }
}
