//! Embedding wxlogin in an existing axum backend:
//! - nest the whole wxlogin API under `/auth`;
//! - protect your own route with the `WxSession` extractor (in-process check,
//!   no HTTP hop).
//!
//! Runs against an in-process WeChat simulator so it works offline:
//! `cargo run -p wxlogin --example embed`, then follow what it prints.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use secrecy::SecretString;
use wechat_sim::{AppSpec, Simulator};
use wxlogin::clock::SystemClock;
use wxlogin::config::{AppSettings, Settings};
use wxlogin::domain::DataKey;
use wxlogin::{Core, WxSession};

const APPID: &str = "wx4f4bc4dec97d474b";
const SECRET: &str = "embedded-example-secret-0123456";

/// Your own handler: `WxSession` has already verified the bearer token.
async fn profile(WxSession(session): WxSession) -> String {
    format!("hello {} of app {}\n", session.openid, session.appid)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = Simulator::new();
    sim.add_app(AppSpec {
        appid: APPID.into(),
        secret: SECRET.into(),
        bound_to_open_platform: false,
        ip_whitelist: false,
        ..AppSpec::default()
    });
    let sim = sim.spawn().await?;

    // In a real backend: `Settings::load(Some(path))?.validate()?`.
    let config = Settings {
        store: wxlogin::store::StoreUrl::Sqlite(wxlogin::store::SqliteTarget::Memory),
        data_key: Some(SecretString::from(DataKey::generate_text())),
        wechat_base_url: sim.base_url(),
        apps: vec![AppSettings {
            appid: APPID.into(),
            secret: Some(SecretString::from(SECRET)),
            secret_file: None,
            ..AppSettings::default()
        }],
        ..Settings::default()
    }
    .validate()?;
    let state = wxlogin::app::build_state(&config, Arc::new(SystemClock)).await?;
    let core: Arc<Core> = state.core.clone();

    let app = Router::new()
        .route("/api/profile", get(profile))
        // Metrics and failure logs for your routes, as wxlogin's own get.
        .layer(axum::middleware::from_fn(wxlogin::http::observe))
        .with_state(core)
        .nest("/auth", wxlogin::http::router(state));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let sim_base = sim.base_url();
    println!("embedded wxlogin at {base}/auth, your API at {base}/api/profile\n");
    println!(
        "CODE=$(curl -s -X POST {sim_base}__sim/login -H 'content-type: application/json' -d '{{\"appid\":\"{APPID}\"}}' | sed -E 's/.*\"code\":\"([^\"]+)\".*/\\1/')"
    );
    println!(
        "TOKEN=$(curl -s -X POST {base}/auth/v1/login -H 'content-type: application/json' -d \"{{\\\"code\\\":\\\"$CODE\\\"}}\" | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')"
    );
    println!("curl -s {base}/api/profile -H \"authorization: Bearer $TOKEN\"");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
