//! `tokens.format = "jwt"`: signed access tokens beside rotating refresh
//! tokens, checked here and by a third-party verifier, refused when forged,
//! expired or revoked; signing keys rotated with an overlap.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wxlogin::domain::jwt::{SigningAlg, TokenFormat};

use crate::helpers::*;

const ISSUER: &str = "https://login.example.test";

async fn jwt_app(alg: SigningAlg, tweak: impl FnOnce(&mut wxlogin::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.tokens.format = TokenFormat::Jwt;
        s.tokens.algorithm = alg;
        s.tokens.issuer = Some(ISSUER.into());
        tweak(s);
    })
    .await
}

/// A JWT's header or claims, decoded without any check (for assertions).
fn part(token: &str, i: usize) -> Value {
    let segment = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/session/refresh", app.address))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app
        .http
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_jwt_login_answers_a_pair_that_works_everywhere_until_logout() {
    let app = jwt_app(SigningAlg::ES256, |_| {}).await;
    let (_, openid, body) = app.login(APP_A).await;
    assert!(body.get("token").is_none(), "{body}");
    assert_eq!(
        (&body["token_type"], &body["expires_in"]),
        (&json!("Bearer"), &json!(300))
    );
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh_token.starts_with("wxr_"));
    assert!(body["refresh_expires_at"].is_string());

    let header = part(&access, 0);
    let claims = part(&access, 1);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], body["user_id"]);
    assert_eq!(claims["aud"], APP_A);
    assert_eq!(claims["openid"], openid.as_str());
    assert_eq!(claims["platform"], "wechat");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert!(claims["sid"].is_string() && claims["jti"].is_string());

    // The published keys hold the token's kid; discovery points at them.
    let jwks = get_json(&app, "/.well-known/jwks.json").await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&header["kid"].as_str().unwrap()), "{jwks}");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
    let discovery = get_json(&app, "/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], ISSUER);
    assert_eq!(
        discovery["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json")
    );

    // The access token is a bearer token for every route.
    let session = app.get_bearer("/v1/session", &access).await;
    assert_eq!(session.status(), StatusCode::OK);
    let auth = app
        .get_bearer(&format!("/v1/auth?appid={APP_A}"), &access)
        .await;
    assert_eq!(
        auth.headers()["x-wx-user-id"],
        body["user_id"].as_str().unwrap()
    );
    let wrong_app = app
        .get_bearer(&format!("/v1/auth?appid={APP_B}"), &access)
        .await;
    assert_eq!(wrong_app.status(), StatusCode::UNAUTHORIZED, "aud is app A");
    // The refresh token is not.
    assert_eq!(
        app.session_status(&refresh_token).await,
        StatusCode::UNAUTHORIZED
    );

    // Refresh rotates the refresh token.
    let rotated: Value = refresh(&app, &refresh_token).await.json().await.unwrap();
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh_token);
    assert_eq!(rotated["session"]["user_id"], body["user_id"]);
    assert_eq!(app.session_status(&access2).await, StatusCode::OK);

    // Logout with the access token: the session is revoked, and a token
    // that has not expired is refused here at once.
    let out = app
        .http
        .post(format!("{}/v1/logout", app.address))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.session_status(&access2).await, StatusCode::UNAUTHORIZED);
    let introspected: Value = app
        .http
        .post(format!("{}/v1/introspect", app.address))
        .bearer_auth(SERVICE_KEY)
        .json(&json!({"token": access2, "appid": APP_A}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, json!({"active": false}));
    assert_eq!(
        refresh(&app, &refresh2).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_session() {
    let app = jwt_app(SigningAlg::EdDSA, |_| {}).await;
    let (_, openid, body) = app.login(APP_A).await;
    let stolen = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        part(body["access_token"].as_str().unwrap(), 0)["alg"],
        "EdDSA"
    );
    // The thief refreshes first...
    let thief: Value = refresh(&app, &stolen).await.json().await.unwrap();
    let thief_access = thief["access_token"].as_str().unwrap().to_owned();
    let thief_refresh = thief["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.session_status(&thief_access).await, StatusCode::OK);
    // ...then the owner presents the same (now used) token: refused, and
    // the chain, the thief's tokens included, is revoked.
    let reuse = error_code(refresh(&app, &stolen).await).await;
    assert_eq!(
        reuse,
        (StatusCode::UNAUTHORIZED, "invalid_token".to_owned())
    );
    assert_eq!(
        app.session_status(&thief_access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &thief_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Another login of the same user is its own chain and unaffected.
    let (_, again) = app.login_as(APP_A, &openid).await;
    assert_eq!(
        app.session_status(again["access_token"].as_str().unwrap())
            .await,
        StatusCode::OK
    );
    // Malformed refresh requests are 400/401, never 500.
    for bad in [
        json!({"refresh_token": 5}),
        json!({"refresh_token": "wxl_x"}),
        json!({"other": 1}),
    ] {
        let got = app
            .http
            .post(format!("{}/v1/session/refresh", app.address))
            .json(&bad)
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            got == StatusCode::BAD_REQUEST || got == StatusCode::UNAUTHORIZED,
            "{bad}: {got}"
        );
    }
}

/// Our own checks refuse what an attacker can make: `alg: none`, HS256
/// keyed with our public key, another app's audience, a token signed by
/// another key under our kid, an altered payload, an expired token and one
/// issued in the future.
#[tokio::test]
async fn forged_altered_and_stale_access_tokens_are_refused() {
    let app = jwt_app(SigningAlg::ES256, |_| {}).await;
    let (_, _, body) = app.login(APP_A).await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    let header = part(&access, 0);
    let claims = part(&access, 1);
    let kid = header["kid"].as_str().unwrap().to_owned();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let segments: Vec<&str> = access.split('.').collect();

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        segments[1]
    );
    let jwks = get_json(&app, "/.well-known/jwks.json").await;
    let public = serde_json::to_vec(&jwks["keys"][0]).unwrap();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    let rng = ring::rand::SystemRandom::new();
    let other_key = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let other = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(other_key.as_ref()),
    )
    .unwrap();
    let mut altered_claims = claims.clone();
    altered_claims["sub"] = json!("0190f0e4-aaaa-7bbb-8ccc-123456789abc");
    let altered = format!("{}.{}.{}", segments[0], b64(&altered_claims), segments[2]);
    for (what, token) in [
        ("alg none", none),
        ("HS256", hs256),
        ("other key", other),
        ("altered", altered),
    ] {
        assert_eq!(
            app.session_status(&token).await,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
    }
    let wrong_aud = app
        .get_bearer(&format!("/v1/auth?appid={APP_B}"), &access)
        .await;
    assert_eq!(wrong_aud.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.session_status(&access).await, StatusCode::OK);
    app.clock.advance(300);
    assert_eq!(
        app.session_status(&access).await,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    app.clock.advance(-300 - 3600);
    assert_eq!(
        app.session_status(&access).await,
        StatusCode::UNAUTHORIZED,
        "issued in the future"
    );
}

/// A key signs for `key_rotation`; the next is published an hour (here a
/// quarter of the period: 900 s) before it signs; tokens of the previous key
/// stay valid until they expire, then the key leaves the JWKS.
#[tokio::test]
async fn signing_keys_rotate_with_an_overlap() {
    let app = jwt_app(SigningAlg::ES256, |s| s.tokens.key_rotation = 3600).await;
    let kid_of = |body: &Value| {
        part(body["access_token"].as_str().unwrap(), 0)["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let published = async || -> Vec<String> {
        let jwks = get_json(&app, "/.well-known/jwks.json").await;
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, _, first) = app.login(APP_A).await;
    let k1 = kid_of(&first);
    assert_eq!(published().await, std::slice::from_ref(&k1));
    app.clock.advance(2701);
    let (_, _, second) = app.login(APP_A).await;
    assert_eq!(
        kid_of(&second),
        k1,
        "the next key is published, not yet signing"
    );
    let keys = published().await;
    assert_eq!(keys.len(), 2);
    let k2 = keys.iter().find(|k| **k != k1).unwrap().clone();
    app.clock.advance(899);
    let (_, _, last_of_k1) = app.login(APP_A).await;
    assert_eq!(kid_of(&last_of_k1), k1);
    app.clock.advance(2);
    let (_, _, first_of_k2) = app.login(APP_A).await;
    assert_eq!(kid_of(&first_of_k2), k2);
    let old = last_of_k1["access_token"].as_str().unwrap();
    assert_eq!(
        app.session_status(old).await,
        StatusCode::OK,
        "valid until its exp"
    );
    app.clock.advance(400);
    assert_eq!(app.session_status(old).await, StatusCode::UNAUTHORIZED);
    assert!(
        !published().await.contains(&k1),
        "retired once no token needs it"
    );
    let current = first_of_k2["access_token"].as_str().unwrap();
    assert_eq!(
        app.session_status(current).await,
        StatusCode::UNAUTHORIZED,
        "expired by now too"
    );
}

/// A third-party verifier (PyJWT's JWKS client) fetches our JWKS over HTTP
/// and checks a token from a real login, for both algorithms.
#[tokio::test]
async fn a_third_party_verifier_checks_tokens_against_our_jwks() {
    let Some(python) = crate::support::service_url("WXLOGIN_TEST_PYJWT") else {
        return;
    };
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
        let app = jwt_app(alg, |_| {}).await;
        let (_, _, body) = app.login(APP_A).await;
        let token = body["access_token"].as_str().unwrap().to_owned();
        let jwks_url = format!("{}/.well-known/jwks.json", app.address);
        let script = r#"
import sys, jwt
url, token, aud, iss = sys.argv[1:5]
key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["ES256", "EdDSA"], audience=aud, issuer=iss)
print(claims["sub"])
"#;
        let run = |aud: &'static str| {
            let (python, jwks_url, token) = (python.clone(), jwks_url.clone(), token.clone());
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(&python)
                    .args(["-c", script, &jwks_url, &token, aud, ISSUER])
                    .output()
                    .unwrap()
            })
        };
        let out = run(APP_A).await.unwrap();
        assert!(
            out.status.success(),
            "{:?}: {}",
            alg,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            body["user_id"].as_str().unwrap()
        );
        let wrong = run(APP_B).await.unwrap();
        assert!(!wrong.status.success(), "PyJWT refuses another audience");
    }
}

