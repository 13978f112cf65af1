//! The Redis store's identities, users, conflicts and audit log (scripts in
//! `users_lua.rs`), and the adoption of identities written before users
//! existed: at connect, every identity hash without a `user_id` gets one
//! (joining the user of its unionid, as the SQL migration does), and its
//! sessions name that user. A `P:schema` marker skips the scan once done.

use async_trait::async_trait;
use redis::AsyncCommands as _;

use super::{IDENTITY_FIELDS, RedisStore, unavailable};
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId, UserId};
use crate::store::rows::{self, Fields};
use crate::store::{
    AuditEntry, AuditQuery, Committed, ConflictRecord, IdentityRecord, IdentityStore,
    IdentityUpsert, StoreError, Unlinked, UserRecord, UserStore,
};

const USER_FIELDS: &[&str] = &["user_id", "created_at", "phone", "phone_at"];
const CONFLICT_FIELDS: &[&str] = &[
    "id",
    "at",
    "platform",
    "unionid",
    "appid",
    "openid",
    "user_id",
    "other_user_id",
    "resolved_at",
];
const AUDIT_FIELDS: &[&str] = &[
    "id",
    "at",
    "actor",
    "action",
    "user_id",
    "other_user_id",
    "appid",
    "openid",
    "detail",
];

/// The schema this store's layout is at (the SQL migrations' number).
const SCHEMA: i64 = 5;

/// A resolution as the scripts return it: user id, new identity ('1'),
/// linked ('1'), conflict ('' = none).
pub(super) fn committed(values: &[String]) -> Result<Committed, StoreError> {
    let bad = || rows::corrupt("a login script answered an unexpected shape");
    let [user, new, linked, conflict] = values else {
        return Err(bad());
    };
    let parse = |s: &str| UserId::parse(s).ok_or_else(bad);
    Ok(Committed {
        user_id: parse(user)?,
        new_identity: new == "1",
        linked: linked == "1",
        conflict: (!conflict.is_empty())
            .then(|| parse(conflict))
            .transpose()?,
    })
}

fn text(value: Option<&UserId>) -> &str {
    value.map_or("", |v| v.as_str())
}

impl RedisStore {
    /// Give every identity written before users existed its user.
    pub(super) async fn adopt_identities(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let marker = self.key("schema", "version");
        let at: Option<i64> = conn.get(&marker).await.map_err(unavailable)?;
        if at.is_some_and(|v| v >= SCHEMA) {
            return Ok(());
        }
        let prefix = self.key("u", "");
        let mut cursor = "0".to_owned();
        loop {
            let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
                .arg(&cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            for key in keys {
                let reference = key.strip_prefix(&prefix).unwrap_or_default().to_owned();
                let created: Option<i64> =
                    conn.hget(&key, "created_at").await.map_err(unavailable)?;
                let _: i64 = self
                    .user_scripts
                    .adopt
                    .call()
                    .key("user", &key)
                    .arg("prefix", self.prefix.as_str())
                    .arg("ref", reference)
                    .arg("candidate", user_id_at(created.unwrap_or(0)).as_str())
                    .run(&self.conn)
                    .await?;
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        let _: () = conn.set(&marker, SCHEMA).await.map_err(unavailable)?;
        Ok(())
    }

    async fn audit_ids(
        &self,
        index: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let max = before.map_or_else(|| "+".to_owned(), |b| format!("({b}"));
        redis::cmd("ZREVRANGEBYLEX")
            .arg(index)
            .arg(max)
            .arg("-")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    fn audit_call<'a>(
        &self,
        call: super::script::Call<'a>,
        e: &'a AuditEntry,
    ) -> super::script::Call<'a> {
        call.arg("a_id", e.id.as_str())
            .arg("a_at", e.at)
            .arg("a_actor", e.actor.as_str())
            .arg("a_action", e.action.as_str())
            .arg("a_user", text(e.user_id.as_ref()))
            .arg("a_other", text(e.other_user_id.as_ref()))
            .arg("a_appid", e.appid.as_ref().map_or("", |a| a.as_str()))
            .arg("a_openid", e.openid.as_ref().map_or("", |o| o.as_str()))
            .arg("a_detail", e.detail.as_deref().unwrap_or(""))
    }
}

/// A UUIDv7 at a unix time, for an identity adopted without one.
fn user_id_at(unix: i64) -> UserId {
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, unix.max(0) as u64, 0);
    UserId::parse(&uuid::Uuid::new_v7(ts).to_string()).unwrap_or_else(UserId::generate)
}

#[async_trait]
impl IdentityStore for RedisStore {
    async fn upsert_identity(&self, u: &IdentityUpsert) -> Result<Committed, StoreError> {
        let call = self
            .scripts
            .upsert_identity
            .call()
            .key("user", self.user_key(&u.appid, &u.openid));
        let values: Vec<String> = self.identity_call(call, u).run(&self.conn).await?;
        committed(&values)
    }

