//! Open data, phone numbers, the central access_token and checksession, end to
//! end through the service against the simulator.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wechat_sim::{Fault, FaultKind, OpenDataKind, SimEndpoint, UserSpec};

use crate::helpers::*;

const K1: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const IV1: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const TV1_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
const TV2_DATA: &str = "xT8p8W6jIVdEWQ+ccHuD2bmG5RSiwg14VWRFw/UGVh6Aj+jDIadafJ4xdCIBQ/uxDiyw/MZWvpFyRn3pP3xxVfNQxFtzghvK+Pj5JQI7x412Zc+UKBdZyt5yiQboroSxabTum1k4MMOlnoCxhJ46cxPDT2EuLbNUf2McwNtGO0/9E+Xj/ZwENw48ucueL3UqNoKpXxFYvqH6eawrR2MXnA==";
const N9_DATA: &str = "xT8p8W6jIVdEWQ+ccHuD2bmG5RSiwg14VWRFw/UGVh6Aj+jDIadafJ4xdCIBQ/uxDiyw/MZWvpFyRn3pP3xxVfNQxFtzghvK+Pj5JQI7x412Zc+UKBdZyt5yiQboroSxabTum1k4MMOlnoCxhJ46c1NS9Zep5tw/ULPbD0E0V478/E+LpDujHxv7GA+ss8v+XRtEpXkmf50yNUJgoAAu4Q==";

/// Log a new user of app A in while WeChat holds `key` as their session_key.
async fn login_with_key(app: &TestApp, key: &str) -> String {
    login_with_key_as(app, key, None).await
}

