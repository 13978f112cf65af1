//! PostgreSQL store: several `wxlogin serve` instances share it and behave as
//! one service. Single flight and fencing come from conditional upserts on the
//! claim and lock rows; a login commits in one statement. Migrations are
//! embedded (`migrations/postgres`) and run at start or by `wxlogin migrate`.
//! A schema other than `public` is chosen with the URL's
//! `options=-c search_path=NAME`. A server on the loopback is spoken to
//! without TLS unless the URL (or `PGSSLMODE`) asks for it: see
//! `plaintext_on_loopback`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow, PgSslMode};
use sqlx::{PgPool, Postgres, Row};

use super::sql::Inline;
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
    /// Connections whose commits do not wait for the WAL flush
    /// (`synchronous_commit = off`), for `write_lazy`; the writer pool if
    /// the server refused that option.
    lazy: PgPool,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

super::rows::row_mappers!(PgRow);

/// sqlx, like libpq, defaults to `sslmode=prefer`: TLS whenever the server
/// offers it, with no certificate check. To a server on this machine's
/// loopback that protects nothing (the bytes never leave the kernel, and
/// whoever can read them there can read the server's memory), and it cost a
/// fifth of a cache-off verify's CPU (`bench/RESULTS.md`). So when neither
/// the URL nor `PGSSLMODE` chooses a mode and the host is 127.0.0.0/8, `::1`
/// or `localhost`, TLS is off; any other host keeps the default, and an
/// explicit `sslmode` always wins.
fn plaintext_on_loopback(options: PgConnectOptions, url: &str) -> PgConnectOptions {
    let chosen = url.contains("sslmode=") || std::env::var_os("PGSSLMODE").is_some();
    let host = options.get_host();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if chosen || !loopback {
        return options;
    }
    options.ssl_mode(PgSslMode::Disable)
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad postgres URL: {e}")))?;
        let options = plaintext_on_loopback(options, url);
        let open = |max, options| {
            super::sql::pool_options::<sqlx::Postgres>()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
        };
        let cannot_connect =
            |e| StoreError::Unavailable(format!("cannot connect to postgres: {e}"));
        let lazy_options = options.clone().options([("synchronous_commit", "off")]);
        let pool = open(16, options).await.map_err(cannot_connect)?;
        let lazy = match open(4, lazy_options).await {
            Ok(lazy) => lazy,
            // A pooler such as PgBouncer may refuse startup options: then
            // those writes wait for the disk too, which is only slower.
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cannot open connections with synchronous_commit = off; \
                     idle-deadline touches and purges will wait for the WAL flush"
                );
                pool.clone()
            }
        };
        Ok(Self {
            reader: pool.clone(),
            writer: pool,
            lazy,
        })
    }

    /// A connection for writes (the pool's: PostgreSQL queues writers on
    /// row locks itself).
    async fn write(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.writer.acquire().await.map_err(unavailable)
    }

    /// A connection for what may be lost if the database server crashes: its
    /// commits return before their WAL is flushed (it is within
    /// `wal_writer_delay`, or with the next durable commit, which flushes
    /// everything before it). Only idle-deadline touches and purges use it;
    /// the `sql_store!` macro says why each may.
    async fn write_lazy(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.lazy.acquire().await.map_err(unavailable)
    }

    /// A login claim is durable here. PostgreSQL can crash and be back
    /// within a holder's upstream call; a durable claim then still lets the
    /// holder commit the login whose code WeChat has already consumed, where
    /// a lost one would leave its client with `code_used`.
    async fn write_claim(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.write().await
    }

    /// A commit here returns once its WAL is flushed (PostgreSQL groups
    /// concurrent commits into one flush itself): nothing more to wait for.
    async fn synced(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The server's own health is `ping`'s query.
    fn healthy(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Every read goes through the pool.
    fn session_inline(&self, _: &TokenHash) -> Inline<SessionRecord> {
        None
    }

    fn user_inline(&self, _: &str, _: &str) -> Inline<UserRecord> {
        None
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }
}

/// `xmax = 0` tells an insert from an update, so two instances never both
/// report a new user.
const UPSERT_USER: &str = concat!(
    "INSERT INTO users (appid, openid, unionid, session_key, key_fp, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6) ",
    super::sql::user_on_conflict!(),
    " RETURNING (xmax = 0) AS inserted"
);

/// A login's whole commit in one statement (one round trip instead of six):
/// the claim row is locked if we still hold it ($8 key, $9 owner), and only
/// then are the user upserted, the session inserted ($10..$17) and the claim
/// marked done with the answer for replays ($18..$22). Sub-statements
/// of a WITH run once each on one snapshot; none touches a row another one
/// writes, and an empty `claim` makes every one of them a no-op.
const COMPLETE_LOGIN: &str = concat!(
    "WITH claim AS (
           SELECT claim_key FROM login_claims
           WHERE claim_key = $8 AND owner = $9 AND state = 'pending'
           FOR UPDATE
         ), usr AS (
           INSERT INTO users (appid, openid, unionid, session_key, key_fp, created_at, updated_at)
           SELECT $1, $2, $3, $4, $5, $6, $6 FROM claim ",
    super::sql::user_on_conflict!(),
    " RETURNING (xmax = 0) AS inserted
         ), sess AS (
           INSERT INTO sessions (id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at)
           SELECT $10, $11, $12, $13, $14, $15, $16, $17 FROM claim
         )
         UPDATE login_claims SET state = 'done', session_id = $18, sealed_token = $19,
           openid = $20, unionid = $21, session_expires_at = $22,
           new_user = (SELECT inserted FROM usr)
         WHERE claim_key = (SELECT claim_key FROM claim)
         RETURNING new_user"
);

