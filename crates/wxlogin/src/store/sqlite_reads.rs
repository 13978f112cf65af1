//! The two reads on the request path of a SQLite store, answered on the
//! calling thread: a token's session (every verify) and a user's sealed keys
//! (every decrypt). Both are primary-key lookups that take a few microseconds
//! once SQLite's pages are in memory. Through sqlx each one cost four thread
//! hand-offs (the query to the connection's worker thread and back, then the
//! pool's ping on release, to the worker and back), which were most of a
//! verify's CPU; `bench/RESULTS.md` has the numbers.
//!
//! A call never waits: the connections have no busy timeout, and any error
//! (SQLITE_BUSY while a checkpoint resets the WAL index, a missing file, …)
//! hands the read back to the caller, which asks sqlx's pool as before. In
//! WAL mode a reader does not wait for the writer, and each statement is its
//! own read transaction, so it sees every login committed before it started.
//! In-memory databases have no file to open twice and do not use this.

use std::path::PathBuf;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, Row};

use super::sql::Inline;
use super::{SessionRecord, StoreError, UserRecord};
use crate::domain::token::TokenHash;

/// Idle connections kept for reuse. A read holds one only while it runs, and
/// never across an `.await`, so there are at most as many in use as threads
/// calling; extras opened in a burst are closed when they come back.
const KEEP: usize = 8;

pub(super) struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReads {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::with_capacity(KEEP)),
        }
    }

    pub(super) fn session(&self, hash: &TokenHash) -> Inline<SessionRecord> {
        self.read(
            "SELECT id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at, revoked_at
             FROM sessions WHERE token_hash = ?1",
            [&hash.0[..]],
            session_from,
        )
    }

    pub(super) fn user(&self, appid: &str, openid: &str) -> Inline<UserRecord> {
        self.read(
            "SELECT appid, openid, unionid, session_key, prev_session_key, prev_key_until, created_at, updated_at
             FROM users WHERE appid = ?1 AND openid = ?2",
            (appid, openid),
            user_from,
        )
    }

    fn read<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: fn(&Row<'_>) -> rusqlite::Result<Result<T, StoreError>>,
    ) -> Inline<T> {
        let conn = self.idle.lock().pop();
        let conn = match conn {
            Some(conn) => conn,
            None => self.open().ok()?,
        };
        let answer = conn
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row(params, map).optional());
        // A connection that failed is dropped; the next read opens a new one.
        let answer = answer.ok()?;
        let mut idle = self.idle.lock();
        if idle.len() < KEEP {
            idle.push(conn);
        }
        Some(answer.transpose())
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Never create the file: the store's writer did, and a reader that
        // created an empty one would hide a misconfiguration.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }
}

/// A row whose columns do not have the schema's types is corrupt, not a
/// reason to ask the pool: the outer `Result` is for SQLite's own errors.
/// Columns are read by position, in the order of the `SELECT`s above.
fn session_from(row: &Row<'_>) -> rusqlite::Result<Result<SessionRecord, StoreError>> {
    let record = || -> rusqlite::Result<SessionRecord> {
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
    };
    Ok(record().map_err(corrupt))
}

fn user_from(row: &Row<'_>) -> rusqlite::Result<Result<UserRecord, StoreError>> {
    let record = || -> rusqlite::Result<UserRecord> {
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
    };
    Ok(record().map_err(corrupt))
}

fn corrupt(e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A migrated SQLite file (made by the store itself) and its path.
    async fn database(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("reads.db");
        let url = format!("sqlite://{}", path.display());
        crate::store::open(&url, true).await.unwrap();
        path
    }

    fn insert_session(path: &PathBuf, hash: &[u8], created_at: rusqlite::types::Value) {
        let conn = Connection::open(path).unwrap();
        conn.execute(
            "INSERT INTO sessions (id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at)
             VALUES ('s1', ?1, 'wxapp', 'o1', NULL, ?2, 200, 150)",
            rusqlite::params![hash, created_at],
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_lookup_answers_found_missing_and_corrupt_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(&dir).await;
        insert_session(&path, &[7; 32], 100.into());
        let reads = InlineReads::new(path.clone());

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
        assert!(reads.user("wxapp", "o1").unwrap().unwrap().is_none());

        // A row with a column of the wrong type is corrupt, not "ask the pool".
        Connection::open(&path)
            .unwrap()
            .execute("DELETE FROM sessions", [])
            .unwrap();
        insert_session(&path, &[7; 32], "yesterday".to_owned().into());
        let answer = reads.session(&TokenHash([7; 32])).unwrap();
        assert!(matches!(answer, Err(StoreError::Corrupt(_))), "{answer:?}");
    }

    #[test]
    fn a_database_that_cannot_be_opened_is_left_to_the_pool_and_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.db");
        let reads = InlineReads::new(path.clone());
        assert!(reads.session(&TokenHash([1; 32])).is_none());
        assert!(reads.user("wxapp", "o1").is_none());
        assert!(!path.exists());
    }
}