/// The same, for a user with the given openid (the test vectors name theirs).
async fn login_with_key_as(app: &TestApp, key: &str, openid: Option<&str>) -> String {
    let spec = UserSpec {
        openid: openid.map(str::to_owned),
        ..UserSpec::default()
    };
    let openid = app.sim().add_user(APP_A, spec).unwrap();
    let code = app.code_for(APP_A, &openid); // minting rotates the key first
    app.sim().set_session_key(APP_A, &openid, key).unwrap();
    let body: Value = app
        .post_login(json!({"appid": APP_A, "code": code}))
        .await
        .json()
        .await
        .unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn decrypt(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/decrypt", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The openId inside TV1 (WeChat's sample user).
const TV1_OPENID: &str = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";

/// Open data is AES-CBC without a MAC: its owner could rewrite it. A profile
/// that names another openId than the session's is refused.
#[tokio::test]
async fn a_profile_naming_another_user_is_refused() {
    let app = spawn_app().await;
    let token = login_with_key(&app, K1).await;
    let (status, code) =
        error_code(decrypt(&app, &token, json!({"encrypted_data": TV1_DATA, "iv": IV1})).await)
            .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "openid_mismatch")
    );
    // Phone data (TV2) names no openId and still opens.
    let body: Value = decrypt(&app, &token, json!({"encrypted_data": TV2_DATA, "iv": IV1}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["phoneNumber"], "13580006666");
}

#[tokio::test]
async fn tv1_and_tv2_decrypt_through_the_api_when_the_session_holds_k1() {
    let app = spawn_app().await;
    let token = login_with_key_as(&app, K1, Some(TV1_OPENID)).await;
    let response = decrypt(&app, &token, json!({"encrypted_data": TV1_DATA, "iv": IV1})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_eq!(body["data"]["unionId"], "ocMvos6NjeKLIBqg5Mr9QjxrP1FA");
    assert_eq!(body["data"]["watermark"]["timestamp"], 1477314187);
    let body: Value = decrypt(&app, &token, json!({"encrypted_data": TV2_DATA, "iv": IV1}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["phoneNumber"], "13580006666");
}

#[tokio::test]
async fn the_negative_vectors_give_their_stable_codes() {
    let app = spawn_app().await;
    let token = login_with_key(&app, K1).await;
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let cut = b64.encode(&b64.decode(TV1_DATA).unwrap()[..399]);
    let cases = [
        // N2, N3, N4: bad padding looks like a wrong key: stale, never a padding oracle.
        (
            json!({"encrypted_data": "hA4O4rDCJB5jFsKXx1y9mQ==", "iv": IV1}),
            StatusCode::CONFLICT,
            "session_key_stale",
        ),
        (
            json!({"encrypted_data": "xeiyiN0nJKfhAd5h6TDlNA==", "iv": IV1}),
            StatusCode::CONFLICT,
            "session_key_stale",
        ),
        (
            json!({"encrypted_data": "Ohf2G3fOsWuYndsHZctHOQ==", "iv": IV1}),
            StatusCode::CONFLICT,
            "session_key_stale",
        ),
        (
            json!({"encrypted_data": cut, "iv": IV1}),
            StatusCode::BAD_REQUEST,
            "invalid_encrypted_data",
        ),
        (
            json!({"encrypted_data": "", "iv": IV1}),
            StatusCode::BAD_REQUEST,
            "invalid_encrypted_data",
        ),
        (
            json!({"encrypted_data": TV1_DATA, "iv": "r7BXXKkLb8qrSNn05n0q"}),
            StatusCode::BAD_REQUEST,
            "invalid_iv",
        ),
        (
            json!({"encrypted_data": N9_DATA, "iv": IV1}),
            StatusCode::BAD_REQUEST,
            "watermark_mismatch",
        ),
        (
            json!({"encrypted_data": "8DNuyQ2dObpJijfKK4PitO86rJIDyJuGOmErB+NjP0w=", "iv": IV1}),
            StatusCode::CONFLICT,
            "session_key_stale",
        ),
        (
            json!({"encrypted_data": "xT8p8W6jIVdEWQ+ccHuD2U+W0WO/Gkgn5MYg8Ml3thc=", "iv": IV1}),
            StatusCode::BAD_REQUEST,
            "invalid_open_data",
        ),
        (
            json!({"encrypted_data": TV1_DATA, "iv": "AAAAAAAAAAAAAAAAAAAAAA=="}),
            StatusCode::CONFLICT,
            "session_key_stale",
        ),
        (
            json!({"encrypted_data": TV1_DATA.replace('+', " "), "iv": IV1}),
            StatusCode::BAD_REQUEST,
            "invalid_base64",
        ),
        (
            json!({"encrypted_data": TV1_DATA, "iv": IV1, "raw_data": "{}"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"encrypted_data": 5, "iv": IV1}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let got = error_code(decrypt(&app, &token, body.clone()).await).await;
        assert_eq!(got, (status, code.to_owned()), "{body}");
    }
    // N1: the session holds another key.
    let other = login_with_key(&app, "HyVFkGl5F5OQWJZZaNzBBg==").await;
    let (status, code) =
        error_code(decrypt(&app, &other, json!({"encrypted_data": TV1_DATA, "iv": IV1})).await)
            .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "session_key_stale")
    );
    // N14: a session of app B cannot open app A's data.
    let (token_b, openid_b, _) = app.login(APP_B).await;
    let _ = openid_b;
    let stale = error_code(
        decrypt(
            &app,
            &token_b,
            json!({"encrypted_data": TV1_DATA, "iv": IV1}),
        )
        .await,
    )
    .await;
    assert_eq!(stale.0, StatusCode::CONFLICT);
    let stale_message: Value = decrypt(
        &app,
        &token,
        json!({"encrypted_data": "hA4O4rDCJB5jFsKXx1y9mQ==", "iv": IV1}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        stale_message["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wx.login")
    );
}

#[tokio::test]
async fn profile_data_with_its_raw_data_signature_verifies_and_a_forged_one_does_not() {
    let app = spawn_app().await;
    let (token, openid, _) = app.login(APP_A).await;
    let blob = app
        .sim()
        .open_data(APP_A, &openid, OpenDataKind::Profile)
        .unwrap();
    let body = json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv, "raw_data": blob.raw_data, "signature": blob.signature});
    let ok: Value = decrypt(&app, &token, body).await.json().await.unwrap();
    assert_eq!(ok["data"]["openId"], openid.as_str());
    let forged = json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv, "raw_data": blob.raw_data, "signature": "0".repeat(40)});
    let got = error_code(decrypt(&app, &token, forged).await).await;
    assert_eq!(got, (StatusCode::BAD_REQUEST, "bad_signature".to_owned()));
}

