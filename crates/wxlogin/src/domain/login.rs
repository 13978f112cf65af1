//! The login flow of DESIGN.md: code shape check, single flight per code (in
//! process, and across instances through a claim in the store), one
//! `jscode2session` per code, atomic commit of user + session + claim, and replay
//! of the same answer for a repeated code within the replay window.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::jwt::AccessGrant;
pub use super::login_codes::{LoginCodes, valid_code_shape, valid_code_shape_for};
use super::token::SessionToken;
use super::{App, Core, Error};
use crate::ids::{AppId, ClaimKey, OpenId, Owner, Platform, SessionId, UnionId, UserId};
use crate::store::{Claim, ClaimState, IdentityUpsert, LoginRecord, SessionRecord};
use parking_lot::Mutex;
use tokio::sync::OnceCell;
use tracing::Instrument as _;

/// A successful login, as returned to the client.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The bearer token (opaque mode) or the refresh token (jwt mode).
    pub token: SessionToken,
    /// The signed access token (jwt mode).
    pub access: Option<AccessGrant>,
    /// The session behind the token (a JWT names it in `sid`).
    pub session_id: String,
    pub expires_at: i64,
    pub user_id: String,
    pub platform: Platform,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub new_user: bool,
}

type Shared = Arc<OnceCell<Result<LoginOutcome, Error>>>;

/// Logins in progress in this process, by claim key: concurrent duplicates
/// await the first one instead of polling the store.
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashMap<ClaimKey, Shared>>);

/// AAD binding a sealed value to its purpose and row.
pub(crate) fn aad(purpose: &str, parts: &[&str]) -> Vec<u8> {
    let mut out = purpose.as_bytes().to_vec();
    for part in parts {
        out.push(0);
        out.extend_from_slice(part.as_bytes());
    }
    out
}

impl Core {
    /// Log a user in with a `wx.login()` code.
    ///
    /// The exchange runs in its own task: if the client goes away mid-login,
    /// the code WeChat has already consumed still ends in a stored session that
    /// the client's retry gets back as a replay.
    pub async fn login(
        self: &Arc<Self>,
        appid: Option<&str>,
        code: &str,
    ) -> Result<LoginOutcome, Error> {
        let codes = LoginCodes {
            code: Some(code.to_owned()),
            anonymous_code: None,
        };
        self.login_with(appid, codes).await
    }

