//! Redis store: several instances share it; sessions and claims carry native
//! TTLs so they vanish by themselves; every multi-key change is one Lua
//! script (`lua.rs`), called with named arguments (`script.rs`). Hashes are
//! read with `HMGET` and a fixed field list, decoded by the same codec as a
//! SQL row (`rows.rs`). The URL's `?prefix=NAME` namespaces the keys
//! (default `wxlogin`), which is also how tests isolate themselves.

mod claims;
mod lua;
mod rekey;
mod script;
mod users;
mod users_lua;

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use self::lua::Scripts;
use self::users_lua::UserScripts;
use super::rows::{self, Fields};
use super::url::RedisTarget;
use super::{
    IdentityUpsert, REVOKED_AFTERLIFE, SESSION_AFTERLIFE, SessionRecord, SessionStore, StoreError,
};
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId, SessionId, TokenHash};

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    scripts: Scripts,
    user_scripts: UserScripts,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The session and identity hashes' fields, in `rows::session`'s and
/// `rows::identity`'s order; the token hash's in `rows::token`'s.
const SESSION_FIELDS: &[&str] = &[
    "id",
    "token_hash",
    "user_id",
    "family",
    "appid",
    "openid",
    "unionid",
    "created_at",
    "expires_at",
    "idle_expires_at",
    "revoked_at",
];
const IDENTITY_FIELDS: &[&str] = &[
    "platform",
    "user_id",
    "appid",
    "openid",
    "unionid",
    "session_key",
    "prev_session_key",
    "prev_key_until",
    "created_at",
    "updated_at",
];
const TOKEN_FIELDS: &[&str] = &["sealed_token", "expires_at", "fence"];

fn opt(value: Option<&crate::ids::UnionId>) -> &str {
    value.map_or("", |v| v.as_str())
}

