//! Successful logins: new_user, unionid, single flight and replay.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wechat_sim::SimEndpoint;

use crate::helpers::*;

#[tokio::test]
async fn login_returns_a_token_and_new_user_true_then_false() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let first: Value = app
        .post_login(json!({"appid": APP_A, "code": app.code_for(APP_A, &openid)}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["new_user"], true);
    assert_eq!(first["openid"], openid.as_str());
    assert_eq!(first["appid"], APP_A);
    assert_eq!(first["token_type"], "Bearer");
    let token = first["token"].as_str().unwrap();
    assert!(token.starts_with("wxl_") && token.len() == 47, "{token}");
    assert!(first.get("session_key").is_none());
    let second: Value = app
        .post_login(json!({"appid": APP_A, "code": app.code_for(APP_A, &openid)}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["new_user"], false);
    assert_ne!(
        second["token"], first["token"],
        "each device gets its own session"
    );
    assert_eq!(app.session_status(token).await, StatusCode::OK);
}

#[tokio::test]
async fn unionid_is_passed_through_only_for_a_bound_app() {
    let app = spawn_app().await;
    let (_, _, bound) = app.login(APP_A).await;
    assert!(bound["unionid"].as_str().is_some_and(|u| !u.is_empty()));
    let (token, _, unbound) = app.login(APP_B).await;
    assert!(unbound.get("unionid").is_none());
    let session: Value = app
        .get_bearer("/v1/session", &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(session.get("unionid").is_none());
}

#[tokio::test]
async fn twenty_concurrent_logins_with_one_code_make_one_upstream_call_and_one_session() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let code = app.code_for(APP_A, &openid);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request = app
            .http
            .post(format!("{}/v1/login", app.address))
            .json(&json!({"appid": APP_A, "code": code}));
        requests.spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            body["token"].as_str().unwrap().to_owned()
        });
    }
    let mut tokens = requests.join_all().await;
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "all 20 got the same session");
    assert_eq!(app.sim().calls_for_code(&code), 1);
    assert_eq!(app.code2session_calls(), 1);
}

#[tokio::test]
async fn a_replayed_code_within_five_minutes_returns_the_same_session_without_an_upstream_call() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let code = app.code_for(APP_A, &openid);
    let first: Value = app
        .post_login(json!({"appid": APP_A, "code": code}))
        .await
        .json()
        .await
        .unwrap();
    app.clock.advance(240);
    let again: Value = app
        .post_login(json!({"appid": APP_A, "code": code}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["token"], again["token"]);
    assert_eq!(
        again["new_user"], true,
        "the replay repeats the original answer"
    );
    assert_eq!(app.code2session_calls(), 1);
}

#[tokio::test]
async fn a_replay_after_the_window_reaches_wechat_and_gets_code_used() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let code = app.code_for(APP_A, &openid);
    app.post_login(json!({"appid": APP_A, "code": code})).await;
    app.clock.advance(301);
    let (status, code_) =
        error_code(app.post_login(json!({"appid": APP_A, "code": code})).await).await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::CONFLICT, "code_used")
    );
    assert_eq!(app.code2session_calls(), 2);
}

#[tokio::test]
async fn a_replay_after_logout_is_refused_not_resurrected() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let code = app.code_for(APP_A, &openid);
    let first: Value = app
        .post_login(json!({"appid": APP_A, "code": code}))
        .await
        .json()
        .await
        .unwrap();
    let token = first["token"].as_str().unwrap();
    assert_eq!(
        app.post_bearer("/v1/logout", token).await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, code_) =
        error_code(app.post_login(json!({"appid": APP_A, "code": code})).await).await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::CONFLICT, "code_used")
    );
}

#[tokio::test]
async fn appid_may_be_omitted_only_when_a_single_app_is_configured() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let code = app.code_for(APP_A, &openid);
    let (status, code_) = error_code(app.post_login(json!({"code": code})).await).await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let single = spawn_app_with(|s| s.apps.truncate(1)).await;
    let openid = single.new_user(APP_A);
    let code = single.code_for(APP_A, &openid);
    assert_eq!(
        single.post_login(json!({"code": code})).await.status(),
        StatusCode::OK
    );
    assert_eq!(single.sim().calls(SimEndpoint::Code2Session), 1);
}

#[tokio::test]
async fn a_client_that_gives_up_mid_login_gets_the_session_on_retry() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    let code = app.code_for(APP_A, &openid);
    app.sim().set_fault(
        SimEndpoint::Code2Session,
        wechat_sim::Fault::always(wechat_sim::FaultKind::Latency(
            std::time::Duration::from_millis(400),
        )),
    );
    let impatient = app
        .http
        .post(format!("{}/v1/login", app.address))
        .timeout(std::time::Duration::from_millis(100))
        .json(&json!({"appid": APP_A, "code": code}))
        .send()
        .await;
    assert!(impatient.is_err(), "the client gave up");
    app.sim().clear_faults();
    // WeChat consumed the code; the login still finished and was stored.
    let mut retry = app.post_login(json!({"appid": APP_A, "code": code})).await;
    for _ in 0..20 {
        if retry.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        retry = app.post_login(json!({"appid": APP_A, "code": code})).await;
    }
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(app.sim().calls_for_code(&code), 1, "one upstream call");
}