    async fn get_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> Result<Option<IdentityRecord>, StoreError> {
        let fields = self
            .hmget(&self.user_key(appid, openid), IDENTITY_FIELDS)
            .await?;
        (!fields.is_empty())
            .then(|| rows::identity(&fields))
            .transpose()
    }
}

#[async_trait]
impl UserStore for RedisStore {
    async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let fields = self
            .hmget(&self.key("user", user_id.as_str()), USER_FIELDS)
            .await?;
        (!fields.is_empty())
            .then(|| rows::user(&fields))
            .transpose()
    }

    async fn identities_of(&self, user_id: &UserId) -> Result<Vec<IdentityRecord>, StoreError> {
        let refs: Vec<String> = self
            .conn
            .clone()
            .smembers(self.key("ui", user_id.as_str()))
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for reference in refs {
            let fields = self
                .hmget(&self.key("u", &reference), IDENTITY_FIELDS)
                .await?;
            if !fields.is_empty() {
                out.push(rows::identity(&fields)?);
            }
        }
        out.sort_by(|a, b| {
            (a.created_at, &a.appid, &a.openid).cmp(&(b.created_at, &b.appid, &b.openid))
        });
        Ok(out)
    }

    async fn set_phone(
        &self,
        user_id: &UserId,
        sealed_phone: &[u8],
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done: i64 = self
            .user_scripts
            .set_phone
            .call()
            .key("user", self.key("user", user_id.as_str()))
            .arg("phone", sealed_phone)
            .arg("now", now)
            .run(&self.conn)
            .await?;
        Ok(done == 1)
    }

    async fn merge_users(
        &self,
        into: &UserId,
        from: &UserId,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let call = self
            .user_scripts
            .merge
            .call()
            .arg("prefix", self.prefix.as_str())
            .arg("into", into.as_str())
            .arg("from", from.as_str())
            .arg("now", audit.at);
        let done: i64 = self.audit_call(call, audit).run(&self.conn).await?;
        Ok(done == 1)
    }

    async fn unlink_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
        to: &UserId,
        audit: &AuditEntry,
    ) -> Result<Unlinked, StoreError> {
        let call = self
            .user_scripts
            .unlink
            .call()
            .arg("prefix", self.prefix.as_str())
            .arg("appid", appid.as_str())
            .arg("openid", openid.as_str())
            .arg("to", to.as_str())
            .arg("now", audit.at);
        let answer: Vec<String> = self.audit_call(call, audit).run(&self.conn).await?;
        match answer.as_slice() {
            [done, from] if done == "done" => UserId::parse(from)
                .map(|from| Unlinked::Done { from })
                .ok_or_else(|| rows::corrupt("unlink answered a malformed user id")),
            [only] if only == "only" => Ok(Unlinked::OnlyIdentity),
            _ => Ok(Unlinked::UnknownIdentity),
        }
    }

    async fn list_conflicts(
        &self,
        all: bool,
        limit: u32,
    ) -> Result<Vec<ConflictRecord>, StoreError> {
        // Conflicts are rare; unresolved ones are found among the newest.
        let ids: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
            .arg(self.key("cfs", "").trim_end_matches(':'))
            .arg("+")
            .arg("-")
            .arg("LIMIT")
            .arg(0)
            .arg(10_000)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for id in ids {
            let fields = self.hmget(&self.key("cf", &id), CONFLICT_FIELDS).await?;
            if fields.is_empty() {
                continue;
            }
            let conflict = rows::conflict(&fields)?;
            if all || conflict.resolved_at.is_none() {
                out.push(conflict);
            }
            if out.len() >= limit as usize {
                break;
            }
        }
        Ok(out)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let call = self
            .user_scripts
            .audit
            .call()
            .arg("prefix", self.prefix.as_str());
        let _: i64 = self.audit_call(call, entry).run(&self.conn).await?;
        Ok(())
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let index = match &q.user_id {
            Some(user) => self.key("au", user.as_str()),
            None => self.key("al", "").trim_end_matches(':').to_owned(),
        };
        let ids = self.audit_ids(&index, q.before.as_deref(), q.limit).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let fields = self.hmget(&self.key("a", &id), AUDIT_FIELDS).await?;
            if !fields.is_empty() {
                out.push(rows::audit(&Fields(fields.0))?);
            }
        }
        Ok(out)
    }
}
