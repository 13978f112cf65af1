//! Access tokens: stable (shared, forced refresh rationed) and legacy (previous
//! valid 300 s), and how calls carrying a token reject it.

use crate::*;

#[tokio::test]
async fn stable_token_is_shared_in_normal_mode_and_replaced_by_force() {
    let env = env().await;
    let first = env.stable_token(false).await.json();
    assert_eq!(first["expires_in"], 7200);
    assert!(first.get("errcode").is_none());
    let token = first["access_token"].as_str().unwrap().to_owned();
    env.sim().clock().advance(Duration::from_secs(100));
    let again = env.stable_token(false).await.json();
    assert_eq!(again["access_token"], token.as_str());
    let left = again["expires_in"].as_i64().unwrap();
    assert!((7099..=7100).contains(&left), "{left}");
    assert_eq!(
        env.sim().current_access_token(BOUND).as_deref(),
        Some(token.as_str())
    );
    // In the last 5 minutes a normal call rolls over; the old token lives on.
    env.sim().clock().advance(Duration::from_secs(6850));
    let rolled = env.token(false).await;
    assert_ne!(rolled, token);
    let openid = env.user(BOUND);
    let key = env.sim().session_key(BOUND, &openid).unwrap();
    assert_eq!(env.check_session(&token, &openid, &key).await.errcode(), 0);
    env.sim().clock().advance(Duration::from_secs(300));
    assert_eq!(
        env.check_session(&token, &openid, &key).await.errcode(),
        42001
    );
    // Forced: a new token, the old one dead at once; a second within 30 s is a no-op.
    let forced = env.token(true).await;
    assert_ne!(forced, rolled);
    assert_eq!(
        env.check_session(&rolled, &openid, &key).await.errcode(),
        40001
    );
    assert_eq!(env.token(true).await, forced);
    env.sim().clock().advance(Duration::from_secs(30));
    assert_ne!(env.token(true).await, forced);
    let bad = env
        .post(
            "cgi-bin/stable_token",
            &[],
            &json!({"grant_type": "password", "appid": BOUND, "secret": SECRET}),
        )
        .await;
    assert_eq!(bad.errcode(), 40002);
    let wrong = env
        .post(
            "cgi-bin/stable_token",
            &[],
            &json!({"grant_type": "client_credential", "appid": BOUND, "secret": "x"}),
        )
        .await;
    assert_eq!(wrong.errcode(), 40125);
}

#[tokio::test]
async fn forced_refresh_is_limited_to_20_per_day() {
    let env = env().await;
    for _ in 0..20 {
        assert_eq!(env.stable_token(true).await.errcode(), 0);
        env.sim().clock().advance(Duration::from_secs(31));
    }
    assert_eq!(env.stable_token(true).await.errcode(), 45009);
    assert_eq!(
        env.stable_token(false).await.errcode(),
        0,
        "normal mode still works"
    );
    env.sim().clock().advance(Duration::from_secs(86_400));
    assert_eq!(env.stable_token(true).await.errcode(), 0);
}

#[tokio::test]
async fn legacy_token_keeps_the_previous_one_valid_for_300_seconds() {
    let env = env().await;
    let openid = env.user(BOUND);
    let key = env.sim().session_key(BOUND, &openid).unwrap();
    let query = [
        ("grant_type", "client_credential"),
        ("appid", BOUND),
        ("secret", SECRET),
    ];
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let body = env.get("cgi-bin/token", &query).await.json();
        assert_eq!(body["expires_in"], 7200);
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        env.check_session(&tokens[0], &openid, &key).await.errcode(),
        40001
    );
    assert_eq!(
        env.check_session(&tokens[1], &openid, &key).await.errcode(),
        0
    );
    assert_eq!(
        env.check_session(&tokens[2], &openid, &key).await.errcode(),
        0
    );
    // Legacy tokens do not disturb the stable one.
    let stable = env.token(false).await;
    env.sim().clock().advance(Duration::from_secs(301));
    assert_eq!(
        env.check_session(&tokens[1], &openid, &key).await.errcode(),
        40001
    );
    assert_eq!(
        env.check_session(&tokens[2], &openid, &key).await.errcode(),
        0
    );
    assert_eq!(env.check_session(&stable, &openid, &key).await.errcode(), 0);
    let bad = env
        .get(
            "cgi-bin/token",
            &[("grant_type", "nope"), ("appid", BOUND), ("secret", SECRET)],
        )
        .await;
    assert_eq!(bad.errcode(), 40002);
}

#[tokio::test]
async fn calls_with_a_token_check_it_first() {
    let env = env().await;
    let openid = env.user(BOUND);
    let code = env.sim().mint_phone_code(BOUND, &openid).unwrap();
    let no_token = env
        .post(
            "wxa/business/getuserphonenumber",
            &[],
            &json!({"code": code}),
        )
        .await;
    assert_eq!(no_token.errcode(), 41001);
    assert_eq!(
        env.phone("bogus", &json!({"code": code})).await.errcode(),
        40001
    );
    env.sim().set_token_ttl(Duration::from_secs(60));
    let token = env.token(false).await;
    env.sim().clock().advance(Duration::from_secs(61));
    assert_eq!(
        env.phone(&token, &json!({"code": code})).await.errcode(),
        42001
    );
}
