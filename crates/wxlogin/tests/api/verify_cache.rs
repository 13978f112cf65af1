//! The optional verify cache (`sessions.cache_ttl`): what it may delay (a
//! revocation made on another instance, by at most `cache_ttl`) and what it
//! must never change (this instance's own revocations, session expiry, a
//! session_key that rotated elsewhere).

use reqwest::StatusCode;
use serde_json::{Value, json};
use wechat_sim::OpenDataKind;

use crate::helpers::{ADMIN_KEY, APP_A, APP_B, TestApp, error_code, spawn_app_with};

const TTL: i64 = 30;

async fn cached_app() -> TestApp {
    spawn_app_with(|s| s.sessions.cache_ttl = TTL).await
}

async fn status_at(app: &TestApp, address: &str, token: &str) -> StatusCode {
    app.http
        .get(format!("{address}/v1/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn revoke_all(app: &TestApp, address: &str, openid: &str) {
    let response = app
        .http
        .delete(format!(
            "{address}/v1/admin/users/{APP_A}/{openid}/sessions"
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_revocation_on_another_instance_is_seen_within_cache_ttl_and_at_once_here() {
    let app = cached_app().await;
    let mut other = app.another_instance().await;
    let (token, openid, _) = app.login(APP_A).await;
    // Both instances answer from their caches from now on.
    assert_eq!(app.session_status(&token).await, StatusCode::OK);
    assert_eq!(
        status_at(&app, &other.address, &token).await,
        StatusCode::OK
    );

    revoke_all(&app, &app.address, &openid).await;
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::UNAUTHORIZED,
        "the instance that revoked sees it at once"
    );
    assert_eq!(
        status_at(&app, &other.address, &token).await,
        StatusCode::OK,
        "the other instance answers from its cache until cache_ttl has passed"
    );
    app.clock.advance(TTL - 1);
    assert_eq!(
        status_at(&app, &other.address, &token).await,
        StatusCode::OK
    );
    app.clock.advance(1);
    assert_eq!(
        status_at(&app, &other.address, &token).await,
        StatusCode::UNAUTHORIZED,
        "never later than cache_ttl"
    );
    other.stop().await;
}

#[tokio::test]
async fn logout_and_refresh_evict_the_cached_token_at_once() {
    let app = cached_app().await;
    let (token, _, _) = app.login(APP_A).await;
    assert_eq!(app.session_status(&token).await, StatusCode::OK);
    let refreshed = app.post_bearer("/v1/session/refresh", &token).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let new_token = refreshed.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.session_status(&token).await, StatusCode::UNAUTHORIZED);

    assert_eq!(app.session_status(&new_token).await, StatusCode::OK);
    let logout = app.post_bearer("/v1/logout", &new_token).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.session_status(&new_token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_cached_session_slides_its_idle_deadline_and_still_expires_at_it() {
    // cache_ttl far longer than the idle timeout: only the touch rule keeps an
    // active user logged in, and only the deadline check logs an idle one out.
    let app = spawn_app_with(|s| {
        s.sessions.cache_ttl = 3600;
        s.sessions.idle_ttl = 100;
        s.sessions.touch_interval = 60;
    })
    .await;
    let (token, _, _) = app.login(APP_A).await;
    assert_eq!(app.session_status(&token).await, StatusCode::OK); // cached, idle t0+100
    app.clock.advance(70);
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::OK,
        "a touch is due: read and pushed to t0+170"
    );
    app.clock.advance(80);
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::OK,
        "still in use at t0+150, past the first deadline: pushed to t0+250"
    );
    app.clock.advance(100);
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::UNAUTHORIZED,
        "idle for 100 s: expired at its deadline, cache or not"
    );
}

#[tokio::test]
async fn a_cached_token_is_still_refused_for_another_app() {
    let app = cached_app().await;
    let (token, _, _) = app.login(APP_A).await;
    let auth = |appid: &'static str| {
        app.http
            .get(format!("{}/v1/auth?appid={appid}", app.address))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(auth(APP_A).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        auth(APP_B).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the cached record is checked against the app like a stored one"
    );
}

#[tokio::test]
async fn logging_out_a_token_revoked_on_another_instance_is_refused() {
    let app = cached_app().await;
    let mut other = app.another_instance().await;
    let (token, openid, _) = app.login(APP_A).await;
    assert_eq!(
        status_at(&app, &other.address, &token).await,
        StatusCode::OK
    );
    revoke_all(&app, &app.address, &openid).await;
    let logout = app
        .http
        .post(format!("{}/v1/logout", other.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        status_at(&app, &other.address, &token).await,
        StatusCode::UNAUTHORIZED,
        "and the failed logout evicted it"
    );
    other.stop().await;
}

#[tokio::test]
async fn out_of_range_cache_ttl_is_a_startup_error() {
    let mut settings = cached_app().await.settings.clone();
    settings.sessions.cache_ttl = 3601;
    assert!(settings.clone().validate().is_err());
    settings.sessions.cache_ttl = -1;
    assert!(settings.validate().is_err());
}

#[tokio::test]
async fn a_session_key_rotated_on_another_instance_is_read_again_not_reported_stale() {
    let app = cached_app().await;
    let mut other = app.another_instance().await;
    let (token_a, openid, _) = app.login(APP_A).await;
    let token_a = token_a.as_str();
    let decrypt_on_other = |blob: wechat_sim::OpenDataBlob| {
        app.http
            .post(format!("{}/v1/decrypt", other.address))
            .bearer_auth(token_a)
            .json(&json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv}))
            .send()
    };
    let with_key_a = app.sim().open_data(APP_A, &openid, OpenDataKind::Phone);
    let response = decrypt_on_other(with_key_a.unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "caches the user's key A");

    // Device B logs in through the first instance (asserting 200): the key
    // rotates to B.
    app.login_as(APP_A, &openid).await;
    let with_key_b = app.sim().open_data(APP_A, &openid, OpenDataKind::Phone);
    let response = decrypt_on_other(with_key_b.unwrap()).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "no cached key fits, so the store is read again"
    );

    // Garbage that no key opens is still stale, after the store was asked.
    let junk = wechat_sim::OpenDataBlob {
        encrypted_data: "AAAAAAAAAAAAAAAAAAAAAA==".into(),
        iv: "AAAAAAAAAAAAAAAAAAAAAA==".into(),
        ..app
            .sim()
            .open_data(APP_A, &openid, OpenDataKind::Phone)
            .unwrap()
    };
    let got = error_code(decrypt_on_other(junk).await.unwrap()).await;
    assert_eq!(got, (StatusCode::CONFLICT, "session_key_stale".to_owned()));
    other.stop().await;
}
