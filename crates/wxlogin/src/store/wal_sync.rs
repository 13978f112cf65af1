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
//! are recovered on open up to the last valid commit, and the orderings WAL
//! mode itself needs are still SQLite's under `NORMAL` (the WAL header on a
//! restart, the WAL before a checkpoint copies it into the database file).
//! One assumption: SQLite's default powersafe-overwrite, under which `FULL`
//! pads nothing either. The WAL is the file SQLite names (`PRAGMA
//! database_list`, symlinks resolved) plus `-wal`; SQLite creates it with the
//! first transaction and keeps it while any connection is open (every one
//! holds a shared lock on the database for its whole life), so it is opened
//! here at the first flush (the migration at start) and kept, and its
//! directory is synced once so that the file itself survives.
//!
//! One `fsync` at a time: the leader's lock moves into the blocking task, so
//! a caller that is cancelled mid-`fsync` neither starts a second one beside
//! it nor loses its result. An `fsync` that fails is not retried: after a
//! failure Linux may report later ones as successful although the pages it
//! dropped are gone. Every later flush fails, the store refuses writes, and
//! `/healthz` and `/readyz` answer 503 so that the service is restarted
//! (PostgreSQL panics for the same reason). What the failed `fsync` covered
//! may be lost in a power cut.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::StoreError;

pub(super) struct WalSync {
    inner: Arc<Inner>,
    /// Held by the caller whose `fsync` is running (then by its blocking
    /// task); the others wait here and most find their ticket covered.
    pub(super) leader: Arc<tokio::sync::Mutex<()>>,
}

struct Inner {
    /// The database's `-wal` file.
    path: PathBuf,
    file: OnceLock<File>,
    /// Tickets handed out: each is taken after its caller's commit returned.
    taken: AtomicU64,
    /// The highest ticket whose commit is known to be on disk. Written only
    /// under the leader lock.
    synced: AtomicU64,
    /// Set once, by the first `fsync` that fails.
    failed: OnceLock<String>,
    /// `fsync`s started, for tests (`/metrics` counts them too).
    syncs: AtomicU64,
    /// Runs just before each `fsync`, for tests to hold it there.
    #[cfg(test)]
    before_sync: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl WalSync {
    /// For the database file SQLite opened at `db` (`PRAGMA database_list`).
    pub(super) fn new(db: &Path) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        Self {
            inner: Arc::new(Inner {
                path: PathBuf::from(path),
                file: OnceLock::new(),
                taken: AtomicU64::new(0),
                synced: AtomicU64::new(0),
                failed: OnceLock::new(),
                syncs: AtomicU64::new(0),
                #[cfg(test)]
                before_sync: OnceLock::new(),
            }),
            leader: Arc::new(tokio::sync::Mutex::new(())),
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
        let leader = Arc::clone(&self.leader).lock_owned().await;
        self.check()?;
        if self.inner.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Every ticket up to here belongs to a commit that already returned,
        // so the `fsync` starting now covers them all.
        let target = self.inner.taken.load(Ordering::SeqCst);
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _leader = leader;
            inner.sync()?;
            inner.synced.store(target, Ordering::SeqCst);
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("the WAL sync task failed: {e}")))?
    }

    /// Fails once an `fsync` has failed: writes are refused until restart.
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

    /// The WAL as opened by the first flush.
    #[cfg(test)]
    pub(super) fn file(&self) -> Option<&File> {
        self.inner.file.get()
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
        #[cfg(test)]
        if let Some(hook) = self.before_sync.get() {
            hook();
        }
        let started = std::time::Instant::now();
        let synced = file.sync_data();
        crate::telemetry::wal_fsync(started.elapsed());
        synced.map_err(|e| {
            let why = format!(
                "an fsync of the sqlite WAL failed ({e}): writes are refused until the service \
                 restarts, and what it covered may be lost in a power cut"
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
    use std::sync::mpsc;

    fn wal_sync_with_file() -> (tempfile::TempDir, Arc<WalSync>) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.db");
        std::fs::write(dir.path().join("g.db-wal"), b"frames").unwrap();
        (dir, Arc::new(WalSync::new(&db)))
    }

    fn flush_in_task(sync: &Arc<WalSync>) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let sync = Arc::clone(sync);
        tokio::spawn(async move { sync.flush().await })
    }

    async fn until(what: impl Fn() -> bool) {
        while !what() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Holds every `fsync` until the test says go; says when one is waiting.
    fn gate(sync: &WalSync) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (waiting_tx, waiting) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let hook = std::sync::Mutex::new((waiting_tx, go_rx));
        let hook = move || {
            let hook = hook.lock().unwrap();
            hook.0.send(()).unwrap();
            hook.1.recv().unwrap();
        };
        assert!(sync.inner.before_sync.set(Box::new(hook)).is_ok());
        (waiting, go)
    }

    /// Callers that arrive while an `fsync` runs share the next one.
    #[tokio::test]
    async fn callers_waiting_together_share_one_fsync() {
        let (_dir, sync) = wal_sync_with_file();
        let held = Arc::clone(&sync.leader).lock_owned().await;
        let waiters: Vec<_> = (0..8).map(|_| flush_in_task(&sync)).collect();
        until(|| sync.inner.taken.load(Ordering::SeqCst) == 8).await;
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

    /// A ticket taken while an `fsync` runs waits for the next one, and a
    /// leader cancelled mid-`fsync` does not let a second one start beside it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_fsync_covers_only_tickets_taken_before_it_started() {
        let (_dir, sync) = wal_sync_with_file();
        let (waiting, go) = gate(&sync);
        let waiting = Arc::new(std::sync::Mutex::new(waiting));
        let fsync_started = || {
            let waiting = Arc::clone(&waiting);
            tokio::task::spawn_blocking(move || waiting.lock().unwrap().recv().unwrap())
        };
        let first = flush_in_task(&sync);
        fsync_started().await.unwrap();
        first.abort(); // its caller goes away mid-fsync
        let second = flush_in_task(&sync);
        until(|| sync.inner.taken.load(Ordering::SeqCst) == 2).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!second.is_finished(), "returned before any fsync finished");
        assert_eq!(sync.syncs(), 1, "no second fsync beside the first");
        go.send(()).unwrap(); // the first fsync ends
        fsync_started().await.unwrap();
        assert_eq!(sync.inner.synced.load(Ordering::SeqCst), 1, "ticket 1 only");
        assert!(!second.is_finished(), "covered by an fsync begun before it");
        go.send(()).unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(sync.syncs(), 2);
        assert_eq!(sync.inner.synced.load(Ordering::SeqCst), 2);
    }

    /// A failed `fsync` fails that flush and every later one.
    #[tokio::test]
    async fn a_failed_fsync_refuses_every_later_flush() {
        let dir = tempfile::tempdir().unwrap();
        // fdatasync on /dev/null fails (EINVAL) on Linux.
        std::os::unix::fs::symlink("/dev/null", dir.path().join("p.db-wal")).unwrap();
        let sync = WalSync::new(&dir.path().join("p.db"));
        let e = sync.flush().await.unwrap_err();
        assert!(
            e.to_string().contains("an fsync of the sqlite WAL failed"),
            "{e}"
        );
        assert!(sync.check().is_err());
        assert!(sync.flush().await.is_err());
        assert_eq!(sync.syncs(), 1, "not retried");
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
