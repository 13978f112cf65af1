//! SQLite store: one file, zero setup, for a single instance. WAL journal,
//! embedded migrations. `sqlite::memory:` gives a private in-memory database.
//! Writes go through one writer lock (`Writer`) and commit without an
//! `fsync`; those that must survive a power cut (an acknowledged login,
//! revoke, refresh) then wait for a group `fsync` of the WAL shared with every
//! commit waiting at the time (`wal_sync.rs`). The two lookups on the request
//! path (verify, decrypt) are read on the calling thread (`sqlite_reads.rs`),
//! everything else through sqlx's reader pool.

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
use super::wal_sync::WalSync;
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
    /// A file database's group `fsync`; `None` in memory.
    wal: Option<WalSync>,
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
///
/// The connection commits with `synchronous = NORMAL`: a commit is in the
/// WAL file (it survives a crash of this process) but not yet on the disk
/// (a power cut can lose it) until `SqliteStore::synced` returns.
enum Writer {
    Connection(tokio::sync::Mutex<SqliteConnection>),
    /// An in-memory database is one connection, shared with the reads.
    Pool(SqlitePool),
}

/// The writer connection while one caller holds it.
enum WriteGuard<'a> {
    Connection(tokio::sync::MutexGuard<'a, SqliteConnection>),
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
            // Durability comes from `WalSync` (file) or does not apply (memory).
            .synchronous(SqliteSynchronous::Normal);
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
                wal: None,
            });
        }
        // The writer first: it creates the file and switches it to WAL.
        let mut writer = options.connect().await.map_err(cannot_open)?;
        // The file SQLite opened (symlinks resolved), whose WAL it names.
        let opened: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&mut writer)
                .await
                .map_err(cannot_open)?;
        let wal = WalSync::new(std::path::Path::new(&opened));
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
            writer: Writer::Connection(tokio::sync::Mutex::new(writer)),
            wal: Some(wal),
        })
    }

    fn session_inline(&self, hash: &TokenHash) -> Inline<SessionRecord> {
        self.inline.as_ref()?.session(hash)
    }

    fn user_inline(&self, appid: &str, openid: &str) -> Inline<UserRecord> {
        self.inline.as_ref()?.user(appid, openid)
    }

    /// The writer connection, once every write queued before this one is
    /// done. A write that must survive a power cut calls `synced()` after its
    /// commit, once it has let go of the connection.
    async fn write(&self) -> Result<WriteGuard<'_>, StoreError> {
        self.healthy()?;
        let busy = |_| StoreError::Unavailable("the sqlite writer stayed busy".into());
        match &self.writer {
            Writer::Connection(lock) => tokio::time::timeout(WRITER_WAIT, lock.lock())
                .await
                .map(WriteGuard::Connection)
                .map_err(busy),
            // In memory, nothing waits for a disk.
            Writer::Pool(pool) => pool
                .acquire()
                .await
                .map(WriteGuard::Pool)
                .map_err(unavailable),
        }
    }

    /// The same writer, for what may be lost with the machine (not with
    /// this process): the caller does not wait for `synced()`. Only claims
    /// (`write_claim`), idle-deadline touches and purges (the `sql_store!`
    /// macro says why each may).
    async fn write_lazy(&self) -> Result<WriteGuard<'_>, StoreError> {
        self.write().await
    }

    /// A login claim is lazy here. The database lives and dies with this
    /// process, so a claim is only lost together with its holder's login;
    /// the client's retry then gets the same answer as with a durable claim
    /// that was left pending (a fresh exchange, or `code_used`), and the
    /// login's durable commit, fenced on the claim, flushes it anyway.
    async fn write_claim(&self) -> Result<WriteGuard<'_>, StoreError> {
        self.write_lazy().await
    }

    /// Returns once every commit made before the call is on disk: one group
    /// `fsync` of the WAL (`wal_sync.rs`). In memory, nothing to wait for.
    async fn synced(&self) -> Result<(), StoreError> {
        match &self.wal {
            Some(wal) => wal.flush().await,
            None => Ok(()),
        }
    }

    /// Fails once a WAL `fsync` has failed (until restart).
    fn healthy(&self) -> Result<(), StoreError> {
        self.wal.as_ref().map_or(Ok(()), WalSync::check)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&mut *self.write().await?)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        self.synced().await
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
#[allow(clippy::unwrap_used, clippy::expect_used)]
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

    fn user(openid: &str, key: u8) -> UserUpsert {
        UserUpsert {
            appid: "wxapp".into(),
            openid: openid.into(),
            unionid: None,
            sealed_session_key: vec![key; 16],
            key_fingerprint: vec![key; 8],
            now: NOW,
            previous_key_until: NOW + 60,
        }
    }

    fn session(id: &str) -> SessionRecord {
        let mut hash = [0; 32];
        hash[..id.len()].copy_from_slice(id.as_bytes());
        SessionRecord {
            id: id.into(),
            token_hash: TokenHash(hash),
            appid: "wxapp".into(),
            openid: "o1".into(),
            unionid: None,
            created_at: NOW,
            expires_at: NOW + 3600,
            idle_expires_at: NOW + 600,
            revoked_at: None,
        }
    }

    const NOW: UnixTime = 1_700_000_000;

    async fn file_store(dir: &tempfile::TempDir, name: &str) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join(name).display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// The writer commits without an `fsync` (WAL, `NORMAL`); every write
    /// that must survive a power cut syncs the WAL after it, lazy ones and
    /// writes that change nothing do not.
    #[tokio::test]
    async fn durable_writes_sync_the_wal_and_lazy_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir, "writers.db").await;
        let mut writer = store.write().await.unwrap();
        assert_eq!(pragma(&mut writer, "synchronous").await, "1", "NORMAL");
        assert_eq!(pragma(&mut writer, "journal_mode").await, "wal");
        drop(writer);
        let syncs = || store.wal.as_ref().unwrap().syncs();
        assert_eq!(syncs(), 1, "the migration");
        let mut expected = syncs();
        let mut step = |what: &str, durable: bool| {
            expected += u64::from(durable);
            assert_eq!(syncs(), expected, "{what}");
        };

        let claim = Claim {
            key: &[7; 32],
            appid: "wxapp",
            owner: "me",
            now: NOW,
            lease_until: NOW + 10,
            expires_at: NOW + 300,
        };
        assert_eq!(store.claim(&claim).await.unwrap(), ClaimState::Acquired);
        step("a claim is lazy", false);
        let record = LoginRecord {
            session_id: "s1".into(),
            sealed_token: vec![1; 40],
            openid: "o1".into(),
            unionid: None,
            new_user: false,
            expires_at: NOW + 3600,
        };
        let done = store
            .complete_login(&claim, &user("o1", 1), &session("s1"), &record)
            .await
            .unwrap();
        assert_eq!(done, Some(true));
        step("a login", true);
        let replay = Claim {
            owner: "retry",
            ..claim
        };
        assert!(matches!(
            store.claim(&replay).await.unwrap(),
            ClaimState::Done(_)
        ));
        step("a replayed login", true);
        let lost = store
            .complete_login(&claim, &user("o1", 1), &session("s9"), &record)
            .await
            .unwrap();
        assert_eq!(lost, None);
        step("a login whose claim is gone changes nothing", false);

        let other = Claim {
            key: &[8; 32],
            ..claim
        };
        store.claim(&other).await.unwrap();
        store
            .fail_claim(other.key, "me", "invalid_code")
            .await
            .unwrap();
        step("failing a claim is lazy", false);
        let third = Claim {
            key: &[9; 32],
            ..claim
        };
        store.claim(&third).await.unwrap();
        store.release_claim(third.key, "me").await.unwrap();
        step("releasing a claim is lazy", false);

        store.touch_session("s1", NOW + 900).await.unwrap();
        step("a touch is lazy", false);
        store.purge_expired(NOW).await.unwrap();
        step("a purge is lazy", false);
        assert!(store.upsert_user(&user("o2", 2)).await.unwrap());
        step("a user upsert", true);
        assert!(
            store
                .replace_session("s1", &session("t2"), NOW)
                .await
                .unwrap()
        );
        step("a refresh", true);
        assert!(
            !store
                .replace_session("s1", &session("u3"), NOW)
                .await
                .unwrap()
        );
        step("a refresh of a dead session changes nothing", false);
        assert!(store.revoke_session("t2", NOW).await.unwrap());
        step("a revoke", true);
        assert_eq!(store.revoke_all("wxapp", "o1", NOW).await.unwrap(), 0);
        step("a revoke of all", true);
        let token = CachedToken {
            sealed_token: vec![3; 40],
            expires_at: NOW + 7200,
            fence: 1,
        };
        assert!(store.put_access_token("wxapp", &token).await.unwrap());
        step("an access token", true);
        assert_eq!(
            store.try_lock("refresh", "a", NOW, NOW + 30).await.unwrap(),
            Some(1)
        );
        step("a lock taken", true);
        assert_eq!(
            store.try_lock("refresh", "b", NOW, NOW + 30).await.unwrap(),
            None
        );
        step("a lock refused", false);
        store.unlock("refresh", "a").await.unwrap();
        step("an unlock", true);
    }

    /// A durable write lets go of the writer before it waits for the disk.
    #[tokio::test]
    async fn the_writer_is_free_while_a_durable_write_waits_for_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(file_store(&dir, "free.db").await);
        let held = std::sync::Arc::clone(&store.wal.as_ref().unwrap().leader)
            .lock_owned()
            .await;
        let durable = tokio::spawn({
            let store = std::sync::Arc::clone(&store);
            async move { store.upsert_user(&user("o1", 1)).await }
        });
        tokio::time::timeout(Duration::from_secs(5), async {
            while store.get_user("wxapp", "o1").await.unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the upsert commits");
        // Committed, waiting for the fsync: the writer is free meanwhile.
        tokio::time::timeout(Duration::from_secs(5), store.touch_session("x", NOW))
            .await
            .expect("the writer was held over the fsync")
            .unwrap();
        assert!(!durable.is_finished());
        drop(held);
        assert!(durable.await.unwrap().unwrap());
    }

    /// SQLite names the WAL after the file a symlink points to; the `fsync`
    /// goes to that file.
    #[tokio::test]
    async fn a_symlinked_database_syncs_the_wal_sqlite_writes() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.db");
        std::fs::write(&real, b"").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link.db")).unwrap();
        let store = file_store(&dir, "link.db").await;
        store.upsert_user(&user("o1", 1)).await.unwrap();
        let synced = store
            .wal
            .as_ref()
            .unwrap()
            .file()
            .unwrap()
            .metadata()
            .unwrap();
        let wal = std::fs::metadata(dir.path().join("real.db-wal")).unwrap();
        assert_eq!((synced.dev(), synced.ino()), (wal.dev(), wal.ino()));
        assert!(!dir.path().join("link.db-wal").exists());
    }
}
