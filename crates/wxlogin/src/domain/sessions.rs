//! Session lifecycle after login: verify (the hot path: one hash, one read —
//! or none, from the optional cache — and a write at most once per
//! `touch_interval`), refresh, logout, and the operator's list / revoke-all.

use std::sync::Arc;

use super::jwt::AccessGrant;
use super::token::{SessionToken, TokenHash};
use super::user_limits::UserCall;
use super::{Apps, Core, Error};
use crate::ids::{AppId, OpenId, Platform};
use crate::store::{AuditEntry, SessionRecord};

/// A verified session, as the API shows it. No secret inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: String,
    pub user_id: String,
    pub platform: Platform,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub idle_expires_at: i64,
}

impl SessionInfo {
    /// A session as the API shows it; the platform is its app's.
    pub fn of(r: &SessionRecord, apps: &Apps) -> Self {
        Self {
            session_id: r.id.to_string(),
            user_id: r.user_id.to_string(),
            platform: apps.platform_of(r.appid.as_str()),
            appid: r.appid.to_string(),
            openid: r.openid.to_string(),
            unionid: r.unionid.as_ref().map(|u| u.to_string()),
            created_at: r.created_at,
            expires_at: r.expires_at,
            idle_expires_at: r.idle_expires_at,
        }
    }
}

/// A new token issued by refresh: a bearer token (opaque mode), or a
/// refresh token with a signed access token (jwt mode).
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub token: SessionToken,
    pub session: SessionInfo,
    pub access: Option<AccessGrant>,
}

impl Core {
    /// Check a bearer token. With `expected_app`, a token of another app is
    /// refused exactly like an unknown one.
    pub async fn verify(
        &self,
        token: &str,
        expected_app: Option<&str>,
    ) -> Result<SessionInfo, Error> {
        let record = self.verified(token, expected_app).await?;
        Ok(SessionInfo::of(&record, &self.apps))
    }

    /// `verify` for callers that only read the session (decrypt): no copy of
    /// a cached record. An opaque token is one hash and one read (or none,
    /// from the cache); a signed access token (jwt mode) is checked against
    /// our keys, then its session is read, so a revocation shows at once.
    pub(crate) async fn verified(
        &self,
        token: &str,
        expected_app: Option<&str>,
    ) -> Result<Arc<SessionRecord>, Error> {
        match super::token::hash_of(token) {
            Some(hash) => self.verify_hash(&hash, expected_app).await,
            None if looks_like_jwt(token) => self.verify_jwt(token, expected_app).await,
            None => Err(Error::InvalidToken),
        }
    }

