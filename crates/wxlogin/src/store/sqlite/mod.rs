//! SQLite store: one file, zero setup, for a single instance. WAL journal;
//! writes go to one writer thread that commits them in batches (`writer.rs`),
//! reads run on the calling thread (`reads.rs`). `sqlite::memory:` gives a
//! private in-memory database whose reads also go through the writer (there
//! is no file to open twice).

mod claims;
mod reads;
mod rekey;
mod users;
mod writer;

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, ToSql};

use self::reads::ReadPool;
use self::writer::{Durability, Writer, unavailable};
use super::rows::{self};
use super::url::SqliteTarget;
use super::{SessionRecord, SessionStore, StoreError, migrate, sql};
use crate::clock::UnixTime;
use crate::ids::{AppId, OpenId, SessionId, TokenHash};

pub struct SqliteStore {
    writer: Writer,
    /// `None` in memory: reads go through the writer.
    reads: Option<ReadPool>,
}

/// SQLite names a numbered parameter `$N` after its text; the shared SQL
/// (`sql.rs`) is bound by those names, so `$2` before `$1` binds correctly.
const NAMES: [&str; 12] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12",
];

fn numbered<'a>(params: &'a [&'a dyn ToSql]) -> Vec<(&'static str, &'a dyn ToSql)> {
    NAMES.iter().copied().zip(params.iter().copied()).collect()
}

fn execute(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(numbered(params).as_slice()))
        .map_err(unavailable)
}

fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: impl FnOnce(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    let mut rows = stmt
        .query(numbered(params).as_slice())
        .map_err(unavailable)?;
    rows.next().map_err(unavailable)?.map(map).transpose()
}

/// Run a query and hand each row to `each`.
fn query_each(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    let mut rows = stmt
        .query(numbered(params).as_slice())
        .map_err(unavailable)?;
    while let Some(row) = rows.next().map_err(unavailable)? {
        each(row)?;
    }
    Ok(())
}

/// The write connection's settings. Each write runs in a savepoint, whose
/// statement journal would otherwise be a temporary file opened and written
/// per write (`temp_store`); the writer keeps the hot index pages of a large
/// database in its own cache instead of reading them back from the OS
/// (`cache_size`, KiB). The WAL checkpoint stays SQLite's (every 1,000
/// pages, inside the commit that crosses them): a larger interval buys
/// throughput with the tail latency of every write queued behind a longer
/// checkpoint.
const WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
    PRAGMA busy_timeout = 5000; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;";

fn cannot_open(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!(
        "cannot open sqlite database {}: {e}",
        path.display()
    ))
}

impl SqliteStore {
    pub async fn open(target: &SqliteTarget, migrate: bool) -> Result<Self, StoreError> {
        let store = match target {
            SqliteTarget::Memory => {
                let conn = Connection::open_in_memory().map_err(unavailable)?;
                Self {
                    writer: Writer::start(conn, false)?,
                    reads: None,
                }
            }
            SqliteTarget::File(path) => Self::open_file(path)?,
        };
        if migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    fn open_file(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(cannot_open(
                path,
                format_args!("the folder {} does not exist", dir.display()),
            ));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| cannot_open(path, e))?;
        conn.execute_batch(WRITER_PRAGMAS)
            .map_err(|e| cannot_open(path, e))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            writer: Writer::start(conn, true)?,
            reads: Some(ReadPool::new(path.to_owned())),
        })
    }

    /// Apply the migrations this database lacks, in one durable batch.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.writer
            .write(Durability::Durable, |conn| {
                conn.execute_batch(migrate::CREATE_TABLE).map_err(unavailable)?;
                let sqlx: Option<i64> = conn
                    .query_row(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                        [],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                if sqlx.is_some() {
                    conn.execute_batch(migrate::ADOPT_SQLX).map_err(unavailable)?;
                }
                let applied = conn
                    .prepare(migrate::APPLIED)
                    .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>())
                    .map_err(unavailable)?;
                for m in migrate::pending(migrate::SQLITE, &applied)? {
                    conn.execute_batch(m.sql).map_err(|e| {
                        StoreError::Unavailable(format!("migration {} failed: {e}", m.version))
                    })?;
                    execute(conn, migrate::RECORD, &[&m.version, &m.name, &migrate::now()])?;
                }
                Ok(())
            })
            .await
    }

    /// Run a read: on the calling thread for a file, through the writer in
    /// memory.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &self.reads {
            Some(pool) => pool.read(f),
            None => self.writer.write(Durability::Lazy, f).await,
        }
    }

    /// Commits, and commits that waited for the disk, since opening.
    #[cfg(test)]
    fn commits(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let h = &self.writer.health;
        (h.commits.load(Relaxed), h.durable_commits.load(Relaxed))
    }
}