#[tokio::test]
async fn data_encrypted_before_another_device_logged_in_decrypts_during_the_grace_period_only() {
    grace_period_only(spawn_app().await).await;
    // With the verify cache on, the previous key is cached with its deadline
    // and must stop working at it, even from memory.
    grace_period_only(spawn_app_with(|s| s.sessions.cache_ttl = 30).await).await;
}

async fn grace_period_only(app: TestApp) {
    let (token_a, openid, _) = app.login(APP_A).await;
    let token_a = token_a.as_str();
    let blob = app
        .sim()
        .open_data(APP_A, &openid, OpenDataKind::Phone)
        .unwrap();
    let key_a = app.sim().session_key(APP_A, &openid).unwrap();
    // Device B logs in: WeChat rotates the key.
    app.login_as(APP_A, &openid).await;
    assert_ne!(app.sim().session_key(APP_A, &openid).unwrap(), key_a);
    let body = json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv});
    let response = decrypt(&app, token_a, body.clone()).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the previous key still opens it"
    );
    let fresh = app
        .sim()
        .open_data(APP_A, &openid, OpenDataKind::Phone)
        .unwrap();
    let fresh_body = json!({"encrypted_data": fresh.encrypted_data, "iv": fresh.iv});
    app.clock.advance(590);
    assert_eq!(
        decrypt(&app, token_a, body.clone()).await.status(),
        StatusCode::OK,
        "10 s before the grace period ends"
    );
    app.clock.advance(11);
    let got = error_code(decrypt(&app, token_a, body).await).await;
    assert_eq!(got, (StatusCode::CONFLICT, "session_key_stale".to_owned()));
    assert_eq!(
        decrypt(&app, token_a, fresh_body).await.status(),
        StatusCode::OK,
        "the current key still works"
    );
}

async fn access_token(app: &TestApp, http: &reqwest::Client) -> (StatusCode, Value) {
    let response = http
        .get(format!("{}/v1/access-token?appid={APP_A}", app.address))
        .bearer_auth(SERVICE_KEY)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn fifty_concurrent_cold_access_token_calls_make_one_stable_token_call() {
    let app = spawn_app().await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let request = app
            .http
            .get(format!("{}/v1/access-token?appid={APP_A}", app.address))
            .bearer_auth(SERVICE_KEY);
        calls.spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        });
    }
    let mut tokens = calls.join_all().await;
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        Some(tokens[0].clone()),
        app.sim().current_access_token(APP_A)
    );
    assert_eq!(app.sim().calls(SimEndpoint::StableToken), 1);
    assert_eq!(
        app.sim().calls(SimEndpoint::Token),
        0,
        "never the legacy endpoint"
    );
}

