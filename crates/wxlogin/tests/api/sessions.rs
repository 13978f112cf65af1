//! Session lifecycle: expiry (absolute and idle) by the clock, refresh,
//! logout, admin revoke-all, app isolation, introspection, forward auth,
//! operator keys, and restart on the same database.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const DAY: i64 = 86_400;

#[tokio::test]
async fn a_session_expires_when_idle_for_seven_days_and_use_slides_the_deadline() {
    let app = spawn_app().await;
    let (token, _, _) = app.login(APP_A).await;
    app.clock.advance(6 * DAY);
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::OK,
        "use at day 6 slides idle expiry"
    );
    app.clock.advance(6 * DAY);
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::OK,
        "day 12: 6 days since last use"
    );
    app.clock.advance(7 * DAY);
    assert_eq!(app.session_status(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_expires_after_thirty_days_however_much_it_is_used() {
    let app = spawn_app().await;
    let (token, _, _) = app.login(APP_A).await;
    for _ in 0..4 {
        app.clock.advance(6 * DAY);
        assert_eq!(app.session_status(&token).await, StatusCode::OK);
    }
    app.clock.advance(6 * DAY - 1);
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::OK,
        "29 days 23:59:59"
    );
    app.clock.advance(1);
    let (status, code) = error_code(app.get_bearer("/v1/session", &token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn session_shows_the_identity_without_secrets() {
    let app = spawn_app().await;
    let (token, openid, _) = app.login(APP_A).await;
    let response = app.get_bearer("/v1/session", &token).await;
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["openid"], openid.as_str());
    assert_eq!(body["appid"], APP_A);
    for key in [
        "created_at",
        "expires_at",
        "idle_expires_at",
        "session_id",
        "unionid",
    ] {
        assert!(body[key].is_string(), "{key}");
    }
    let text = body.to_string();
    assert!(!text.contains(&token) && !text.contains("session_key"));
}

#[tokio::test]
async fn refresh_issues_a_new_token_and_revokes_the_old_one() {
    let app = spawn_app().await;
    let (old, _, _) = app.login(APP_A).await;
    let response = app.post_bearer("/v1/session/refresh", &old).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let new = body["token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(app.session_status(new).await, StatusCode::OK);
    assert_eq!(app.session_status(&old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.post_bearer("/v1/session/refresh", &old).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_revokes_only_this_token() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let body: Value = app
            .post_login(json!({"appid": APP_A, "code": app.code_for(APP_A, &openid)}))
            .await
            .json()
            .await
            .unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        app.post_bearer("/v1/logout", &tokens[0]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.session_status(&tokens[0]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.session_status(&tokens[1]).await, StatusCode::OK);
}

#[tokio::test]
async fn admin_lists_and_revokes_every_device_of_a_user() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let body: Value = app
            .post_login(json!({"appid": APP_A, "code": app.code_for(APP_A, &openid)}))
            .await
            .json()
            .await
            .unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    let (other, _, _) = app.login(APP_A).await;
    let path = format!("/v1/admin/users/{APP_A}/{openid}/sessions");
    let list: Value = app.get_bearer(&path, ADMIN_KEY).await.json().await.unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 3);
    let response = app
        .http
        .delete(format!("{}{path}", app.address))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], 3);
    for token in &tokens {
        assert_eq!(app.session_status(token).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.session_status(&other).await,
        StatusCode::OK,
        "other users keep theirs"
    );
    let list: Value = app.get_bearer(&path, ADMIN_KEY).await.json().await.unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_token_of_app_a_is_not_valid_for_app_b() {
    let app = spawn_app().await;
    let (token, _, _) = app.login(APP_A).await;
    let as_b = |path: &str| {
        app.http
            .get(format!("{}{path}", app.address))
            .bearer_auth(&token)
            .header("x-wx-appid", APP_B)
    };
    assert_eq!(
        as_b("/v1/session").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let auth_b = app
        .get_bearer(&format!("/v1/auth?appid={APP_B}"), &token)
        .await;
    assert_eq!(auth_b.status(), StatusCode::UNAUTHORIZED);
    let auth_a = app
        .get_bearer(&format!("/v1/auth?appid={APP_A}"), &token)
        .await;
    assert_eq!(auth_a.status(), StatusCode::OK);
    let introspect: Value = app
        .http
        .post(format!("{}/v1/introspect", app.address))
        .bearer_auth(SERVICE_KEY)
        .json(&json!({"token": token, "appid": APP_B}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspect, json!({"active": false}));
}

#[tokio::test]
async fn forward_auth_puts_the_identity_in_headers() {
    let app = spawn_app().await;
    let (token, openid, login) = app.login(APP_A).await;
    // Two apps are configured: the proxy must say which one it guards.
    let (status, code) = error_code(app.get_bearer("/v1/auth", &token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let response = app
        .get_bearer(&format!("/v1/auth?appid={APP_A}"), &token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers();
    assert_eq!(h["x-wx-openid"], openid.as_str());
    assert_eq!(h["x-wx-appid"], APP_A);
    assert_eq!(h["x-wx-unionid"], login["unionid"].as_str().unwrap());
    let missing = app
        .http
        .get(format!("{}/v1/auth", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    for bad in [
        "wxl_short",
        "Bearer",
        &token[..46],
        &format!("{token}x"),
        "wxl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert_eq!(
            app.get_bearer(&format!("/v1/auth?appid={APP_A}"), bad)
                .await
                .status(),
            StatusCode::UNAUTHORIZED,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn introspect_answers_active_with_identity_and_inactive_for_junk() {
    let app = spawn_app().await;
    let (token, openid, _) = app.login(APP_A).await;
    let post = |body: Value| {
        app.http
            .post(format!("{}/v1/introspect", app.address))
            .bearer_auth(SERVICE_KEY)
            .json(&body)
            .send()
    };
    // Two apps are configured: like `/v1/auth`, introspection must be told
    // which app it checks for, or it fails closed.
    let (status, code) = error_code(post(json!({"token": token})).await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let active: Value = post(json!({"token": token, "appid": APP_A}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["openid"], openid.as_str());
    assert!(active["exp"].as_i64().unwrap() > active["iat"].as_i64().unwrap());
    let inactive: Value = post(json!({"token": "nonsense", "appid": APP_A}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inactive, json!({"active": false}));
}

#[tokio::test]
async fn operator_endpoints_refuse_missing_and_wrong_keys() {
    let app = spawn_app().await;
    let (token, openid, _) = app.login(APP_A).await;
    let admin_path = format!("{}/v1/admin/users/{APP_A}/{openid}/sessions", app.address);
    let introspect = format!("{}/v1/introspect", app.address);
    let body = json!({"token": token, "appid": APP_A});
    let cases: [(Option<&str>, StatusCode, &str); 4] = [
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            Some("wrong-key-0123456789-abcdefghij"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (Some(&token), StatusCode::FORBIDDEN, "forbidden"),
        (Some(SERVICE_KEY), StatusCode::FORBIDDEN, "forbidden"),
    ];
    for (key, status, code) in cases {
        let mut list = app.http.get(&admin_path);
        let mut revoke = app.http.delete(&admin_path);
        if let Some(key) = key {
            list = list.bearer_auth(key);
            revoke = revoke.bearer_auth(key);
        }
        assert_eq!(
            error_code(list.send().await.unwrap()).await,
            (status, code.to_owned())
        );
        assert_eq!(
            error_code(revoke.send().await.unwrap()).await,
            (status, code.to_owned())
        );
    }
    for (key, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(ADMIN_KEY), StatusCode::FORBIDDEN),
        (Some(token.as_str()), StatusCode::FORBIDDEN),
    ] {
        let mut request = app.http.post(&introspect).json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        assert_eq!(request.send().await.unwrap().status(), status);
    }
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::OK,
        "nothing was revoked"
    );
}

#[tokio::test]
async fn a_restart_on_the_same_database_keeps_every_session() {
    let mut app = spawn_app().await;
    let mut tokens = Vec::new();
    for appid in [APP_A, APP_A, APP_B] {
        tokens.push(app.login(appid).await.0);
    }
    let old_address = app.address.clone();
    app.restart().await;
    assert_ne!(app.address, old_address, "a new server answers");
    for token in &tokens {
        assert_eq!(app.session_status(token).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn health_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    app.login(APP_A).await;
    for path in ["/healthz", "/readyz", "/openapi.json", "/docs/"] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("wxlogin_logins_total"), "{metrics}");
    assert!(metrics.contains("wxlogin_http_requests_total"));
    let openapi: Value = app
        .http
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/login",
        "/v1/session",
        "/v1/session/refresh",
        "/v1/logout",
        "/v1/introspect",
        "/v1/auth",
        "/v1/admin/users/{appid}/{openid}/sessions",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    let (status, code) = error_code(
        app.http
            .get(format!("{}/nope", app.address))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[tokio::test]
async fn refresh_never_extends_the_absolute_lifetime() {
    let app = spawn_app().await;
    let (mut token, _, _) = app.login(APP_A).await;
    for _ in 0..4 {
        app.clock.advance(6 * DAY);
        let body: Value = app
            .post_bearer("/v1/session/refresh", &token)
            .await
            .json()
            .await
            .unwrap();
        token = body["token"].as_str().unwrap().to_owned();
    }
    app.clock.advance(6 * DAY - 1);
    assert_eq!(app.session_status(&token).await, StatusCode::OK);
    app.clock.advance(1);
    assert_eq!(
        app.session_status(&token).await,
        StatusCode::UNAUTHORIZED,
        "30 days after login, refreshed or not"
    );
}