fn insert_session_in(conn: &Connection, s: &SessionRecord) -> Result<(), StoreError> {
    execute(
        conn,
        sql::INSERT_SESSION,
        &[
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
        ],
    )
    .map(drop)
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn find_session(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        let hash = *hash;
        self.read(move |conn| {
            query_one(conn, sql::SESSION_BY_HASH, &[&&hash.0[..]], |r| {
                rows::session(r)
            })
        })
        .await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let id = id.clone();
        self.read(move |conn| {
            query_one(conn, sql::SESSION_BY_ID, &[&id.as_str()], |r| {
                rows::session(r)
            })
        })
        .await
    }

    async fn touch_session(
        &self,
        id: &SessionId,
        idle_expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        // Lazy: a touch lost with the machine only lets the session idle out
        // up to `touch_interval` sooner.
        let id = id.clone();
        self.writer
            .write(Durability::Lazy, move |conn| {
                execute(conn, sql::TOUCH_SESSION, &[&id.as_str(), &idle_expires_at]).map(drop)
            })
            .await
    }

    async fn revoke_session(&self, id: &SessionId, now: UnixTime) -> Result<bool, StoreError> {
        let id = id.clone();
        self.writer
            .write(Durability::Durable, move |conn| {
                Ok(execute(conn, sql::REVOKE_SESSION, &[&id.as_str(), &now])? == 1)
            })
            .await
    }

    async fn replace_session(
        &self,
        old: &SessionId,
        new: &SessionRecord,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let (old, new) = (old.clone(), new.clone());
        self.writer
            .write(Durability::Durable, move |conn| {
                if execute(conn, sql::REVOKE_IF_ACTIVE, &[&old.as_str(), &now])? != 1 {
                    return Ok(false);
                }
                insert_session_in(conn, &new)?;
                Ok(true)
            })
            .await
    }

    async fn list_sessions(
        &self,
        appid: &AppId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let (appid, openid) = (appid.clone(), openid.clone());
        self.read(move |conn| {
            let mut out = Vec::new();
            let params: [&dyn ToSql; 3] = [&appid.as_str(), &openid.as_str(), &now];
            query_each(conn, sql::LIST_SESSIONS, &params, |row| {
                out.push(rows::session(row)?);
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    async fn revoke_family(
        &self,
        member: &SessionRecord,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let (appid, openid, family) = (
            member.appid.clone(),
            member.openid.clone(),
            member.family.clone(),
        );
        self.writer
            .write(Durability::Durable, move |conn| {
                let params: [&dyn ToSql; 4] =
                    [&appid.as_str(), &openid.as_str(), &family.as_str(), &now];
                Ok(execute(conn, sql::REVOKE_FAMILY, &params)? as u64)
            })
            .await
    }

    async fn revoke_all(
        &self,
        appid: &AppId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let (appid, openid) = (appid.clone(), openid.clone());
        self.writer
            .write(Durability::Durable, move |conn| {
                let n = execute(
                    conn,
                    sql::REVOKE_ALL,
                    &[&appid.as_str(), &openid.as_str(), &now],
                )?;
                Ok(n as u64)
            })
            .await
    }
}

#[cfg(test)]
mod tests;
