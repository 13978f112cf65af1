//! PostgreSQL store: several `wxlogin serve` instances share it and behave as
//! one service. Single flight and fencing come from conditional upserts on the
//! claim and lock rows; a login commits in one transaction. Migrations are
//! embedded (`migrations/postgres`) and run at start or by `wxlogin migrate`.
//! A schema other than `public` is chosen with the URL's
//! `options=-c search_path=NAME`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use super::{
    CachedToken, Claim, ClaimState, ClaimStore, LockStore, LoginRecord, SessionRecord,
    SessionStore, Store, StoreError, TokenStore, UserRecord, UserStore, UserUpsert,
};
use crate::clock::UnixTime;
use crate::domain::token::TokenHash;

pub struct PostgresStore {
    /// One pool for both roles: PostgreSQL queues writers on row locks itself.
    reader: PgPool,
    writer: PgPool,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

super::rows::row_mappers!(PgRow);

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad postgres URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to postgres: {e}")))?;
        Ok(Self {
            reader: pool.clone(),
            writer: pool,
        })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }
}

/// Upsert inside the caller's transaction; `xmax = 0` tells an insert from an
/// update, so two instances never both report a new user.
async fn upsert_user_in(conn: &mut PgConnection, u: &UserUpsert) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "INSERT INTO users (appid, openid, unionid, session_key, key_fp, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (appid, openid) DO UPDATE SET
           unionid = COALESCE(EXCLUDED.unionid, users.unionid),
           prev_session_key = CASE WHEN users.key_fp <> EXCLUDED.key_fp
                                   THEN users.session_key ELSE users.prev_session_key END,
           prev_key_until   = CASE WHEN users.key_fp <> EXCLUDED.key_fp
                                   THEN $7 ELSE users.prev_key_until END,
           session_key = EXCLUDED.session_key,
           key_fp = EXCLUDED.key_fp,
           updated_at = EXCLUDED.updated_at
         RETURNING (xmax = 0) AS inserted",
    )
    .bind(&u.appid)
    .bind(&u.openid)
    .bind(&u.unionid)
    .bind(&u.sealed_session_key)
    .bind(&u.key_fingerprint)
    .bind(u.now)
    .bind(u.previous_key_until)
    .fetch_one(&mut *conn)
    .await
    .map_err(unavailable)?;
    row.try_get("inserted").map_err(corrupt)
}

super::sql::sql_store!(PostgresStore, PgConnection);