impl RedisStore {
    pub async fn connect(target: &RedisTarget) -> Result<Self, StoreError> {
        let client = redis::Client::open(target.url())
            .map_err(|e| StoreError::Config(format!("bad redis URL: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
            .set_response_timeout(Some(std::time::Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to redis: {e}")))?;
        // Named so operators (and tests) can find it in CLIENT LIST.
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(format!("wxlogin-{}", target.prefix))
            .query_async(&mut conn.clone())
            .await
            .map_err(unavailable)?;
        let store = Self {
            conn,
            prefix: target.prefix.clone(),
            scripts: Scripts::new(),
            user_scripts: UserScripts::new(),
        };
        store.adopt_identities().await?;
        Ok(store)
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    fn user_key(&self, appid: &AppId, openid: &OpenId) -> String {
        self.key("u", &format!("{appid}:{openid}"))
    }

    fn user_sessions(&self, appid: &AppId, openid: &OpenId) -> String {
        self.key("us", &format!("{appid}:{openid}"))
    }

    fn session_prefix(&self) -> String {
        format!("{}:s:", self.prefix)
    }

    async fn hmget(&self, key: &str, names: &[&str]) -> Result<Fields, StoreError> {
        let values: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(key)
            .arg(names)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(Fields(values))
    }

    /// A session's keys and arguments, for the scripts that create one.
    fn session_call<'a>(&self, call: script::Call<'a>, s: &SessionRecord) -> script::Call<'a> {
        let hash_hex = hex::encode(s.token_hash.0);
        let ttl = (s.expires_at - s.created_at + SESSION_AFTERLIFE).max(1);
        call.arg("s_hash_hex", &hash_hex)
            .arg("s_id", s.id.as_str())
            .arg("s_token_hash", &s.token_hash.0[..])
            .arg("s_appid", s.appid.as_str())
            .arg("s_openid", s.openid.as_str())
            .arg("s_unionid", opt(s.unionid.as_ref()))
            .arg("s_created", s.created_at)
            .arg("s_expires", s.expires_at)
            .arg("s_idle", s.idle_expires_at)
            .arg("s_ttl", ttl)
            .arg("sid_prefix", self.sid_prefix())
            .arg("s_user", s.user_id.as_str())
            .arg("s_family", s.family.as_str())
    }

    fn sid_prefix(&self) -> String {
        format!("{}:sid:", self.prefix)
    }

    /// An identity's keys-free arguments, for the scripts that write one.
    fn identity_call<'a>(&self, call: script::Call<'a>, u: &IdentityUpsert) -> script::Call<'a> {
        call.arg("appid", u.appid.as_str())
            .arg("openid", u.openid.as_str())
            .arg("unionid", opt(u.unionid.as_ref()))
            .arg("session_key", u.sealed_session_key.as_slice())
            .arg("key_fp", u.key_fingerprint.as_slice())
            .arg("now", u.now)
            .arg("prev_until", u.previous_key_until)
            .arg("key_at", u.key_at)
            .arg("platform", u.platform.as_str())
            .arg("new_user_id", u.new_user_id.as_str())
            .arg("link", if u.link_by_unionid { "1" } else { "0" })
            .arg("prefix", self.prefix.as_str())
            .arg("conflict_id", uuid::Uuid::now_v7().to_string())
            .arg("audit_id", uuid::Uuid::now_v7().to_string())
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        let fields = self
            .hmget(&self.key("s", &hex::encode(hash.0)), SESSION_FIELDS)
            .await?;
        (!fields.is_empty())
            .then(|| rows::session(&fields))
            .transpose()
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let hash: Option<String> = redis::cmd("GET")
            .arg(self.key("sid", id.as_str()))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let Some(hash) = hash else {
            return Ok(None);
        };
        let fields = self.hmget(&self.key("s", &hash), SESSION_FIELDS).await?;
        (!fields.is_empty())
            .then(|| rows::session(&fields))
            .transpose()
    }

    async fn touch_session(
        &self,
        id: &SessionId,
        idle_expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let call = self
            .scripts
            .touch
            .call()
            .key("sid", self.key("sid", id.as_str()));
        let _: i64 = call
            .arg("session_prefix", self.session_prefix())
            .arg("idle_until", idle_expires_at)
            .run(&self.conn)
            .await?;
        Ok(())
    }

    async fn revoke_session(&self, id: &SessionId, now: UnixTime) -> Result<bool, StoreError> {
        let call = self
            .scripts
            .revoke
            .call()
            .key("sid", self.key("sid", id.as_str()));
        let done: i64 = call
            .arg("session_prefix", self.session_prefix())
            .arg("now", now)
            .arg("revoked_ttl", REVOKED_AFTERLIFE)
            .run(&self.conn)
            .await?;
        Ok(done == 1)
    }

    async fn replace_session(
        &self,
        old: &SessionId,
        new: &SessionRecord,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let call = self
            .scripts
            .replace_session
            .call()
            .key("session", self.key("s", &hex::encode(new.token_hash.0)))
            .key("sid", self.key("sid", new.id.as_str()))
            .key("user_sessions", self.user_sessions(&new.appid, &new.openid))
            .key("old_sid", self.key("sid", old.as_str()));
        let done: i64 = self
            .session_call(call, new)
            .arg("now", now)
            .arg("session_prefix", self.session_prefix())
            .arg("revoked_ttl", REVOKED_AFTERLIFE)
            .run(&self.conn)
            .await?;
        Ok(done == 1)
    }

    async fn list_sessions(
        &self,
        appid: &AppId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.user_sessions(appid, openid))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for id in ids {
            let hash: Option<String> = redis::cmd("GET")
                .arg(self.key("sid", &id))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let Some(hash) = hash else { continue };
            let fields = self.hmget(&self.key("s", &hash), SESSION_FIELDS).await?;
            if fields.is_empty() {
                continue;
            }
            let s = rows::session(&fields)?;
            if s.is_active(now) {
                out.push(s);
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn revoke_all(
        &self,
        appid: &AppId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let call = self
            .scripts
            .revoke_all
            .call()
            .key("user_sessions", self.user_sessions(appid, openid));
        call.arg("sid_prefix", self.sid_prefix())
            .arg("session_prefix", self.session_prefix())
            .arg("now", now)
            .arg("revoked_ttl", REVOKED_AFTERLIFE)
            .arg("family", "")
            .run(&self.conn)
            .await
    }

    async fn revoke_family(
        &self,
        member: &SessionRecord,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let call = self.scripts.revoke_all.call().key(
            "user_sessions",
            self.user_sessions(&member.appid, &member.openid),
        );
        call.arg("sid_prefix", self.sid_prefix())
            .arg("session_prefix", self.session_prefix())
            .arg("now", now)
            .arg("revoked_ttl", REVOKED_AFTERLIFE)
            .arg("family", member.family.as_str())
            .run(&self.conn)
            .await
    }
}