/// Each mistake in `[tokens]` is one clear startup error naming the setting.
#[tokio::test]
async fn token_settings_are_checked_at_startup() {
    let app = spawn_app().await;
    type Break = fn(&mut wxlogin::config::Settings);
    let cases: [(&str, Break); 5] = [
        ("tokens.issuer", |s| s.tokens.issuer = None),
        ("tokens.issuer", |s| {
            s.tokens.issuer = Some("http://login.example.test".into())
        }),
        ("tokens.issuer", |s| {
            s.tokens.issuer = Some("not a url".into())
        }),
        ("tokens.access_ttl", |s| s.tokens.access_ttl = 5),
        ("tokens.key_rotation", |s| s.tokens.key_rotation = 600),
    ];
    for (setting, break_it) in cases {
        let mut settings = app.settings.clone();
        settings.tokens.format = TokenFormat::Jwt;
        settings.tokens.issuer = Some(ISSUER.into());
        break_it(&mut settings);
        let err = settings.validate().err().unwrap().to_string();
        assert!(err.contains(setting), "{setting}: {err}");
    }
    let mut fine = app.settings.clone();
    fine.tokens.format = TokenFormat::Jwt;
    fine.tokens.issuer = Some("http://127.0.0.1:8080".into());
    assert!(fine.validate().is_ok(), "http on loopback is allowed");
    // In opaque mode there are no keys to publish.
    let missing = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(missing).await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );
}

