//! Upgrading in place: databases written by the previous release (its
//! schema, its sqlx migration table, logins made through its HTTP API; see
//! `tests/fixtures/README.md`) open with every user and session kept.

use reqwest::StatusCode;
use serde_json::Value;
use wxlogin::clock::Clock as _;
use wxlogin::store::{SqliteTarget, StoreUrl};

use crate::helpers::*;
use crate::support::{PgSchema, pg_exec};

/// When each fixture's logins were made, and their (token, openid) answers.
const SQLITE_WRITTEN_AT: i64 = 1_796_638_283;
const SQLITE_LOGINS: [(&str, &str); 2] = [
    (
        "wxl_iRl3ed4Emp7awma_cSnqxhPGTT-PBlexykqKxGZs5XY",
        "o90MNQpKuFvXv1GYqg8-rnFXinLx",
    ),
    (
        "wxl_L2cupFU7comqbznuCbpiA0GdVfi-XgFQpOdGErJRzpg",
        "ocKxxLBy1wMj_bp8Qr_yu9v-gJh2",
    ),
];
const POSTGRES_WRITTEN_AT: i64 = 1_796_626_467;
const POSTGRES_LOGINS: [(&str, &str); 2] = [
    (
        "wxl_T72xkbMPZMpLmIjOkldMKULkoc1MUFJO_RtZPTw675w",
        "oZHzpRGwKiSPAeqjeriuwozswY13",
    ),
    (
        "wxl_4DTsdPOU6CpPf-jGKid77bPYkzMOn6ymL90nSS-1sn8",
        "ofV_U_xiRnm0wJc39P6D8Ohkxn62",
    ),
];

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_data_key() -> secrecy::SecretString {
    let text = std::fs::read_to_string(fixture("v0-data.key")).unwrap();
    secrecy::SecretString::from(text.trim().to_owned())
}

/// Every session of the old database still verifies, for its user, and new
/// logins work beside them.
async fn sessions_survive(store: StoreUrl, written_at: i64, logins: &[(&str, &str)]) {
    let app = spawn_app_with(|s| {
        s.store = store;
        s.data_key = Some(fixture_data_key());
    })
    .await;
    app.clock.advance(written_at + 3600 - app.clock.now());
    for (token, openid) in logins {
        let response = app.get_bearer("/v1/session", token).await;
        assert_eq!(response.status(), StatusCode::OK, "{openid}'s session");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["openid"], *openid);
    }
    let (token, _, _) = app.login(APP_A).await;
    assert_eq!(app.session_status(&token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_sqlite_database_of_the_previous_release_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    std::fs::copy(fixture("v0-sqlx.db"), &path).unwrap();
    sessions_survive(
        StoreUrl::Sqlite(SqliteTarget::File(path.clone())),
        SQLITE_WRITTEN_AT,
        &SQLITE_LOGINS,
    )
    .await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let applied: Vec<(i64, i64)> = conn
        .prepare("SELECT version, applied_at FROM wxlogin_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let versions: Vec<i64> = applied.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    // 1..=3 adopted from sqlx's record (applied_at 0), not run again; 4 run now.
    assert!(applied[..3].iter().all(|(_, at)| *at == 0), "{applied:?}");
    assert!(applied[3].1 > 0);
}

#[tokio::test]
async fn a_postgres_schema_of_the_previous_release_upgrades_in_place() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let dump = std::fs::read_to_string(fixture("v0-sqlx-postgres.sql")).unwrap();
    pg_exec(
        &schema.base_url,
        &dump.replace("wxfixture.", &format!("{}.", schema.schema)),
    )
    .await
    .unwrap();
    let url = StoreUrl::parse(&schema.url()).unwrap();
    sessions_survive(url, POSTGRES_WRITTEN_AT, &POSTGRES_LOGINS).await;
}
