//! Secrets never leak: not into the database file, not into TRACE logs, not
//! into Debug output.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::ServiceProcess;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_raw_sqlite_files_hold_no_session_key_and_no_token() {
    let app = spawn_app().await;
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for _ in 0..3 {
        let (token, openid, _) = app.login(APP_A).await;
        let key = app.sim().session_key(APP_A, &openid).unwrap();
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&key)
            .unwrap();
        secrets.extend([token.into_bytes(), key.into_bytes(), raw]);
    }
    // The same user again: the rotated-out key is kept (sealed) as the previous key.
    let (token, openid, _) = app.login(APP_B).await;
    let old_key = app.sim().session_key(APP_B, &openid).unwrap();
    app.post_login(json!({"appid": APP_B, "code": app.code_for(APP_B, &openid)}))
        .await;
    secrets.extend([
        token.into_bytes(),
        old_key.into_bytes(),
        SECRET_A.into(),
        SECRET_B.into(),
    ]);
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app.db_path().display());
        if let Ok(b) = std::fs::read(&path) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 4096, "the database was read");
    assert!(
        contains(&bytes, APP_A.as_bytes()),
        "sanity: plain identifiers are there"
    );
    for secret in &secrets {
        assert!(
            !contains(&bytes, secret),
            "a secret is stored in plain text"
        );
    }
}

