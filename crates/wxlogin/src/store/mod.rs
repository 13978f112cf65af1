//! Storage, split by role: identities (and their sealed session_keys) and
//! the users they belong to, with the audit log (`users.rs`), sessions,
//! login claims (single flight and replay of a login code), the shared
//! access_token and locks. The domain talks to these traits only; the backend
//! is chosen once, from the parsed store URL ([`StoreUrl`]).
//!
//! Every backend passes the same conformance suite
//! (`tests/store_conformance.rs`). To add a table: a numbered migration for
//! each SQL engine (`migrations/`), its SQL text in `sql.rs`, a trait here
//! and its methods in each backend.

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::ids::{
    AppId, ClaimKey, LockName, OpenId, Owner, Refusal, SessionId, TokenHash, UnionId, UserId,
};

mod migrate;
pub mod postgres;
pub mod redis;
mod rows;
mod sealed;
mod sql;
pub mod sqlite;
mod url;
mod users;

pub use url::{SqliteTarget, StoreUrl};
pub use users::{
    AuditEntry, AuditQuery, Committed, ConflictRecord, IdentityRecord, IdentityStore,
    IdentityUpsert, Unlinked, UserRecord, UserStore,
};

/// A store failure. Messages never contain row contents or credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or refused the operation (disk full,
    /// read-only file, connection lost): retryable, maps to 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The URL or settings are unusable.
    #[error("store misconfigured: {0}")]
    Config(String),
    /// A row could not be decoded: a bug or tampering.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

/// A session row. The token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub token_hash: TokenHash,
    /// The user; on a login, the store writes the user the identity resolved
    /// to, whatever the domain proposed.
    pub user_id: UserId,
    /// The first session of the chain of refreshes this one belongs to.
    pub family: SessionId,
    pub appid: AppId,
    pub openid: OpenId,
    pub unionid: Option<UnionId>,
    pub created_at: UnixTime,
    /// Absolute end of life.
    pub expires_at: UnixTime,
    /// Sliding idle deadline, pushed forward as the token is used.
    pub idle_expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

impl SessionRecord {
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && now < self.idle_expires_at
    }
}

/// What a finished login leaves behind for replays of the same code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    pub session_id: SessionId,
    /// The token, sealed under the data key, so a replay can return it.
    pub sealed_token: Vec<u8>,
    pub openid: OpenId,
    pub unionid: Option<UnionId>,
    pub new_user: bool,
    pub expires_at: UnixTime,
}

/// The state of a login code's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimState {
    /// The caller owns the claim and must make the upstream call.
    Acquired,
    /// Another caller holds a live lease: wait and ask again.
    Pending,
    /// The code was already exchanged: this is the result.
    Done(LoginRecord),
    /// The code was refused upstream, for good.
    Failed(Refusal),
}

