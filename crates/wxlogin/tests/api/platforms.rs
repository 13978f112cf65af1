//! Every platform behind one API, against the simulator over real HTTP:
//! login, replay of a code, 20 concurrent logins with one code making one
//! upstream call, revocation, open data or phone decryption, and each
//! platform's own refusal of a bad code landing on `invalid_code`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wechat_sim::{AppSpec, OpenDataKind, Platform, SimEndpoint, UserSpec, test_keys};
use wxlogin::config::AppSettings;

use crate::helpers::*;

/// One app of a platform: how the simulator knows it, how wxlogin is told.
struct Case {
    platform: Platform,
    appid: &'static str,
    exchange: SimEndpoint,
}

const CASES: [Case; 5] = [
    Case {
        platform: Platform::Douyin,
        appid: "tt07e3715e98c9aac0",
        exchange: SimEndpoint::DouyinCode2Session,
    },
    Case {
        platform: Platform::Alipay,
        appid: "2021000122671080",
        exchange: SimEndpoint::AlipayGateway,
    },
    Case {
        platform: Platform::Qq,
        appid: "1109876543",
        exchange: SimEndpoint::Code2Session,
    },
    Case {
        platform: Platform::Baidu,
        appid: "16543210",
        exchange: SimEndpoint::BaiduCode2SessionKey,
    },
    Case {
        platform: Platform::Wecom,
        appid: "wx2222222222222222",
        exchange: SimEndpoint::WecomCode2Session,
    },
];

const SECRET: &str = "platform-secret-0123456789";
const BAIDU_APP_KEY: &str = "y2dTfnWfkx2OXttMEMWlGHoB1KzMogm7";
const CORPID: &str = "ww0123456789abcdef";

fn sim_spec(case: &Case) -> AppSpec {
    AppSpec {
        appid: case.appid.into(),
        secret: SECRET.into(),
        bound_to_open_platform: true,
        platform: case.platform,
        app_key: (case.platform == Platform::Baidu).then(|| BAIDU_APP_KEY.into()),
        corpid: (case.platform == Platform::Wecom).then(|| CORPID.into()),
        app_public_key: matches!(case.platform, Platform::Alipay | Platform::Douyin)
            .then(|| test_keys::APP_PUBLIC_KEY.into()),
        alipay_aes_key: (case.platform == Platform::Alipay).then(|| test_keys::AES_KEY.into()),
        ..AppSpec::default()
    }
}

fn settings(case: &Case, sim_url: &str) -> AppSettings {
    let secret = (case.platform != Platform::Alipay).then(|| SECRET.to_owned().into());
    let platform = serde_json::from_value(json!(case.platform)).unwrap();
    let alipay = case.platform == Platform::Alipay;
    AppSettings {
        appid: case.appid.into(),
        platform,
        secret,
        api_base_url: Some(sim_url.to_owned()),
        app_key: (case.platform == Platform::Baidu).then(|| BAIDU_APP_KEY.into()),
        corpid: (case.platform == Platform::Wecom).then(|| CORPID.into()),
        app_private_key: matches!(case.platform, Platform::Alipay | Platform::Douyin)
            .then(|| test_keys::APP_PRIVATE_KEY.to_owned().into()),
        alipay_public_key: alipay.then(|| test_keys::ALIPAY_PUBLIC_KEY.to_owned()),
        aes_key: alipay.then(|| test_keys::AES_KEY.to_owned().into()),
        ..AppSettings::default()
    }
}

/// A service configured with the two WeChat test apps and one app of every
/// other platform, all pointed at one simulator.
async fn every_platform() -> TestApp {
    let app = spawn_app_with(|s| {
        let url = s.wechat_base_url.clone();
        s.apps.extend(CASES.iter().map(|c| settings(c, &url)));
    })
    .await;
    for case in &CASES {
        app.sim().add_app(sim_spec(case));
    }
    app
}