/// A compromised key: the operator's forced rotation makes a key that signs
/// at once and, with `drop_old`, refuses every token the old keys signed.
#[tokio::test]
async fn a_forced_rotation_signs_with_a_new_key_and_can_drop_the_old_ones() {
    let app = jwt_app(SigningAlg::ES256, |_| {}).await;
    let (_, _, before) = app.login(APP_A).await;
    let old_token = before["access_token"].as_str().unwrap().to_owned();
    let old_kid = part(&old_token, 0)["kid"].as_str().unwrap().to_owned();
    let config = app.settings.clone().validate().unwrap();
    let state = wxlogin::app::build_state(&config, std::sync::Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let kid = state.core.rotate_signing_key(true).await.unwrap();
    assert_ne!(kid, old_kid);
    // The running service meets the new kid, loads it, and refuses the old.
    app.clock.advance(61);
    let (_, _, after) = app.login(APP_A).await;
    let new_token = after["access_token"].as_str().unwrap();
    assert_eq!(part(new_token, 0)["kid"], kid.as_str());
    assert_eq!(app.session_status(new_token).await, StatusCode::OK);
    assert_eq!(
        app.session_status(&old_token).await,
        StatusCode::UNAUTHORIZED
    );
    let jwks = get_json(&app, "/.well-known/jwks.json").await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [kid.as_str()]);
}

/// The operator's command, as run beside a live service: `wxlogin
/// rotate-signing-key --drop-old` leaves only the new key in the store (the
/// one the service signed with is gone), prints its kid, and in opaque mode
/// refuses with the setting's name.
#[tokio::test]
async fn the_rotate_signing_key_command_leaves_only_the_new_key() {
    let sim_app = spawn_app().await; // only for its simulator
    let dir = tempfile::tempdir().unwrap();
    let jwt_env = [
        ("WXLOGIN_TOKENS__FORMAT", "jwt"),
        ("WXLOGIN_TOKENS__ISSUER", ISSUER),
    ];
    let service = crate::process::ServiceProcess::start_with(
        dir.path(),
        &sim_app.sim.base_url(),
        None,
        None,
        &jwt_env,
    );
    let openid = sim_app.new_user(APP_A);
    let login = service.login(&sim_app.code_for(APP_A, &openid)).await;
    let old_kid = part(login["access_token"].as_str().unwrap(), 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = |env: &[(&str, &str)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wxlogin"))
            .args(["rotate-signing-key", "--drop-old", "--config"])
            .arg(dir.path().join("wxlogin.toml"))
            .env_remove("WXLOGIN_APPID")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let out = run(&jwt_env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = rusqlite::Connection::open(dir.path().join("w.db")).unwrap();
    let kids: Vec<String> = db
        .prepare("SELECT kid FROM signing_keys")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_ne!(kids[0], old_kid);
    assert!(stdout.contains(&kids[0]), "{stdout}");
    drop(service.finish().await);

    let opaque = run(&[]);
    let stderr = String::from_utf8_lossy(&opaque.stderr);
    assert!(!opaque.status.success());
    assert!(stderr.contains("tokens.format"), "{stderr}");
}
