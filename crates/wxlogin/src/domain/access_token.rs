//! The central access_token manager: the only caller of `stable_token` for
//! each app, so no backend ever overwrites another's token.
//!
//! - cached in memory and, sealed, in the store (shared by instances);
//! - refreshed ahead of expiry (when less than `REFRESH_AHEAD` is left; WeChat
//!   then issues the next token while the old one keeps working);
//! - one refresh at a time per app: a per-app mutex in process, a fenced lease
//!   in the store across instances;
//! - after a failed refresh, further refreshes back off exponentially;
//! - a call refused with 40001/42001 forces one refresh and is retried once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use secrecy::ExposeSecret as _;
use tokio::time::Instant;
use tracing::Instrument as _;
use wechat::AccessToken;

use super::login::aad;
use super::providers::Provider;
use super::{App, Core, Error};
use crate::ids::{AppId, LockName, Owner};
use crate::store::CachedToken;

/// Refresh when less than this is left (WeChat's own handover window).
pub const REFRESH_AHEAD: i64 = 300;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// An access_token and when it expires (Unix seconds).
#[derive(Debug, Clone)]
pub struct ManagedToken {
    pub token: AccessToken,
    pub expires_at: i64,
}

#[derive(Default)]
struct AppState {
    cached: Option<ManagedToken>,
    failures: u32,
    retry_not_before: Option<Instant>,
}

/// Per-app state and refresh locks.
pub struct AccessTokens {
    state: Mutex<HashMap<String, AppState>>,
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    owner: Owner,
}

impl Default for AccessTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl AccessTokens {
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            refresh_locks: Mutex::default(),
            owner: Owner::generate(),
        }
    }

    fn fresh(&self, appid: &str, now: i64) -> Option<ManagedToken> {
        let state = self.state.lock();
        let cached = state.get(appid)?.cached.as_ref()?;
        (cached.expires_at - now > REFRESH_AHEAD).then(|| cached.clone())
    }

    fn remember(&self, appid: &str, managed: &ManagedToken) {
        let mut state = self.state.lock();
        let entry = state.entry(appid.to_owned()).or_default();
        entry.cached = Some(managed.clone());
        entry.failures = 0;
        entry.retry_not_before = None;
    }

    fn refresh_lock(&self, appid: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.refresh_locks
            .lock()
            .entry(appid.to_owned())
            .or_default()
            .clone()
    }
}

/// Whether a token found in memory or in the store can be served: not the
/// one WeChat just refused, and (unless a refusal forces a refresh) not due
/// for a refresh itself.
fn servable(m: &ManagedToken, now: i64, rejected: Option<&AccessToken>) -> bool {
    let replaced = rejected.is_none_or(|bad| *bad != m.token);
    replaced && m.expires_at - now > if rejected.is_some() { 0 } else { REFRESH_AHEAD }
}

impl Core {
    /// The app's current access_token, refreshed if needed.
    pub async fn access_token(self: &Arc<Self>, appid: &str) -> Result<ManagedToken, Error> {
        let app = self.apps.get(appid).ok_or(Error::UnknownApp)?;
        // Only these platforms have an app-wide token to manage.
        if !matches!(
            app.provider,
            Provider::Wechat { .. } | Provider::Wecom { .. } | Provider::Douyin { .. }
        ) {
            return Err(Error::NotSupported(app.platform));
        }
        if let Some(managed) = self.tokens.fresh(appid, self.clock.now()) {
            return Ok(managed);
        }
        self.refresh_access_token(app, None).await
    }

    /// Run `call` with the app's token; on 40001/42001 force one refresh and
    /// run it once more. Never loops.
    pub async fn with_access_token<T, F, Fut>(
        self: &Arc<Self>,
        appid: &str,
        call: F,
    ) -> Result<T, Error>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, wechat::Error>>,
    {
        let app = self.apps.get(appid).ok_or(Error::UnknownApp)?;
        let token = self.access_token(appid).await?.token;
        match call(token.clone()).await {
            Err(e) if e.errcode().is_some_and(|c| c.is_token_rejected()) => {
                tracing::warn!(appid, errcode = ?e.errcode(), "access_token refused; forcing one refresh");
                let fresh = self.refresh_access_token(app, Some(&token)).await?;
                call(fresh.token).await.map_err(Error::from)
            }
            other => other.map_err(Error::from),
        }
    }

