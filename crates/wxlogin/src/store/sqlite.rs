//! SQLite store: one file, zero setup, for a single instance. WAL journal,
//! `synchronous = FULL` (an acknowledged login survives a crash or power cut),
//! embedded migrations. `sqlite::memory:` gives a private in-memory database.
//! Writes go through one writer lock (`Writer`); the two lookups on the
//! request path (verify, decrypt) are read on the calling thread
//! (`sqlite_reads.rs`), everything else through sqlx's reader pool.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::ConnectOptions as _;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool};

use super::sql::Inline;
use super::sqlite_reads::InlineReads;
use super::{
    CachedToken, Claim, ClaimState, ClaimStore, LockStore, LoginRecord, SessionRecord,
    SessionStore, Store, StoreError, TokenStore, UserRecord, UserStore, UserUpsert,
};
use crate::clock::UnixTime;
use crate::domain::token::TokenHash;

pub struct SqliteStore {
    /// Plain reads, in parallel (WAL readers do not block the writer).
    reader: SqlitePool,
    /// A file database's verify and decrypt lookups, on the calling thread.
    inline: Option<InlineReads>,
    writer: Writer,
}

/// Everything that writes goes through one connection: SQLite has one writer
/// at a time, and writers that wait for it in process (a fair queue, woken at
/// once) do better than writers sleeping in SQLite's busy handler (up to
/// 100 ms a nap), which made logins under load slow and bursty. A file
/// database keeps that connection behind a lock rather than in a one-slot
/// sqlx pool: the pool pings a connection each time it comes back, which on
/// the writer is a worker round trip every other writer waits behind. (What
/// the pool's ping also did: replace a connection whose worker thread had
/// died. Here such a crash would fail every write until a restart; sqlx's
/// worker only dies on a panic inside it.)
enum Writer {
    Connection(tokio::sync::Mutex<WriterConnections>),
    /// An in-memory database is one connection, shared with the reads.
    Pool(SqlitePool),
}

/// Two connections to the file behind the one writer lock, so they do not
/// wait for each other in SQLite (unless a cancelled caller dropped the lock
/// while its statement still ran: verify's touches run in a task of their
/// own for that reason): `durable` commits with `synchronous = FULL`
/// (an `fsync` of the WAL each), `lazy` with `NORMAL` (no `fsync`; the commit
/// reaches the disk with the next durable one or checkpoint, and survives a
/// crash of this process, not a power cut). See `SqliteStore::write_lazy`.
struct WriterConnections {
    durable: SqliteConnection,
    lazy: SqliteConnection,
}

/// The writer connection while one caller holds it.
enum WriteGuard<'a> {
    Connection(tokio::sync::MappedMutexGuard<'a, SqliteConnection>),
    Pool(PoolConnection<Sqlite>),
}

impl Deref for WriteGuard<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self {
            Self::Connection(c) => c,
            Self::Pool(c) => c,
        }
    }
}

impl DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Self::Connection(c) => c,
            Self::Pool(c) => c,
        }
    }
}

/// How long a write waits for the writer before it answers "unavailable".
const WRITER_WAIT: Duration = Duration::from_secs(5);

fn cannot_open(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot open sqlite database: {e}"))
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
                .map_err(cannot_open)
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
                inline: None,
                writer: Writer::Pool(pool),
            });
        }
        // The writer first: it creates the file and switches it to WAL.
        let durable = options.connect().await.map_err(cannot_open)?;
        let lazy = options
            .clone()
            .synchronous(SqliteSynchronous::Normal)
            .connect()
            .await
            .map_err(cannot_open)?;
        let path = options.get_filename().to_owned();
        let reader = open(
            super::sql::pool_options::<sqlx::Sqlite>().max_connections(8),
            options,
        )
        .await?;
        Ok(Self {
            reader,
            inline: super::sqlite_reads::plain_url(url)
                .then(|| InlineReads::new(path))
                .flatten(),
            writer: Writer::Connection(tokio::sync::Mutex::new(WriterConnections {
                durable,
                lazy,
            })),
        })
    }

    fn session_inline(&self, hash: &TokenHash) -> Inline<SessionRecord> {
        self.inline.as_ref()?.session(hash)
    }

    fn user_inline(&self, appid: &str, openid: &str) -> Inline<UserRecord> {
        self.inline.as_ref()?.user(appid, openid)
    }

    /// The writer connection, once every write queued before this one is done.
    async fn write(&self) -> Result<WriteGuard<'_>, StoreError> {
        self.writer_of(|w| &mut w.durable).await
    }

    /// The writer for what may be lost with the machine (not with this
    /// process): its commits do not wait for the disk. Only claims
    /// (`write_claim`), idle-deadline touches and purges use it (the
    /// `sql_store!` macro says why each may).
    /// It queues behind the same lock as `write()`.
    async fn write_lazy(&self) -> Result<WriteGuard<'_>, StoreError> {
        self.writer_of(|w| &mut w.lazy).await
    }

    /// A login claim is lazy here. The database lives and dies with this
    /// process, so a claim is only lost together with its holder's login;
    /// the client's retry then gets the same answer as with a durable claim
    /// that was left pending (a fresh exchange, or `code_used`), and the
    /// login's durable commit, fenced on the claim, flushes it anyway.
    async fn write_claim(&self) -> Result<WriteGuard<'_>, StoreError> {
        self.write_lazy().await
    }

    async fn writer_of(
        &self,
        pick: fn(&mut WriterConnections) -> &mut SqliteConnection,
    ) -> Result<WriteGuard<'_>, StoreError> {
        let busy = |_| StoreError::Unavailable("the sqlite writer stayed busy".into());
        match &self.writer {
            Writer::Connection(lock) => tokio::time::timeout(WRITER_WAIT, lock.lock())
                .await
                .map(|guard| WriteGuard::Connection(tokio::sync::MutexGuard::map(guard, pick)))
                .map_err(busy),
            // In memory, nothing waits for a disk.
            Writer::Pool(pool) => pool
                .acquire()
                .await
                .map(WriteGuard::Pool)
                .map_err(unavailable),
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&mut *self.write().await?)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }
}

