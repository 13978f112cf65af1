//! What the binary logs about requests at its default level: nothing for a
//! request that succeeds or is refused, one WARN line for a failure, carrying
//! the `x-request-id` the client saw; and, with the request span switched on,
//! the request id on every line logged inside a request.

use reqwest::StatusCode;
use serde_json::json;
use wechat_sim::{Fault, FaultKind, SimEndpoint};

use crate::helpers::*;
use crate::process::ServiceProcess;

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A login WeChat answers with HTTP 500: 502 `upstream_unavailable`. Returns
/// the request id the service answered with.
async fn failing_login(app: &TestApp, address: &str) -> String {
    failing_login_with_id(app, address, None).await
}

async fn failing_login_with_id(app: &TestApp, address: &str, sent_id: Option<&str>) -> String {
    app.sim().set_fault(
        SimEndpoint::Code2Session,
        Fault::always(FaultKind::HttpStatus {
            status: 500,
            body: false,
        }),
    );
    let openid = app.new_user(APP_A);
    let mut request = app
        .http
        .post(format!("{address}/v1/login"))
        .json(&json!({"code": app.code_for(APP_A, &openid)}));
    if let Some(sent) = sent_id {
        request = request.header("x-request-id", sent);
    }
    let response = request.send().await.unwrap();
    let id = request_id(&response);
    assert_eq!(
        error_code(response).await,
        (StatusCode::BAD_GATEWAY, "upstream_unavailable".to_owned())
    );
    app.sim().clear_faults();
    id
}

#[tokio::test]
async fn a_failure_is_logged_once_with_its_request_id_and_a_success_not_at_all() {
    let app = spawn_app().await; // for its simulator
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(dir.path(), &app.sim.base_url(), None);
    let address = service.address.clone();
    let openid = app.new_user(APP_A);
    let login = app
        .http
        .post(format!("{address}/v1/login"))
        .json(&json!({"code": app.code_for(APP_A, &openid)}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let ok_id = request_id(&login);
    let refused = app
        .http
        .get(format!("{address}/v1/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused_id = request_id(&refused);
    let failed_id = failing_login(&app, &address).await;

    let log = service.finish().await;
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("wxlogin::http") && l.contains("request failed"))
        .collect();
    assert_eq!(failures.len(), 1, "one line per failed request:\n{log}");
    let line = failures[0];
    for expected in [
        failed_id.as_str(),
        "WARN",
        "upstream_unavailable",
        "/v1/login",
        "502",
    ] {
        assert!(
            line.contains(expected),
            "{expected:?} missing from {line:?}"
        );
    }
    for quiet in [&ok_id, &refused_id] {
        assert!(!log.contains(quiet.as_str()), "{quiet} was logged:\n{log}");
    }
}

#[tokio::test]
async fn with_the_request_span_on_lines_inside_a_request_carry_its_id() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(
        dir.path(),
        &app.sim.base_url(),
        Some("info,wxlogin::request=debug"),
    );
    let address = service.address.clone();
    let failed_id = failing_login(&app, &address).await;
    let log = service.finish().await;
    // The WeChat client's own warning, logged deep inside the request.
    let inner = log
        .lines()
        .find(|l| l.contains("WeChat unreachable or malformed answer"))
        .unwrap_or_else(|| panic!("no upstream warning:\n{log}"));
    assert!(inner.contains(&failed_id), "{inner:?}");
}

#[tokio::test]
async fn a_client_request_id_is_kept_only_if_it_looks_like_one() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(dir.path(), &app.sim.base_url(), None);
    let address = service.address.clone();
    let proxy_id = "nginx-7f3a.c0ffee_01";
    assert_eq!(
        failing_login_with_id(&app, &address, Some(proxy_id)).await,
        proxy_id,
        "a sane id from a proxy is echoed"
    );
    let long = "a".repeat(65);
    let hostile = [
        "x\" request failed code=fake injected=1",
        long.as_str(),
        "id with spaces",
    ];
    let mut fresh = Vec::new();
    for sent in hostile {
        let answered = failing_login_with_id(&app, &address, Some(sent)).await;
        assert_ne!(answered, sent);
        assert_eq!(answered.len(), 36, "a fresh uuid: {answered}");
        fresh.push(answered);
    }
    let log = service.finish().await;
    assert!(log.contains(proxy_id), "{log}");
    for id in &fresh {
        assert!(log.contains(id.as_str()), "{id} missing:\n{log}");
    }
    assert!(!log.contains("injected"), "{log}");
    assert!(!log.contains(&long), "{log}");
}
