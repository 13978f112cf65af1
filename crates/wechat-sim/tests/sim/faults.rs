//! Fault injection as a client meets it: busy, errcodes, garbage, HTTP errors,
//! resets, hangs, latency, before and after commit.

use crate::*;

#[tokio::test]
async fn busy_twice_then_success() {
    let env = env().await;
    let openid = env.user(BOUND);
    let code = env.code(BOUND, &openid);
    env.sim()
        .set_fault(SimEndpoint::Code2Session, Fault::times(FaultKind::Busy, 2));
    for _ in 0..2 {
        let busy = env.exchange(BOUND, &code).await;
        assert_eq!(busy.errcode(), -1);
        assert!(
            busy.json()["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("system error, rid: ")
        );
    }
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 0);
    assert_eq!(env.sim().calls(SimEndpoint::Code2Session), 3);
}

#[tokio::test]
async fn garbage_and_http_status_faults_leave_the_code_usable() {
    let env = env().await;
    let code = env.code(BOUND, &env.user(BOUND));
    let garbage = [
        (Garbage::NotJson, "upstream error"),
        (Garbage::TruncatedJson, r#"{"openid":"o"#),
        (Garbage::Html, "<html><body>502 Bad Gateway</body></html>"),
        (Garbage::Empty, ""),
    ];
    for (kind, expected) in garbage {
        env.sim().set_fault(
            SimEndpoint::Code2Session,
            Fault::always(FaultKind::Garbage(kind)),
        );
        let answer = env.exchange(BOUND, &code).await;
        assert_eq!(
            (answer.status, answer.text.as_str()),
            (StatusCode::OK, expected)
        );
    }
    for (status, body) in [(502, true), (500, false), (504, true)] {
        env.sim().set_fault(
            SimEndpoint::Code2Session,
            Fault::always(FaultKind::HttpStatus { status, body }),
        );
        let answer = env.exchange(BOUND, &code).await;
        assert_eq!(answer.status.as_u16(), status);
        assert_eq!(answer.text.is_empty(), !body);
    }
    env.sim().set_fault(
        SimEndpoint::Code2Session,
        Fault::always(FaultKind::Errcode(40243)),
    );
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 40243);
    env.sim().clear_faults();
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 0);
}

#[tokio::test]
async fn an_after_commit_fault_consumes_the_code() {
    let env = env().await;
    let code = env.code(BOUND, &env.user(BOUND));
    env.sim().set_fault(
        SimEndpoint::Code2Session,
        Fault::times(FaultKind::Busy, 1).after_commit(),
    );
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), -1);
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 40163);
}

#[tokio::test]
async fn a_reset_drops_the_connection_without_an_answer() {
    let env = env().await;
    let code = env.code(BOUND, &env.user(BOUND));
    env.sim()
        .set_fault(SimEndpoint::Code2Session, Fault::times(FaultKind::Reset, 1));
    let query = [
        ("appid", BOUND),
        ("secret", SECRET),
        ("js_code", code.as_str()),
    ];
    let result = env
        .http
        .get(env.url("sns/jscode2session"))
        .query(&query)
        .send()
        .await;
    let error = match result {
        Ok(response) => response.bytes().await.unwrap_err(),
        Err(error) => error,
    };
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(
        env.exchange(BOUND, &code).await.errcode(),
        0,
        "a reset before commit keeps the code"
    );
    let code = env.code(
        BOUND,
        &env.sim().add_user(BOUND, UserSpec::default()).unwrap(),
    );
    env.sim().set_fault(
        SimEndpoint::Code2Session,
        Fault::times(FaultKind::Reset, 1).after_commit(),
    );
    assert!(
        env.http
            .get(env.url("sns/jscode2session"))
            .query(&[
                ("appid", BOUND),
                ("secret", SECRET),
                ("js_code", code.as_str())
            ])
            .send()
            .await
            .is_err()
    );
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 40163);
}

#[tokio::test]
async fn a_hang_outlasts_the_client_and_latency_only_delays() {
    let env = env().await;
    env.sim()
        .set_fault(SimEndpoint::StableToken, Fault::times(FaultKind::Hang, 1));
    let body = json!({"grant_type": "client_credential", "appid": BOUND, "secret": SECRET});
    let started = std::time::Instant::now();
    let result = env
        .http
        .post(env.url("cgi-bin/stable_token"))
        .json(&body)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert!(started.elapsed() >= Duration::from_millis(300));
    env.sim().set_fault(
        SimEndpoint::StableToken,
        Fault::always(FaultKind::Latency(Duration::from_millis(200))),
    );
    let started = std::time::Instant::now();
    assert_eq!(env.stable_token(false).await.errcode(), 0);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_fault_with_probability_zero_never_strikes() {
    let env = env().await;
    env.sim().set_fault(
        SimEndpoint::StableToken,
        Fault::with_probability(FaultKind::Busy, 0.0),
    );
    for _ in 0..10 {
        assert_eq!(env.stable_token(false).await.errcode(), 0);
    }
}

#[tokio::test]
async fn a_reset_still_aborts_when_the_router_is_served_by_plain_axum() {
    let sim = Simulator::new();
    sim.set_fault(SimEndpoint::Token, Fault::always(FaultKind::Reset));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cgi-bin/token", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, sim.router()).into_future());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = reqwest::Client::new().get(url).send().await;
    let failed = match result {
        Ok(response) => response.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(failed, "no complete answer");
    server.abort();
}
