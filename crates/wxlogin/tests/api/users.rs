//! One user across apps, through the API: linking by unionid at login, the
//! user id in every answer and header, the admin's view, unlink and merge,
//! the audit log, the optional proved phone number.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wechat_sim::{AppSpec, UserSpec};

use crate::helpers::*;

/// Both test apps bound to one Open Platform account, and one person with
/// an openid in each (the same unionid).
fn one_person_in_two_apps(app: &TestApp) -> (String, String) {
    app.sim().add_app(AppSpec {
        appid: APP_B.into(),
        secret: SECRET_B.into(),
        bound_to_open_platform: true,
        ip_whitelist: false,
        ..AppSpec::default()
    });
    let spec = || UserSpec {
        unionid: Some("oUnionShared0000000000000001".into()),
        ..UserSpec::default()
    };
    let a = app.sim().add_user(APP_A, spec()).unwrap();
    let b = app.sim().add_user(APP_B, spec()).unwrap();
    (a, b)
}

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(ADMIN_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn admin_json(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let response = admin(app, method, path, body).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

async fn user_of(app: &TestApp, token: &str) -> String {
    let body: Value = app
        .get_bearer("/v1/session", token)
        .await
        .json()
        .await
        .unwrap();
    body["user_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn one_person_in_two_apps_is_one_user_and_admins_can_split_and_merge() {
    let app = spawn_app().await;
    let (openid_a, openid_b) = one_person_in_two_apps(&app);
    let (token_a, body_a) = app.login_as(APP_A, &openid_a).await;
    let (token_b, body_b) = app.login_as(APP_B, &openid_b).await;
    let user_id = body_a["user_id"].as_str().unwrap().to_owned();
    assert_eq!(body_b["user_id"], user_id.as_str(), "joined by unionid");
    assert_eq!(
        (&body_a["platform"], &body_b["new_user"]),
        (&json!("wechat"), &json!(true))
    );

    // The user id reaches backends: introspection and forward auth.
    let introspected: Value = app
        .http
        .post(format!("{}/v1/introspect", app.address))
        .bearer_auth(SERVICE_KEY)
        .json(&json!({"token": token_b, "appid": APP_B}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["user_id"], user_id.as_str());
    assert_eq!(introspected["platform"], "wechat");
    let auth = app
        .get_bearer(&format!("/v1/auth?appid={APP_A}"), &token_a)
        .await;
    assert_eq!(auth.headers()["x-wx-user-id"], user_id.as_str());
    assert_eq!(auth.headers()["x-wx-platform"], "wechat");

    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let view = admin_json(
        &app,
        get.clone(),
        &format!("/v1/admin/users/{user_id}"),
        None,
    )
    .await;
    assert_eq!(view["identities"].as_array().unwrap().len(), 2, "{view}");
    assert_eq!(view["sessions"].as_array().unwrap().len(), 2, "{view}");
    assert!(view.get("phone_number").is_none());

    // Split app B's identity off: a new user, with its session.
    let split = admin_json(
        &app,
        post.clone(),
        &format!("/v1/admin/identities/{APP_B}/{openid_b}/unlink"),
        None,
    )
    .await;
    let new_user = split["user_id"].as_str().unwrap().to_owned();
    assert_eq!(split["previous_user_id"], user_id.as_str());
    assert_eq!(user_of(&app, &token_b).await, new_user);
    assert_eq!(user_of(&app, &token_a).await, user_id);
    // Its only identity cannot be split off again.
    let again = admin(
        &app,
        post.clone(),
        &format!("/v1/admin/identities/{APP_B}/{openid_b}/unlink"),
        None,
    )
    .await;
    assert_eq!(
        error_code(again).await,
        (StatusCode::CONFLICT, "only_identity".to_owned())
    );

    // Merge it back.
    let merged = admin_json(
        &app,
        post.clone(),
        &format!("/v1/admin/users/{user_id}/merge"),
        Some(json!({"other_user_id": new_user})),
    )
    .await;
    assert_eq!(merged["identities"].as_array().unwrap().len(), 2);
    assert_eq!(user_of(&app, &token_b).await, user_id);
    let gone = admin(
        &app,
        get.clone(),
        &format!("/v1/admin/users/{new_user}"),
        None,
    )
    .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // Every change is in the audit log, newest first, with its actor.
    let audit = admin_json(
        &app,
        get.clone(),
        &format!("/v1/admin/audit?user_id={user_id}"),
        None,
    )
    .await;
    let entries = audit["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["merge", "unlink", "link"], "{audit}");
    assert!(entries[0]["actor"].as_str().unwrap().starts_with("admin:"));
    assert_eq!(entries[2]["actor"], "login");
    let page = admin_json(&app, get.clone(), "/v1/admin/audit?limit=2", None).await;
    let next = page["next"].as_str().unwrap();
    let rest = admin_json(
        &app,
        get.clone(),
        &format!("/v1/admin/audit?limit=2&before={next}"),
        None,
    )
    .await;
    assert_eq!(rest["entries"][0]["action"], "link");

    // Revoke everything of the user, across apps.
    let revoked = admin_json(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/admin/users/{user_id}/sessions"),
        None,
    )
    .await;
    assert_eq!(revoked["revoked"], 2);
    assert_eq!(app.session_status(&token_a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.session_status(&token_b).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_late_unionid_meets_another_user_as_a_recorded_conflict() {
    let app = spawn_app().await;
    let (openid_a, openid_b) = one_person_in_two_apps(&app);
    let (_, body_a) = app.login_as(APP_A, &openid_a).await;
    // App B is not bound yet: its login carries no unionid, a user of its own.
    app.sim().add_app(AppSpec {
        appid: APP_B.into(),
        secret: SECRET_B.into(),
        bound_to_open_platform: false,
        ip_whitelist: false,
        ..AppSpec::default()
    });
    let (_, body_b) = app.login_as(APP_B, &openid_b).await;
    assert_ne!(body_a["user_id"], body_b["user_id"]);
    // Bound later: the unionid appears, and the two users are not merged.
    one_person_in_two_apps(&app);
    let (_, again) = app.login_as(APP_B, &openid_b).await;
    assert_eq!(again["user_id"], body_b["user_id"]);
    let conflicts = admin_json(&app, reqwest::Method::GET, "/v1/admin/conflicts", None).await;
    let list = conflicts["conflicts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{conflicts}");
    assert_eq!(list[0]["user_id"], body_b["user_id"]);
    assert_eq!(list[0]["other_user_id"], body_a["user_id"]);
    assert_eq!(list[0]["openid"], openid_b.as_str());
}

#[tokio::test]
async fn malformed_and_unknown_user_ids_get_their_codes() {
    let app = spawn_app().await;
    let get = reqwest::Method::GET;
    for (path, expected) in [
        (
            "/v1/admin/users/not-a-uuid",
            (StatusCode::BAD_REQUEST, "invalid_request"),
        ),
        (
            "/v1/admin/users/0190f0e4-aaaa-7bbb-8ccc-123456789abc",
            (StatusCode::NOT_FOUND, "not_found"),
        ),
        (
            "/v1/admin/audit?user_id=nope",
            (StatusCode::BAD_REQUEST, "invalid_request"),
        ),
        (
            "/v1/admin/audit?before=nope",
            (StatusCode::BAD_REQUEST, "invalid_request"),
        ),
    ] {
        let got = error_code(admin(&app, get.clone(), path, None).await).await;
        assert_eq!((got.0, got.1.as_str()), expected, "{path}");
    }
    let merge_self = admin(
        &app,
        reqwest::Method::POST,
        "/v1/admin/users/0190f0e4-aaaa-7bbb-8ccc-123456789abc/merge",
        Some(json!({"other_user_id": "0190f0e4-aaaa-7bbb-8ccc-123456789abc"})),
    )
    .await;
    assert_eq!(error_code(merge_self).await.1, "invalid_request");
    // Without the admin key, nothing.
    let anonymous = app
        .http
        .get(format!("{}/v1/admin/audit", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_proved_phone_is_kept_only_when_configured() {
    for store_phone in [false, true] {
        let app = spawn_app_with(|s| s.identity.store_phone = store_phone).await;
        let openid = app
            .sim()
            .add_user(
                APP_A,
                UserSpec {
                    phone: Some("13580006666".into()),
                    ..UserSpec::default()
                },
            )
            .unwrap();
        let (token, body) = app.login_as(APP_A, &openid).await;
        let code = app.sim().mint_phone_code(APP_A, &openid).unwrap();
        let answer = app
            .http
            .post(format!("{}/v1/phone", app.address))
            .bearer_auth(&token)
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let user_id = body["user_id"].as_str().unwrap();
        let view = admin_json(
            &app,
            reqwest::Method::GET,
            &format!("/v1/admin/users/{user_id}"),
            None,
        )
        .await;
        if store_phone {
            assert_eq!(view["phone_number"], "13580006666", "{view}");
            assert!(view["phone_at"].is_string());
        } else {
            assert!(view.get("phone_number").is_none(), "{view}");
        }
    }
}
