//! Group commit for the SQLite store. Its one writer connection commits with
//! `synchronous = NORMAL`: each commit is written to the WAL file but not
//! `fsync`ed. A write that must survive a power cut then calls
//! [`WalSync::flush`], which returns once an `fsync` of the WAL file that
//! began after the caller's commit has finished. The writer lock is not held
//! while the disk works, so the next writer commits meanwhile, and every
//! commit waiting when an `fsync` starts shares it. (With `synchronous =
//! FULL`, SQLite syncs inside each commit, under the writer lock: logins on
//! the bench machine went from about 1,460/s to 2,000–2,300/s without it.)
//!
//! Why an `fsync` of our own descriptor is enough: on Linux `fsync` flushes
//! the file's data whichever descriptor wrote it, a WAL's committed frames
//! are recovered on open up to the last valid commit, and SQLite itself syncs
//! the WAL before a checkpoint copies it into the database file (that much
//! `NORMAL` keeps). The WAL file is created by SQLite on the first write and
//! kept while the writer connection stays open (it is removed only when the
//! last connection closes), so it is opened here at the first flush, after a
//! commit, and its directory is synced once so that the file itself survives.
//!
//! An `fsync` that fails is not retried: after a failure Linux may report
//! later ones as successful although the data is gone, so every later flush
//! fails too (the store answers "unavailable", and `ping` says why) until the
//! service restarts and SQLite recovers the WAL. PostgreSQL does the same.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::StoreError;

pub(super) struct WalSync {
    inner: Arc<Inner>,
}

struct Inner {
    /// The database's `-wal` file.
    path: PathBuf,
    file: OnceLock<File>,
    /// Tickets handed out: each is taken after its caller's commit returned.
    taken: AtomicU64,
    /// The highest ticket whose commit is known to be on disk. Written only
    /// by the holder of `leader`.
    synced: AtomicU64,
    /// Held by the caller whose `fsync` is running; the others wait here and
    /// most find their ticket covered when they get it.
    leader: tokio::sync::Mutex<()>,
    /// Set once, by the first `fsync` that fails.
    failed: OnceLock<String>,
    /// `fsync`s run, for tests (`/metrics` counts them too).
    syncs: AtomicU64,
}

impl WalSync {
    /// For the database file at `db` (its WAL is `db` + `-wal`).
    pub(super) fn new(db: &Path) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        Self {
            inner: Arc::new(Inner {
                path: PathBuf::from(path),
                file: OnceLock::new(),
                taken: AtomicU64::new(0),
                synced: AtomicU64::new(0),
                leader: tokio::sync::Mutex::new(()),
                failed: OnceLock::new(),
                syncs: AtomicU64::new(0),
            }),
        }
    }

    /// Returns once everything committed before this call is on disk. Call
    /// it after the commit returned, without holding the writer.
    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        // No await before the ticket: a caller cancelled from here on leaves
        // its commit to the next flush (the replay of a login reads its
        // claim and flushes before answering).
        let ticket = self.inner.taken.fetch_add(1, Ordering::SeqCst) + 1;
        crate::telemetry::wal_flush();
        let _leader = self.inner.leader.lock().await;
        self.check()?;
        if self.inner.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Every ticket up to here belongs to a commit that already returned,
        // so the `fsync` starting now covers them all.
        let target = self.inner.taken.load(Ordering::SeqCst);
        let inner = Arc::clone(&self.inner);
        // The closure records a failure itself: this caller may be gone by then.
        tokio::task::spawn_blocking(move || inner.sync())
            .await
            .map_err(|e| StoreError::Unavailable(format!("the WAL sync task failed: {e}")))??;
        self.inner.synced.store(target, Ordering::SeqCst);
        Ok(())
    }

    /// Fails once an `fsync` has failed: durable writes are off until restart.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        match self.inner.failed.get() {
            Some(why) => Err(StoreError::Unavailable(why.clone())),
            None => Ok(()),
        }
    }

    #[cfg(test)]
    pub(super) fn syncs(&self) -> u64 {
        self.inner.syncs.load(Ordering::SeqCst)
    }
}

impl Inner {
    fn sync(&self) -> Result<(), StoreError> {
        let file = match self.file.get() {
            Some(file) => file,
            // Not found is not a failure of the disk: the next flush tries again.
            None => {
                let opened = open_wal(&self.path)?;
                self.file.get_or_init(|| opened)
            }
        };
        self.syncs.fetch_add(1, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let synced = file.sync_data();
        crate::telemetry::wal_fsync(started.elapsed());
        synced.map_err(|e| {
            let why = format!(
                "an fsync of the sqlite WAL failed ({e}); writes that must survive a power cut \
                 are refused until the service restarts"
            );
            tracing::error!("{why}");
            StoreError::Unavailable(self.failed.get_or_init(|| why).clone())
        })
    }
}

/// Open the WAL and make its directory entry durable (once: the file is kept).
fn open_wal(path: &Path) -> Result<File, StoreError> {
    let cannot = |e: std::io::Error| {
        StoreError::Unavailable(format!(
            "cannot open the sqlite WAL {}: {e}",
            path.display()
        ))
    };
    let file = File::open(path).map_err(cannot)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(cannot)?;
    Ok(file)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn wal_sync_with_file() -> (tempfile::TempDir, WalSync) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.db");
        std::fs::write(dir.path().join("g.db-wal"), b"frames").unwrap();
        (dir, WalSync::new(&db))
    }

    /// Callers that arrive while an `fsync` runs share the next one.
    #[tokio::test]
    async fn callers_waiting_together_share_one_fsync() {
        let (_dir, sync) = wal_sync_with_file();
        let sync = Arc::new(sync);
        let held = sync.inner.leader.lock().await;
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let sync = Arc::clone(&sync);
                tokio::spawn(async move { sync.flush().await })
            })
            .collect();
        while sync.inner.taken.load(Ordering::SeqCst) < 8 {
            tokio::task::yield_now().await;
        }
        drop(held);
        for w in waiters {
            w.await.unwrap().unwrap();
        }
        assert_eq!(sync.syncs(), 1, "one fsync for eight commits");
        assert_eq!(sync.inner.synced.load(Ordering::SeqCst), 8);
        // A later commit is not covered by an earlier fsync.
        sync.flush().await.unwrap();
        assert_eq!(sync.syncs(), 2);
    }

    /// The descriptor synced is the `-wal` file beside the database.
    #[tokio::test]
    async fn the_file_synced_is_the_databases_wal() {
        let (dir, sync) = wal_sync_with_file();
        sync.flush().await.unwrap();
        let synced = sync.inner.file.get().unwrap().metadata().unwrap();
        let wal = std::fs::metadata(dir.path().join("g.db-wal")).unwrap();
        assert_eq!((synced.dev(), synced.ino()), (wal.dev(), wal.ino()));
    }

    /// No WAL yet is an error for this flush only, not a failed disk.
    #[tokio::test]
    async fn a_missing_wal_fails_the_flush_but_not_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let sync = WalSync::new(&dir.path().join("m.db"));
        let e = sync.flush().await.unwrap_err();
        assert!(e.to_string().contains("cannot open the sqlite WAL"), "{e}");
        assert!(sync.check().is_ok());
        std::fs::write(dir.path().join("m.db-wal"), b"").unwrap();
        sync.flush().await.unwrap();
        assert_eq!(sync.syncs(), 1);
    }
}
