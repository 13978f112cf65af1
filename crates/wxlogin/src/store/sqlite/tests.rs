//! The writer's batching and durability, seen from the store's methods.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::*;
use crate::ids::{Platform, UserId};
use crate::store::{IdentityStore, IdentityUpsert, SessionStore, Store};

const NOW: UnixTime = 1_700_000_000;

fn appid() -> AppId {
    AppId::parse("wx4f4bc4dec97d474b").unwrap()
}

fn user(openid: &str, key: u8) -> IdentityUpsert {
    IdentityUpsert {
        platform: Platform::Wechat,
        appid: appid(),
        openid: OpenId::parse(openid).unwrap(),
        unionid: None,
        sealed_session_key: vec![key; 16],
        key_fingerprint: vec![key; 8],
        now: NOW,
        previous_key_until: NOW + 60,
        key_at: NOW * 1000,
        new_user_id: UserId::generate(),
        link_by_unionid: true,
    }
}

async fn file_store(dir: &tempfile::TempDir) -> SqliteStore {
    let target = SqliteTarget::File(dir.path().join("t.db"));
    SqliteStore::open(&target, true).await.unwrap()
}

fn pragma(store: &SqliteStore, name: &str) -> String {
    let sql = format!("PRAGMA {name}");
    store
        .reads
        .as_ref()
        .unwrap()
        .read(|conn| {
            conn.query_row(&sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
                .map_err(unavailable)
        })
        .map(|v| match v {
            rusqlite::types::Value::Integer(n) => n.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
}

/// A write that must survive a power cut commits with `synchronous = FULL`
/// (SQLite syncs the WAL before the commit returns); a lazy one does not.
#[tokio::test]
async fn durable_writes_commit_with_a_sync_and_lazy_ones_without() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    assert_eq!(pragma(&store, "journal_mode"), "wal");
    let (_, durable_before) = store.commits();
    store
        .touch_session(&SessionId::generate(), NOW)
        .await
        .unwrap();
    store.purge_expired(NOW).await.unwrap();
    assert_eq!(
        store.commits().1,
        durable_before,
        "touch and purge are lazy"
    );
    assert!(
        store
            .upsert_identity(&user("o1", 1))
            .await
            .unwrap()
            .new_identity
    );
    assert_eq!(
        store.commits().1,
        durable_before + 1,
        "an upsert is durable"
    );
    assert!(
        store
            .revoke_session(&SessionId::generate(), NOW)
            .await
            .is_ok()
    );
    assert_eq!(store.commits().1, durable_before + 2, "a revoke is durable");
}

/// Concurrent writers share commits: many writes, fewer transactions, and
/// every one of them is visible once its caller is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(file_store(&dir).await);
    let (before, _) = store.commits();
    let writes: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.upsert_identity(&user(&format!("o{i}"), 1)).await })
        })
        .collect();
    for w in writes {
        assert!(w.await.unwrap().unwrap().new_identity);
    }
    let (after, _) = store.commits();
    assert!(
        after - before < 200,
        "{} commits for 200 writes",
        after - before
    );
    for i in 0..200 {
        let openid = OpenId::parse(&format!("o{i}")).unwrap();
        assert!(
            store
                .get_identity(&appid(), &openid)
                .await
                .unwrap()
                .is_some()
        );
    }
}

/// A write that fails is rolled back alone: the batch's others commit and no
/// transaction stays open.
#[tokio::test]
async fn a_failing_write_leaves_the_others_and_no_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let failing = store.writer.write(Durability::Durable, |conn| {
        execute(conn, "INSERT INTO identities (appid) VALUES ($1)", &[&"wx"])?;
        Ok(())
    });
    let first = user("o1", 1);
    let fine = store.upsert_identity(&first);
    let (failed, ok) = tokio::join!(failing, fine);
    assert!(failed.is_err(), "NOT NULL columns refuse the row");
    assert!(ok.unwrap().new_identity);
    let open = store
        .writer
        .write(Durability::Lazy, |conn| Ok(conn.is_autocommit()))
        .await
        .unwrap();
    assert!(!open, "inside the next batch's own transaction");
    let users = store
        .read(|conn| {
            conn.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))
                .map_err(unavailable)
        })
        .await
        .unwrap();
    assert_eq!(users, 1);
    store.alive().unwrap();
}

/// A write whose caller went away before it ran is skipped.
#[tokio::test]
async fn a_cancelled_write_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    // Hold the writer busy so the next write waits in the queue.
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let store = Arc::new(store);
    let blocker = tokio::spawn({
        let store = Arc::clone(&store);
        async move {
            let hold = move |_: &Connection| {
                started_tx.send(()).unwrap();
                released.recv().unwrap();
                Ok(())
            };
            store.writer.write(Durability::Lazy, hold).await.unwrap();
        }
    });
    tokio::task::spawn_blocking(move || started.recv().unwrap())
        .await
        .unwrap();
    let gone_user = user("gone", 1);
    let upsert = store.upsert_identity(&gone_user);
    // Poll once so it is queued, then drop it (a cancelled request).
    assert!(
        futures_poll_once(upsert).await,
        "still waiting behind the blocker"
    );
    release.send(()).unwrap();
    blocker.await.unwrap();
    let gone = OpenId::parse("gone").unwrap();
    assert!(store.get_identity(&appid(), &gone).await.unwrap().is_none());
}

/// Polls a future once and drops it; true if it was still pending.
async fn futures_poll_once<F: std::future::Future>(f: F) -> bool {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx).is_pending())).await
}

/// A missing folder is named in the error, with its cause once.
#[tokio::test]
async fn a_missing_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope").join("x.db");
    let err = SqliteStore::open(&SqliteTarget::File(path.clone()), true)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert_eq!(err.matches("does not exist").count(), 1, "{err}");
}

/// The writer's settings (see `WRITER_PRAGMAS`): savepoint journals in
/// memory, a 64 MiB page cache, SQLite's own checkpoint interval.
#[tokio::test]
async fn the_writer_runs_with_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let read = |name: &'static str| {
        store.writer.write(Durability::Lazy, move |conn| {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
                .map_err(unavailable)
        })
    };
    assert_eq!(read("temp_store").await.unwrap(), 2, "MEMORY");
    assert_eq!(read("cache_size").await.unwrap(), -65536);
    assert_eq!(read("wal_autocheckpoint").await.unwrap(), 1_000);
    assert_eq!(read("foreign_keys").await.unwrap(), 1);
}
