//! Several instances on one PostgreSQL (and again on one Redis) behave as one
//! service: one upstream call per code, revocation seen everywhere, one
//! access_token refresh, nothing lost on restart.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wechat_sim::SimEndpoint;

use crate::helpers::*;
use crate::support::{PgSchema, RedisPrefix};

async fn two_instances_behave_as_one(store_url: String) {
    let mut app =
        spawn_app_with(|s| s.store = wxlogin::store::StoreUrl::parse(&store_url).unwrap()).await;
    let mut second = app.another_instance().await;
    let addresses = [app.address.clone(), second.address.clone()];

    // 40 concurrent logins with one code, spread over both instances.
    let openid = app.new_user(APP_A);
    let code = app.code_for(APP_A, &openid);
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..40 {
        let request = app
            .http
            .post(format!("{}/v1/login", addresses[i % 2]))
            .json(&json!({"appid": APP_A, "code": code}));
        logins.spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            body["token"].as_str().unwrap().to_owned()
        });
    }
    let mut tokens = logins.join_all().await;
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "one session for one code");
    assert_eq!(
        app.sim().calls_for_code(&code),
        1,
        "one upstream call across instances"
    );
    let token = tokens.remove(0);

    // A revoke on instance 1 is seen by instance 2 on its next request.
    let check = |address: &str| {
        app.http
            .get(format!("{address}/v1/session"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(check(&addresses[1]).await.unwrap().status(), StatusCode::OK);
    let revoke = app
        .http
        .delete(format!(
            "{}/v1/admin/users/{APP_A}/{openid}/sessions",
            addresses[0]
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    assert_eq!(
        check(&addresses[1]).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // Concurrent cold access-token requests on both: one stable_token call.
    let mut fetches = tokio::task::JoinSet::new();
    for i in 0..20 {
        let request = app
            .http
            .get(format!(
                "{}/v1/access-token?appid={APP_A}",
                addresses[i % 2]
            ))
            .bearer_auth(SERVICE_KEY);
        fetches.spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        });
    }
    let mut access = fetches.join_all().await;
    access.sort();
    access.dedup();
    assert_eq!(access.len(), 1);
    assert_eq!(app.sim().calls(SimEndpoint::StableToken), 1);

    // Restarting both instances loses no session.
    let mut kept = Vec::new();
    for appid in [APP_A, APP_B, APP_A] {
        kept.push(app.login(appid).await.0);
    }
    second.stop().await;
    app.restart().await;
    let mut second = app.another_instance().await;
    for token in &kept {
        for address in [&app.address, &second.address] {
            let status = app
                .http
                .get(format!("{address}/v1/session"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, StatusCode::OK);
        }
    }
    second.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_postgres_behave_as_one_service() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    two_instances_behave_as_one(schema.url()).await;
}

#[tokio::test]
async fn two_instances_on_one_redis_behave_as_one_service() {
    let Some(prefix) = RedisPrefix::create() else {
        return;
    };
    two_instances_behave_as_one(prefix.url()).await;
}
