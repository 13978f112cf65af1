//! The PostgreSQL store's identities, users, conflicts and audit log. Each
//! change is one transaction; two instances resolving the same unionid at
//! once agree through the `unionids` primary key (`sql::OFFER_UNIONID`), and
//! two first logins of one identity through the identity's upsert, whose
//! answer names the user that won.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::{PostgresStore, execute, query, query_opt, unavailable};
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId, UserId};
use crate::store::rows::{self, corrupt};
use crate::store::users::resolve;
use crate::store::{
    AuditEntry, AuditQuery, Committed, ConflictRecord, IdentityRecord, IdentityStore,
    IdentityUpsert, StoreError, Unlinked, UserRecord, UserStore, sql,
};

/// `sql::UPSERT_IDENTITY` answering the identity's user: a concurrent first
/// login of the same identity may have inserted it with its own new user.
const UPSERT_IDENTITY_RETURNING: &str = "RETURNING user_id";

/// Write an identity in the caller's transaction, joining or creating its
/// user (see `users::resolve`), and record a link or a new conflict.
pub(super) async fn commit_identity(
    tx: &impl GenericClient,
    u: &IdentityUpsert,
) -> Result<Committed, StoreError> {
    let existing = identity_user(tx, u).await?;
    commit_identity_of(tx, u, existing).await
}

/// The identity's current user, if it exists.
pub(super) async fn identity_user(
    tx: &impl GenericClient,
    u: &IdentityUpsert,
) -> Result<Option<UserId>, StoreError> {
    query_opt(
        tx,
        sql::IDENTITY_USER,
        &[&u.appid.as_str(), &u.openid.as_str()],
    )
    .await?
    .map(|r| rows::user_id(&r, 0))
    .transpose()
}

