//! Redis store: several instances share it; sessions and claims carry native
//! TTLs so they vanish by themselves; every multi-key change is one Lua script
//! (`redis_lua.rs`). The URL may carry `?prefix=NAME` to namespace the keys
//! (default `wxlogin`), which is also how tests isolate themselves.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script, Value};

use super::redis_lua as lua;
use super::{
    CachedToken, Claim, ClaimState, ClaimStore, LockStore, LoginRecord, SessionRecord,
    SessionStore, Store, StoreError, TokenStore, UserRecord, UserStore, UserUpsert,
};
use crate::clock::UnixTime;
use crate::domain::token::TokenHash;

/// Keep dead sessions a day past their end, like the SQL stores.
const SESSION_AFTERLIFE: i64 = 86_400;

struct Scripts {
    upsert_user: Script,
    complete_login: Script,
    replace_session: Script,
    claim: Script,
    end_claim: Script,
    touch: Script,
    revoke: Script,
    revoke_all: Script,
    put_token: Script,
    try_lock: Script,
    unlock: Script,
}

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    scripts: Scripts,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A hash's fields by name: from a script's flat `HGETALL`-style answer
/// (`String` names) or from `HMGET` with a fixed list (`&'static str`).
type Fields<K = String> = HashMap<K, Vec<u8>>;

fn text<K: Borrow<str> + Hash + Eq>(fields: &Fields<K>, name: &str) -> Result<String, StoreError> {
    let bytes = fields
        .get(name)
        .ok_or_else(|| StoreError::Corrupt(format!("missing field {name}")))?;
    String::from_utf8(bytes.clone())
        .map_err(|_| StoreError::Corrupt(format!("{name} is not UTF-8")))
}

fn opt_text<K: Borrow<str> + Hash + Eq>(
    fields: &Fields<K>,
    name: &str,
) -> Result<Option<String>, StoreError> {
    fields
        .contains_key(name)
        .then(|| text(fields, name))
        .transpose()
}

fn number<K: Borrow<str> + Hash + Eq>(fields: &Fields<K>, name: &str) -> Result<i64, StoreError> {
    text(fields, name)?
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{name} is not a number")))
}

fn opt_number<K: Borrow<str> + Hash + Eq>(
    fields: &Fields<K>,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    fields
        .contains_key(name)
        .then(|| number(fields, name))
        .transpose()
}

fn bytes<K: Borrow<str> + Hash + Eq>(
    fields: &Fields<K>,
    name: &str,
) -> Result<Vec<u8>, StoreError> {
    fields
        .get(name)
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("missing field {name}")))
}

/// The session hash's fields and the user hash's, as `session_by_key` and
/// `get_user` read them.
const SESSION_FIELDS: &[&str] = &[
    "id",
    "token_hash",
    "appid",
    "openid",
    "unionid",
    "created_at",
    "expires_at",
    "idle_expires_at",
    "revoked_at",
];
const USER_FIELDS: &[&str] = &[
    "appid",
    "openid",
    "unionid",
    "session_key",
    "prev_session_key",
    "prev_key_until",
    "created_at",
    "updated_at",
];

/// `HMGET key names…` as a map of the fields present (empty when the key is
/// not). Unlike `HGETALL`, the reply carries no field names to allocate.
async fn hmget(
    conn: &ConnectionManager,
    key: &str,
    names: &'static [&'static str],
) -> Result<Fields<&'static str>, StoreError> {
    let values: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
        .arg(key)
        .arg(names)
        .query_async(&mut conn.clone())
        .await
        .map_err(unavailable)?;
    Ok(names
        .iter()
        .zip(values)
        .filter_map(|(name, value)| Some((*name, value?)))
        .collect())
}