async fn login(app: &TestApp, appid: &str, code: &str) -> reqwest::Response {
    app.post_login(json!({"appid": appid, "code": code})).await
}

#[tokio::test]
async fn each_platform_logs_in_replays_and_revokes_behind_one_api() {
    let app = every_platform().await;
    for case in &CASES {
        let name = case.platform.as_str();
        let openid = app.sim().add_user(case.appid, UserSpec::default()).unwrap();
        let code = app.sim().mint_login_code(case.appid, &openid).unwrap();
        let first = login(&app, case.appid, &code).await;
        assert_eq!(first.status(), StatusCode::OK, "{name}");
        let body: Value = first.json().await.unwrap();
        assert_eq!(body["platform"], name);
        let expected_subject = match case.platform {
            Platform::Wecom => format!("{CORPID}:{openid}"),
            _ => openid.clone(),
        };
        assert_eq!(body["openid"], expected_subject.as_str(), "{name}");
        let token = body["token"].as_str().unwrap().to_owned();
        let session: Value = app
            .get_bearer("/v1/session", &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(session["platform"], name);
        let auth = app
            .get_bearer(&format!("/v1/auth?appid={}", case.appid), &token)
            .await;
        assert_eq!(auth.headers()["x-wx-platform"], name);
        // The same code again: the same session, no second upstream call.
        let calls = app.sim().calls(case.exchange);
        let again: Value = login(&app, case.appid, &code).await.json().await.unwrap();
        assert_eq!(again["token"], body["token"], "{name}");
        assert_eq!(app.sim().calls(case.exchange), calls, "{name}: replayed");
        // Logout revokes it like any session.
        let out = app
            .http
            .post(format!("{}/v1/logout", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.session_status(&token).await, StatusCode::UNAUTHORIZED);
        // A code the platform does not know: its own error, our stable code.
        let unknown =
            error_code(login(&app, case.appid, "unknownCode0123456789abcdef012345").await).await;
        assert_eq!(
            unknown,
            (StatusCode::BAD_REQUEST, "invalid_code".to_owned()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn twenty_concurrent_logins_with_one_code_make_one_upstream_call_on_every_platform() {
    let app = every_platform().await;
    for case in &CASES {
        let openid = app.sim().add_user(case.appid, UserSpec::default()).unwrap();
        let code = app.sim().mint_login_code(case.appid, &openid).unwrap();
        let before = app.sim().calls(case.exchange);
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let request = app
                .http
                .post(format!("{}/v1/login", app.address))
                .json(&json!({"appid": case.appid, "code": code}));
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
        assert_eq!(tokens.len(), 1, "{}: one session", case.platform.as_str());
        assert_eq!(
            app.sim().calls(case.exchange) - before,
            1,
            "{}",
            case.platform.as_str()
        );
    }
    // WeCom's corp token was fetched once for all of it.
    assert_eq!(app.sim().calls(SimEndpoint::WecomGetToken), 1);
}

#[tokio::test]
async fn open_data_and_phone_numbers_decrypt_with_each_platforms_crypto() {
    let app = every_platform().await;
    for case in &CASES {
        let name = case.platform.as_str();
        let spec = UserSpec {
            phone: Some("13800138000".into()),
            ..UserSpec::default()
        };
        let openid = app.sim().add_user(case.appid, spec).unwrap();
        let code = app.sim().mint_login_code(case.appid, &openid).unwrap();
        let body: Value = login(&app, case.appid, &code).await.json().await.unwrap();
        let token = body["token"].as_str().unwrap();
        let blob = app
            .sim()
            .open_data(case.appid, &openid, OpenDataKind::Phone)
            .unwrap();
        let mut request = json!({"encrypted_data": blob.encrypted_data});
        if !blob.iv.is_empty() {
            request["iv"] = blob.iv.clone().into();
        }
        let response = app
            .http
            .post(format!("{}/v1/decrypt", app.address))
            .bearer_auth(token)
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let data: Value = response.json().await.unwrap();
        let phone = data["data"]
            .get("phoneNumber")
            .or_else(|| data["data"].get("mobile"))
            .cloned();
        assert_eq!(phone, Some(json!("13800138000")), "{name}: {data}");
        if case.platform == Platform::Alipay {
            continue;
        }
        let profile = app
            .sim()
            .open_data(case.appid, &openid, OpenDataKind::Profile)
            .unwrap();
        let mut request = json!({"encrypted_data": profile.encrypted_data, "iv": profile.iv});
        if let (Some(raw), Some(sig)) = (&profile.raw_data, &profile.signature) {
            request["raw_data"] = raw.clone().into();
            request["signature"] = sig.clone().into();
        }
        let response = app
            .http
            .post(format!("{}/v1/decrypt", app.address))
            .bearer_auth(token)
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name} profile");
    }
}

#[tokio::test]
async fn douyins_anonymous_identity_stays_apart_from_the_logged_in_one() {
    let app = every_platform().await;
    let case = &CASES[0];
    let openid = app.sim().add_user(case.appid, UserSpec::default()).unwrap();
    let anonymous = app.sim().mint_anonymous_code(case.appid, &openid).unwrap();
    let body: Value = app
        .post_login(json!({"appid": case.appid, "anonymous_code": anonymous, "platform": "douyin"}))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        body["openid"].as_str().unwrap().starts_with("anon:"),
        "{body}"
    );
    assert!(body.get("unionid").is_none());
    let code = app.sim().mint_login_code(case.appid, &openid).unwrap();
    let logged_in: Value = login(&app, case.appid, &code).await.json().await.unwrap();
    assert_eq!(logged_in["openid"], openid.as_str());
    assert_ne!(logged_in["user_id"], body["user_id"], "never merged");
    // An anonymous code is Douyin's only; the declared platform must match.
    let wrong = app
        .post_login(json!({"appid": APP_A, "anonymous_code": "abc", "platform": "douyin"}))
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn platform_only_routes_answer_not_supported_elsewhere() {
    let app = every_platform().await;
    let case = &CASES[2]; // QQ
    let openid = app.sim().add_user(case.appid, UserSpec::default()).unwrap();
    let code = app.sim().mint_login_code(case.appid, &openid).unwrap();
    let body: Value = login(&app, case.appid, &code).await.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    let phone = app
        .http
        .post(format!("{}/v1/phone", app.address))
        .bearer_auth(token)
        .json(&json!({"code": "0123456789abcdef"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(phone).await,
        (StatusCode::BAD_REQUEST, "not_supported".to_owned())
    );
}

#[tokio::test]
async fn an_alipay_app_with_the_wrong_key_is_misconfigured_not_a_bad_code() {
    let app = spawn_app_with(|s| {
        let url = s.wechat_base_url.clone();
        let mut alipay = settings(&CASES[1], &url);
        // Signed with a key the simulator's app does not hold.
        alipay.app_private_key = Some(test_keys::APP_PRIVATE_KEY.to_owned().into());
        s.apps.push(alipay);
    })
    .await;
    let mut spec = sim_spec(&CASES[1]);
    spec.app_public_key = Some(test_keys::ALIPAY_PUBLIC_KEY.into());
    app.sim().add_app(spec);
    let openid = app
        .sim()
        .add_user(CASES[1].appid, UserSpec::default())
        .unwrap();
    let code = app.sim().mint_login_code(CASES[1].appid, &openid).unwrap();
    let got = error_code(login(&app, CASES[1].appid, &code).await).await;
    assert_eq!(
        got,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "upstream_misconfigured".to_owned()
        )
    );
}

/// Douyin's phone number by code: the client_token (fetched once, shared),
/// the number RSA-encrypted with the app's public key and opened with its
/// private key; a used code is `invalid_phone_code`.
#[tokio::test]
async fn douyins_phone_number_by_code_opens_with_the_apps_private_key() {
    let app = every_platform().await;
    let case = &CASES[0];
    let spec = UserSpec {
        phone: Some("+852 61234567".into()),
        ..UserSpec::default()
    };
    let openid = app.sim().add_user(case.appid, spec).unwrap();
    let code = app.sim().mint_login_code(case.appid, &openid).unwrap();
    let body: Value = login(&app, case.appid, &code).await.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let phone = async |code: &str| {
        app.http
            .post(format!("{}/v1/phone", app.address))
            .bearer_auth(&token)
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap()
    };
    for _ in 0..2 {
        let phone_code = app.sim().mint_phone_code(case.appid, &openid).unwrap();
        let answer = phone(&phone_code).await;
        assert_eq!(answer.status(), StatusCode::OK);
        let number: Value = answer.json().await.unwrap();
        assert_eq!(
            number,
            json!({"phone_number": "+852 61234567", "pure_phone_number": "61234567", "country_code": "852"})
        );
        let again = error_code(phone(&phone_code).await).await;
        assert_eq!(
            again,
            (StatusCode::BAD_REQUEST, "invalid_phone_code".to_owned())
        );
    }
    assert_eq!(
        app.sim().calls(SimEndpoint::DouyinClientToken),
        1,
        "one shared client_token"
    );
}

/// The corners a review found: a session without a session_key (Douyin's
/// anonymous login) cannot decrypt (400, not 500); an app-wide token of a
/// platform that has none is `not_supported` every time (no back-off 502);
/// a WeCom corp secret the platform refuses is the operator's problem (500
/// upstream_misconfigured), not an outage.
#[tokio::test]
async fn platform_corners_answer_their_stable_codes() {
    let app = spawn_app_with(|s| {
        let url = s.wechat_base_url.clone();
        s.apps.extend(CASES.iter().map(|c| settings(c, &url)));
        // The WeCom app's corp secret is wrong.
        if let Some(wecom) = s.apps.iter_mut().find(|a| a.appid == CASES[4].appid) {
            wecom.secret = Some("a-wrong-corp-secret-0123456789".to_owned().into());
        }
    })
    .await;
    for case in &CASES {
        app.sim().add_app(sim_spec(case));
    }
    let douyin = &CASES[0];
    let openid = app
        .sim()
        .add_user(douyin.appid, UserSpec::default())
        .unwrap();
    let anonymous = app
        .sim()
        .mint_anonymous_code(douyin.appid, &openid)
        .unwrap();
    let body: Value = app
        .post_login(json!({"appid": douyin.appid, "anonymous_code": anonymous}))
        .await
        .json()
        .await
        .unwrap();
    let token = body["token"].as_str().unwrap();
    let blob = app
        .sim()
        .open_data(douyin.appid, &openid, OpenDataKind::Phone)
        .unwrap();
    let decrypt = app
        .http
        .post(format!("{}/v1/decrypt", app.address))
        .bearer_auth(token)
        .json(&json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(decrypt).await,
        (StatusCode::BAD_REQUEST, "invalid_request".to_owned())
    );
    for _ in 0..2 {
        let token_call = app
            .http
            .get(format!(
                "{}/v1/access-token?appid={}",
                app.address, CASES[1].appid
            ))
            .bearer_auth(SERVICE_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(token_call).await,
            (StatusCode::BAD_REQUEST, "not_supported".to_owned())
        );
    }
    let wecom = &CASES[4];
    let openid = app
        .sim()
        .add_user(wecom.appid, UserSpec::default())
        .unwrap();
    let code = app.sim().mint_login_code(wecom.appid, &openid).unwrap();
    let got = error_code(login(&app, wecom.appid, &code).await).await;
    assert_eq!(
        got,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "upstream_misconfigured".to_owned()
        )
    );
}