    /// Refresh under the per-app mutex and the store lease. With `rejected`,
    /// WeChat refused that token: force a new one unless someone already
    /// replaced it.
    pub(crate) async fn refresh_access_token(
        self: &Arc<Self>,
        app: &App,
        rejected: Option<&AccessToken>,
    ) -> Result<ManagedToken, Error> {
        let appid = app.appid.as_str();
        let lock = self.tokens.refresh_lock(appid);
        let _guard = lock.lock().await;
        let usable = |m: &ManagedToken, now: i64| servable(m, now, rejected);
        // Someone (this process or another instance) may have refreshed already.
        if let Some(m) = self
            .tokens
            .fresh(appid, self.clock.now())
            .filter(|m| usable(m, self.clock.now()))
        {
            return Ok(m);
        }
        if let Some(m) = self
            .stored_token(&app.appid)
            .await?
            .filter(|m| usable(m, self.clock.now()))
        {
            self.tokens.remember(appid, &m);
            return Ok(m);
        }
        self.check_backoff(appid)?;
        let lock_name = LockName::access_token(&app.appid);
        let deadline = Instant::now() + self.wechat.deadline() + Duration::from_secs(2);
        let fence = loop {
            let now = self.clock.now();
            let lease = now + self.wechat.deadline().as_secs() as i64 + 5;
            if let Some(fence) = self
                .store
                .try_lock(&lock_name, &self.tokens.owner, now, lease)
                .await?
            {
                break fence;
            }
            // Another instance is refreshing: wait for its result.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(m) = self
                .stored_token(&app.appid)
                .await?
                .filter(|m| usable(m, self.clock.now()))
            {
                self.tokens.remember(appid, &m);
                return Ok(m);
            }
            if Instant::now() >= deadline {
                return Err(Error::UpstreamUnavailable {
                    wechat_errcode: None,
                });
            }
        };
        // Look again, fetch, store and unlock in a task of their own: a caller
        // that goes away must not leave the lease held or a forced token
        // unstored. Looking again under the lease matters: the previous holder
        // may have stored its token and unlocked between our last read and
        // our taking the lease.
        let (core, app, rejected) = (Arc::clone(self), app.clone(), rejected.cloned());
        let (result, unlocked) = tokio::spawn(
            async move {
                let appid = app.appid.as_str();
                let result = match core.stored_token(&app.appid).await {
                    Ok(Some(m)) if servable(&m, core.clock.now(), rejected.as_ref()) => Ok(m),
                    Ok(_) => {
                        let fetched = core.fetch_and_store(&app, rejected.is_some(), fence).await;
                        // Only a failed refresh backs off further refreshes;
                        // a store error on the re-read above does not.
                        if fetched.is_err() {
                            core.note_failure(appid);
                        }
                        fetched
                    }
                    Err(e) => Err(e),
                };
                let unlocked = core.store.unlock(&lock_name, &core.tokens.owner).await;
                (result, unlocked)
            }
            .in_current_span(),
        )
        .await
        .map_err(|_| Error::Internal)?;
        unlocked?;
        let managed = result?;
        self.tokens.remember(appid, &managed);
        Ok(managed)
    }

    async fn fetch_and_store(
        &self,
        app: &App,
        force: bool,
        fence: i64,
    ) -> Result<ManagedToken, Error> {
        let started = std::time::Instant::now();
        let (token, expires_in) = match &app.provider {
            Provider::Wechat { appid, secret } => {
                let grant = self.wechat.stable_token(appid, secret, force).await;
                crate::telemetry::upstream_latency("stable_token", started.elapsed());
                let grant = grant.map_err(|e| {
                    let err = Error::from(e);
                    crate::telemetry::upstream_error(err.wechat_errcode());
                    err
                })?;
                (grant.access_token, grant.expires_in)
            }
            // WeCom's corp token: the same token while valid, like stable_token.
            Provider::Wecom {
                corpid,
                corpsecret,
                client,
            } => {
                let grant = client.gettoken(corpid, corpsecret).await;
                platform_token("gettoken", started, grant)?
            }
            // Douyin's client_token, for phone numbers by code.
            Provider::Douyin { secret, client, .. } => {
                let grant = client.client_token(app.appid.as_str(), secret).await;
                platform_token("client_token", started, grant)?
            }
            _ => return Err(Error::NotSupported(app.platform)),
        };
        let grant = wechat::TokenGrant {
            access_token: token,
            expires_in,
        };
        let expires_at = self.clock.now() + grant.expires_in.as_secs() as i64;
        let appid = app.appid.as_str();
        let sealed = self.data_key.seal(
            grant.access_token.expose_secret().as_bytes(),
            &aad("access_token", &[appid]),
        );
        let stored = self
            .store
            .put_access_token(
                &app.appid,
                &CachedToken {
                    sealed_token: sealed,
                    expires_at,
                    fence,
                },
            )
            .await?;
        if !stored {
            tracing::warn!(
                appid,
                "a newer access_token was stored by another instance; ours is not shared"
            );
        }
        Ok(ManagedToken {
            token: grant.access_token,
            expires_at,
        })
    }

    async fn stored_token(&self, appid: &AppId) -> Result<Option<ManagedToken>, Error> {
        let Some(cached) = self.store.get_access_token(appid).await? else {
            return Ok(None);
        };
        let text = self
            .data_key
            .open(
                &cached.sealed_token,
                &aad("access_token", &[appid.as_str()]),
            )
            .map_err(|_| Error::Internal)?;
        let token = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| AccessToken::parse(t).ok())
            .ok_or(Error::Internal)?;
        Ok(Some(ManagedToken {
            token,
            expires_at: cached.expires_at,
        }))
    }

    fn check_backoff(&self, appid: &str) -> Result<(), Error> {
        let state = self.tokens.state.lock();
        match state.get(appid).and_then(|s| s.retry_not_before) {
            Some(at) if Instant::now() < at => Err(Error::UpstreamUnavailable {
                wechat_errcode: None,
            }),
            _ => Ok(()),
        }
    }

    fn note_failure(&self, appid: &str) {
        let mut state = self.tokens.state.lock();
        let entry = state.entry(appid.to_owned()).or_default();
        entry.failures = entry.failures.saturating_add(1);
        let wait = BACKOFF_BASE
            .saturating_mul(1u32 << entry.failures.min(10).saturating_sub(1))
            .min(BACKOFF_MAX);
        entry.retry_not_before = Some(Instant::now() + wait);
    }
}

/// Another platform's app-wide token as the one type every app's token is
/// kept in, its call timed under `endpoint`.
fn platform_token(
    endpoint: &'static str,
    started: std::time::Instant,
    grant: Result<platforms::AppToken, platforms::Error>,
) -> Result<(AccessToken, std::time::Duration), Error> {
    crate::telemetry::upstream_latency(endpoint, started.elapsed());
    let grant = grant.map_err(|e| Error::from_platform(&e))?;
    let token = AccessToken::parse(grant.token.expose_secret()).map_err(|_| {
        Error::UpstreamUnavailable {
            wechat_errcode: None,
        }
    })?;
    Ok((token, grant.expires_in))
}
