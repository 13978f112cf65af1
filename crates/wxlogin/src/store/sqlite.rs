//! SQLite store: one file, zero setup, for a single instance. WAL journal,
//! `synchronous = FULL` (an acknowledged login survives a crash or power cut),
//! embedded migrations. `sqlite::memory:` gives a private in-memory database.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::{
    CachedToken, Claim, ClaimState, ClaimStore, LockStore, LoginRecord, SessionRecord,
    SessionStore, Store, StoreError, TokenStore, UserRecord, UserStore, UserUpsert,
};
use crate::clock::UnixTime;
use crate::domain::token::TokenHash;

pub struct SqliteStore {
    /// Plain reads, in parallel (WAL readers do not block the writer).
    reader: SqlitePool,
    /// Everything that writes, through one connection: SQLite has one writer
    /// at a time, and writers that wait in sqlx's pool queue (fair, woken at
    /// once) instead of sleeping in SQLite's busy handler (up to 100 ms a nap),
    /// which made logins under load slow and bursty.
    writer: SqlitePool,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    // sqlx's Display for database errors is the engine's message (no row data).
    StoreError::Unavailable(e.to_string())
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad sqlite URL: {e}")))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .synchronous(SqliteSynchronous::Full);
        let options = if memory {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        };
        let open = |pool_options: SqlitePoolOptions, options| async move {
            pool_options
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Unavailable(format!("cannot open sqlite database: {e}")))
        };
        if memory {
            // An in-memory database lives in one connection: keep exactly one, forever.
            let single = super::sql::pool_options::<sqlx::Sqlite>()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            let pool = open(single, options).await?;
            return Ok(Self {
                reader: pool.clone(),
                writer: pool,
            });
        }
        // The writer first: it creates the file and switches it to WAL.
        let writer = open(
            super::sql::pool_options::<sqlx::Sqlite>().max_connections(1),
            options.clone(),
        )
        .await?;
        let reader = open(
            super::sql::pool_options::<sqlx::Sqlite>().max_connections(8),
            options,
        )
        .await?;
        Ok(Self { reader, writer })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }
}

super::rows::row_mappers!(SqliteRow);

/// Upsert a user inside the caller's transaction; returns whether it is new.
async fn upsert_user_in(conn: &mut SqliteConnection, u: &UserUpsert) -> Result<bool, StoreError> {
    let exists = sqlx::query("SELECT 1 FROM users WHERE appid = ?1 AND openid = ?2")
        .bind(&u.appid)
        .bind(&u.openid)
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?
        .is_some();
    sqlx::query(
        "INSERT INTO users (appid, openid, unionid, session_key, key_fp, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (appid, openid) DO UPDATE SET
           unionid = COALESCE(excluded.unionid, users.unionid),
           prev_session_key = CASE WHEN users.key_fp <> excluded.key_fp
                                   THEN users.session_key ELSE users.prev_session_key END,
           prev_key_until   = CASE WHEN users.key_fp <> excluded.key_fp
                                   THEN ?7 ELSE users.prev_key_until END,
           session_key = excluded.session_key,
           key_fp = excluded.key_fp,
           updated_at = excluded.updated_at",
    )
    .bind(&u.appid)
    .bind(&u.openid)
    .bind(&u.unionid)
    .bind(&u.sealed_session_key)
    .bind(&u.key_fingerprint)
    .bind(u.now)
    .bind(u.previous_key_until)
    .execute(&mut *conn)
    .await
    .map_err(unavailable)?;
    Ok(!exists)
}

/// Commit a login in one transaction, fenced on the claim's owner; `None`
/// when the claim is no longer ours.
async fn complete_login_in(
    writer: &SqlitePool,
    c: &Claim<'_>,
    user: &UserUpsert,
    session: &SessionRecord,
    record: &LoginRecord,
) -> Result<Option<bool>, StoreError> {
    let mut tx = writer.begin().await.map_err(unavailable)?;
    let fenced = sqlx::query(
        "UPDATE login_claims SET state = 'done', session_id = $3, sealed_token = $4,
           openid = $5, unionid = $6, session_expires_at = $7
         WHERE claim_key = $1 AND owner = $2 AND state = 'pending'",
    )
    .bind(&c.key[..])
    .bind(c.owner)
    .bind(&record.session_id)
    .bind(&record.sealed_token)
    .bind(&record.openid)
    .bind(&record.unionid)
    .bind(record.expires_at)
    .execute(&mut *tx)
    .await
    .map_err(unavailable)?;
    if fenced.rows_affected() != 1 {
        tx.rollback().await.map_err(unavailable)?;
        return Ok(None);
    }
    let new_user = upsert_user_in(&mut tx, user).await?;
    sqlx::query("UPDATE login_claims SET new_user = $2 WHERE claim_key = $1")
        .bind(&c.key[..])
        .bind(new_user)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    insert_session_in(&mut tx, session).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(Some(new_user))
}

super::sql::sql_store!(SqliteStore, SqliteConnection);
