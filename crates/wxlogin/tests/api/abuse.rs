//! A logged-in client looping on the routes that spend the app's WeChat
//! quota or write rows: it is refused with 429 and `Retry-After`, and what it
//! leaves in the store stays bounded.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wxlogin::clock::Clock as _;
use wxlogin::store::{SqliteTarget, StoreUrl};

use crate::helpers::*;

const PER_MINUTE: u32 = 3;

/// Sends `call` until it is refused; returns how many got through.
async fn until_refused(mut call: impl AsyncFnMut() -> reqwest::Response) -> usize {
    for allowed in 0..50 {
        let response = call().await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited");
            return allowed;
        }
        assert!(response.status().is_success(), "{}", response.status());
    }
    panic!("never refused");
}

#[tokio::test]
async fn looping_on_phone_check_and_refresh_is_refused_per_user() {
    let app = spawn_app_with(|s| s.sessions.user_calls_per_minute = PER_MINUTE).await;
    let (token, openid, _) = app.login(APP_A).await;
    let phone = until_refused(async || {
        let code = app.sim().mint_phone_code(APP_A, &openid).unwrap();
        app.http
            .post(format!("{}/v1/phone", app.address))
            .bearer_auth(&token)
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap()
    })
    .await;
    let check = until_refused(async || app.post_bearer("/v1/session/check", &token).await).await;
    // A second session of the same user shares the user's budget.
    let (other, _) = app.login_as(APP_A, &openid).await;
    let refused = app.post_bearer("/v1/session/check", &other).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let mut current = token.clone();
    let refresh = until_refused(async || {
        let response = app.post_bearer("/v1/session/refresh", &current).await;
        if response.status() != StatusCode::OK {
            return response;
        }
        let body: Value = response.json().await.unwrap();
        current = body["token"].as_str().unwrap().to_owned();
        app.get_bearer("/v1/session", &current).await
    })
    .await;
    assert_eq!((phone, check, refresh), (3, 3, 3));
    // Another user is not affected.
    let (stranger, _, _) = app.login(APP_A).await;
    assert_eq!(
        app.post_bearer("/v1/session/check", &stranger)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_user_keeps_at_most_max_per_user_sessions_and_revoked_rows_go() {
    let app = spawn_app_with(|s| {
        s.sessions.max_per_user = 3;
        s.sessions.user_calls_per_minute = 1000;
    })
    .await;
    let openid = app.new_user(APP_A);
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(app.login_as(APP_A, &openid).await.0);
    }
    for (i, token) in tokens.iter().enumerate() {
        let want = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(app.session_status(token).await, want, "session {i}");
    }
    // A refresh chain leaves one live session and revoked rows behind.
    let mut current = tokens[7].clone();
    for _ in 0..20 {
        let response = app.post_bearer("/v1/session/refresh", &current).await;
        let body: Value = response.json().await.unwrap();
        current = body["token"].as_str().unwrap().to_owned();
    }
    let rows = |path: &std::path::Path| {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row(
            "SELECT count(*) FROM sessions WHERE openid = ?1",
            [&openid],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    assert!(rows(&app.db_path()) > 20, "revoked rows are kept a while");
    // Past the revoked afterlife, a purge leaves only the live ones.
    let store = StoreUrl::Sqlite(SqliteTarget::File(app.db_path()));
    let store = wxlogin::store::open(&store, false).await.unwrap();
    let later = app.clock.now() + wxlogin::store::REVOKED_AFTERLIFE + 1;
    store.purge_expired(later).await.unwrap();
    assert_eq!(rows(&app.db_path()), 3);
    assert_eq!(app.session_status(&current).await, StatusCode::OK);
}
