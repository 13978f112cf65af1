//! The authorization matrix: every endpoint × {no credential, wrong kind of
//! credential, other app's token, expired, revoked, correct} → its status.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wechat_sim::{OpenDataKind, UserSpec};

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Endpoint {
    Session,
    Refresh,
    Logout,
    Check,
    Decrypt,
    Phone,
    Auth,
    Introspect,
    AccessToken,
    AdminList,
    AdminRevoke,
    AdminReset,
}

use Endpoint::*;

const MINI_PROGRAM: [Endpoint; 7] = [Session, Refresh, Logout, Check, Decrypt, Phone, Auth];
const OPERATOR: [Endpoint; 3] = [AdminList, AdminRevoke, AdminReset];

/// A logged-in user of app A with a phone number.
struct User {
    token: String,
    openid: String,
}

async fn user(app: &TestApp) -> User {
    let openid = app
        .sim()
        .add_user(
            APP_A,
            UserSpec {
                phone: Some("13580006666".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let body: Value = app
        .post_login(json!({"appid": APP_A, "code": app.code_for(APP_A, &openid)}))
        .await
        .json()
        .await
        .unwrap();
    User {
        token: body["token"].as_str().unwrap().to_owned(),
        openid,
    }
}

/// Call `endpoint` as `user` would need it, presenting `credential`.
async fn call(
    app: &TestApp,
    endpoint: Endpoint,
    user: &User,
    credential: Option<&str>,
) -> StatusCode {
    let admin_path = |tail: &str| format!("/v1/admin/users/{APP_A}/{}/{tail}", user.openid);
    let (method, path, body) = match endpoint {
        Session => (Method::GET, "/v1/session".to_owned(), None),
        Refresh => (Method::POST, "/v1/session/refresh".into(), None),
        Logout => (Method::POST, "/v1/logout".into(), None),
        Check => (Method::POST, "/v1/session/check".into(), None),
        Decrypt => {
            let blob = app
                .sim()
                .open_data(APP_A, &user.openid, OpenDataKind::Phone)
                .unwrap();
            (
                Method::POST,
                "/v1/decrypt".into(),
                Some(json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv})),
            )
        }
        Phone => {
            let code = app.sim().mint_phone_code(APP_A, &user.openid).unwrap();
            (
                Method::POST,
                "/v1/phone".into(),
                Some(json!({"code": code})),
            )
        }
        Auth => (Method::GET, format!("/v1/auth?appid={APP_A}"), None),
        Introspect => (
            Method::POST,
            "/v1/introspect".into(),
            Some(json!({"token": user.token, "appid": APP_A})),
        ),
        AccessToken => (Method::GET, format!("/v1/access-token?appid={APP_A}"), None),
        AdminList => (Method::GET, admin_path("sessions"), None),
        AdminRevoke => (Method::DELETE, admin_path("sessions"), None),
        AdminReset => (Method::POST, admin_path("session-key/reset"), None),
    };
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .header("x-wx-appid", APP_A);
    if let Some(credential) = credential {
        request = request.bearer_auth(credential);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status()
}

fn success(endpoint: Endpoint) -> StatusCode {
    match endpoint {
        Logout | AdminReset => StatusCode::NO_CONTENT,
        _ => StatusCode::OK,
    }
}

#[tokio::test]
async fn every_endpoint_answers_each_kind_of_credential_as_it_should() {
    let app = spawn_app().await;
    let all = MINI_PROGRAM
        .iter()
        .chain(&[Introspect, AccessToken])
        .chain(&OPERATOR);
    let mut failures = Vec::new();
    let mut expect = |endpoint: Endpoint, who: &str, got: StatusCode, want: StatusCode| {
        if got != want {
            failures.push(format!("{endpoint:?} with {who}: got {got}, want {want}"));
        }
    };
    for &endpoint in all {
        let u = user(&app).await;
        let (other_app_token, _, _) = app.login(APP_B).await;
        let revoked = user(&app).await;
        app.post_bearer("/v1/logout", &revoked.token).await;
        let mini = MINI_PROGRAM.contains(&endpoint);
        let operator = OPERATOR.contains(&endpoint);

        expect(
            endpoint,
            "no credential",
            call(&app, endpoint, &u, None).await,
            StatusCode::UNAUTHORIZED,
        );
        // The wrong kind: keys where a session is wanted, sessions and the other key elsewhere.
        let wrong: Vec<&str> = if mini {
            vec![ADMIN_KEY, SERVICE_KEY]
        } else if operator {
            vec![SERVICE_KEY, &u.token]
        } else {
            vec![ADMIN_KEY, &u.token]
        };
        let wrong_status = if mini {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        for credential in wrong {
            expect(
                endpoint,
                "the wrong kind of credential",
                call(&app, endpoint, &u, Some(credential)).await,
                wrong_status,
            );
        }
        if mini {
            expect(
                endpoint,
                "another app's token",
                call(&app, endpoint, &u, Some(&other_app_token)).await,
                StatusCode::UNAUTHORIZED,
            );
            expect(
                endpoint,
                "a revoked token",
                call(&app, endpoint, &revoked, Some(&revoked.token)).await,
                StatusCode::UNAUTHORIZED,
            );
            expect(
                endpoint,
                "its own token",
                call(&app, endpoint, &u, Some(&u.token)).await,
                success(endpoint),
            );
        } else {
            let key = if operator { ADMIN_KEY } else { SERVICE_KEY };
            expect(
                endpoint,
                "the right key",
                call(&app, endpoint, &u, Some(key)).await,
                success(endpoint),
            );
        }
    }
    // Expired: one session per mini-program endpoint, then 8 idle days pass.
    let mut users = Vec::new();
    for &endpoint in &MINI_PROGRAM {
        users.push((endpoint, user(&app).await));
    }
    app.clock.advance(8 * 86_400);
    for (endpoint, u) in &users {
        expect(
            *endpoint,
            "an expired token",
            call(&app, *endpoint, u, Some(&u.token)).await,
            StatusCode::UNAUTHORIZED,
        );
    }
    let introspected: Value = app
        .http
        .post(format!("{}/v1/introspect", app.address))
        .bearer_auth(SERVICE_KEY)
        .json(&json!({"token": users[0].1.token, "appid": APP_A}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        introspected,
        json!({"active": false}),
        "expired tokens introspect as inactive"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