    /// Log a user in with whatever their platform's login gave: a code, and
    /// on Douyin an `anonymous_code` (alone, for a logged-out device).
    pub async fn login_with(
        self: &Arc<Self>,
        appid: Option<&str>,
        codes: LoginCodes,
    ) -> Result<LoginOutcome, Error> {
        let invalid = || Error::InvalidCode {
            wechat_errcode: None,
        };
        let app = self.apps.resolve(appid)?.clone();
        let shapes_ok = [&codes.code, &codes.anonymous_code]
            .into_iter()
            .flatten()
            .all(|c| valid_code_shape_for(app.platform, c));
        let anonymous_allowed = app.platform == Platform::Douyin || codes.anonymous_code.is_none();
        let claim_text = codes.claim_text().ok_or_else(|| {
            Error::InvalidRequest("`code` is required (or, on Douyin, `anonymous_code`)".into())
        })?;
        if !shapes_ok || !anonymous_allowed {
            return Err(invalid());
        }
        let key = ClaimKey::of(&app.appid, &claim_text);
        let cell = self.inflight.0.lock().entry(key).or_default().clone();
        let result = cell
            .get_or_init(|| {
                let core = Arc::clone(self);
                async move {
                    // In the first caller's span: its request id marks the
                    // upstream call's log lines.
                    let once = async move {
                        let result = core.login_once(&app, &codes, key).await;
                        // Done here, not by the waiters: they may all be gone.
                        core.inflight.0.lock().remove(&key);
                        result
                    };
                    tokio::spawn(once.in_current_span())
                        .await
                        .unwrap_or(Err(Error::Internal))
                }
            })
            .await
            .clone();
        let mut inflight = self.inflight.0.lock();
        if inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(&key);
        }
        result
    }

    async fn login_once(
        self: &Arc<Self>,
        app: &App,
        codes: &LoginCodes,
        key: ClaimKey,
    ) -> Result<LoginOutcome, Error> {
        let owner = Owner::generate();
        // A holder that has not finished within its upstream deadline (plus a
        // margin for the store write) is presumed dead.
        let lease = self.wechat.deadline().as_secs() as i64 + 5;
        let wait_until = tokio::time::Instant::now() + Duration::from_secs(lease as u64 + 1);
        loop {
            let now = self.clock.now();
            let claim = Claim {
                key: &key,
                appid: &app.appid,
                owner: &owner,
                now,
                lease_until: now + lease,
                // The claim must outlive its lease, whatever replay_window says.
                expires_at: now + self.policy.replay_window.max(lease),
            };
            match self.store.claim(&claim).await? {
                ClaimState::Acquired => return self.exchange(app, codes, &claim).await,
                ClaimState::Done(record) => return self.replay(app, record).await,
                ClaimState::Failed(refusal) => {
                    let err = Error::from_refusal(refusal);
                    // WeChat's errcode only for a WeChat app's refusal.
                    return Err(match app.platform {
                        Platform::Wechat | Platform::Qq => err,
                        _ => err.without_wechat_errcode(),
                    });
                }
                ClaimState::Pending => {
                    if tokio::time::Instant::now() >= wait_until {
                        return Err(Error::UpstreamUnavailable {
                            wechat_errcode: None,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// We hold the claim: make the one upstream call and commit its result.
    async fn exchange(
        self: &Arc<Self>,
        app: &App,
        codes: &LoginCodes,
        claim: &Claim<'_>,
    ) -> Result<LoginOutcome, Error> {
        let answer = self.exchange_code(app, codes.borrowed()).await;
        let session = match answer {
            Ok(session) => session,
            Err(err) => {
                match err.refusal() {
                    Some(refusal) => {
                        self.store
                            .fail_claim(claim.key, claim.owner, refusal)
                            .await?;
                    }
                    None => self.store.release_claim(claim.key, claim.owner).await?,
                }
                return Err(err);
            }
        };
        let key_at = self.clock.now_millis();
        let now = self.clock.now();
        let appid = &app.appid;
        let openid = &session.openid;
        let unionid = session.unionid.clone();
        let key_text = super::providers::key_text(session.session_key.as_ref());
        let key_text = key_text.as_slice();
        let new_user_id = UserId::generate();
        let identity = IdentityUpsert {
            platform: app.platform,
            appid: appid.clone(),
            openid: openid.clone(),
            unionid: unionid.clone(),
            sealed_session_key: self.data_key.seal(
                key_text,
                &aad("session_key", &[appid.as_str(), openid.as_str()]),
            ),
            key_fingerprint: self.data_key.fingerprint(key_text),
            now,
            previous_key_until: now + self.policy.key_grace,
            key_at,
            new_user_id: new_user_id.clone(),
            link_by_unionid: self.identity.link_by_unionid,
        };
        let token = match self.jwt {
            Some(_) => SessionToken::generate_refresh(),
            None => SessionToken::generate(),
        };
        // The store writes the session under the user the identity resolves to.
        let record =
            self.new_session_record(&token, &new_user_id, appid, openid, unionid.clone(), now);
        let login = LoginRecord {
            session_id: record.id.clone(),
            sealed_token: self.data_key.seal(
                token.expose_secret().as_bytes(),
                &aad("token", &[record.id.as_str()]),
            ),
            openid: openid.clone(),
            unionid: unionid.clone(),
            new_user: false,
            expires_at: record.expires_at,
        };
        let committed = self
            .store
            .complete_login(claim, &identity, &record, &login)
            .await;
        // The login rotated the user's session_key: drop the cached one now,
        // also on an error, which can come after the commit took effect.
        if let Some(cache) = &self.cache {
            cache.forget_user(openid.as_str());
        }
        let Some(committed) = committed? else {
            // Our lease ran out and another request took the claim over; its
            // upstream call will meet the consumed code.
            tracing::warn!("login claim lost before commit");
            return Err(Error::UpstreamUnavailable {
                wechat_errcode: None,
            });
        };
        if committed.linked {
            tracing::info!(user_id = %committed.user_id, "a new identity joined its user by unionid");
        }
        if let Some(other) = &committed.conflict {
            tracing::warn!(user_id = %committed.user_id, other_user_id = %other,
                "the login's unionid belongs to another user: kept apart, see /v1/admin/conflicts");
        }
        if !committed.new_identity {
            self.cap_sessions(appid, openid, now).await;
        }
        let session = SessionRecord {
            user_id: committed.user_id.clone(),
            ..record.clone()
        };
        Ok(LoginOutcome {
            access: self.grant_for(&session).await?,
            token,
            session_id: record.id.to_string(),
            expires_at: record.expires_at,
            user_id: committed.user_id.to_string(),
            platform: app.platform,
            appid: appid.to_string(),
            openid: openid.to_string(),
            unionid: unionid.map(|u| u.to_string()),
            new_user: committed.new_identity,
        })
    }

    /// Keep at most `max_per_user` live sessions: the oldest beyond it are
    /// revoked. Best effort: the login is committed already, so a store
    /// error here is logged, not answered.
    async fn cap_sessions(&self, appid: &AppId, openid: &OpenId, now: i64) {
        let max = self.policy.max_per_user as usize;
        let live = match self.store.list_sessions(appid, openid, now).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list a user's sessions to cap them");
                return;
            }
        };
        for oldest in live.iter().take(live.len().saturating_sub(max)) {
            let revoked = self.store.revoke_session(&oldest.id, now).await;
            if let Some(cache) = &self.cache {
                cache.forget_session(&oldest.token_hash);
            }
            if let Err(e) = revoked {
                tracing::warn!(error = %e, "cannot revoke a session beyond max_per_user");
                return;
            }
        }
    }

    /// The code was exchanged before (a retry, a double tap, another instance):
    /// answer with the same session, if it is still alive.
    async fn replay(&self, app: &App, record: LoginRecord) -> Result<LoginOutcome, Error> {
        let token_text = self
            .data_key
            .open(
                &record.sealed_token,
                &aad("token", &[record.session_id.as_str()]),
            )
            .map_err(|_| Error::Internal)?;
        let token = std::str::from_utf8(&token_text)
            .ok()
            .and_then(SessionToken::parse)
            .ok_or(Error::Internal)?;
        let session = self
            .store
            .find_session(&token.hash())
            .await?
            .filter(|s| s.is_active(self.clock.now()))
            .ok_or(Error::CodeUsed {
                wechat_errcode: None,
            })?;
        Ok(LoginOutcome {
            access: self.grant_for(&session).await?,
            token,
            session_id: session.id.to_string(),
            expires_at: record.expires_at,
            user_id: session.user_id.to_string(),
            platform: app.platform,
            appid: app.appid.as_str().to_owned(),
            openid: record.openid.to_string(),
            unionid: record.unionid.map(|u| u.to_string()),
            new_user: record.new_user,
        })
    }

    /// A new session, the first of its refresh chain.
    pub(crate) fn new_session_record(
        &self,
        token: &SessionToken,
        user_id: &UserId,
        appid: &AppId,
        openid: &OpenId,
        unionid: Option<UnionId>,
        now: i64,
    ) -> SessionRecord {
        let expires_at = now + self.policy.session_ttl;
        let id = SessionId::generate();
        SessionRecord {
            family: id.clone(),
            id,
            token_hash: token.hash(),
            user_id: user_id.clone(),
            appid: appid.clone(),
            openid: openid.clone(),
            unionid,
            created_at: now,
            expires_at,
            idle_expires_at: (now + self.policy.idle_ttl).min(expires_at),
            revoked_at: None,
        }
    }
}
