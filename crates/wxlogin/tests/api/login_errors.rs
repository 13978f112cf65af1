//! Every way a login fails: the stable code, the status, and no wasted
//! upstream call for input we can refuse ourselves.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wechat_sim::{Fault, FaultKind, Garbage, SimEndpoint};

use crate::helpers::*;

async fn login_error(app: &TestApp, code: &str) -> (StatusCode, String) {
    error_code(app.post_login(json!({"appid": APP_A, "code": code})).await).await
}

#[tokio::test]
async fn malformed_codes_are_400_invalid_code_with_zero_upstream_calls() {
    let app = spawn_app().await;
    let long = "a".repeat(10 * 1024);
    for code in [
        "",
        "abc&appid=wx0000000000000000",
        "abc#frag",
        "two words",
        "码码码码",
        "a\u{0}b",
        "a+b/c=",
        long.as_str(),
        &"a".repeat(129),
    ] {
        let (status, error) = login_error(&app, code).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_code"),
            "{code:?}"
        );
    }
    assert_eq!(app.code2session_calls(), 0);
}

#[tokio::test]
async fn wechat_errors_map_to_their_status_and_stable_code() {
    let app = spawn_app().await;
    let openid = app.new_user(APP_A);
    // 40029: a code WeChat does not know.
    let (status, code) = login_error(&app, "051v0m000ObAyK19vV1005SDWf0v0m0s").await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_code")
    );
    // 40163: the code was exchanged by someone else (not our replay).
    let used = app.code_for(APP_A, &openid);
    let direct = wechat::Client::builder()
        .base_url(app.sim.base_url())
        .build()
        .unwrap();
    direct
        .code2session(
            &wechat::AppId::parse(APP_A).unwrap(),
            &wechat::AppSecret::parse(SECRET_A).unwrap(),
            &wechat::JsCode::parse(&used).unwrap(),
        )
        .await
        .unwrap();
    let response = app.post_login(json!({"appid": APP_A, "code": used})).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "code_used");
    assert_eq!(body["error"]["wechat_errcode"], 40163);
    // 40226: blocked user.
    let blocked = app.new_user(APP_A);
    app.sim().set_blocked(APP_A, &blocked, true).unwrap();
    let (status, code) = login_error(&app, &app.code_for(APP_A, &blocked)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "user_blocked")
    );
    let cases = [
        (
            FaultKind::Errcode(45011),
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
        ),
        (
            FaultKind::Busy,
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
        ),
        (
            FaultKind::Garbage(Garbage::Html),
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
        ),
        (
            FaultKind::Garbage(Garbage::TruncatedJson),
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
        ),
        (
            FaultKind::HttpStatus {
                status: 500,
                body: true,
            },
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
        ),
        (
            FaultKind::Errcode(40125),
            StatusCode::INTERNAL_SERVER_ERROR,
            "upstream_misconfigured",
        ),
        (
            FaultKind::Errcode(40013),
            StatusCode::INTERNAL_SERVER_ERROR,
            "upstream_misconfigured",
        ),
    ];
    for (fault, expected_status, expected_code) in cases {
        app.sim()
            .set_fault(SimEndpoint::Code2Session, Fault::always(fault.clone()));
        let code = app.code_for(APP_A, &openid);
        let response = app.post_login(json!({"appid": APP_A, "code": code})).await;
        assert_eq!(response.status(), expected_status, "{fault:?}");
        if expected_status == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], expected_code, "{fault:?}");
    }
    // After the faults clear, a code that only met transient failures still works.
    app.sim().clear_faults();
    let code = app.code_for(APP_A, &openid);
    app.sim().set_fault(
        SimEndpoint::Code2Session,
        Fault::times(FaultKind::Errcode(45011), 1),
    );
    assert_eq!(
        login_error(&app, &code).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.post_login(json!({"appid": APP_A, "code": code}))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_wrong_configured_secret_is_upstream_misconfigured() {
    let app =
        spawn_app_with(|s| s.apps[0].secret = Some("not-the-right-secret".to_owned().into())).await;
    let openid = app.new_user(APP_A);
    let (status, code) = login_error(&app, &app.code_for(APP_A, &openid)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "upstream_misconfigured")
    );
}

#[tokio::test]
async fn an_upstream_hang_answers_502_within_the_deadline() {
    let app = spawn_app_with(|s| s.upstream_timeout_ms = 500).await;
    let openid = app.new_user(APP_A);
    app.sim()
        .set_fault(SimEndpoint::Code2Session, Fault::always(FaultKind::Hang));
    let started = std::time::Instant::now();
    let (status, code) = login_error(&app, &app.code_for(APP_A, &openid)).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_GATEWAY, "upstream_unavailable")
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(500 + 1000));
}

#[tokio::test]
async fn an_unknown_app_and_bad_json_are_400_with_codes() {
    let app = spawn_app().await;
    let (status, code) = error_code(
        app.post_login(json!({"appid": "wx9999999999999999", "code": "abc"}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "unknown_app")
    );
    let url = format!("{}/v1/login", app.address);
    for (body, content_type, expected) in [
        ("{", "application/json", "invalid_request"),
        ("{\"code\": 5}", "application/json", "invalid_request"),
        (
            "{\"appid\": \"wx4f4bc4dec97d474b\"}",
            "application/json",
            "invalid_request",
        ),
        (
            "{\"code\": \"abc\", \"extra\": 1}",
            "application/json",
            "invalid_request",
        ),
        (
            "code=abc",
            "application/x-www-form-urlencoded",
            "unsupported_media_type",
        ),
    ] {
        let response = app
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{body}");
        let (_, code) = error_code(response).await;
        assert_eq!(code, expected, "{body}");
    }
    let huge = format!("{{\"code\":\"{}\"}}", "a".repeat(100_000));
    let response = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large".to_owned()
        )
    );
    assert_eq!(app.code2session_calls(), 0);
}

#[tokio::test]
async fn logins_past_the_per_ip_limit_get_429_with_retry_after() {
    let app = spawn_app_with(|s| s.rate_limits.login_per_ip_per_minute = 3).await;
    for _ in 0..3 {
        app.login(APP_A).await;
    }
    let openid = app.new_user(APP_A);
    let response = app
        .post_login(json!({"appid": APP_A, "code": app.code_for(APP_A, &openid)}))
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(app.code2session_calls(), 3);
}
