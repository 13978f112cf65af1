//! The HTTP surface itself: common codes, Content-Type, the redacted log, the
//! `/__sim/` endpoints, and the server's lifecycle.

use crate::*;

#[tokio::test]
async fn wrong_method_bad_body_and_unknown_path_use_wechat_common_codes() {
    let env = env().await;
    let get_stable = env.get("cgi-bin/stable_token", &[]).await;
    assert_eq!(get_stable.errcode(), 43002);
    assert!(
        get_stable.json()["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("require POST method, rid: ")
    );
    let not_json = env
        .answer(
            env.http
                .post(env.url("cgi-bin/stable_token"))
                .body("grant_type=client_credential"),
        )
        .await;
    assert_eq!(
        (not_json.status, not_json.errcode()),
        (StatusCode::OK, 47001)
    );
    let unknown = env.get("cgi-bin/nope", &[]).await;
    assert_eq!((unknown.status, unknown.errcode()), (StatusCode::OK, 40066));
    let post_login = env.post("sns/jscode2session", &[], &json!({})).await;
    assert_eq!(
        post_login.errcode(),
        43001,
        "GET-only endpoints answer 43001 require GET method"
    );
    assert_eq!(env.sim().calls(SimEndpoint::StableToken), 2);
    let logged = env.sim().last_requests(10);
    assert_eq!(logged.len(), 4);
    assert_eq!(logged[2].endpoint, None);
    assert_eq!(logged[2].path, "/cgi-bin/nope");
}

#[tokio::test]
async fn json_content_type_can_be_switched_on() {
    let env = env().await;
    env.sim().set_json_content_type(true);
    let answer = env.stable_token(false).await;
    assert!(
        answer.content_type.starts_with("application/json"),
        "{}",
        answer.content_type
    );
}

#[tokio::test]
async fn the_log_redacts_secrets_but_seen_query_keeps_the_literal_values() {
    let env = env().await;
    let hostile = "x&appid=wx0000000000000000#";
    assert_eq!(env.exchange(BOUND, hostile).await.errcode(), 40029);
    env.stable_token(false).await;
    let seen = env.sim().seen_query(SimEndpoint::Code2Session);
    let query = seen.last().unwrap();
    let values = |key: &str| {
        query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(values("js_code"), [hostile]);
    assert_eq!(values("appid"), [BOUND]);
    assert_eq!(values("secret"), [SECRET]);
    let logged = format!("{:?}", env.sim().last_requests(10));
    assert!(
        !logged.contains(SECRET) && !logged.contains(hostile),
        "{logged}"
    );
    assert!(logged.contains("[redacted]"));
    env.sim().reset_counters();
    assert_eq!(env.sim().calls(SimEndpoint::Code2Session), 0);
    assert!(env.sim().last_requests(10).is_empty());
}

#[tokio::test]
async fn the_test_endpoints_play_the_mini_program() {
    let env = env().await;
    let login = env.post("__sim/login", &[], &json!({"appid": BOUND})).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.content_type, "application/json");
    let login = login.json();
    let (code, openid) = (
        login["code"].as_str().unwrap(),
        login["openid"].as_str().unwrap(),
    );
    assert_eq!(code.len(), 32);
    assert_eq!(env.exchange(BOUND, code).await.json()["openid"], openid);
    let again = env
        .post(
            "__sim/login",
            &[],
            &json!({"appid": BOUND, "openid": openid}),
        )
        .await
        .json();
    assert_eq!(again["openid"], openid);
    let user = env
        .post(
            "__sim/users",
            &[],
            &json!({"appid": BOUND, "phone": "+852 61234567", "blocked": true}),
        )
        .await
        .json();
    let user = user["openid"].as_str().unwrap();
    let phone_code = env
        .post(
            "__sim/phone-code",
            &[],
            &json!({"appid": BOUND, "openid": user}),
        )
        .await
        .json();
    let token = env.token(false).await;
    let info = env
        .phone(&token, &json!({"code": phone_code["code"]}))
        .await
        .json();
    assert_eq!(info["phone_info"]["countryCode"], "852");
    assert_eq!(info["phone_info"]["purePhoneNumber"], "61234567");
    let blob = env
        .post(
            "__sim/open-data",
            &[],
            &json!({"appid": BOUND, "openid": openid, "kind": "profile"}),
        )
        .await
        .json();
    assert!(
        blob["encryptedData"].is_string()
            && blob["iv"].is_string()
            && blob["signature"].is_string(),
        "{blob}"
    );
    let fault =
        json!({"endpoint": "code2session", "kind": "errcode", "errcode": 45011, "times": 1});
    assert_eq!(
        env.post("__sim/faults", &[], &fault).await.status,
        StatusCode::OK
    );
    let code = env
        .post(
            "__sim/login",
            &[],
            &json!({"appid": BOUND, "openid": openid}),
        )
        .await
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 45011);
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 0);
    let stats = env.get("__sim/stats", &[]).await.json();
    assert_eq!(stats["calls"]["code2session"], 3);
    assert_eq!(stats["calls"]["stable_token"], 1);
    let before = env.sim().clock().now_unix();
    let now = env
        .post("__sim/clock/advance", &[], &json!({"seconds": 600}))
        .await
        .json()["now"]
        .as_i64()
        .unwrap();
    assert!(now >= before + 600);
    assert_eq!(
        env.post("__sim/reset-counters", &[], &json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(env.sim().calls(SimEndpoint::Code2Session), 0);
    let delete = env.answer(env.http.delete(env.url("__sim/faults"))).await;
    assert_eq!(delete.status, StatusCode::OK);
}

#[tokio::test]
async fn the_test_endpoints_refuse_bad_input_with_a_json_error() {
    let env = env().await;
    let cases = [
        (
            "__sim/login",
            json!({"appid": "wx9999999999999999"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "__sim/login",
            json!({"appid": BOUND, "openid": "nobody"}),
            StatusCode::NOT_FOUND,
        ),
        ("__sim/login", json!({"nope": 1}), StatusCode::BAD_REQUEST),
        (
            "__sim/faults",
            json!({"endpoint": "code2session", "kind": "latency"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "__sim/faults",
            json!({"endpoint": "nowhere", "kind": "busy"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "__sim/open-data",
            json!({"appid": BOUND, "openid": "x", "kind": "selfie"}),
            StatusCode::BAD_REQUEST,
        ),
        ("__sim/nothing-here", json!({}), StatusCode::NOT_FOUND),
    ];
    for (path, body, status) in cases {
        let answer = env.post(path, &[], &body).await;
        assert_eq!(answer.status, status, "{path} {body}");
        assert!(answer.json()["error"].is_string(), "{}", answer.text);
    }
    let openid = env.user(BOUND);
    let dup = env
        .post(
            "__sim/users",
            &[],
            &json!({"appid": BOUND, "openid": openid}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let wrong_method = env.get("__sim/login", &[]).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.json()["error"].is_string());
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let env = env().await;
    let url = env.url("__sim/stats");
    assert!(env.http.get(&url).send().await.is_ok());
    let Env { sim, http } = env;
    drop(sim);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = reqwest::Client::builder().build().unwrap();
    assert!(fresh.get(&url).send().await.is_err());
    drop(http);
}

#[tokio::test]
async fn helper_methods_refuse_unknown_apps_and_users() {
    let sim = Simulator::new();
    assert_eq!(
        sim.add_user(BOUND, UserSpec::default()),
        Err(wechat_sim::SimError::UnknownApp)
    );
    sim.add_app(AppSpec {
        appid: BOUND.into(),
        secret: SECRET.into(),
        bound_to_open_platform: false,
        ip_whitelist: false,
        ..AppSpec::default()
    });
    assert_eq!(
        sim.mint_login_code(BOUND, "nobody"),
        Err(wechat_sim::SimError::UnknownUser)
    );
    assert_eq!(sim.session_key(BOUND, "nobody"), None);
    let openid = sim
        .add_user(
            BOUND,
            UserSpec {
                openid: Some("oFixedOpenid".into()),
                ..UserSpec::default()
            },
        )
        .unwrap();
    assert_eq!(openid, "oFixedOpenid");
    assert!(!format!("{sim:?}").contains(SECRET));
}

#[tokio::test]
async fn serve_stops_on_its_signal_even_with_a_hanging_call() {
    let sim = Simulator::new();
    sim.set_fault(SimEndpoint::Token, Fault::always(FaultKind::Hang));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cgi-bin/token", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let sim = sim.clone();
        async move {
            sim.serve(listener, async {
                let _ = stopped.await;
            })
            .await
        }
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let hanging = tokio::spawn(async move { http.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.calls(SimEndpoint::Token), 1);
    stop.send(()).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(2), server).await;
    served.expect("shut down promptly").unwrap().unwrap();
    assert!(
        hanging.await.unwrap().is_err(),
        "the hanging call ends without an answer"
    );
}
