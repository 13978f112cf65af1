//! The one writer of a SQLite database: a thread that owns the write
//! connection and takes queued writes in batches. A batch is one transaction
//! and one commit, and every caller in it is answered after that commit
//! returns (group commit): one `fsync` for a whole burst of logins instead of
//! one each.
//!
//! Durability is SQLite's own. With the WAL, `synchronous = FULL` makes a
//! commit sync the WAL before it returns, and `NORMAL` leaves the sync to the
//! next checkpoint (a commit still survives a crash of this process, not a
//! power cut). A batch commits with `FULL` when one of its writes must
//! survive a power cut (a login, a refresh, a revocation), with `NORMAL`
//! otherwise (claims, idle-deadline touches, purges: losing those costs
//! nothing). A `FULL` commit also makes every earlier `NORMAL` one durable.
//!
//! Each write runs inside a savepoint: one that fails is rolled back alone
//! and its caller gets the error; the rest of the batch commits. A write
//! whose caller has gone (a cancelled request) before it ran is skipped. The
//! transaction never outlives the batch, whatever the writes do.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::StoreError;

/// Writes queued beyond this are refused ("unavailable") instead of growing
/// memory without bound.
const QUEUE: usize = 16_384;
/// At most this many writes share one commit, so a batch's callers wait for
/// a bounded transaction.
const MAX_BATCH: usize = 512;

/// Whether a write must survive a power cut before its caller is answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Durability {
    Durable,
    Lazy,
}

type Answer = Box<dyn FnOnce(Option<&str>) + Send>;
/// Runs on the connection, or is told why the batch could not start.
type Work = Box<dyn FnOnce(Result<&Connection, &str>) -> Answer + Send>;

struct Job {
    work: Work,
    durability: Durability,
}

/// What the writer thread shares with the store.
#[derive(Default)]
pub(super) struct Health {
    /// Set when a commit failed: the disk refused a write the callers were
    /// promised. Only a restart (and SQLite's recovery) can help.
    failed: AtomicBool,
    pub commits: AtomicU64,
    pub durable_commits: AtomicU64,
}

impl Health {
    pub fn check(&self) -> Result<(), StoreError> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "a sqlite commit failed; restart the service".into(),
            ));
        }
        Ok(())
    }
}

pub(super) struct Writer {
    queue: mpsc::SyncSender<Job>,
    pub health: Arc<Health>,
}

impl Writer {
    /// Starts the thread; it ends when the store (every sender) is dropped.
    pub fn start(conn: Connection, durable_commits: bool) -> Result<Self, StoreError> {
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        let health = Arc::new(Health::default());
        let shared = Arc::clone(&health);
        std::thread::Builder::new()
            .name("wxlogin-sqlite-writer".into())
            .spawn(move || run(&conn, &jobs, &shared, durable_commits))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the sqlite writer: {e}")))?;
        Ok(Self { queue, health })
    }

    /// Run `work` in the next batch and answer once its commit is done.
    pub async fn write<T, F>(&self, durability: Durability, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.health.check()?;
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |conn| {
            if reply.is_closed() {
                return Box::new(|_| ());
            }
            let conn = match conn {
                Ok(conn) => conn,
                Err(why) => {
                    let _ = reply.send(Err(StoreError::Unavailable(why.to_owned())));
                    return Box::new(|_| ());
                }
            };
            let result = in_savepoint(conn, work);
            Box::new(move |failed_commit: Option<&str>| {
                let result = match failed_commit {
                    None => result,
                    Some(why) => Err(StoreError::Unavailable(why.to_owned())),
                };
                let _ = reply.send(result);
            })
        });
        self.queue
            .try_send(Job { work, durability })
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => {
                    StoreError::Unavailable("the sqlite write queue is full".into())
                }
                mpsc::TrySendError::Disconnected(_) => stopped(),
            })?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the sqlite writer stopped".into())
}

pub(super) fn unavailable(e: rusqlite::Error) -> StoreError {
    // rusqlite's Display is the engine's message; it carries no row data.
    StoreError::Unavailable(e.to_string())
}

/// A write rolled back alone when it fails (or panics), so the batch's other
/// writes still commit.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let exec = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(unavailable)
    };
    exec("SAVEPOINT write")?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(StoreError::Unavailable("a sqlite write panicked".into())));
    if result.is_err() {
        exec("ROLLBACK TO write")?;
    }
    exec("RELEASE write")?;
    result
}

fn run(conn: &Connection, jobs: &mpsc::Receiver<Job>, health: &Health, durable_commits: bool) {
    let mut full = None;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let durable = durable_commits && batch.iter().any(|j| j.durability == Durability::Durable);
        commit_batch(conn, batch, durable, &mut full, health);
    }
}

/// One transaction for the batch; answers every caller, after the counters
/// and the health flag say what happened.
fn commit_batch(
    conn: &Connection,
    batch: Vec<Job>,
    durable: bool,
    full: &mut Option<bool>,
    health: &Health,
) {
    if *full != Some(durable) {
        let pragma = if durable {
            "PRAGMA synchronous = FULL"
        } else {
            "PRAGMA synchronous = NORMAL"
        };
        if let Err(e) = conn.execute_batch(pragma) {
            answer_all_refused(batch, &e.to_string());
            return;
        }
        *full = Some(durable);
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        answer_all_refused(batch, &e.to_string());
        return;
    }
    let writes = batch.len();
    let answers: Vec<Answer> = batch.into_iter().map(|job| (job.work)(Ok(conn))).collect();
    let committed = conn.execute_batch("COMMIT");
    health.commits.fetch_add(1, Ordering::Relaxed);
    crate::telemetry::sqlite_commit(writes, durable);
    match committed {
        Ok(()) => {
            if durable {
                health.durable_commits.fetch_add(1, Ordering::Relaxed);
            }
            answers.into_iter().for_each(|answer| answer(None));
        }
        Err(e) => {
            let why = format!("sqlite commit failed: {e}");
            tracing::error!(error = %why, "the sqlite store refuses writes until restart");
            // Leave no transaction open, whatever the commit left behind.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            health.failed.store(true, Ordering::Relaxed);
            answers.into_iter().for_each(|answer| answer(Some(&why)));
        }
    }
}

/// The batch never ran: each caller gets the reason, nothing was written.
fn answer_all_refused(batch: Vec<Job>, why: &str) {
    tracing::warn!(error = %why, "a sqlite write batch could not start");
    for job in batch {
        (job.work)(Err(why))(None);
    }
}