/// Upsert inside the caller's transaction; returns whether the user is new.
async fn upsert_user_in(conn: &mut PgConnection, u: &UserUpsert) -> Result<bool, StoreError> {
    let row = bind_user(sqlx::query(UPSERT_USER), u)
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    row.try_get("inserted").map_err(corrupt)
}

/// Commit a login, fenced on the claim's owner; `None` when the claim is no
/// longer ours.
async fn complete_login_in(
    conn: &mut PgConnection,
    c: &Claim<'_>,
    user: &UserUpsert,
    s: &SessionRecord,
    record: &LoginRecord,
) -> Result<Option<bool>, StoreError> {
    let row = bind_login(sqlx::query(COMPLETE_LOGIN), c, user, s, record)
        .fetch_optional(conn)
        .await
        .map_err(unavailable)?;
    row.map(|row| row.try_get("new_user").map_err(corrupt))
        .transpose()
}

super::sql::sql_store!(PostgresStore, PgConnection, Postgres);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn show(mut conn: PoolConnection<Postgres>, name: &str) -> String {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {name}")))
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    }

    fn test_url() -> Option<String> {
        let var = "WXLOGIN_TEST_POSTGRES_URL";
        let Some(base) = std::env::var(var).ok().filter(|u| !u.is_empty()) else {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "{var} must be set in CI"
            );
            eprintln!("\n!!! SKIPPED: {var} is not set; this test needs it (see .ci/run) !!!\n");
            return None;
        };
        Some(base)
    }

    fn with(base: &str, param: &str) -> String {
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}{param}")
    }

    async fn uses_tls(store: &PostgresStore) -> bool {
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut *store.write().await.unwrap())
            .await
            .unwrap()
    }

    /// No TLS to a server on the loopback by default; an explicit
    /// `sslmode` is obeyed (checked where the server offers TLS).
    #[tokio::test]
    async fn the_loopback_is_spoken_to_without_tls_unless_asked() {
        let Some(base) = test_url() else { return };
        let host = PgConnectOptions::from_str(&base)
            .unwrap()
            .get_host()
            .to_owned();
        assert!(
            ["127.0.0.1", "localhost", "::1"].contains(&host.as_str()),
            "load and fault tests talk only to the loopback, not {host}"
        );
        let store = PostgresStore::connect(&base).await.unwrap();
        assert!(!uses_tls(&store).await);
        let server_offers_tls = show(store.write().await.unwrap(), "ssl").await == "on";
        if server_offers_tls {
            let asked = PostgresStore::connect(&with(&base, "sslmode=require"))
                .await
                .unwrap();
            assert!(uses_tls(&asked).await);
        } else {
            eprintln!("the server offers no TLS: the explicit sslmode=require case is not checked");
        }
    }

    /// Only the lazy pool returns before the WAL flush, and it keeps the
    /// URL's own options (here the schema).
    #[tokio::test]
    async fn only_the_lazy_pool_commits_without_waiting_for_the_wal_flush() {
        let Some(base) = test_url() else { return };
        let url = with(&base, "options=-c%20search_path%3Dwxt_lazy_check");
        let store = PostgresStore::connect(&url).await.unwrap();
        assert_ne!(
            show(store.write().await.unwrap(), "synchronous_commit").await,
            "off"
        );
        assert_eq!(
            show(store.write_lazy().await.unwrap(), "synchronous_commit").await,
            "off"
        );
        assert_eq!(
            show(store.write_lazy().await.unwrap(), "search_path").await,
            "wxt_lazy_check"
        );
    }
}
