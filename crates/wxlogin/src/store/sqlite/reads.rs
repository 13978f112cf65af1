//! Reads of a SQLite file, on the calling thread, through a small pool of
//! read-only connections. In WAL mode a reader never waits for the writer and
//! sees every commit made before its statement began; a lookup by key takes
//! a few microseconds once the pages are in the OS cache, far less than a
//! hand-off to another thread and back. A read holds a connection only while
//! it runs, never across an `.await`, so no more are open than threads
//! reading; extras opened in a burst are closed when they come back.

use std::path::PathBuf;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

use super::writer::unavailable;
use crate::store::StoreError;

pub(super) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
}

impl ReadPool {
    pub fn new(path: PathBuf) -> Self {
        let keep = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            keep,
        }
    }

    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match self.idle.lock().pop() {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = f(&conn);
        // A connection whose read failed for a reason other than the data is
        // not reused: the next read opens a fresh one.
        if !matches!(result, Err(StoreError::Unavailable(_))) {
            let mut idle = self.idle.lock();
            if idle.len() < self.keep {
                idle.push(conn);
            }
        }
        result
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(unavailable)?;
        // Only while a checkpoint resets the WAL can a reader meet a lock.
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }
}
