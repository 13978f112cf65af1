//! Users and their identities, as the store keeps them. An identity is
//! (platform, appid, openid) with its sealed session_key; a user has an id of
//! its own and one or more identities. A login whose unionid already belongs
//! to a user joins it; a login whose identity belongs to one user and whose
//! unionid to another is a conflict: kept apart, recorded, left to an admin.
//! Every link, conflict, merge and unlink is in the audit log.
//!
//! Who joins whom is decided by [`resolve`], shared by every backend; each
//! backend only reads the two facts it needs inside its own atomic commit.

use async_trait::async_trait;

use super::StoreError;
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId, Platform, UnionId, UserId};

/// An identity as a login (or an admin key reset) writes it: the session_key
/// arrives sealed, with a keyed fingerprint so the store can tell a rotation
/// without decrypting anything.
#[derive(Debug, Clone)]
pub struct IdentityUpsert {
    pub platform: Platform,
    pub appid: AppId,
    pub openid: OpenId,
    pub unionid: Option<UnionId>,
    pub sealed_session_key: Vec<u8>,
    pub key_fingerprint: Vec<u8>,
    pub now: UnixTime,
    /// Until when the replaced key (if the key changed) stays usable.
    pub previous_key_until: UnixTime,
    /// When the platform answered with this key (ms): a key older than the
    /// stored one does not replace it (two logins committing out of order).
    pub key_at: i64,
    /// The id a new user gets, when the identity is new and no unionid links
    /// it to an existing user.
    pub new_user_id: UserId,
    /// Join the user that already has this unionid (`identity.link_by_unionid`).
    pub link_by_unionid: bool,
}

/// A stored identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    pub platform: Platform,
    pub user_id: UserId,
    pub appid: AppId,
    pub openid: OpenId,
    pub unionid: Option<UnionId>,
    pub sealed_session_key: Vec<u8>,
    pub sealed_previous_key: Option<Vec<u8>>,
    pub previous_key_until: Option<UnixTime>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: UserId,
    pub created_at: UnixTime,
    /// The phone number proved through `/v1/phone`, sealed (AAD: `phone`,
    /// user_id), when `identity.store_phone` is on.
    pub sealed_phone: Option<Vec<u8>>,
    pub phone_at: Option<UnixTime>,
}

/// What writing an identity did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The user the identity belongs to now.
    pub user_id: UserId,
    /// The identity did not exist before.
    pub new_identity: bool,
    /// A new identity joined an existing user by its unionid.
    pub linked: bool,
    /// The unionid belongs to this other user: recorded as a conflict.
    pub conflict: Option<UserId>,
}

/// Who an identity belongs to, from what the store holds: `existing`, the
/// identity's current user (if the identity exists), and `owner`, the user
/// the unionid table names after this login offered `existing` (or the new
/// user) for it (`None` without a unionid or with linking off).
pub(super) fn resolve(
    existing: Option<&UserId>,
    owner: Option<&UserId>,
    new_user_id: &UserId,
) -> Committed {
    match existing {
        Some(current) => Committed {
            user_id: current.clone(),
            new_identity: false,
            linked: false,
            conflict: owner.filter(|o| *o != current).cloned(),
        },
        None => {
            let user_id = owner.unwrap_or(new_user_id).clone();
            Committed {
                linked: user_id != *new_user_id,
                user_id,
                new_identity: true,
                conflict: None,
            }
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// A UUIDv7: entries sort by time.
    pub id: String,
    pub at: UnixTime,
    /// `login`, or `admin:<key id>`.
    pub actor: String,
    /// `link`, `conflict`, `merge`, `unlink`, `revoke_sessions`, `reset_session_key`.
    pub action: String,
    pub user_id: Option<UserId>,
    pub other_user_id: Option<UserId>,
    pub appid: Option<AppId>,
    pub openid: Option<OpenId>,
    pub detail: Option<String>,
}

impl AuditEntry {
    /// An entry about `user_id` made now by `actor`.
    pub fn new(at: UnixTime, actor: &str, action: &str, user_id: Option<&UserId>) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            user_id: user_id.cloned(),
            other_user_id: None,
            appid: None,
            openid: None,
            detail: None,
        }
    }

    pub fn identity(mut self, appid: &AppId, openid: &OpenId) -> Self {
        self.appid = Some(appid.clone());
        self.openid = Some(openid.clone());
        self
    }

    pub fn other(mut self, other: &UserId) -> Self {
        self.other_user_id = Some(other.clone());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The entries a login's commit writes, if it linked or conflicted.
    pub(super) fn of_login(c: &Committed, u: &IdentityUpsert) -> Option<Self> {
        let entry = |action| AuditEntry::new(u.now, "login", action, Some(&c.user_id));
        let unionid = u.unionid.as_ref().map(|x| format!("unionid {x}"));
        if c.linked {
            let e = entry("link").identity(&u.appid, &u.openid);
            return Some(match unionid {
                Some(d) => e.detail(d),
                None => e,
            });
        }
        let other = c.conflict.as_ref()?;
        let e = entry("conflict").identity(&u.appid, &u.openid).other(other);
        Some(match unionid {
            Some(d) => e.detail(d),
            None => e,
        })
    }
}

/// A page of the audit log: newest first, from before `before` (an entry id).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<UserId>,
    pub before: Option<String>,
    pub limit: u32,
}