/// Runs the real binary with `RUST_LOG=trace` through a full session and greps
/// everything it printed.
#[tokio::test]
async fn trace_logs_of_a_full_session_contain_no_secret() {
    let sim_app = spawn_app().await; // only for its simulator
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start(dir.path(), &sim_app.sim.base_url(), Some("trace"));
    let address = service.address.clone();
    let data_key = service.data_key.clone();
    let http = http_client();
    let openid = sim_app.new_user(APP_A);
    let code = sim_app.code_for(APP_A, &openid);
    let login = service.login(&code).await;
    let token = login["token"].as_str().unwrap().to_owned();
    let session_key = sim_app.sim().session_key(APP_A, &openid).unwrap();
    // Open data, phone number and the app's access_token, through the same binary.
    let blob = sim_app
        .sim()
        .open_data(APP_A, &openid, wechat_sim::OpenDataKind::Profile)
        .unwrap();
    let decrypted = http
        .post(format!("{address}/v1/decrypt"))
        .bearer_auth(&token)
        .json(&json!({"encryptedData": blob.encrypted_data, "iv": blob.iv, "rawData": blob.raw_data, "signature": blob.signature}))
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.status(), StatusCode::OK);
    let phone_code = sim_app.sim().mint_phone_code(APP_A, &openid).unwrap();
    let phone = http
        .post(format!("{address}/v1/phone"))
        .bearer_auth(&token)
        .json(&json!({"code": phone_code}))
        .send()
        .await
        .unwrap();
    assert_eq!(phone.status(), StatusCode::OK);
    let access: Value = http
        .get(format!("{address}/v1/access-token"))
        .bearer_auth(SERVICE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = access["access_token"].as_str().unwrap().to_owned();
    http.post(format!("{address}/v1/session/check"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    http.post(format!("{address}/v1/decrypt"))
        .bearer_auth(&token)
        .json(&json!({"encrypted_data": "hA4O4rDCJB5jFsKXx1y9mQ==", "iv": "r7BXXKkLb8qrSNn05n0qiA=="}))
        .send()
        .await
        .unwrap();
    let replay = http
        .post(format!("{address}/v1/login"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(
        http.get(format!("{address}/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    http.get(format!("{address}/v1/auth"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    http.post(format!("{address}/v1/introspect"))
        .bearer_auth(SERVICE_KEY)
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    http.get(format!(
        "{address}/v1/admin/users/{APP_A}/{openid}/sessions"
    ))
    .bearer_auth(ADMIN_KEY)
    .send()
    .await
    .unwrap();
    let refreshed: Value = http
        .post(format!("{address}/v1/session/refresh"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token2 = refreshed["token"].as_str().unwrap().to_owned();
    http.post(format!("{address}/v1/logout"))
        .bearer_auth(&token2)
        .send()
        .await
        .unwrap();
    http.get(format!("{address}/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    http.post(format!("{address}/v1/login"))
        .json(&json!({"code": "051v0m000ObAyK19vV1005SDWf0v0m0s"}))
        .send()
        .await
        .unwrap();
    http.post(format!("{address}/v1/introspect"))
        .bearer_auth("wrong-key-and-long-enough")
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    let log = service.finish().await;
    let log_path = dir.path().join("log.txt");
    std::fs::write(&log_path, &log).unwrap();
    assert!(log.lines().count() > 20, "TRACE logging was on:\n{log}");
    assert!(log.contains("/v1/login"), "requests were logged");
    let secrets = [
        SECRET_A,
        &data_key,
        &session_key,
        &token,
        &token2,
        ADMIN_KEY,
        SERVICE_KEY,
        &code,
        "wrong-key-and-long-enough",
        &access_token,
        &phone_code,
    ];
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "a secret leaked into the logs (see {})",
            log_path.display()
        );
    }
}

/// A password in the store URL reaches no log line (TRACE), no answer of
/// `/metrics`, no `Debug` of the settings and no startup error. The test
/// server trusts local connections, so the password is accepted and unused.
#[tokio::test]
async fn a_store_password_reaches_no_log_line_error_or_metrics() {
    use crate::process::ServiceProcess;
    let Some(schema) = crate::support::PgSchema::create().await else {
        return;
    };
    const PASSWORD: &str = "pw-Zq8v3kTn41";
    let url = schema.url();
    let with_password = url.replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
    assert_ne!(with_password, url, "the test URL names the user postgres");
    let settings = wxlogin::Settings {
        store: wxlogin::store::StoreUrl::parse(&with_password).unwrap(),
        ..Default::default()
    };
    assert!(!format!("{settings:?}").contains(PASSWORD));
    let sim_app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_on(
        dir.path(),
        &sim_app.sim.base_url(),
        Some("trace"),
        Some(&with_password),
    );
    let http = http_client();
    let openid = sim_app.new_user(APP_A);
    let code = sim_app.code_for(APP_A, &openid);
    let login = http
        .post(format!("{}/v1/login", service.address))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let metrics = http
        .get(format!("{}/metrics", service.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("wxlogin_logins_total"), "{metrics}");
    assert!(!metrics.contains(PASSWORD));
    let log = service.finish().await;
    assert!(log.contains("/v1/login"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
    let unreachable = format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/none");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wxlogin"))
        .arg("migrate")
        .env("WXLOGIN_STORE", &unreachable)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("127.0.0.1:1") || stderr.contains("connect"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn debug_output_of_config_and_errors_is_redacted() {
    let settings = wxlogin::Settings {
        data_key: Some(wxlogin::domain::DataKey::generate_text().into()),
        admin_key: Some(ADMIN_KEY.to_owned().into()),
        apps: vec![wxlogin::config::AppSettings {
            appid: APP_A.into(),
            secret: Some(SECRET_A.to_owned().into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let data_key =
        secrecy::ExposeSecret::expose_secret(settings.data_key.as_ref().unwrap()).to_owned();
    let raw = format!("{settings:?}");
    let config = settings.validate().unwrap();
    let validated = format!("{config:?}");
    let token = wxlogin::domain::token::SessionToken::generate();
    let printed = format!("{raw} {validated} {token:?} {token}");
    for secret in [SECRET_A, ADMIN_KEY, &data_key, token.expose_secret()] {
        assert!(!printed.contains(secret), "{printed}");
    }
    let bad = wxlogin::Settings {
        data_key: Some("not-a-key".to_owned().into()),
        ..Default::default()
    };
    let message = bad.validate().unwrap_err().to_string();
    assert!(
        message.contains("data_key") && !message.contains("not-a-key"),
        "{message}"
    );
}

/// Logs users in on `store_url` and returns every secret they involve.
async fn secrets_after_logins(app: &TestApp) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let mut secrets: Vec<Vec<u8>> = vec![SECRET_A.into(), SECRET_B.into()];
    for appid in [APP_A, APP_A, APP_B] {
        let (token, openid, _) = app.login(appid).await;
        let key = app.sim().session_key(appid, &openid).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&key)
            .unwrap();
        // A second login rotates the key: the old one is kept (sealed) as previous.
        app.post_login(json!({"appid": appid, "code": app.code_for(appid, &openid)}))
            .await;
        secrets.push(hex::encode(&raw).into_bytes());
        secrets.extend([token.into_bytes(), key.into_bytes(), raw]);
    }
    let access: Value = app
        .http
        .get(format!("{}/v1/access-token?appid={APP_A}", app.address))
        .bearer_auth(SERVICE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(access["access_token"].as_str().unwrap().as_bytes().to_vec());
    secrets
}

#[tokio::test]
async fn raw_postgres_and_redis_contents_hold_no_session_key_and_no_token() {
    use crate::support::{PgSchema, RedisPrefix};
    if let Some(schema) = PgSchema::create().await {
        let url = schema.url();
        let app =
            spawn_app_with(|s| s.store = wxlogin::store::StoreUrl::parse(&url).unwrap()).await;
        let secrets = secrets_after_logins(&app).await;
        let conn = crate::support::pg_client(&schema.url()).await;
        let mut dump = Vec::new();
        for table in [
            "users",
            "sessions",
            "login_claims",
            "access_tokens",
            "locks",
        ] {
            let rows: Vec<String> = conn
                .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            for row in rows {
                dump.extend(row.into_bytes());
            }
        }
        assert!(
            contains(&dump, APP_A.as_bytes()),
            "sanity: the dump has rows"
        );
        for secret in &secrets {
            assert!(
                !contains(&dump, secret),
                "a secret is stored in plain text in PostgreSQL"
            );
        }
    }
    if let Some(prefix) = RedisPrefix::create() {
        let url = prefix.url();
        let app =
            spawn_app_with(|s| s.store = wxlogin::store::StoreUrl::parse(&url).unwrap()).await;
        let secrets = secrets_after_logins(&app).await;
        let client = redis::Client::open(prefix.base_url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys = prefix.keys(&mut conn).await;
        let mut dump = Vec::new();
        for key in keys {
            dump.extend(key.as_bytes());
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            let values: Vec<Vec<u8>> = match kind.as_str() {
                "hash" => redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
                "set" => redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
                _ => vec![
                    redis::cmd("GET")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await
                        .unwrap(),
                ],
            };
            for value in values {
                dump.extend(value);
            }
        }
        assert!(
            contains(&dump, APP_A.as_bytes()),
            "sanity: the dump has keys"
        );
        for secret in &secrets {
            assert!(
                !contains(&dump, secret),
                "a secret is stored in plain text in Redis"
            );
        }
    }
}

/// In jwt mode too: access tokens, refresh tokens (old and new) and the
/// signing keys' private halves reach no log line at TRACE.
#[tokio::test]
async fn trace_logs_of_a_jwt_session_contain_no_token() {
    let sim_app = spawn_app().await; // only for its simulator
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceProcess::start_with(
        dir.path(),
        &sim_app.sim.base_url(),
        Some("trace"),
        None,
        &[
            ("WXLOGIN_TOKENS__FORMAT", "jwt"),
            ("WXLOGIN_TOKENS__ISSUER", "https://login.example.test"),
        ],
    );
    let address = service.address.clone();
    let http = http_client();
    let openid = sim_app.new_user(APP_A);
    let code = sim_app.code_for(APP_A, &openid);
    let login = service.login(&code).await;
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let session = http
        .get(format!("{address}/v1/session"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), StatusCode::OK);
    let rotated: Value = http
        .post(format!("{address}/v1/session/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    // The old refresh token again: reuse, the chain is revoked (and logged).
    let reuse = http
        .post(format!("{address}/v1/session/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), StatusCode::UNAUTHORIZED);
    http.post(format!("{address}/v1/introspect"))
        .bearer_auth(SERVICE_KEY)
        .json(&json!({"token": access2}))
        .send()
        .await
        .unwrap();
    let log = service.finish().await;
    let log_path = dir.path().join("log.txt");
    std::fs::write(&log_path, &log).unwrap();
    assert!(log.contains("used twice"), "the reuse was logged:\n{log}");
    // A token's signature part alone would identify it.
    let signature = |t: &str| t.rsplit('.').next().unwrap().to_owned();
    for secret in [
        &access,
        &access2,
        &signature(&access),
        &refresh,
        &refresh2,
        &code,
    ] {
        assert!(
            !log.contains(secret.as_str()),
            "a token leaked into the logs (see {})",
            log_path.display()
        );
    }
}
