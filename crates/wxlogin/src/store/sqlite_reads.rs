//! The two reads on the request path of a SQLite store, answered on the
//! calling thread: a token's session (every verify: the `token_hash` index,
//! then the row) and a user's sealed keys (every decrypt: the primary key).
//! Once SQLite's pages are in the OS cache each takes a few microseconds.
//! Through sqlx each cost four thread hand-offs (the query to the
//! connection's worker thread and back, then the pool's ping on release, to
//! the worker and back); answered here, a verify on SQLite costs about half
//! the CPU it did (`bench/RESULTS.md`, "Findings").
//!
//! What can still hold the calling thread: a page that is not in the OS
//! cache (a disk read), opening a connection (the first reads, and after a
//! failure), and SQLite's own short back-off when a reader races a commit
//! for a WAL read lock (no sleep for the first five tries, normally none).
//! There is no busy handler: a lock that is held (`SQLITE_BUSY`) hands the
//! read back to the caller at once, which asks sqlx's pool as before. Any
//! other failure does the same, is logged, and sends every read to the pool
//! for `BACK_OFF`. In WAL mode a reader never waits for the writer, and each
//! statement is its own read transaction, so it sees every login committed
//! before it started.
//!
//! Not used for in-memory databases (no file to open twice), for URLs with
//! parameters other than `mode` (a `vfs=`, `immutable=` … that these
//! connections would not honour), nor once the file at the path is no longer
//! the one the store opened (replaced or restored while running).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension as _, Row};

use super::sql::{Inline, SESSION_BY_HASH, USER_BY_KEY};
use super::{SessionRecord, StoreError, UserRecord};
use crate::domain::token::TokenHash;

/// How long reads go to the pool after a failure that is not a held lock.
const BACK_OFF: Duration = Duration::from_secs(5);

pub(super) struct InlineReads {
    path: PathBuf,
    /// The file the store opened: (device, inode).
    file: FileId,
    /// Idle connections kept for reuse. A read holds one only while it runs,
    /// and never across an `.await`, so no more are in use than threads
    /// calling; extras opened in a burst are closed when they come back.
    idle: Mutex<Vec<Connection>>,
    keep: usize,
    /// Reads go to the pool until this many milliseconds after `since`.
    off_until_ms: AtomicU64,
    since: Instant,
}

type FileId = (u64, u64);

