//! Rotating the data key: put a new key first in the ring, run `rekey`
//! while the service takes logins, drop the old key; nobody is logged out
//! and every stored session_key still opens.

use std::sync::Arc;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use wechat_sim::OpenDataKind;
use wxlogin::domain::DataKey;

use crate::helpers::*;

async fn decrypts(app: &TestApp, token: &str, openid: &str) -> StatusCode {
    let blob = app
        .sim()
        .open_data(APP_A, openid, OpenDataKind::Profile)
        .unwrap();
    app.http
        .post(format!("{}/v1/decrypt", app.address))
        .bearer_auth(token)
        .json(&json!({"encrypted_data": blob.encrypted_data, "iv": blob.iv}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn rotating_the_data_key_under_load_loses_nothing() {
    let (old, new) = (DataKey::generate_text(), DataKey::generate_text());
    let mut app = spawn_app_with(|s| s.data_key = Some(SecretString::from(old.clone()))).await;
    let mut users = Vec::new();
    for _ in 0..20 {
        let (token, openid, _) = app.login(APP_A).await;
        users.push((token, openid));
    }
    // An access_token, sealed too.
    let access = app
        .http
        .get(format!("{}/v1/access-token?appid={APP_A}", app.address))
        .bearer_auth(SERVICE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(access.status(), StatusCode::OK);

    // The new key first, the old one still in the ring.
    app.settings.data_key = None;
    app.settings.data_keys = vec![SecretString::from(new.clone()), SecretString::from(old)];
    app.restart().await;
    let app = Arc::new(app);
    let load = tokio::spawn({
        let app = Arc::clone(&app);
        async move {
            let mut made = Vec::new();
            for _ in 0..20 {
                let (token, openid, _) = app.login(APP_A).await;
                made.push((token, openid));
            }
            made
        }
    });
    let config = app.settings.clone().validate().unwrap();
    let state = wxlogin::app::build_state(&config, Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let mut pages = 0;
    let report = state.core.rekey(7, |_, _| pages += 1).await.unwrap();
    users.extend(load.await.unwrap());
    assert_eq!(report.unopenable, 0, "{report:?}");
    assert!(
        report.resealed >= 21,
        "20 users and the access_token: {report:?}"
    );
    assert!(pages > 3, "bounded pages");
    let again = state.core.rekey(7, |_, _| {}).await.unwrap();
    assert_eq!((again.resealed, again.unopenable), (0, 0), "{again:?}");

    // Only the new key now.
    let mut app = Arc::into_inner(app).unwrap();
    app.settings.data_keys = vec![SecretString::from(new)];
    app.restart().await;
    for (token, openid) in &users {
        assert_eq!(app.session_status(token).await, StatusCode::OK, "{openid}");
        assert_eq!(
            decrypts(&app, token, openid).await,
            StatusCode::OK,
            "{openid}"
        );
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
    assert!(access["access_token"].is_string(), "{access}");
}