    /// `verify` for a token already parsed and hashed: refresh and logout need
    /// the hash again afterwards, to evict it from the cache.
    async fn verify_hash(
        &self,
        hash: &TokenHash,
        expected_app: Option<&str>,
    ) -> Result<Arc<SessionRecord>, Error> {
        // Taken before any read: a cached answer is never older than it says.
        let read_at = self.clock.now();
        let slid = |r: &SessionRecord| (read_at + self.policy.idle_ttl).min(r.expires_at);
        // A cached record whose idle deadline is due to be pushed forward is
        // read (and touched) again, so an active user is never logged out
        // because their requests were answered from memory.
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.session(hash, read_at))
            .filter(|r| slid(r) - r.idle_expires_at < self.policy.touch_interval);
        let admitted = |r: &SessionRecord, now| {
            r.is_active(now) && expected_app.is_none_or(|app| app == r.appid.as_str())
        };
        if let Some(record) = cached {
            // Nothing awaited since `read_at`: it is still now.
            return admitted(&record, read_at)
                .then_some(record)
                .ok_or(Error::InvalidToken);
        }
        let generation = self.cache.as_ref().map(|c| c.generation());
        let mut record = self
            .store
            .find_session(hash)
            .await?
            .filter(|r| admitted(r, self.clock.now()))
            .ok_or(Error::InvalidToken)?;
        // Only an active session is touched and cached.
        let slid = slid(&record);
        if slid - record.idle_expires_at >= self.policy.touch_interval {
            // In its own task: a client that hangs up does not cancel a write
            // the store has started (on SQLite that would free the writer
            // lock while the statement still runs).
            let (store, id) = (Arc::clone(&self.store), record.id.clone());
            tokio::spawn(async move { store.touch_session(&id, slid).await })
                .await
                .map_err(|_| Error::Internal)??;
            record.idle_expires_at = slid;
        }
        let record = Arc::new(record);
        if let (Some(cache), Some(seen)) = (&self.cache, generation) {
            cache.put_session(&record, read_at, seen);
        }
        Ok(record)
    }

    /// Issue a new token for the session's user and revoke the old one, atomically.
    pub async fn refresh(
        &self,
        token: &str,
        expected_app: Option<&str>,
    ) -> Result<Refreshed, Error> {
        let hash = token_hash(token)?;
        let current = self.verify_hash(&hash, expected_app).await?;
        self.user_limits
            .check(UserCall::Refresh, &current.appid, &current.openid)?;
        let now = self.clock.now();
        // In jwt mode an opaque session refreshes into the new format.
        let token = match self.jwt {
            Some(_) => SessionToken::generate_refresh(),
            None => SessionToken::generate(),
        };
        let record = self.successor(&current, &token, now);
        // Evicted whatever the store answers: an error can come after the
        // change took effect (a commit whose `fsync` failed, a reply lost).
        let replaced = self.store.replace_session(&current.id, &record, now).await;
        self.forget_cached(&hash);
        if !replaced? {
            return Err(Error::InvalidToken);
        }
        Ok(Refreshed {
            access: self.grant_for(&record).await?,
            token,
            session: SessionInfo::of(&record, &self.apps),
        })
    }

    /// Rotate a refresh token (jwt mode): a new refresh token and access
    /// token for the same session chain. A refresh token used a second time
    /// means it was copied: the whole chain is revoked (OAuth 2.0 refresh
    /// token reuse detection), whoever holds the newer token.
    pub async fn refresh_with_token(
        &self,
        refresh_token: &str,
        expected_app: Option<&str>,
    ) -> Result<Refreshed, Error> {
        if self.jwt.is_none() {
            return Err(Error::InvalidRequest(
                "refresh_token is for tokens.format = \"jwt\"; send the bearer token instead"
                    .into(),
            ));
        }
        let hash = super::token::refresh_hash_of(refresh_token).ok_or(Error::InvalidToken)?;
        let now = self.clock.now();
        let current = self
            .store
            .find_session(&hash)
            .await?
            .filter(|s| expected_app.is_none_or(|app| app == s.appid.as_str()))
            .ok_or(Error::InvalidToken)?;
        if current.revoked_at.is_some() {
            let revoked = self.store.revoke_family(&current, now).await?;
            if let Some(cache) = &self.cache {
                cache.forget_all_sessions();
            }
            tracing::warn!(user_id = %current.user_id, revoked,
                "a revoked refresh token was presented (used twice, or after a logout): its whole chain is revoked");
            return Err(Error::InvalidToken);
        }
        if !current.is_active(now) {
            return Err(Error::InvalidToken);
        }
        self.user_limits
            .check(UserCall::Refresh, &current.appid, &current.openid)?;
        let token = SessionToken::generate_refresh();
        let record = self.successor(&current, &token, now);
        if !self
            .store
            .replace_session(&current.id, &record, now)
            .await?
        {
            return Err(Error::InvalidToken);
        }
        Ok(Refreshed {
            access: self.grant_for(&record).await?,
            token,
            session: SessionInfo::of(&record, &self.apps),
        })
    }

    /// The session that replaces `current` under `token` on a refresh: the
    /// same user and identity, the same chain of refreshes (a reused refresh
    /// token revokes all of it), and the same absolute end of life (a
    /// refresh changes the token, not when the session dies).
    fn successor(&self, current: &SessionRecord, token: &SessionToken, now: i64) -> SessionRecord {
        let mut record = self.new_session_record(
            token,
            &current.user_id,
            &current.appid,
            &current.openid,
            current.unionid.clone(),
            now,
        );
        record.family = current.family.clone();
        record.expires_at = current.expires_at;
        record.idle_expires_at = record.idle_expires_at.min(current.expires_at);
        record
    }

    /// Revoke this token.
    pub async fn logout(&self, token: &str, expected_app: Option<&str>) -> Result<(), Error> {
        let current = self.verified(token, expected_app).await?;
        let revoked = self
            .store
            .revoke_session(&current.id, self.clock.now())
            .await;
        self.forget_cached(&current.token_hash);
        // Already revoked elsewhere (and answered from this instance's cache).
        if !revoked? {
            return Err(Error::InvalidToken);
        }
        Ok(())
    }

    /// Evict a token from this instance's verify cache after a change to it.
    fn forget_cached(&self, hash: &TokenHash) {
        if let Some(cache) = &self.cache {
            cache.forget_session(hash);
        }
    }

    /// Active sessions of a user (admin).
    pub async fn list_user_sessions(
        &self,
        appid: &str,
        openid: &str,
    ) -> Result<Vec<SessionInfo>, Error> {
        let (appid, openid) = self.admin_user(appid, openid)?;
        let sessions = self
            .store
            .list_sessions(&appid, &openid, self.clock.now())
            .await?;
        Ok(sessions
            .iter()
            .map(|s| SessionInfo::of(s, &self.apps))
            .collect())
    }

    /// Revoke every session of a user (admin); returns how many were active.
    pub async fn revoke_user_sessions(
        &self,
        appid: &str,
        openid: &str,
        actor: &str,
    ) -> Result<u64, Error> {
        let (appid, openid) = self.admin_user(appid, openid)?;
        let now = self.clock.now();
        let revoked = self.store.revoke_all(&appid, &openid, now).await;
        if let Some(cache) = &self.cache {
            cache.forget_all_sessions();
        }
        let revoked = revoked?;
        let user = self.store.get_identity(&appid, &openid).await?;
        let entry = AuditEntry::new(
            now,
            actor,
            "revoke_sessions",
            user.as_ref().map(|u| &u.user_id),
        )
        .identity(&appid, &openid)
        .detail(format!("{revoked} active sessions revoked"));
        self.store.append_audit(&entry).await?;
        Ok(revoked)
    }
}

impl Core {
    /// An admin route's user, parsed like everywhere else: a malformed appid
    /// or openid is a bad request; a well-formed appid we do not serve is
    /// unknown.
    pub(crate) fn admin_user(&self, appid: &str, openid: &str) -> Result<(AppId, OpenId), Error> {
        let bad = |what: &str| Error::InvalidRequest(format!("malformed {what} in the path"));
        let appid = AppId::parse(appid).map_err(|_| bad("appid"))?;
        let openid = OpenId::parse(openid).map_err(|_| bad("openid"))?;
        self.apps.get(appid.as_str()).ok_or(Error::UnknownApp)?;
        Ok((appid, openid))
    }
}

/// Only the exact shape we issue is hashed and looked up.
fn token_hash(token: &str) -> Result<TokenHash, Error> {
    super::token::hash_of(token).ok_or(Error::InvalidToken)
}

/// Three base64url parts, of a bounded size: worth checking as a JWT.
fn looks_like_jwt(token: &str) -> bool {
    token.len() <= 4096
        && token.bytes().filter(|b| *b == b'.').count() == 2
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
