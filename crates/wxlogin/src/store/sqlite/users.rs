//! The SQLite store's identities, users, conflicts and audit log. Every
//! change runs in the writer's transaction, so each is atomic and the
//! single writer makes the read-then-write of a resolution race-free.

use async_trait::async_trait;
use rusqlite::{Connection, ToSql};

use super::writer::Durability;
use super::{SqliteStore, execute, query_each, query_one};
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId, UserId};
use crate::store::rows::{self, corrupt};
use crate::store::users::resolve;
use crate::store::{
    AuditEntry, AuditQuery, Committed, ConflictRecord, IdentityRecord, IdentityStore,
    IdentityUpsert, StoreError, Unlinked, UserRecord, UserStore, sql,
};

/// Write an identity, joining or creating its user (see `users::resolve`),
/// and record a link or a new conflict in the audit log.
pub(super) fn commit_identity_in(
    conn: &Connection,
    u: &IdentityUpsert,
) -> Result<Committed, StoreError> {
    let existing = query_one(
        conn,
        sql::IDENTITY_USER,
        &[&u.appid.as_str(), &u.openid.as_str()],
        |r| rows::user_id(r, 0),
    )?;
    let owner = match (&u.unionid, u.link_by_unionid) {
        (Some(unionid), true) => {
            let offered = existing.as_ref().unwrap_or(&u.new_user_id);
            let params: [&dyn ToSql; 3] =
                [&u.platform.as_str(), &unionid.as_str(), &offered.as_str()];
            query_one(conn, sql::OFFER_UNIONID, &params, |r| rows::user_id(r, 0))?
        }
        _ => None,
    };
    let c = resolve(existing.as_ref(), owner.as_ref(), &u.new_user_id);
    if c.new_identity && c.user_id == u.new_user_id {
        execute(conn, sql::INSERT_USER, &[&c.user_id.as_str(), &u.now])?;
    }
    execute(
        conn,
        sql::UPSERT_IDENTITY,
        &[
            &u.appid.as_str(),
            &u.openid.as_str(),
            &u.unionid.as_ref().map(|x| x.as_str()),
            &u.sealed_session_key,
            &u.key_fingerprint,
            &u.now,
            &u.previous_key_until,
            &u.key_at,
            &u.platform.as_str(),
            &c.user_id.as_str(),
        ],
    )?;
    let record = match (&c.conflict, &u.unionid) {
        (Some(other), Some(unionid)) => {
            let id = uuid::Uuid::now_v7().to_string();
            let params: [&dyn ToSql; 8] = [
                &id,
                &u.now,
                &u.platform.as_str(),
                &unionid.as_str(),
                &u.appid.as_str(),
                &u.openid.as_str(),
                &c.user_id.as_str(),
                &other.as_str(),
            ];
            // Audited once, when first recorded.
            execute(conn, sql::INSERT_CONFLICT, &params)? == 1
        }
        _ => c.linked,
    };
    if record && let Some(entry) = AuditEntry::of_login(&c, u) {
        insert_audit_in(conn, &entry)?;
    }
    Ok(c)
}

pub(super) fn insert_audit_in(conn: &Connection, e: &AuditEntry) -> Result<(), StoreError> {
    let params: [&dyn ToSql; 9] = [
        &e.id,
        &e.at,
        &e.actor,
        &e.action,
        &e.user_id.as_ref().map(|x| x.as_str()),
        &e.other_user_id.as_ref().map(|x| x.as_str()),
        &e.appid.as_ref().map(|x| x.as_str()),
        &e.openid.as_ref().map(|x| x.as_str()),
        &e.detail,
    ];
    execute(conn, sql::INSERT_AUDIT, &params).map(drop)
}

