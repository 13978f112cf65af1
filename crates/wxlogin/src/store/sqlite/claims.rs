//! The SQLite store's login claims, shared access_token, locks, and the
//! store's own health and purge.

use async_trait::async_trait;
use rusqlite::ToSql;

use super::users::commit_identity_in;
use super::writer::{Durability, unavailable};
use super::{SqliteStore, execute, insert_session_in, query_each, query_one};
use crate::clock::UnixTime;
use crate::ids::{AppId, ClaimKey, LockName, Owner, Refusal};
use crate::store::rows::{self, corrupt};
use crate::store::{
    CachedToken, Claim, ClaimState, ClaimStore, Committed, IdentityUpsert, LockStore, LoginRecord,
    REVOKED_AFTERLIFE, SESSION_AFTERLIFE, SessionRecord, Store, StoreError, TokenStore, sql,
};
use crate::store::{SigningKeyRecord, SigningKeyStore};

#[async_trait]
impl ClaimStore for SqliteStore {
    async fn claim(&self, c: &Claim<'_>) -> Result<ClaimState, StoreError> {
        // Lazy: the database lives and dies with this process, so a claim is
        // only lost together with its holder's login, and the login's durable
        // commit flushes it anyway.
        let (key, appid, owner) = (*c.key, c.appid.clone(), c.owner.clone());
        let (now, lease_until, expires_at) = (c.now, c.lease_until, c.expires_at);
        self.writer
            .write(Durability::Lazy, move |conn| {
                let params: [&dyn ToSql; 6] = [
                    &&key.0[..],
                    &appid.as_str(),
                    &owner.as_str(),
                    &lease_until,
                    &expires_at,
                    &now,
                ];
                if query_one(conn, sql::TAKE_CLAIM, &params, |_| Ok(()))?.is_some() {
                    return Ok(ClaimState::Acquired);
                }
                let state = query_one(conn, sql::READ_CLAIM, &[&&key.0[..]], |r| {
                    rows::claim(r, &owner)
                })?;
                // Deleted between the two statements cannot happen here (one
                // writer); kept as "ask again" for symmetry with the servers.
                Ok(state.unwrap_or(ClaimState::Pending))
            })
            .await
    }

    async fn complete_login(
        &self,
        c: &Claim<'_>,
        identity: &IdentityUpsert,
        session: &SessionRecord,
        record: &LoginRecord,
    ) -> Result<Option<Committed>, StoreError> {
        let (key, owner) = (*c.key, c.owner.clone());
        let (identity, session, record) = (identity.clone(), session.clone(), record.clone());
        self.writer
            .write(Durability::Durable, move |conn| {
                let held: [&dyn ToSql; 2] = [&&key.0[..], &owner.as_str()];
                if query_one(conn, sql::CLAIM_HELD_SQLITE, &held, |_| Ok(()))?.is_none() {
                    return Ok(None);
                }
                let committed = commit_identity_in(conn, &identity)?;
                let session = SessionRecord {
                    user_id: committed.user_id.clone(),
                    ..session
                };
                insert_session_in(conn, &session)?;
                let params: [&dyn ToSql; 8] = [
                    &&key.0[..],
                    &owner.as_str(),
                    &record.session_id.as_str(),
                    &record.sealed_token,
                    &record.openid.as_str(),
                    &record.unionid.as_ref().map(|u| u.as_str()),
                    &record.expires_at,
                    &committed.new_identity,
                ];
                execute(conn, sql::CLAIM_DONE, &params)?;
                Ok(Some(committed))
            })
            .await
    }

    async fn fail_claim(
        &self,
        key: &ClaimKey,
        owner: &Owner,
        refusal: Refusal,
    ) -> Result<(), StoreError> {
        let (key, owner) = (*key, owner.clone());
        self.writer
            .write(Durability::Lazy, move |conn| {
                execute(
                    conn,
                    sql::FAIL_CLAIM,
                    &[&&key.0[..], &owner.as_str(), &refusal.as_str()],
                )
                .map(drop)
            })
            .await
    }

    async fn release_claim(&self, key: &ClaimKey, owner: &Owner) -> Result<(), StoreError> {
        let (key, owner) = (*key, owner.clone());
        self.writer
            .write(Durability::Lazy, move |conn| {
                execute(conn, sql::RELEASE_CLAIM, &[&&key.0[..], &owner.as_str()]).map(drop)
            })
            .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn get_access_token(&self, appid: &AppId) -> Result<Option<CachedToken>, StoreError> {
        let appid = appid.clone();
        self.read(move |conn| {
            query_one(conn, sql::GET_TOKEN, &[&appid.as_str()], |r| rows::token(r))
        })
        .await
    }

    async fn put_access_token(
        &self,
        appid: &AppId,
        token: &CachedToken,
    ) -> Result<bool, StoreError> {
        let (appid, token) = (appid.clone(), token.clone());
        self.writer
            .write(Durability::Durable, move |conn| {
                let params: [&dyn ToSql; 4] = [
                    &appid.as_str(),
                    &token.sealed_token,
                    &token.expires_at,
                    &token.fence,
                ];
                Ok(execute(conn, sql::PUT_TOKEN, &params)? == 1)
            })
            .await
    }
}

#[async_trait]
impl LockStore for SqliteStore {
    async fn try_lock(
        &self,
        name: &LockName,
        owner: &Owner,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<Option<i64>, StoreError> {
        let (name, owner) = (name.clone(), owner.clone());
        self.writer
            .write(Durability::Durable, move |conn| {
                let params: [&dyn ToSql; 4] = [&name.as_str(), &owner.as_str(), &lease_until, &now];
                query_one(conn, sql::TRY_LOCK, &params, |r| r.get(0).map_err(corrupt))
            })
            .await
    }

    async fn unlock(&self, name: &LockName, owner: &Owner) -> Result<(), StoreError> {
        let (name, owner) = (name.clone(), owner.clone());
        self.writer
            .write(Durability::Durable, move |conn| {
                execute(conn, sql::UNLOCK, &[&name.as_str(), &owner.as_str()]).map(drop)
            })
            .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn alive(&self) -> Result<(), StoreError> {
        self.writer.health.check()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.alive()?;
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(unavailable)
        })
        .await
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        // Lazy: a purge lost with the machine is redone by the next one.
        self.writer
            .write(Durability::Lazy, move |conn| {
                let claims = execute(conn, sql::PURGE_CLAIMS, &[&now])?;
                let sessions = execute(
                    conn,
                    sql::PURGE_SESSIONS,
                    &[&(now - SESSION_AFTERLIFE), &(now - REVOKED_AFTERLIFE)],
                )?;
                Ok((claims + sessions) as u64)
            })
            .await
    }
}

#[async_trait]
impl SigningKeyStore for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.read(|conn| {
            let mut out = Vec::new();
            query_each(conn, sql::SIGNING_KEYS, &[], |r| {
                out.push(rows::signing_key(r)?);
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let key = key.clone();
        self.writer
            .write(Durability::Durable, move |conn| {
                let params: [&dyn ToSql; 4] =
                    [&key.kid, &key.alg, &key.sealed_key, &key.created_at];
                execute(conn, sql::ADD_SIGNING_KEY, &params).map(drop)
            })
            .await
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        let kid = kid.to_owned();
        self.writer
            .write(Durability::Durable, move |conn| {
                execute(conn, sql::DELETE_SIGNING_KEY, &[&kid]).map(drop)
            })
            .await
    }
}
