//! PostgreSQL store: several `wxlogin serve` instances share it and behave as
//! one service. Single flight and fencing come from conditional upserts on
//! the claim and lock rows; a login commits in one transaction. A commit
//! returns once its WAL is flushed (PostgreSQL groups concurrent commits into
//! one flush itself). A schema other than `public` is chosen with the URL's
//! `options=-c search_path=NAME`.

mod claims;
mod connect;
mod rekey;
mod users;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Object, Pool};
use tokio_postgres::types::ToSql;

use super::rows::{self, corrupt};
use super::url::PostgresTarget;
use super::{SessionRecord, SessionStore, StoreError, migrate, sql};
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId, SessionId, TokenHash};

pub struct PostgresStore {
    pool: Pool,
    /// Connections whose commits do not wait for the WAL flush; the durable
    /// pool if the server (or a pooler) refused that option.
    lazy: Pool,
}

/// The error with its causes: tokio-postgres says only "db error" and keeps
/// the server's message (never row data, never the URL) in its source.
fn unavailable(e: impl std::error::Error) -> StoreError {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    StoreError::Unavailable(text)
}

/// Run one statement on a pooled connection (or in a transaction),
/// prepared once per connection.
async fn execute(
    conn: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let stmt = conn.prepare_cached(sql).await.map_err(unavailable)?;
    conn.execute(&stmt, params).await.map_err(unavailable)
}

async fn query_opt(
    conn: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<tokio_postgres::Row>, StoreError> {
    let stmt = conn.prepare_cached(sql).await.map_err(unavailable)?;
    conn.query_opt(&stmt, params).await.map_err(unavailable)
}

async fn query(
    conn: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let stmt = conn.prepare_cached(sql).await.map_err(unavailable)?;
    conn.query(&stmt, params).await.map_err(unavailable)
}

/// Insert a session row (in a login's or a refresh's transaction).
async fn insert_session(conn: &impl GenericClient, s: &SessionRecord) -> Result<(), StoreError> {
    let params: [&(dyn ToSql + Sync); 10] = [
        &s.id.as_str(),
        &&s.token_hash.0[..],
        &s.appid.as_str(),
        &s.openid.as_str(),
        &s.unionid.as_ref().map(|x| x.as_str()),
        &s.created_at,
        &s.expires_at,
        &s.idle_expires_at,
        &s.user_id.as_str(),
        &s.family.as_str(),
    ];
    execute(conn, sql::INSERT_SESSION, &params).await.map(drop)
}

impl PostgresStore {
    pub async fn connect(target: &PostgresTarget) -> Result<Self, StoreError> {
        let pool = connect::pool(target, false)?;
        // Connect now, so an unreachable server fails startup with one line.
        drop(pool.get().await.map_err(|e| match unavailable(e) {
            StoreError::Unavailable(why) => {
                StoreError::Unavailable(format!("cannot connect to postgres: {why}"))
            }
            other => other,
        })?);
        let lazy = connect::pool(target, true)?;
        let lazy = match lazy.get().await {
            Ok(conn) => {
                drop(conn);
                lazy
            }
            // A pooler such as PgBouncer may refuse startup options: then
            // those writes wait for the disk too, which is only slower.
            Err(e) => {
                tracing::warn!(error = %e, "cannot open connections with synchronous_commit = off; \
                     idle-deadline touches and purges will wait for the WAL flush");
                pool.clone()
            }
        };
        Ok(Self { pool, lazy })
    }

    async fn conn(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }

    async fn lazy_conn(&self) -> Result<Object, StoreError> {
        self.lazy.get().await.map_err(unavailable)
    }

    /// Apply missing migrations in one transaction, under an advisory lock so
    /// that instances starting together migrate once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(unavailable)?;
        tx.execute("SELECT pg_advisory_xact_lock(7206185)", &[])
            .await
            .map_err(unavailable)?;
        tx.batch_execute(migrate::CREATE_TABLE)
            .await
            .map_err(unavailable)?;
        let sqlx: bool = tx
            .query_one("SELECT to_regclass('_sqlx_migrations') IS NOT NULL", &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(unavailable)?;
        if sqlx {
            tx.batch_execute(migrate::ADOPT_SQLX)
                .await
                .map_err(unavailable)?;
        }
        let applied: Vec<i64> = tx
            .query(migrate::APPLIED, &[])
            .await
            .map_err(unavailable)?
            .iter()
            .map(|r| r.try_get(0).map_err(corrupt))
            .collect::<Result<_, _>>()?;
        for m in migrate::pending(migrate::POSTGRES, &applied)? {
            tx.batch_execute(m.sql).await.map_err(|e| {
                StoreError::Unavailable(format!("migration {} failed: {e}", m.version))
            })?;
            tx.execute(migrate::RECORD, &[&m.version, &m.name, &migrate::now()])
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.conn().await?;
        query_opt(&conn, sql::SESSION_BY_HASH, &[&&hash.0[..]])
            .await?
            .as_ref()
            .map(rows::session)
            .transpose()
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.conn().await?;
        query_opt(&conn, sql::SESSION_BY_ID, &[&id.as_str()])
            .await?
            .as_ref()
            .map(rows::session)
            .transpose()
    }

    async fn touch_session(
        &self,
        id: &SessionId,
        idle_expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        // Lazy: a touch lost in a server crash only lets the session idle out
        // up to `touch_interval` sooner.
        let conn = self.lazy_conn().await?;
        execute(&conn, sql::TOUCH_SESSION, &[&id.as_str(), &idle_expires_at])
            .await
            .map(drop)
    }

    async fn revoke_session(&self, id: &SessionId, now: UnixTime) -> Result<bool, StoreError> {
        let conn = self.conn().await?;
        Ok(execute(&conn, sql::REVOKE_SESSION, &[&id.as_str(), &now]).await? == 1)
    }

    async fn replace_session(
        &self,
        old: &SessionId,
        s: &SessionRecord,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(unavailable)?;
        if execute(&tx, sql::REVOKE_IF_ACTIVE, &[&old.as_str(), &now]).await? != 1 {
            // Roll back now rather than when the dropped transaction's
            // connection is next used, which would hold the row lock till then.
            tx.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        insert_session(&tx, s).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn list_sessions(
        &self,
        appid: &AppId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let conn = self.conn().await?;
        query(
            &conn,
            sql::LIST_SESSIONS,
            &[&appid.as_str(), &openid.as_str(), &now],
        )
        .await?
        .iter()
        .map(rows::session)
        .collect()
    }

    async fn revoke_family(
        &self,
        member: &SessionRecord,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let conn = self.conn().await?;
        let params: [&(dyn ToSql + Sync); 4] = [
            &member.appid.as_str(),
            &member.openid.as_str(),
            &member.family.as_str(),
            &now,
        ];
        execute(&conn, sql::REVOKE_FAMILY, &params).await
    }

    async fn revoke_all(
        &self,
        appid: &AppId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let conn = self.conn().await?;
        execute(
            &conn,
            sql::REVOKE_ALL,
            &[&appid.as_str(), &openid.as_str(), &now],
        )
        .await
    }
}

#[cfg(test)]
mod tests;