/// A recorded conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRecord {
    pub id: String,
    pub at: UnixTime,
    pub platform: Platform,
    pub unionid: UnionId,
    /// The identity whose login met the conflict, and its user.
    pub appid: AppId,
    pub openid: OpenId,
    pub user_id: UserId,
    /// The user the unionid belongs to.
    pub other_user_id: UserId,
    pub resolved_at: Option<UnixTime>,
}

/// What an unlink did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinked {
    /// The identity now belongs to the new user; it was `from`'s.
    Done {
        from: UserId,
    },
    UnknownIdentity,
    /// The identity is its user's only one: nothing to split off.
    OnlyIdentity,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Insert or update an identity outside a login (admin key reset). The
    /// current key becomes the previous one when the fingerprint differs.
    async fn upsert_identity(&self, identity: &IdentityUpsert) -> Result<Committed, StoreError>;
    async fn get_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> Result<Option<IdentityRecord>, StoreError>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    /// The user's identities, oldest first.
    async fn identities_of(&self, user_id: &UserId) -> Result<Vec<IdentityRecord>, StoreError>;
    /// Keep the user's proved phone number (sealed); false for an unknown user.
    async fn set_phone(
        &self,
        user_id: &UserId,
        sealed_phone: &[u8],
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Move every identity, session and unionid of `from` to `into`, resolve
    /// their conflicts, delete `from` and write `audit`, atomically. `from`'s
    /// sealed phone is not carried over (it is bound to its user id). False
    /// (and nothing changed) if either user is unknown.
    async fn merge_users(
        &self,
        into: &UserId,
        from: &UserId,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// Give an identity (and its sessions) to the new user `to`, atomically
    /// with `audit` (whose user ids the store fills in).
    async fn unlink_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
        to: &UserId,
        audit: &AuditEntry,
    ) -> Result<Unlinked, StoreError>;
    /// Conflicts, newest first; only unresolved ones unless `all`.
    async fn list_conflicts(
        &self,
        all: bool,
        limit: u32,
    ) -> Result<Vec<ConflictRecord>, StoreError>;
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolution_links_new_identities_and_never_moves_existing_ones() {
        let (a, b, new) = (UserId::generate(), UserId::generate(), UserId::generate());
        // A new identity without a known unionid: a new user.
        let c = resolve(None, None, &new);
        assert_eq!(
            (c.user_id, c.new_identity, c.linked),
            (new.clone(), true, false)
        );
        // The unionid table offered the new user and kept it.
        let c = resolve(None, Some(&new), &new);
        assert!(!c.linked);
        // The unionid is A's: the new identity joins A.
        let c = resolve(None, Some(&a), &new);
        assert_eq!((c.user_id, c.linked), (a.clone(), true));
        // An existing identity of B whose unionid is A's: a conflict, B stays.
        let c = resolve(Some(&b), Some(&a), &new);
        assert_eq!((c.user_id, c.conflict), (b.clone(), Some(a)));
        assert!(!c.new_identity && !c.linked);
        let c = resolve(Some(&b), Some(&b), &new);
        assert_eq!(c.conflict, None);
    }
}