fn count(conn: &Connection, text: &str, params: &[&dyn ToSql]) -> Result<i64, StoreError> {
    Ok(query_one(conn, text, params, |r| r.get::<_, i64>(0).map_err(corrupt))?.unwrap_or(0))
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn upsert_identity(&self, identity: &IdentityUpsert) -> Result<Committed, StoreError> {
        let identity = identity.clone();
        self.writer
            .write(Durability::Durable, move |conn| {
                commit_identity_in(conn, &identity)
            })
            .await
    }

    async fn get_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> Result<Option<IdentityRecord>, StoreError> {
        let (appid, openid) = (appid.clone(), openid.clone());
        self.read(move |conn| {
            query_one(
                conn,
                &sql::IDENTITY_BY_KEY,
                &[&appid.as_str(), &openid.as_str()],
                |r| rows::identity(r),
            )
        })
        .await
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let id = user_id.clone();
        self.read(move |conn| query_one(conn, sql::USER_BY_ID, &[&id.as_str()], |r| rows::user(r)))
            .await
    }

    async fn identities_of(&self, user_id: &UserId) -> Result<Vec<IdentityRecord>, StoreError> {
        let id = user_id.clone();
        self.read(move |conn| {
            let mut out = Vec::new();
            query_each(conn, &sql::IDENTITIES_OF, &[&id.as_str()], |r| {
                out.push(rows::identity(r)?);
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    async fn set_phone(
        &self,
        user_id: &UserId,
        sealed_phone: &[u8],
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let (id, phone) = (user_id.clone(), sealed_phone.to_vec());
        self.writer
            .write(Durability::Durable, move |conn| {
                Ok(execute(conn, sql::SET_PHONE, &[&id.as_str(), &phone, &now])? == 1)
            })
            .await
    }

    async fn merge_users(
        &self,
        into: &UserId,
        from: &UserId,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let (into, from, audit) = (into.clone(), from.clone(), audit.clone());
        self.writer
            .write(Durability::Durable, move |conn| {
                let (a, b) = (into.as_str(), from.as_str());
                if a == b || count(conn, sql::COUNT_USERS, &[&a, &b])? != 2 {
                    return Ok(false);
                }
                for text in sql::MERGE_MOVES {
                    execute(conn, text, &[&a, &b])?;
                }
                execute(conn, sql::MERGE_DROP, &[&b])?;
                execute(conn, sql::MERGE_RESOLVE, &[&audit.at])?;
                execute(conn, sql::DELETE_USER, &[&b])?;
                insert_audit_in(conn, &audit)?;
                Ok(true)
            })
            .await
    }

    async fn unlink_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
        to: &UserId,
        audit: &AuditEntry,
    ) -> Result<Unlinked, StoreError> {
        let (appid, openid, to) = (appid.clone(), openid.clone(), to.clone());
        let audit = audit.clone();
        self.writer
            .write(Durability::Durable, move |conn| {
                let (app, user, new) = (appid.as_str(), openid.as_str(), to.as_str());
                let Some(from) = query_one(conn, sql::IDENTITY_USER, &[&app, &user], |r| {
                    rows::user_id(r, 0)
                })?
                else {
                    return Ok(Unlinked::UnknownIdentity);
                };
                if count(conn, sql::COUNT_IDENTITIES, &[&from.as_str()])? < 2 {
                    return Ok(Unlinked::OnlyIdentity);
                }
                execute(conn, sql::INSERT_USER, &[&new, &audit.at])?;
                for text in sql::UNLINK_MOVES {
                    execute(conn, text, &[&app, &user, &new])?;
                }
                execute(
                    conn,
                    sql::UNLINK_UNIONID,
                    &[&app, &user, &new, &from.as_str()],
                )?;
                let mut entry = audit.clone().other(&from);
                entry.user_id = Some(to.clone());
                insert_audit_in(conn, &entry)?;
                Ok(Unlinked::Done { from })
            })
            .await
    }

    async fn list_conflicts(
        &self,
        all: bool,
        limit: u32,
    ) -> Result<Vec<ConflictRecord>, StoreError> {
        self.read(move |conn| {
            let mut out = Vec::new();
            query_each(conn, sql::LIST_CONFLICTS, &[&all, &limit], |r| {
                out.push(rows::conflict(r)?);
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let entry = entry.clone();
        self.writer
            .write(Durability::Durable, move |conn| {
                insert_audit_in(conn, &entry)
            })
            .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let q = query.clone();
        self.read(move |conn| {
            let mut out = Vec::new();
            let user = q.user_id.as_ref().map(|u| u.as_str().to_owned());
            let params: [&dyn ToSql; 3] = [&user, &q.before, &q.limit];
            query_each(conn, sql::LIST_AUDIT, &params, |r| {
                out.push(rows::audit(r)?);
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }
}
