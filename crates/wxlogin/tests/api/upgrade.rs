//! Upgrading in place: databases written by the previous release (its
//! schema, its sqlx migration table, logins made through its HTTP API; see
//! `tests/fixtures/README.md`) open with every user and session kept.

use reqwest::StatusCode;
use serde_json::Value;
use wxlogin::clock::Clock as _;
use wxlogin::store::{SqliteTarget, StoreUrl};

use crate::helpers::*;
use crate::support::{PgSchema, RedisPrefix, pg_exec};

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
const REDIS_WRITTEN_AT: i64 = 1_796_639_329;
const REDIS_LOGINS: [(&str, &str); 2] = [
    (
        "wxl_pfb60p4XyaecsPqiD5qiTjxAUrjgOsIrWESwFJmli14",
        "o_5GP3vlykQp8oQ_3StwpT5683YG",
    ),
    (
        "wxl_161IbfxlUxe2CeGX0s4d1ytJt_QnBs0uE8127EtfwnM",
        "o9psRrErpotmL9L8FKU80PhhKWeA",
    ),
];
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
    let mut users = Vec::new();
    for (token, openid) in logins {
        let response = app.get_bearer("/v1/session", token).await;
        assert_eq!(response.status(), StatusCode::OK, "{openid}'s session");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["openid"], *openid);
        // Each identity became a user of its own (their unionids differ).
        let user_id = body["user_id"].as_str().unwrap().to_owned();
        let user: Value = app
            .http
            .get(format!("{}/v1/admin/users/{user_id}", app.address))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(user["identities"][0]["openid"], *openid, "{user}");
        assert_eq!(user["identities"][0]["platform"], "wechat");
        assert_eq!(user["sessions"][0]["user_id"], user_id.as_str());
        users.push(user_id);
    }
    users.dedup();
    assert_eq!(users.len(), logins.len());
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
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    // 1..=3 adopted from sqlx's record (applied_at 0), not run again; the
    // later ones run now.
    assert!(applied[..3].iter().all(|(_, at)| *at == 0), "{applied:?}");
    assert!(applied[3..].iter().all(|(_, at)| *at > 0), "{applied:?}");
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

/// Redis has no schema: the previous release's keys (dumped with their
/// TTLs, values in hex) are written under a fresh prefix, and the store
/// adopts them when it connects.
#[tokio::test]
async fn a_redis_store_of_the_previous_release_upgrades_in_place() {
    let Some(prefix) = RedisPrefix::create() else {
        return;
    };
    let dump: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("v0-redis.json")).unwrap()).unwrap();
    let client = redis::Client::open(prefix.base_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let bytes = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    for entry in &dump {
        let key = format!("{}:{}", prefix.prefix, entry["key"].as_str().unwrap());
        let cmd = match entry["type"].as_str().unwrap() {
            "hash" => {
                let mut c = redis::cmd("HSET");
                c.arg(&key);
                for (field, value) in entry["value"].as_object().unwrap() {
                    c.arg(field).arg(bytes(value));
                }
                c
            }
            "set" => {
                let mut c = redis::cmd("SADD");
                c.arg(&key);
                for member in entry["value"].as_array().unwrap() {
                    c.arg(bytes(member));
                }
                c
            }
            _ => {
                let mut c = redis::cmd("SET");
                c.arg(&key).arg(bytes(&entry["value"]));
                c
            }
        };
        let () = cmd.query_async(&mut conn).await.unwrap();
        if let Some(ttl) = entry["ttl"].as_i64().filter(|t| *t > 0) {
            let () = redis::cmd("EXPIRE")
                .arg(&key)
                .arg(ttl)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
    let url = StoreUrl::parse(&prefix.url()).unwrap();
    sessions_survive(url, REDIS_WRITTEN_AT, &REDIS_LOGINS).await;
}
