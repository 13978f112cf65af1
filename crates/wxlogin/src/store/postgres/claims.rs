//! The PostgreSQL store's login claims, shared access_token, locks, and the
//! store's own health and purge.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::users::{commit_identity_of, identity_user};
use super::{PostgresStore, execute, insert_session, query, query_opt, unavailable};
use crate::clock::UnixTime;
use crate::ids::{AppId, ClaimKey, LockName, Owner, Refusal};
use crate::store::rows::{self, corrupt};
use crate::store::{
    CachedToken, Claim, ClaimState, ClaimStore, Committed, IdentityUpsert, LockStore, LoginRecord,
    REVOKED_AFTERLIFE, SESSION_AFTERLIFE, SessionRecord, Store, StoreError, TokenStore, sql,
};
use crate::store::{SigningKeyRecord, SigningKeyStore};

#[async_trait]
impl ClaimStore for PostgresStore {
    async fn claim(&self, c: &Claim<'_>) -> Result<ClaimState, StoreError> {
        // Durable: PostgreSQL can crash and be back within the holder's
        // upstream call; a lost claim would then turn a login WeChat already
        // answered into `code_used`.
        let conn = self.conn().await?;
        let params: [&(dyn ToSql + Sync); 6] = [
            &&c.key.0[..],
            &c.appid.as_str(),
            &c.owner.as_str(),
            &c.lease_until,
            &c.expires_at,
            &c.now,
        ];
        if query_opt(&conn, sql::TAKE_CLAIM, &params).await?.is_some() {
            return Ok(ClaimState::Acquired);
        }
        match query_opt(&conn, sql::READ_CLAIM, &[&&c.key.0[..]]).await? {
            Some(row) => rows::claim(&row, c.owner),
            // Released by its holder between the two statements: ask again.
            None => Ok(ClaimState::Pending),
        }
    }

    async fn complete_login(
        &self,
        c: &Claim<'_>,
        identity: &IdentityUpsert,
        session: &SessionRecord,
        r: &LoginRecord,
    ) -> Result<Option<Committed>, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(unavailable)?;
        let held: [&(dyn ToSql + Sync); 2] = [&&c.key.0[..], &c.owner.as_str()];
        // Pipelined: the fence and the identity's user in one round trip.
        let (held, existing) = tokio::try_join!(
            query_opt(&tx, sql::CLAIM_HELD, &held),
            identity_user(&tx, identity)
        )?;
        if held.is_none() {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(None);
        }
        let committed = commit_identity_of(&tx, identity, existing).await?;
        let session = SessionRecord {
            user_id: committed.user_id.clone(),
            ..session.clone()
        };
        let params: [&(dyn ToSql + Sync); 8] = [
            &&c.key.0[..],
            &c.owner.as_str(),
            &r.session_id.as_str(),
            &r.sealed_token,
            &r.openid.as_str(),
            &r.unionid.as_ref().map(|u| u.as_str()),
            &r.expires_at,
            &committed.new_identity,
        ];
        tokio::try_join!(
            insert_session(&tx, &session),
            execute(&tx, sql::CLAIM_DONE, &params)
        )?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Some(committed))
    }

    async fn fail_claim(
        &self,
        key: &ClaimKey,
        owner: &Owner,
        refusal: Refusal,
    ) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        execute(
            &conn,
            sql::FAIL_CLAIM,
            &[&&key.0[..], &owner.as_str(), &refusal.as_str()],
        )
        .await
        .map(drop)
    }

    async fn release_claim(&self, key: &ClaimKey, owner: &Owner) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        execute(&conn, sql::RELEASE_CLAIM, &[&&key.0[..], &owner.as_str()])
            .await
            .map(drop)
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn get_access_token(&self, appid: &AppId) -> Result<Option<CachedToken>, StoreError> {
        let conn = self.conn().await?;
        query_opt(&conn, sql::GET_TOKEN, &[&appid.as_str()])
            .await?
            .as_ref()
            .map(rows::token)
            .transpose()
    }

    async fn put_access_token(&self, appid: &AppId, t: &CachedToken) -> Result<bool, StoreError> {
        let conn = self.conn().await?;
        let params: [&(dyn ToSql + Sync); 4] =
            [&appid.as_str(), &t.sealed_token, &t.expires_at, &t.fence];
        Ok(execute(&conn, sql::PUT_TOKEN, &params).await? == 1)
    }
}

#[async_trait]
impl LockStore for PostgresStore {
    async fn try_lock(
        &self,
        name: &LockName,
        owner: &Owner,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<Option<i64>, StoreError> {
        let conn = self.conn().await?;
        let params: [&(dyn ToSql + Sync); 4] =
            [&name.as_str(), &owner.as_str(), &lease_until, &now];
        query_opt(&conn, sql::TRY_LOCK, &params)
            .await?
            .map(|row| row.try_get(0).map_err(corrupt))
            .transpose()
    }

    async fn unlock(&self, name: &LockName, owner: &Owner) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        execute(&conn, sql::UNLOCK, &[&name.as_str(), &owner.as_str()])
            .await
            .map(drop)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        conn.simple_query("SELECT 1")
            .await
            .map_err(unavailable)
            .map(drop)
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        // Lazy: a purge lost in a server crash is redone by the next one.
        let conn = self.lazy_conn().await?;
        let claims = execute(&conn, sql::PURGE_CLAIMS, &[&now]).await?;
        let sessions = execute(
            &conn,
            sql::PURGE_SESSIONS,
            &[&(now - SESSION_AFTERLIFE), &(now - REVOKED_AFTERLIFE)],
        )
        .await?;
        Ok(claims + sessions)
    }
}

#[async_trait]
impl SigningKeyStore for PostgresStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let conn = self.conn().await?;
        query(&conn, sql::SIGNING_KEYS, &[])
            .await?
            .iter()
            .map(rows::signing_key)
            .collect()
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let params: [&(dyn ToSql + Sync); 4] =
            [&key.kid, &key.alg, &key.sealed_key, &key.created_at];
        execute(&conn, sql::ADD_SIGNING_KEY, &params)
            .await
            .map(drop)
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        execute(&conn, sql::DELETE_SIGNING_KEY, &[&kid])
            .await
            .map(drop)
    }
}