/// Read a flat `HGETALL`-style array into a map.
fn fields_of(value: Value) -> Result<Fields, StoreError> {
    redis::from_redis_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl RedisStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut parsed =
            url::Url::parse(url).map_err(|_| StoreError::Config("bad redis URL".into()))?;
        let prefix = parsed
            .query_pairs()
            .find(|(k, _)| k == "prefix")
            .map_or_else(|| "wxlogin".to_owned(), |(_, v)| v.into_owned());
        let rest: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(k, _)| k != "prefix")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        parsed.set_query(None);
        if !rest.is_empty() {
            parsed.query_pairs_mut().extend_pairs(rest);
        }
        let client = redis::Client::open(parsed.as_str())
            .map_err(|e| StoreError::Config(format!("bad redis URL: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
            .set_response_timeout(Some(std::time::Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to redis: {e}")))?;
        // Name the connection so operators (and tests) can find it in CLIENT LIST.
        let name: String = format!("wxlogin-{prefix}")
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .collect();
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(&name)
            .query_async(&mut conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix,
            scripts: Scripts {
                upsert_user: Script::new(&lua::upsert_user()),
                complete_login: Script::new(&lua::complete_login()),
                replace_session: Script::new(&lua::replace_session()),
                claim: Script::new(lua::CLAIM),
                end_claim: Script::new(lua::END_CLAIM),
                touch: Script::new(lua::TOUCH),
                revoke: Script::new(lua::REVOKE),
                revoke_all: Script::new(lua::REVOKE_ALL),
                put_token: Script::new(lua::PUT_TOKEN),
                try_lock: Script::new(lua::TRY_LOCK),
                unlock: Script::new(lua::UNLOCK),
            },
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    fn user_key(&self, appid: &str, openid: &str) -> String {
        self.key("u", &format!("{appid}:{openid}"))
    }

    fn user_set(&self, appid: &str, openid: &str) -> String {
        self.key("us", &format!("{appid}:{openid}"))
    }

    fn session_prefix(&self) -> String {
        format!("{}:s:", self.prefix)
    }

    fn sid_prefix(&self) -> String {
        format!("{}:sid:", self.prefix)
    }

    /// Keys and ARGV[1..17] shared by the scripts that write a user and/or a
    /// session (see `redis_lua.rs`).
    fn user_and_session(
        &self,
        user: Option<&UserUpsert>,
        s: &SessionRecord,
    ) -> (Vec<String>, Vec<Vec<u8>>) {
        let hash_hex = hex::encode(s.token_hash.0);
        let keys = vec![
            user.map_or_else(String::new, |u| self.user_key(&u.appid, &u.openid)),
            self.key("s", &hash_hex),
            self.key("sid", &s.id),
            self.user_set(&s.appid, &s.openid),
        ];
        let mut args: Vec<Vec<u8>> = match user {
            Some(u) => vec![
                u.appid.clone().into_bytes(),
                u.openid.clone().into_bytes(),
                u.unionid.clone().unwrap_or_default().into_bytes(),
                u.sealed_session_key.clone(),
                u.key_fingerprint.clone(),
                u.now.to_string().into_bytes(),
                u.previous_key_until.to_string().into_bytes(),
            ],
            None => vec![Vec::new(); 7],
        };
        let ttl = (s.expires_at - s.created_at + SESSION_AFTERLIFE).max(1);
        args.extend([
            hash_hex.into_bytes(),
            s.id.clone().into_bytes(),
            s.token_hash.0.to_vec(),
            s.appid.clone().into_bytes(),
            s.openid.clone().into_bytes(),
            s.unionid.clone().unwrap_or_default().into_bytes(),
            s.created_at.to_string().into_bytes(),
            s.expires_at.to_string().into_bytes(),
            s.idle_expires_at.to_string().into_bytes(),
            ttl.to_string().into_bytes(),
        ]);
        (keys, args)
    }

    async fn session_by_key(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let fields = hmget(&self.conn, key, SESSION_FIELDS).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let hash: [u8; 32] = bytes(&fields, "token_hash")?
            .try_into()
            .map_err(|_| StoreError::Corrupt("token_hash is not 32 bytes".into()))?;
        Ok(Some(SessionRecord {
            id: text(&fields, "id")?,
            token_hash: TokenHash(hash),
            appid: text(&fields, "appid")?,
            openid: text(&fields, "openid")?,
            unionid: opt_text(&fields, "unionid")?,
            created_at: number(&fields, "created_at")?,
            expires_at: number(&fields, "expires_at")?,
            idle_expires_at: number(&fields, "idle_expires_at")?,
            revoked_at: opt_number(&fields, "revoked_at")?,
        }))
    }
}

#[async_trait]
impl UserStore for RedisStore {
    async fn upsert_user(&self, u: &UserUpsert) -> Result<bool, StoreError> {
        let dummy = SessionRecord {
            id: String::new(),
            token_hash: TokenHash([0; 32]),
            appid: u.appid.clone(),
            openid: u.openid.clone(),
            unionid: None,
            created_at: 0,
            expires_at: 0,
            idle_expires_at: 0,
            revoked_at: None,
        };
        let (keys, args) = self.user_and_session(Some(u), &dummy);
        let mut invocation = self.scripts.upsert_user.prepare_invoke();
        invocation.key(&keys[0]);
        for arg in &args[..7] {
            invocation.arg(arg.as_slice());
        }
        let new: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(new == 1)
    }

    async fn get_user(&self, appid: &str, openid: &str) -> Result<Option<UserRecord>, StoreError> {
        let fields = hmget(&self.conn, &self.user_key(appid, openid), USER_FIELDS).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        Ok(Some(UserRecord {
            appid: text(&fields, "appid")?,
            openid: text(&fields, "openid")?,
            unionid: opt_text(&fields, "unionid")?,
            sealed_session_key: bytes(&fields, "session_key")?,
            sealed_previous_key: fields.get("prev_session_key").cloned(),
            previous_key_until: opt_number(&fields, "prev_key_until")?,
            created_at: number(&fields, "created_at")?,
            updated_at: number(&fields, "updated_at")?,
        }))
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        self.session_by_key(&self.key("s", &hex::encode(hash.0)))
            .await
    }

    async fn touch_session(&self, id: &str, idle_expires_at: UnixTime) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .touch
            .key(self.key("sid", id))
            .arg(self.session_prefix())
            .arg(idle_expires_at)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn revoke_session(&self, id: &str, now: UnixTime) -> Result<bool, StoreError> {
        let done: i64 = self
            .scripts
            .revoke
            .key(self.key("sid", id))
            .arg(self.session_prefix())
            .arg(now)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn replace_session(
        &self,
        old_id: &str,
        new: &SessionRecord,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let (mut keys, mut args) = self.user_and_session(None, new);
        keys.push(self.key("sid", old_id));
        args.push(now.to_string().into_bytes());
        args.push(Vec::new());
        args.push(self.session_prefix().into_bytes());
        let mut invocation = self.scripts.replace_session.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        for arg in &args {
            invocation.arg(arg.as_slice());
        }
        let done: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn list_sessions(
        &self,
        appid: &str,
        openid: &str,
        now: UnixTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .smembers(self.user_set(appid, openid))
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for id in ids {
            let hash: Option<String> = conn.get(self.key("sid", &id)).await.map_err(unavailable)?;
            if let Some(hash) = hash
                && let Some(s) = self.session_by_key(&self.key("s", &hash)).await?
                && s.is_active(now)
            {
                out.push(s);
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn revoke_all(
        &self,
        appid: &str,
        openid: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let count: u64 = self
            .scripts
            .revoke_all
            .key(self.user_set(appid, openid))
            .arg(self.sid_prefix())
            .arg(self.session_prefix())
            .arg(now)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(count)
    }
}

#[async_trait]
impl ClaimStore for RedisStore {
    async fn claim(&self, c: &Claim<'_>) -> Result<ClaimState, StoreError> {
        let ttl = (c.expires_at - c.now).max(1);
        let value: Value = self
            .scripts
            .claim
            .key(self.key("c", &hex::encode(c.key)))
            .arg(c.appid)
            .arg(c.owner)
            .arg(c.now)
            .arg(c.lease_until)
            .arg(c.expires_at)
            .arg(ttl)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let f = fields_of(value)?;
        let owner = text(&f, "owner")?;
        match text(&f, "state")?.as_str() {
            "pending" if owner == c.owner => Ok(ClaimState::Acquired),
            "pending" => Ok(ClaimState::Pending),
            "failed" => Ok(ClaimState::Failed(
                opt_text(&f, "error_code")?.unwrap_or_default(),
            )),
            "done" => Ok(ClaimState::Done(LoginRecord {
                session_id: text(&f, "session_id")?,
                sealed_token: bytes(&f, "sealed_token")?,
                openid: text(&f, "openid")?,
                unionid: opt_text(&f, "unionid")?,
                new_user: text(&f, "new_user")? == "1",
                expires_at: number(&f, "session_expires_at")?,
            })),
            other => Err(StoreError::Corrupt(format!("unknown claim state {other}"))),
        }
    }

    async fn complete_login(
        &self,
        c: &Claim<'_>,
        user: &UserUpsert,
        session: &SessionRecord,
        record: &LoginRecord,
    ) -> Result<Option<bool>, StoreError> {
        let (mut keys, mut args) = self.user_and_session(Some(user), session);
        keys.push(self.key("c", &hex::encode(c.key)));
        args.push(c.owner.as_bytes().to_vec());
        args.push(record.sealed_token.clone());
        let mut invocation = self.scripts.complete_login.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        for arg in &args {
            invocation.arg(arg.as_slice());
        }
        let outcome: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok((outcome >= 0).then_some(outcome == 1))
    }

    async fn fail_claim(
        &self,
        key: &[u8; 32],
        owner: &str,
        error_code: &str,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .end_claim
            .key(self.key("c", &hex::encode(key)))
            .arg(owner)
            .arg(error_code)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release_claim(&self, key: &[u8; 32], owner: &str) -> Result<(), StoreError> {
        self.fail_claim(key, owner, "").await
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn get_access_token(&self, appid: &str) -> Result<Option<CachedToken>, StoreError> {
        let f: Fields = self
            .conn
            .clone()
            .hgetall(self.key("t", appid))
            .await
            .map_err(unavailable)?;
        if f.is_empty() {
            return Ok(None);
        }
        Ok(Some(CachedToken {
            sealed_token: bytes(&f, "sealed_token")?,
            expires_at: number(&f, "expires_at")?,
            fence: number(&f, "fence")?,
        }))
    }

    async fn put_access_token(&self, appid: &str, token: &CachedToken) -> Result<bool, StoreError> {
        let done: i64 = self
            .scripts
            .put_token
            .key(self.key("t", appid))
            .arg(token.sealed_token.as_slice())
            .arg(token.expires_at)
            .arg(token.fence)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }
}

#[async_trait]
impl LockStore for RedisStore {
    async fn try_lock(
        &self,
        name: &str,
        owner: &str,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> Result<Option<i64>, StoreError> {
        self.scripts
            .try_lock
            .key(self.key("l", name))
            .arg(owner)
            .arg(now)
            .arg(lease_until)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn unlock(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .unlock
            .key(self.key("l", name))
            .arg(owner)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
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
