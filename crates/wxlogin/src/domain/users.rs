//! Users across apps, for operators: a user's identities, sessions and
//! proved phone number; merging two users and splitting an identity off;
//! the recorded conflicts and the audit log. Linking itself happens at
//! login, in the store's commit (`store/users.rs`); never by phone number,
//! since numbers are recycled and the next owner would get the account.

use super::login::aad;
use super::sessions::SessionInfo;
use super::{Core, Error};
use crate::clock::UnixTime;
use crate::ids::{Platform, UserId};
use crate::store::{AuditEntry, AuditQuery, ConflictRecord, Unlinked};

/// One identity of a user, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityInfo {
    pub platform: Platform,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub created_at: UnixTime,
}

/// A user with everything the service knows of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub user_id: String,
    pub created_at: UnixTime,
    pub identities: Vec<IdentityInfo>,
    /// Active sessions of every identity, oldest first.
    pub sessions: Vec<SessionInfo>,
    /// The number proved through `/v1/phone` (`identity.store_phone`).
    pub phone_number: Option<String>,
    pub phone_at: Option<UnixTime>,
}

/// Pages of the admin lists hold at most this many entries.
pub const MAX_PAGE: u32 = 500;

impl Core {
    /// A user id from a request: malformed is a bad request.
    pub(crate) fn parse_user_id(s: &str) -> Result<UserId, Error> {
        UserId::parse(s).ok_or_else(|| Error::InvalidRequest("malformed user_id".into()))
    }

    /// Everything about a user (admin).
    pub async fn user_view(&self, user_id: &str) -> Result<UserView, Error> {
        let id = Self::parse_user_id(user_id)?;
        let user = self.store.get_user(&id).await?.ok_or(Error::NotFound)?;
        let identities = self.store.identities_of(&id).await?;
        let now = self.clock.now();
        let mut sessions = Vec::new();
        for i in &identities {
            for s in self.store.list_sessions(&i.appid, &i.openid, now).await? {
                sessions.push(SessionInfo::of(&s, &self.apps));
            }
        }
        sessions.sort_by(|a, b| (a.created_at, &a.session_id).cmp(&(b.created_at, &b.session_id)));
        let phone_number = match &user.sealed_phone {
            Some(sealed) => {
                let plain = self
                    .data_key
                    .open(sealed, &aad("phone", &[id.as_str()]))
                    .map_err(|_| Error::Internal)?;
                Some(String::from_utf8(plain.to_vec()).map_err(|_| Error::Internal)?)
            }
            None => None,
        };
        Ok(UserView {
            user_id: id.to_string(),
            created_at: user.created_at,
            identities: identities
                .into_iter()
                .map(|i| IdentityInfo {
                    platform: i.platform,
                    appid: i.appid.to_string(),
                    openid: i.openid.to_string(),
                    unionid: i.unionid.map(|u| u.to_string()),
                    created_at: i.created_at,
                })
                .collect(),
            sessions,
            phone_number,
            phone_at: user.phone_at,
        })
    }

    /// Revoke every session of every identity of a user (admin); returns how
    /// many were active.
    pub async fn revoke_user_by_id(&self, user_id: &str, actor: &str) -> Result<u64, Error> {
        let id = Self::parse_user_id(user_id)?;
        self.store.get_user(&id).await?.ok_or(Error::NotFound)?;
        let now = self.clock.now();
        let mut revoked = 0;
        let result = async {
            for i in self.store.identities_of(&id).await? {
                revoked += self.store.revoke_all(&i.appid, &i.openid, now).await?;
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Some(cache) = &self.cache {
            cache.forget_all_sessions();
        }
        result?;
        let entry = AuditEntry::new(now, actor, "revoke_sessions", Some(&id))
            .detail(format!("{revoked} active sessions revoked"));
        self.store.append_audit(&entry).await?;
        Ok(revoked)
    }

    /// Move every identity and session of `other` into `user_id` and delete
    /// `other` (admin), in one transaction.
    pub async fn merge_users(
        &self,
        user_id: &str,
        other: &str,
        actor: &str,
    ) -> Result<UserView, Error> {
        let (into, from) = (Self::parse_user_id(user_id)?, Self::parse_user_id(other)?);
        if into == from {
            return Err(Error::InvalidRequest(
                "a user cannot be merged into itself".into(),
            ));
        }
        let entry = AuditEntry::new(self.clock.now(), actor, "merge", Some(&into)).other(&from);
        let merged = self.store.merge_users(&into, &from, &entry).await;
        // Cached sessions name the merged user's old id.
        if let Some(cache) = &self.cache {
            cache.forget_all_sessions();
        }
        if !merged? {
            return Err(Error::NotFound);
        }
        self.user_view(into.as_str()).await
    }

    /// Split an identity off its user into a new user of its own (admin);
    /// returns (the new user, the old one).
    pub async fn unlink_identity(
        &self,
        appid: &str,
        openid: &str,
        actor: &str,
    ) -> Result<(UserId, UserId), Error> {
        let (app, oid) = self.admin_user(appid, openid)?;
        let to = UserId::generate();
        let entry =
            AuditEntry::new(self.clock.now(), actor, "unlink", Some(&to)).identity(&app, &oid);
        let unlinked = self.store.unlink_identity(&app, &oid, &to, &entry).await;
        if let Some(cache) = &self.cache {
            cache.forget_all_sessions();
        }
        match unlinked? {
            Unlinked::Done { from } => Ok((to, from)),
            Unlinked::UnknownIdentity => Err(Error::NotFound),
            Unlinked::OnlyIdentity => Err(Error::OnlyIdentity),
        }
    }

    /// Recorded conflicts, newest first (admin).
    pub async fn conflicts(&self, all: bool, limit: u32) -> Result<Vec<ConflictRecord>, Error> {
        Ok(self
            .store
            .list_conflicts(all, limit.clamp(1, MAX_PAGE))
            .await?)
    }

    /// The audit log, newest first, paged by entry id (admin).
    pub async fn audit_log(
        &self,
        user_id: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, Error> {
        let user_id = user_id.map(Self::parse_user_id).transpose()?;
        let before = before
            .map(|b| {
                uuid::Uuid::try_parse(b)
                    .map(|u| u.hyphenated().to_string())
                    .map_err(|_| Error::InvalidRequest("malformed `before`: an entry id".into()))
            })
            .transpose()?;
        let query = AuditQuery {
            user_id,
            before,
            limit: limit.clamp(1, MAX_PAGE),
        };
        Ok(self.store.list_audit(&query).await?)
    }
}