/// `commit_identity` once the identity's user has been read. Statements
/// that do not depend on each other are sent together (tokio-postgres
/// pipelines concurrent queries on one connection): a login is five round
/// trips, not nine.
pub(super) async fn commit_identity_of(
    tx: &impl GenericClient,
    u: &IdentityUpsert,
    existing: Option<UserId>,
) -> Result<Committed, StoreError> {
    let owner = match (&u.unionid, u.link_by_unionid) {
        (Some(unionid), true) => {
            let offered = existing.as_ref().unwrap_or(&u.new_user_id);
            let params: [&(dyn ToSql + Sync); 3] =
                [&u.platform.as_str(), &unionid.as_str(), &offered.as_str()];
            query_opt(tx, sql::OFFER_UNIONID, &params)
                .await?
                .map(|r| rows::user_id(&r, 0))
                .transpose()?
        }
        _ => None,
    };
    let mut c = resolve(existing.as_ref(), owner.as_ref(), &u.new_user_id);
    let new_user = c.new_identity && c.user_id == u.new_user_id;
    let upsert = format!("{} {UPSERT_IDENTITY_RETURNING}", sql::UPSERT_IDENTITY);
    let params: [&(dyn ToSql + Sync); 10] = [
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
    ];
    let user_params: [&(dyn ToSql + Sync); 2] = [&c.user_id.as_str(), &u.now];
    let insert_user = async {
        match new_user {
            true => execute(tx, sql::INSERT_USER, &user_params).await.map(drop),
            false => Ok(()),
        }
    };
    let ((), row) = tokio::try_join!(insert_user, query_opt(tx, &upsert, &params))?;
    let row = row.ok_or_else(|| corrupt("the identity upsert returned no row"))?;
    let winner = rows::user_id(&row, 0)?;
    if winner != c.user_id {
        // Another login of this identity committed first with its own user:
        // ours is the one it made (an empty user row is dropped).
        if c.user_id == u.new_user_id {
            execute(tx, sql::DELETE_USER, &[&c.user_id.as_str()]).await?;
        }
        c = resolve(Some(&winner), owner.as_ref(), &u.new_user_id);
    }
    let record = match (&c.conflict, &u.unionid) {
        (Some(other), Some(unionid)) => {
            let id = uuid::Uuid::now_v7().to_string();
            let params: [&(dyn ToSql + Sync); 8] = [
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
            execute(tx, sql::INSERT_CONFLICT, &params).await? == 1
        }
        _ => c.linked,
    };
    if record && let Some(entry) = AuditEntry::of_login(&c, u) {
        insert_audit(tx, &entry).await?;
    }
    Ok(c)
}

async fn insert_audit(conn: &impl GenericClient, e: &AuditEntry) -> Result<(), StoreError> {
    let params: [&(dyn ToSql + Sync); 9] = [
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
    execute(conn, sql::INSERT_AUDIT, &params).await.map(drop)
}

async fn count(
    conn: &impl GenericClient,
    text: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<i64, StoreError> {
    match query_opt(conn, text, params).await? {
        Some(row) => row.try_get(0).map_err(corrupt),
        None => Ok(0),
    }
}

#[async_trait]
impl IdentityStore for PostgresStore {
    async fn upsert_identity(&self, identity: &IdentityUpsert) -> Result<Committed, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(unavailable)?;
        let committed = commit_identity(&tx, identity).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(committed)
    }

    async fn get_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
    ) -> Result<Option<IdentityRecord>, StoreError> {
        let conn = self.conn().await?;
        query_opt(
            &conn,
            &sql::IDENTITY_BY_KEY,
            &[&appid.as_str(), &openid.as_str()],
        )
        .await?
        .as_ref()
        .map(rows::identity)
        .transpose()
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let conn = self.conn().await?;
        query_opt(&conn, sql::USER_BY_ID, &[&user_id.as_str()])
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn identities_of(&self, user_id: &UserId) -> Result<Vec<IdentityRecord>, StoreError> {
        let conn = self.conn().await?;
        query(&conn, &sql::IDENTITIES_OF, &[&user_id.as_str()])
            .await?
            .iter()
            .map(rows::identity)
            .collect()
    }

    async fn set_phone(
        &self,
        user_id: &UserId,
        sealed_phone: &[u8],
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let conn = self.conn().await?;
        let params: [&(dyn ToSql + Sync); 3] = [&user_id.as_str(), &sealed_phone, &now];
        Ok(execute(&conn, sql::SET_PHONE, &params).await? == 1)
    }

    async fn merge_users(
        &self,
        into: &UserId,
        from: &UserId,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let (a, b) = (into.as_str(), from.as_str());
        if a == b {
            return Ok(false);
        }
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(unavailable)?;
        // Lock both users (in a fixed order, so two merges cannot deadlock).
        let lock =
            "SELECT user_id FROM users WHERE user_id IN ($1, $2) ORDER BY user_id FOR UPDATE";
        if query(&tx, lock, &[&a, &b]).await?.len() != 2 {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        for text in sql::MERGE_MOVES {
            execute(&tx, text, &[&a, &b]).await?;
        }
        execute(&tx, sql::MERGE_DROP, &[&b]).await?;
        execute(&tx, sql::MERGE_RESOLVE, &[&audit.at]).await?;
        execute(&tx, sql::DELETE_USER, &[&b]).await?;
        insert_audit(&tx, audit).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn unlink_identity(
        &self,
        appid: &AppId,
        openid: &OpenId,
        to: &UserId,
        audit: &AuditEntry,
    ) -> Result<Unlinked, StoreError> {
        let (app, user, new) = (appid.as_str(), openid.as_str(), to.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(unavailable)?;
        let lock = "SELECT user_id FROM identities WHERE appid = $1 AND openid = $2 FOR UPDATE";
        let Some(from) = query_opt(&tx, lock, &[&app, &user])
            .await?
            .map(|r| rows::user_id(&r, 0))
            .transpose()?
        else {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(Unlinked::UnknownIdentity);
        };
        if count(&tx, sql::COUNT_IDENTITIES, &[&from.as_str()]).await? < 2 {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(Unlinked::OnlyIdentity);
        }
        execute(&tx, sql::INSERT_USER, &[&new, &audit.at]).await?;
        for text in sql::UNLINK_MOVES {
            execute(&tx, text, &[&app, &user, &new]).await?;
        }
        let params: [&(dyn ToSql + Sync); 4] = [&app, &user, &new, &from.as_str()];
        execute(&tx, sql::UNLINK_UNIONID, &params).await?;
        let mut entry = audit.clone().other(&from);
        entry.user_id = Some(to.clone());
        insert_audit(&tx, &entry).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Unlinked::Done { from })
    }

    async fn list_conflicts(
        &self,
        all: bool,
        limit: u32,
    ) -> Result<Vec<ConflictRecord>, StoreError> {
        let conn = self.conn().await?;
        query(&conn, sql::LIST_CONFLICTS, &[&all, &i64::from(limit)])
            .await?
            .iter()
            .map(rows::conflict)
            .collect()
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        insert_audit(&conn, entry).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn().await?;
        let user = q.user_id.as_ref().map(|u| u.as_str());
        let params: [&(dyn ToSql + Sync); 3] = [&user, &q.before, &i64::from(q.limit)];
        query(&conn, sql::LIST_AUDIT, &params)
            .await?
            .iter()
            .map(rows::audit)
            .collect()
    }
}
