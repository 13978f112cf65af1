//! TLS and the lazy pool, against the PostgreSQL of the machine.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::store::StoreUrl;

fn test_url() -> Option<String> {
    let var = "WXLOGIN_TEST_POSTGRES_URL";
    let Some(base) = std::env::var(var).ok().filter(|u| !u.is_empty()) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{var} must be set in CI"
        );
        eprintln!("\n!!! SKIPPED: {var} is not set; this test needs it (see .ci/run) !!!\n");
        return None;
    };
    Some(base)
}

fn with(base: &str, param: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{param}")
}

async fn store(url: &str) -> PostgresStore {
    let StoreUrl::Postgres(target) = StoreUrl::parse(url).unwrap() else {
        unreachable!()
    };
    PostgresStore::connect(&target).await.unwrap()
}

async fn show(conn: &Object, name: &str) -> String {
    let row = conn.query_one(&format!("SHOW {name}"), &[]).await.unwrap();
    row.get(0)
}

async fn uses_tls(conn: &Object) -> bool {
    let sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    conn.query_one(sql, &[]).await.unwrap().get(0)
}

/// No TLS to a server on the loopback by default; an explicit `sslmode` is
/// obeyed (checked where the server offers TLS).
#[tokio::test]
async fn the_loopback_is_spoken_to_without_tls_unless_asked() {
    let Some(base) = test_url() else { return };
    let plain = store(&base).await;
    let conn = plain.conn().await.unwrap();
    assert!(!uses_tls(&conn).await);
    if show(&conn, "ssl").await == "on" {
        let asked = store(&with(&base, "sslmode=require")).await;
        assert!(uses_tls(&asked.conn().await.unwrap()).await);
    } else {
        eprintln!("the server offers no TLS: the explicit sslmode=require case is not checked");
    }
}

/// Only the lazy pool returns before the WAL flush, and it keeps the URL's
/// own options (here the schema).
#[tokio::test]
async fn only_the_lazy_pool_commits_without_waiting_for_the_wal_flush() {
    let Some(base) = test_url() else { return };
    let store = store(&with(&base, "options=-c%20search_path%3Dwxt_lazy_check")).await;
    let durable = store.conn().await.unwrap();
    let lazy = store.lazy_conn().await.unwrap();
    assert_ne!(show(&durable, "synchronous_commit").await, "off");
    assert_eq!(show(&lazy, "synchronous_commit").await, "off");
    assert_eq!(show(&lazy, "search_path").await, "wxt_lazy_check");
}