super::rows::row_mappers!(SqliteRow);

/// Upsert a user ($1..$7 of `user_on_conflict!`).
const UPSERT_USER: &str = concat!(
    "INSERT INTO users (appid, openid, unionid, session_key, key_fp, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6) ",
    super::sql::user_on_conflict!()
);

/// A login's commit as one multi-statement call: sqlx hands each call to the
/// connection's worker thread and back, and seven separate statements cost
/// more than the writes. The claim is fenced on its owner ($8, $9) and marked
/// done with the answer for replays ($18..$22), noting whether the user is
/// new; the user upsert and the session insert ($10..$17) run only if that
/// update did (the claim is now done with our session id). Run inside one
/// transaction by `complete_login_in`.
const COMPLETE_LOGIN: &str = concat!(
    "UPDATE login_claims SET state = 'done', session_id = $18, sealed_token = $19,
       openid = $20, unionid = $21, session_expires_at = $22,
       new_user = NOT EXISTS (SELECT 1 FROM users WHERE appid = $1 AND openid = $2)
     WHERE claim_key = $8 AND owner = $9 AND state = 'pending'
     RETURNING new_user;
     INSERT INTO users (appid, openid, unionid, session_key, key_fp, created_at, updated_at)
     SELECT $1, $2, $3, $4, $5, $6, $6
     WHERE EXISTS (SELECT 1 FROM login_claims WHERE claim_key = $8 AND owner = $9
                   AND state = 'done' AND session_id = $18) ",
    super::sql::user_on_conflict!(),
    ";
     INSERT INTO sessions (id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at)
     SELECT $10, $11, $12, $13, $14, $15, $16, $17
     WHERE EXISTS (SELECT 1 FROM login_claims WHERE claim_key = $8 AND owner = $9
                   AND state = 'done' AND session_id = $18);"
);

/// Upsert a user inside the caller's transaction; returns whether it is new.
async fn upsert_user_in(conn: &mut SqliteConnection, u: &UserUpsert) -> Result<bool, StoreError> {
    let exists = sqlx::query("SELECT 1 FROM users WHERE appid = ?1 AND openid = ?2")
        .bind(&u.appid)
        .bind(&u.openid)
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?
        .is_some();
    bind_user(sqlx::query(UPSERT_USER), u)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(!exists)
}

/// Commit a login in one transaction, fenced on the claim's owner; `None`
/// when the claim is no longer ours.
async fn complete_login_in(
    conn: &mut SqliteConnection,
    c: &Claim<'_>,
    user: &UserUpsert,
    s: &SessionRecord,
    record: &LoginRecord,
) -> Result<Option<bool>, StoreError> {
    let mut tx = sqlx::Connection::begin(conn).await.map_err(unavailable)?;
    // `fetch_all`, not `fetch_optional`: every statement must run.
    let rows = bind_login(sqlx::query(COMPLETE_LOGIN), c, user, s, record)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
    let Some(row) = rows.first() else {
        tx.rollback().await.map_err(unavailable)?;
        return Ok(None);
    };
    let new_user: bool = row.try_get("new_user").map_err(corrupt)?;
    tx.commit().await.map_err(unavailable)?;
    Ok(Some(new_user))
}

super::sql::sql_store!(SqliteStore, SqliteConnection, Sqlite);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn pragma(conn: &mut SqliteConnection, name: &str) -> String {
        let sql = sqlx::AssertSqlSafe(format!("PRAGMA {name}"));
        let row = sqlx::query(sql).fetch_one(conn).await.unwrap();
        // `synchronous` answers a number, `journal_mode` a name.
        row.try_get::<i64, _>(0)
            .map(|n| n.to_string())
            .or_else(|_| row.try_get::<String, _>(0))
            .unwrap()
    }

    /// Logins commit with an `fsync`; only the lazy writer skips it, and both
    /// write the same WAL.
    #[tokio::test]
    async fn only_the_lazy_writer_commits_without_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("writers.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let mut durable = store.write().await.unwrap();
        assert_eq!(pragma(&mut durable, "synchronous").await, "2", "FULL");
        assert_eq!(pragma(&mut durable, "journal_mode").await, "wal");
        drop(durable);
        let mut lazy = store.write_lazy().await.unwrap();
        assert_eq!(pragma(&mut lazy, "synchronous").await, "1", "NORMAL");
        assert_eq!(pragma(&mut lazy, "journal_mode").await, "wal");
    }
}