fn file_id(path: &std::path::Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether a store URL's parameters leave the file to be opened as a plain
/// path: none, or only `mode=rw` / `mode=rwc`.
pub(super) fn plain_url(url: &str) -> bool {
    url.split_once('?').is_none_or(|(_, query)| {
        query
            .split('&')
            .all(|pair| matches!(pair, "" | "mode=rw" | "mode=rwc"))
    })
}

impl InlineReads {
    /// For the file at `path`, as the store just opened it; `None` if it
    /// cannot be identified.
    pub(super) fn new(path: PathBuf) -> Option<Self> {
        let file = file_id(&path)?;
        let keep = std::thread::available_parallelism().map_or(8, |n| n.get().max(8));
        Some(Self {
            path,
            file,
            idle: Mutex::new(Vec::with_capacity(keep)),
            keep,
            off_until_ms: AtomicU64::new(0),
            since: Instant::now(),
        })
    }

    pub(super) fn session(&self, hash: &TokenHash) -> Inline<SessionRecord> {
        self.read(SESSION_BY_HASH, [&hash.0[..]], session_from)
    }

    pub(super) fn user(&self, appid: &str, openid: &str) -> Inline<UserRecord> {
        self.read(USER_BY_KEY, (appid, openid), user_from)
    }

    fn read<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Inline<T> {
        let now_ms = self.since.elapsed().as_millis() as u64;
        if now_ms < self.off_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let conn = self.idle.lock().pop();
        let conn = match conn {
            Some(conn) => conn,
            None => match self.open() {
                Ok(conn) => conn,
                Err(e) => return self.fail(now_ms, &e),
            },
        };
        // A row whose columns do not have the schema's types is corrupt, not
        // a reason to ask the pool: the outer `Result` is SQLite's own errors.
        let answer = conn.prepare_cached(sql).and_then(|mut statement| {
            statement
                .query_row(params, |row| Ok(map(row).map_err(corrupt)))
                .optional()
        });
        match answer {
            Ok(answer) => {
                self.put_back(conn);
                Some(answer.transpose())
            }
            // A lock held elsewhere: this read goes to the pool, which waits.
            Err(e) if is_busy(&e) => {
                self.put_back(conn);
                None
            }
            // The connection is dropped; the next read opens a new one.
            Err(e) => self.fail(now_ms, &e.into()),
        }
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < self.keep {
            idle.push(conn);
        }
    }

    /// Send reads to the pool for `BACK_OFF`, and say why once.
    fn fail<T>(&self, now_ms: u64, e: &ReadError) -> Inline<T> {
        self.off_until_ms
            .store(now_ms + BACK_OFF.as_millis() as u64, Ordering::Relaxed);
        // SQLite's messages name no bound value, so no secret reaches the log.
        tracing::warn!(error = %e, "sqlite: reading on the calling thread failed; reads go through the pool for {BACK_OFF:?}");
        None
    }

    fn open(&self) -> Result<Connection, ReadError> {
        // Never create the file: the store's writer did, and a reader that
        // created an empty one would hide a misconfiguration.
        if file_id(&self.path) != Some(self.file) {
            return Err(ReadError::Replaced);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(Duration::ZERO)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("the database file was replaced since the store opened it")]
    Replaced,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Columns are read by position, in the order of `SESSION_BY_HASH` and
/// `USER_BY_KEY`.
fn session_from(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.get(0)?,
        token_hash: TokenHash(row.get(1)?),
        appid: row.get(2)?,
        openid: row.get(3)?,
        unionid: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        idle_expires_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

fn user_from(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        appid: row.get(0)?,
        openid: row.get(1)?,
        unionid: row.get(2)?,
        sealed_session_key: row.get(3)?,
        sealed_previous_key: row.get(4)?,
        previous_key_until: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

fn corrupt(e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::UserUpsert;

    /// The tables as the store's first migration creates them.
    const SCHEMA: &str = include_str!("../../migrations/sqlite/0001_init.sql");

    fn insert_session(conn: &Connection, hash: &[u8], created_at: rusqlite::types::Value) {
        conn.execute(
            "INSERT INTO sessions (id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at)
             VALUES ('s1', ?1, 'wxapp', 'o1', NULL, ?2, 200, 150)",
            rusqlite::params![hash, created_at],
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_read_sees_the_writers_last_commit_and_reports_a_corrupt_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reads.db");
        let store = crate::store::open(&format!("sqlite://{}", path.display()), true)
            .await
            .unwrap();
        let reads = InlineReads::new(path.clone()).unwrap();
        // The connection this opens stays idle across the write below.
        assert!(reads.user("wxapp", "o1").unwrap().unwrap().is_none());
        let user = UserUpsert {
            appid: "wxapp".into(),
            openid: "o1".into(),
            unionid: Some("u1".into()),
            sealed_session_key: vec![1, 2, 3],
            key_fingerprint: vec![4; 32],
            now: 100,
            previous_key_until: 0,
        };
        store.upsert_user(&user).await.unwrap();
        let read = reads.user("wxapp", "o1").unwrap().unwrap().unwrap();
        assert_eq!(read, store.get_user("wxapp", "o1").await.unwrap().unwrap());
        assert_eq!(
            (
                read.unionid.as_deref(),
                &read.sealed_session_key[..],
                read.created_at
            ),
            (Some("u1"), &[1, 2, 3][..], 100)
        );

        let writer = Connection::open(&path).unwrap();
        insert_session(&writer, &[7; 32], 100.into());
        let found = reads
            .session(&TokenHash([7; 32]))
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            found,
            SessionRecord {
                id: "s1".into(),
                token_hash: TokenHash([7; 32]),
                appid: "wxapp".into(),
                openid: "o1".into(),
                unionid: None,
                created_at: 100,
                expires_at: 200,
                idle_expires_at: 150,
                revoked_at: None,
            }
        );
        assert!(
            reads
                .session(&TokenHash([8; 32]))
                .unwrap()
                .unwrap()
                .is_none()
        );

        // A column of the wrong type is corrupt, not "ask the pool".
        writer.execute("DELETE FROM sessions", []).unwrap();
        insert_session(&writer, &[7; 32], "yesterday".to_owned().into());
        let answer = reads.session(&TokenHash([7; 32])).unwrap();
        assert!(matches!(answer, Err(StoreError::Corrupt(_))), "{answer:?}");
    }

    #[test]
    fn a_held_lock_hands_the_read_to_the_pool_without_backing_off() {
        // A rollback-journal database, where a writer's EXCLUSIVE lock keeps
        // readers out (in WAL mode nothing the writer does would).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        let locker = Connection::open(&path).unwrap();
        locker.execute_batch(SCHEMA).unwrap();
        insert_session(&locker, &[7; 32], 100.into());
        let reads = InlineReads::new(path).unwrap();
        assert!(
            reads
                .session(&TokenHash([7; 32]))
                .unwrap()
                .unwrap()
                .is_some()
        );

        locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        assert!(reads.session(&TokenHash([7; 32])).is_none());
        assert_eq!(reads.idle.lock().len(), 1, "a busy connection is kept");
        locker.execute_batch("COMMIT").unwrap();
        assert!(
            reads
                .session(&TokenHash([7; 32]))
                .unwrap()
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_replaced_file_sends_reads_to_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replaced.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(SCHEMA)
            .unwrap();
        let reads = InlineReads::new(path.clone()).unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::rename(&copy, &path).unwrap();
        assert!(reads.session(&TokenHash([1; 32])).is_none());
        assert!(reads.user("wxapp", "o1").is_none());
        assert!(reads.idle.lock().is_empty());
    }

    #[test]
    fn a_missing_file_is_not_read_inline_nor_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.db");
        assert!(InlineReads::new(path.clone()).is_none());
        assert!(!path.exists());
    }

    #[test]
    fn only_plain_urls_are_read_inline() {
        for url in [
            "sqlite://a.db",
            "sqlite://a.db?mode=rwc",
            "sqlite:a.db?mode=rw",
        ] {
            assert!(plain_url(url), "{url}");
        }
        for url in [
            "sqlite://a.db?vfs=unix-none",
            "sqlite://a.db?immutable=true&mode=ro",
        ] {
            assert!(!plain_url(url), "{url}");
        }
    }
}