#[tokio::test]
async fn access_token_refuses_callers_without_the_service_key() {
    let app = spawn_app().await;
    let url = format!("{}/v1/access-token?appid={APP_A}", app.address);
    assert_eq!(
        app.http.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.sim().calls(SimEndpoint::StableToken), 0);
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_before_it_expires() {
    let app = spawn_app().await;
    app.sim().set_token_ttl(Duration::from_secs(1000));
    let (_, first) = access_token(&app, &app.http).await;
    assert_eq!(first["expires_in"], 1000);
    app.clock.advance(600);
    app.sim().clock().advance(Duration::from_secs(600));
    let (_, same) = access_token(&app, &app.http).await;
    assert_eq!(
        same["access_token"], first["access_token"],
        "400 s left: still served from cache"
    );
    assert_eq!(app.sim().calls(SimEndpoint::StableToken), 1);
    app.clock.advance(101);
    app.sim().clock().advance(Duration::from_secs(101));
    let (_, next) = access_token(&app, &app.http).await;
    assert_ne!(
        next["access_token"], first["access_token"],
        "299 s left: the next token"
    );
    assert_eq!(app.sim().calls(SimEndpoint::StableToken), 2);
    assert!(next["expires_in"].as_i64().unwrap() > 300);
}

fn phone_user(app: &TestApp) -> String {
    app.sim()
        .add_user(
            APP_A,
            UserSpec {
                phone: Some("13580006666".into()),
                ..Default::default()
            },
        )
        .unwrap()
}

async fn phone(app: &TestApp, token: &str, code: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/phone", app.address))
        .bearer_auth(token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn phone_number_end_to_end_and_a_used_code_is_400() {
    let app = spawn_app().await;
    let openid = phone_user(&app);
    let token = app.login_as(APP_A, &openid).await.0;
    let code = app.sim().mint_phone_code(APP_A, &openid).unwrap();
    let response = phone(&app, &token, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"phone_number": "13580006666", "pure_phone_number": "13580006666", "country_code": "86"})
    );
    let again = error_code(phone(&app, &token, &code).await).await;
    assert_eq!(
        again,
        (StatusCode::BAD_REQUEST, "invalid_phone_code".to_owned())
    );
    for bad in ["", "x&y", &"f".repeat(300)] {
        assert_eq!(
            error_code(phone(&app, &token, bad).await).await.1,
            "invalid_phone_code",
            "{bad}"
        );
    }
    // Another user's phone code is refused (openid checked by WeChat).
    let other = phone_user(&app);
    let their_code = app.sim().mint_phone_code(APP_A, &other).unwrap();
    assert_eq!(
        error_code(phone(&app, &token, &their_code).await).await.1,
        "invalid_phone_code"
    );
}

#[tokio::test]
async fn a_40001_forces_one_refresh_and_one_retry_never_a_loop() {
    let app = spawn_app().await;
    let openid = phone_user(&app);
    let token = app.login_as(APP_A, &openid).await.0;
    app.sim().set_fault(
        SimEndpoint::GetUserPhoneNumber,
        Fault::times(FaultKind::Errcode(40001), 1),
    );
    let code = app.sim().mint_phone_code(APP_A, &openid).unwrap();
    assert_eq!(phone(&app, &token, &code).await.status(), StatusCode::OK);
    assert_eq!(
        app.sim().calls(SimEndpoint::StableToken),
        2,
        "one normal, one forced"
    );
    assert_eq!(app.sim().calls(SimEndpoint::GetUserPhoneNumber), 2);
    app.sim().set_fault(
        SimEndpoint::GetUserPhoneNumber,
        Fault::always(FaultKind::Errcode(40001)),
    );
    let code = app.sim().mint_phone_code(APP_A, &openid).unwrap();
    let (status, _) = error_code(phone(&app, &token, &code).await).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        app.sim().calls(SimEndpoint::GetUserPhoneNumber),
        4,
        "exactly one retry"
    );
    assert_eq!(
        app.sim().calls(SimEndpoint::StableToken),
        3,
        "exactly one more forced refresh"
    );
}

