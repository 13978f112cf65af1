//! jscode2session: single use, expiry, the order of its checks, the quota.

use crate::*;

#[tokio::test]
async fn a_login_code_works_once_then_answers_40163() {
    let env = env().await;
    let openid = env.user(BOUND);
    let code = env.code(BOUND, &openid);
    let first = env.exchange(BOUND, &code).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.content_type, "text/plain");
    let body = first.json();
    assert_eq!(body["openid"], openid.as_str());
    assert_eq!(
        body["session_key"].as_str(),
        env.sim().session_key(BOUND, &openid).as_deref()
    );
    assert_eq!(body["unionid"].as_str().map(str::len), Some(28));
    assert!(body.get("errcode").is_none(), "{body}");
    let again = env.exchange(BOUND, &code).await;
    assert_eq!(again.errcode(), 40163);
    assert!(
        again.json()["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("code been used, rid: ")
    );
    assert_rid(again.json()["errmsg"].as_str().unwrap());
    assert_eq!(env.sim().calls_for_code(&code), 2);
    assert_eq!(env.sim().calls(SimEndpoint::Code2Session), 2);
    assert_eq!(env.sim().calls_for_app(BOUND), 2);
}

#[tokio::test]
async fn an_unbound_app_gets_no_unionid() {
    let env = env().await;
    let openid = env.user(PLAIN);
    let body = env.exchange(PLAIN, &env.code(PLAIN, &openid)).await.json();
    assert_eq!(body["openid"], openid.as_str());
    assert!(body.get("unionid").is_none(), "{body}");
}

#[tokio::test]
async fn a_code_expires_after_five_minutes_of_sim_time() {
    let env = env().await;
    let openid = env.user(BOUND);
    let fresh = env.code(BOUND, &openid);
    let stale = env.code(BOUND, &openid);
    env.sim().clock().advance(Duration::from_secs(299));
    assert_eq!(env.exchange(BOUND, &fresh).await.errcode(), 0);
    env.sim().clock().advance(Duration::from_secs(2));
    assert_eq!(env.exchange(BOUND, &stale).await.errcode(), 40029);
}

#[tokio::test]
async fn jscode2session_checks_in_the_documented_order() {
    let env = env().await;
    let openid = env.user(BOUND);
    let code = env.code(BOUND, &openid);
    let cases: [(&[(&str, &str)], i64); 6] = [
        (&[("secret", SECRET), ("js_code", &code)], 41002),
        (&[("appid", BOUND), ("js_code", &code)], 41004),
        (
            &[("appid", BOUND), ("secret", SECRET), ("js_code", "")],
            41008,
        ),
        (
            &[
                ("appid", "wx2222222222222222"),
                ("secret", SECRET),
                ("js_code", &code),
            ],
            40013,
        ),
        (
            &[("appid", BOUND), ("secret", "wrong"), ("js_code", &code)],
            40125,
        ),
        (
            &[("appid", PLAIN), ("secret", SECRET), ("js_code", &code)],
            40029,
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            env.get("sns/jscode2session", query).await.errcode(),
            expected,
            "{query:?}"
        );
    }
    env.sim().set_blocked(BOUND, &openid, true).unwrap();
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 40226);
    env.sim().set_blocked(BOUND, &openid, false).unwrap();
    // Every refusal above happened before consumption: the code still works.
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 0);
    env.sim().add_app(AppSpec {
        appid: BOUND.into(),
        secret: SECRET.into(),
        bound_to_open_platform: true,
        ip_whitelist: true,
        ..AppSpec::default()
    });
    assert_eq!(
        env.exchange(BOUND, &env.code(BOUND, &openid))
            .await
            .errcode(),
        40164
    );
}

#[tokio::test]
async fn the_101st_call_for_a_user_within_a_minute_is_45011() {
    let env = env().await;
    let openid = env.user(BOUND);
    // Align to the start of a sim minute so the window cannot roll mid-test.
    let clock = env.sim().clock();
    clock.advance(Duration::from_millis(
        60_000 - clock.now_millis().rem_euclid(60_000) as u64,
    ));
    let used = env.code(BOUND, &openid);
    assert_eq!(env.exchange(BOUND, &used).await.errcode(), 0);
    // Refused calls that resolve to the user count too.
    for _ in 0..49 {
        assert_eq!(env.exchange(BOUND, &used).await.errcode(), 40163);
    }
    for _ in 0..50 {
        assert_eq!(
            env.exchange(BOUND, &env.code(BOUND, &openid))
                .await
                .errcode(),
            0
        );
    }
    let code = env.code(BOUND, &openid);
    assert_eq!(env.exchange(BOUND, &code).await.errcode(), 45011);
    let other = env.user(BOUND);
    assert_eq!(
        env.exchange(BOUND, &env.code(BOUND, &other))
            .await
            .errcode(),
        0,
        "the quota is per user"
    );
    env.sim().clock().advance(Duration::from_secs(60));
    assert_eq!(
        env.exchange(BOUND, &code).await.errcode(),
        0,
        "45011 did not consume the code"
    );
}