/// A login claim request.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub key: &'a ClaimKey,
    pub appid: &'a AppId,
    pub owner: &'a Owner,
    pub now: UnixTime,
    /// A holder that has not finished by then is presumed dead.
    pub lease_until: UnixTime,
    /// When the claim (and its replay answer) is forgotten.
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError>;
    /// A session by its id (what a signed access token names in `sid`).
    async fn get_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;
    /// Push the idle deadline forward (never backwards).
    async fn touch_session(
        &self,
        id: &SessionId,
        idle_expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Revoke one session; false if it was already revoked or unknown.
    async fn revoke_session(&self, id: &SessionId, now: UnixTime) -> Result<bool, StoreError>;
    /// Revoke `old` and create `new` atomically; false (and nothing created)
    /// if `old` was no longer active.
    async fn replace_session(
        &self,
        old: &SessionId,
        new: &SessionRecord,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Active sessions of a user, oldest first.
    async fn list_sessions(
        &self,
        appid: &AppId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Revoke every live session of `member`'s refresh chain (a refresh
    /// token used twice); returns how many were active.
    async fn revoke_family(&self, member: &SessionRecord, now: UnixTime)
    -> Result<u64, StoreError>;
    /// Revoke every session of an identity; returns how many were active.
    async fn revoke_all(
        &self,
        appid: &AppId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Claim a login code, or learn who has it and what came of it.
    async fn claim(&self, claim: &Claim<'_>) -> Result<ClaimState, StoreError>;
    /// Commit a successful login atomically: write the identity (joining or
    /// creating its user, recording a link or a conflict in the audit log),
    /// create the session under the identity's user, record the result on
    /// the claim. Fenced: if the claim's owner no longer holds it, nothing is
    /// written and `Ok(None)` is returned.
    async fn complete_login(
        &self,
        claim: &Claim<'_>,
        identity: &IdentityUpsert,
        session: &SessionRecord,
        record: &LoginRecord,
    ) -> Result<Option<Committed>, StoreError>;
    /// Record a definitive upstream refusal (fenced by owner).
    async fn fail_claim(
        &self,
        key: &ClaimKey,
        owner: &Owner,
        refusal: Refusal,
    ) -> Result<(), StoreError>;
    /// Give the claim up (transient failure) so a retry may try again.
    async fn release_claim(&self, key: &ClaimKey, owner: &Owner) -> Result<(), StoreError>;
}

/// The app-wide access_token, shared by every instance, sealed at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    pub sealed_token: Vec<u8>,
    pub expires_at: UnixTime,
    /// The fence of the lock holder that wrote it.
    pub fence: i64,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn get_access_token(&self, appid: &AppId) -> Result<Option<CachedToken>, StoreError>;
    /// Store a token; refused (false) when a token with a newer fence is
    /// already stored, so a holder whose lease expired cannot overwrite a
    /// newer result.
    async fn put_access_token(
        &self,
        appid: &AppId,
        token: &CachedToken,
    ) -> Result<bool, StoreError>;
}

/// A named lease with fencing: who holds it may act until `lease_until`; each
/// acquisition gets a larger fence number.
#[async_trait]
pub trait LockStore: Send + Sync {
    /// Take the lock if it is free, expired, or already ours; returns the fence.
    async fn try_lock(
        &self,
        name: &LockName,
        owner: &Owner,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<Option<i64>, StoreError>;
    /// Release the lock if we still hold it.
    async fn unlock(&self, name: &LockName, owner: &Owner) -> Result<(), StoreError>;
}

/// A key that signs access tokens, its private half sealed (AAD:
/// `signing_key`, kid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// The JOSE name: `ES256` or `EdDSA`.
    pub alg: String,
    pub sealed_key: Vec<u8>,
    pub created_at: UnixTime,
}

/// The signing keys every instance shares (`tokens.format = "jwt"`).
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every stored key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError>;
}

/// The tables (or key families) that hold sealed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedTable {
    Identities,
    Users,
    Claims,
    AccessTokens,
    SigningKeys,
}

/// Where a sealed value lives, named by what its associated data binds it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedSlot {
    /// A user's current session_key (AAD: `session_key`, appid, openid).
    SessionKey { appid: AppId, openid: OpenId },
    /// A user's previous session_key (the same AAD).
    PreviousKey { appid: AppId, openid: OpenId },
    /// The token kept for replays of a login code (AAD: `token`, session id).
    ReplayToken {
        claim: ClaimKey,
        session_id: SessionId,
    },
    /// An app's WeChat access_token (AAD: `access_token`, appid).
    AccessToken { appid: AppId },
    /// A user's proved phone number (AAD: `phone`, user_id).
    Phone { user_id: UserId },
    /// A token signing key (AAD: `signing_key`, kid).
    SigningKey { kid: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub slot: SealedSlot,
    pub sealed: Vec<u8>,
}

/// A position in a table's sealed values, opaque to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursor(pub Vec<u8>);

/// One page of sealed values and where the next one starts (`None`: done).
#[derive(Debug, Clone, Default)]
pub struct SealedPage {
    pub values: Vec<SealedValue>,
    pub next: Option<Cursor>,
}

/// What `wxlogin rekey` needs: every sealed value, page by page, and a
/// compare-and-set to replace one without losing a write made meanwhile.
#[async_trait]
pub trait RekeyStore: Send + Sync {
    /// Up to about `limit` sealed values of `table` from `from` (`None`: the
    /// start).
    async fn sealed_page(
        &self,
        table: SealedTable,
        from: Option<&Cursor>,
        limit: usize,
    ) -> Result<SealedPage, StoreError>;
    /// Put `new` where `value` was, if it still holds `value.sealed`; false
    /// when it changed meanwhile (a login wrote a fresh one).
    async fn reseal(&self, value: &SealedValue, new: &[u8]) -> Result<bool, StoreError>;
}

/// Everything the service needs from storage.
#[async_trait]
pub trait Store:
    IdentityStore
    + UserStore
    + SessionStore
    + ClaimStore
    + TokenStore
    + LockStore
    + SigningKeyStore
    + RekeyStore
{
    /// Readiness: a cheap round trip.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Liveness: an error means only a restart can help (on SQLite, a commit
    /// failed to reach the disk). No round trip.
    fn alive(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Delete expired claims and long-dead sessions; returns rows removed.
    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// How long an expired session is kept before a purge removes it: long
/// enough for an operator to see why a token stopped working.
pub const SESSION_AFTERLIFE: i64 = 86_400;

/// How long a revoked session is kept. Short: refresh chains and logouts
/// revoke a row each, and a client looping on them must not fill the store.
pub const REVOKED_AFTERLIFE: i64 = 600;

/// Open the store `url` names. Migrations run when `migrate` is true.
pub async fn open(url: &StoreUrl, migrate: bool) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match url {
        StoreUrl::Sqlite(target) => Arc::new(sqlite::SqliteStore::open(target, migrate).await?),
        StoreUrl::Postgres(target) => {
            let store = postgres::PostgresStore::connect(target).await?;
            if migrate {
                store.migrate().await?;
            }
            Arc::new(store)
        }
        // Redis needs no schema: `migrate` has nothing to do.
        StoreUrl::Redis(target) => Arc::new(redis::RedisStore::connect(target).await?),
    })
}