async fn check(app: &TestApp, token: &str) -> Value {
    app.post_bearer("/v1/session/check", token)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn checksession_is_true_with_the_current_key_and_false_after_wechat_rotates_it() {
    let app = spawn_app().await;
    let (token, openid, _) = app.login(APP_A).await;
    assert_eq!(
        check(&app, &token).await,
        json!({"session_key_valid": true})
    );
    // The user's phone calls wx.login again without logging in to us: WeChat rotates.
    app.code_for(APP_A, &openid);
    assert_eq!(
        check(&app, &token).await,
        json!({"session_key_valid": false})
    );
    // Logging in again stores the new key.
    let token2 = app.login_as(APP_A, &openid).await.0;
    assert_eq!(
        check(&app, &token2).await,
        json!({"session_key_valid": true})
    );
    // An operator reset stores WeChat's new key; the old one stays for the grace period.
    let blob = app
        .sim()
        .open_data(APP_A, &openid, OpenDataKind::Phone)
        .unwrap();
    let path = format!(
        "{}/v1/admin/users/{APP_A}/{openid}/session-key/reset",
        app.address
    );
    let reset = app
        .http
        .post(&path)
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        check(&app, &token2).await,
        json!({"session_key_valid": true})
    );
    let old_data = decrypt(
        &app,
        &token2,
        json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv}),
    )
    .await;
    assert_eq!(old_data.status(), StatusCode::OK);
    assert_eq!(
        app.http.post(&path).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_failing_token_refresh_backs_off_and_recovers_when_wechat_does() {
    let app = spawn_app_with(|s| s.upstream_timeout_ms = 300).await;
    app.sim().set_fault(
        SimEndpoint::StableToken,
        Fault::always(FaultKind::Errcode(-1)),
    );
    let (status, _) = access_token(&app, &app.http).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let after_first = app.sim().calls(SimEndpoint::StableToken);
    assert!(after_first >= 1);
    // Within the backoff window a second caller does not hammer WeChat.
    let (status, _) = access_token(&app, &app.http).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        app.sim().calls(SimEndpoint::StableToken),
        after_first,
        "backing off"
    );
    app.sim().clear_faults();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, body) = access_token(&app, &app.http).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `check_with_wechat` asks WeChat (`checkencryptedmsg`) about the data after
/// decrypting it: what WeChat issued passes, data its owner made with their
/// own session_key (AES-CBC has no MAC) decrypts but is refused, and the check
/// spends quota, so it is limited per user.
#[tokio::test]
async fn check_with_wechat_vouches_for_issued_data_and_refuses_forged_data() {
    let app = spawn_app_with(|s| s.sessions.user_calls_per_minute = 2).await;
    let (token, openid, _) = app.login(APP_A).await;
    let blob = app
        .sim()
        .open_data(APP_A, &openid, OpenDataKind::Phone)
        .unwrap();
    let issued = json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv});

    let body: Value = decrypt(&app, &token, issued.clone())
        .await
        .json()
        .await
        .unwrap();
    assert!(body.get("wechat_check").is_none(), "{body}");
    assert_eq!(app.sim().calls(SimEndpoint::CheckEncryptedMsg), 0);

    let mut checked = issued.clone();
    checked["check_with_wechat"] = json!(true);
    let response = decrypt(&app, &token, checked).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["wechat_check"]["valid"], true);
    assert_eq!(
        body["wechat_check"]["create_time"],
        body["data"]["watermark"]["timestamp"]
    );
    assert_eq!(app.sim().calls(SimEndpoint::CheckEncryptedMsg), 1);

    // The user re-encrypts a number of their choosing under their own key,
    // with a correct watermark: it decrypts, WeChat never issued it.
    let key = wechat::SessionKey::parse(&app.sim().session_key(APP_A, &openid).unwrap()).unwrap();
    let forged_plain = json!({
        "phoneNumber": "13900000000",
        "purePhoneNumber": "13900000000",
        "countryCode": "86",
        "watermark": {"timestamp": app.sim().clock().now_unix(), "appid": APP_A},
    });
    let iv = [7u8; 16];
    let forged = json!({
        "encrypted_data": wechat::crypto::encrypt_open_data(&key, &iv, forged_plain.to_string().as_bytes()),
        "iv": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, iv),
    });
    assert_eq!(
        decrypt(&app, &token, forged.clone()).await.status(),
        StatusCode::OK
    );
    let mut forged_checked = forged;
    forged_checked["check_with_wechat"] = json!(true);
    let got = error_code(decrypt(&app, &token, forged_checked.clone()).await).await;
    assert_eq!(
        got,
        (
            StatusCode::BAD_REQUEST,
            "open_data_not_authentic".to_owned()
        )
    );
    // Two checks a minute for this user: the third is refused before WeChat.
    let got = error_code(decrypt(&app, &token, forged_checked).await).await;
    assert_eq!(
        got,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited".to_owned())
    );
    assert_eq!(app.sim().calls(SimEndpoint::CheckEncryptedMsg), 2);
}
