//! The Redis store's login claims, shared access_token, locks, and the
//! store's own health.

use async_trait::async_trait;

use super::users::committed;
use super::{RedisStore, TOKEN_FIELDS, unavailable};
use crate::clock::UnixTime;
use crate::ids::{AppId, ClaimKey, LockName, Owner, Refusal};
use crate::store::rows::{self, Fields};
use crate::store::{
    CachedToken, Claim, ClaimState, ClaimStore, Committed, IdentityUpsert, LockStore, LoginRecord,
    SessionRecord, SigningKeyRecord, SigningKeyStore, Store, StoreError, TokenStore,
};

#[async_trait]
impl ClaimStore for RedisStore {
    async fn claim(&self, c: &Claim<'_>) -> Result<ClaimState, StoreError> {
        let values: Vec<Option<Vec<u8>>> = self
            .scripts
            .claim
            .call()
            .key("claim", self.key("c", &hex::encode(c.key.0)))
            .arg("appid", c.appid.as_str())
            .arg("owner", c.owner.as_str())
            .arg("now", c.now)
            .arg("lease_until", c.lease_until)
            .arg("expires_at", c.expires_at)
            .arg("ttl", (c.expires_at - c.now).max(1))
            .run(&self.conn)
            .await?;
        rows::claim(&Fields(values), c.owner)
    }

    async fn complete_login(
        &self,
        c: &Claim<'_>,
        identity: &IdentityUpsert,
        session: &SessionRecord,
        record: &LoginRecord,
    ) -> Result<Option<Committed>, StoreError> {
        let call = self
            .scripts
            .complete_login
            .call()
            .key("user", self.user_key(&identity.appid, &identity.openid))
            .key("session", self.key("s", &hex::encode(session.token_hash.0)))
            .key("sid", self.key("sid", session.id.as_str()))
            .key(
                "user_sessions",
                self.user_sessions(&session.appid, &session.openid),
            )
            .key("claim", self.key("c", &hex::encode(c.key.0)));
        let outcome: Vec<String> = self
            .session_call(self.identity_call(call, identity), session)
            .arg("owner", c.owner.as_str())
            .arg("sealed_token", record.sealed_token.as_slice())
            .run(&self.conn)
            .await?;
        if outcome.is_empty() {
            return Ok(None);
        }
        committed(&outcome).map(Some)
    }

    async fn fail_claim(
        &self,
        key: &ClaimKey,
        owner: &Owner,
        refusal: Refusal,
    ) -> Result<(), StoreError> {
        self.end_claim(key, owner, refusal.as_str()).await
    }

    async fn release_claim(&self, key: &ClaimKey, owner: &Owner) -> Result<(), StoreError> {
        self.end_claim(key, owner, "").await
    }
}

impl RedisStore {
    async fn end_claim(
        &self,
        key: &ClaimKey,
        owner: &Owner,
        error_code: &str,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .end_claim
            .call()
            .key("claim", self.key("c", &hex::encode(key.0)))
            .arg("owner", owner.as_str())
            .arg("error_code", error_code)
            .run(&self.conn)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn get_access_token(&self, appid: &AppId) -> Result<Option<CachedToken>, StoreError> {
        let fields = self
            .hmget(&self.key("t", appid.as_str()), TOKEN_FIELDS)
            .await?;
        (!fields.is_empty())
            .then(|| rows::token(&fields))
            .transpose()
    }

    async fn put_access_token(
        &self,
        appid: &AppId,
        token: &CachedToken,
    ) -> Result<bool, StoreError> {
        let done: i64 = self
            .scripts
            .put_token
            .call()
            .key("token", self.key("t", appid.as_str()))
            .arg("sealed_token", token.sealed_token.as_slice())
            .arg("expires_at", token.expires_at)
            .arg("fence", token.fence)
            .run(&self.conn)
            .await?;
        Ok(done == 1)
    }
}

#[async_trait]
impl LockStore for RedisStore {
    async fn try_lock(
        &self,
        name: &LockName,
        owner: &Owner,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<Option<i64>, StoreError> {
        self.scripts
            .try_lock
            .call()
            .key("lock", self.key("l", name.as_str()))
            .arg("owner", owner.as_str())
            .arg("now", now)
            .arg("lease_until", lease_until)
            .run(&self.conn)
            .await
    }

    async fn unlock(&self, name: &LockName, owner: &Owner) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .unlock
            .call()
            .key("lock", self.key("l", name.as_str()))
            .arg("owner", owner.as_str())
            .run(&self.conn)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Sessions and claims expire through Redis TTLs; nothing to do.
    async fn purge_expired(&self, _now: UnixTime) -> Result<u64, StoreError> {
        Ok(0)
    }
}

/// Signing keys: `P:jk:{kid}` hashes, listed in the set `P:jks`.
#[async_trait]
impl SigningKeyStore for RedisStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let kids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("jks", "all"))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for kid in kids {
            let fields = self
                .hmget(
                    &self.key("jk", &kid),
                    &["kid", "alg", "sealed_key", "created_at"],
                )
                .await?;
            if !fields.is_empty() {
                out.push(rows::signing_key(&fields)?);
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(out)
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let () = redis::pipe()
            .atomic()
            .hset_multiple(
                self.key("jk", &key.kid),
                &[
                    ("kid", key.kid.as_bytes()),
                    ("alg", key.alg.as_bytes()),
                    ("sealed_key", key.sealed_key.as_slice()),
                    ("created_at", key.created_at.to_string().as_bytes()),
                ],
            )
            .ignore()
            .sadd(self.key("jks", "all"), &key.kid)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        let () = redis::pipe()
            .atomic()
            .del(self.key("jk", kid))
            .ignore()
            .srem(self.key("jks", "all"), kid)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
