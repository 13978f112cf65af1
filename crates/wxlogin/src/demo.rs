//! `wxlogin demo` and `wxlogin sim`: the simulator and the service in one
//! process, on a temporary SQLite, with a copy-paste walkthrough. Nothing here
//! is used by `serve`.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use wechat_sim::{AppSpec, Simulator};

use crate::Application;
use crate::clock::SystemClock;
use crate::config::{AppSettings, Settings};
use crate::domain::DataKey;

/// The demo mini program (WeChat's own sample appid).
pub const DEMO_APPID: &str = "wx4f4bc4dec97d474b";
/// Its secret in the simulator. Not a real secret: the simulator is local.
pub const DEMO_SECRET: &str = "demo-secret-0123456789abcdef";

fn demo_simulator() -> Simulator {
    let sim = Simulator::new();
    sim.add_app(AppSpec {
        appid: DEMO_APPID.into(),
        secret: DEMO_SECRET.into(),
        bound_to_open_platform: true,
        ip_whitelist: false,
        ..AppSpec::default()
    });
    crate::demo_apps::register(&sim);
    sim
}

/// `wxlogin sim`: the simulator alone, until Ctrl-C.
pub async fn run_simulator(listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    println!("WeChat simulator on http://{addr}/ (app {DEMO_APPID}, secret {DEMO_SECRET})");
    println!(
        "mint a login code: curl -s -X POST http://{addr}/__sim/login -H 'content-type: application/json' -d '{{\"appid\":\"{DEMO_APPID}\"}}'"
    );
    demo_simulator()
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// `wxlogin demo` (`jwt`: `--tokens jwt`).
pub async fn run(listen: &str, jwt: bool) -> anyhow::Result<()> {
    // The JWT issuer names the address: with port 0, pick the port now.
    let picked;
    let listen = match listen.strip_suffix(":0") {
        Some(host) if jwt => {
            let probe = std::net::TcpListener::bind(listen)?;
            picked = format!("{host}:{}", probe.local_addr()?.port());
            picked.as_str()
        }
        _ => listen,
    };
    let sim = demo_simulator().spawn().await?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("demo.db");
    let admin_key = random_key();
    let service_key = random_key();
    let mut settings = Settings {
        listen: listen.to_owned(),
        store: crate::store::StoreUrl::Sqlite(crate::store::SqliteTarget::File(db.clone())),
        data_key: Some(SecretString::from(DataKey::generate_text())),
        admin_key: Some(SecretString::from(admin_key.clone())),
        service_key: Some(SecretString::from(service_key.clone())),
        wechat_base_url: sim.base_url(),
        upstream_timeout_ms: 3000,
        apps: vec![AppSettings {
            appid: DEMO_APPID.into(),
            secret: Some(SecretString::from(DEMO_SECRET)),
            secret_file: None,
            ..AppSettings::default()
        }],
        ..Settings::default()
    };
    settings
        .apps
        .extend(crate::demo_apps::settings(&sim.base_url()));
    if jwt {
        settings.tokens.format = crate::domain::jwt::TokenFormat::Jwt;
        settings.tokens.issuer = Some(format!("http://{listen}"));
    }
    let app = Application::build_with_clock(settings.validate()?, Arc::new(SystemClock))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}\nhint: another program uses that port; try `wxlogin demo --listen 127.0.0.1:0`"
            )
        })?;
    let base = format!("http://{}", app.local_addr()?);
    let sim_base = sim.base_url();
    let sim_base = sim_base.trim_end_matches('/');
    let page_config = serde_json::json!({
        "appid": DEMO_APPID,
        "simulator": sim_base,
        "tokens": if jwt { "jwt" } else { "opaque" },
        "apps": crate::demo_apps::page_apps(DEMO_APPID),
    })
    .to_string();
    let app = app.with_routes(crate::demo_page::routes(page_config));
    println!(
        "{}",
        walkthrough(
            &base,
            sim_base,
            &admin_key,
            &service_key,
            &db.display().to_string()
        )
    );
    let server = tokio::spawn(app.run_until_stopped());
    server.await??;
    // Keep the temp dir (and the simulator) alive until the server has stopped.
    drop(sim);
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(dir);
    Ok(())
}

fn random_key() -> String {
    let bytes: [u8; 24] = rand::random();
    hex::encode(bytes)
}

fn walkthrough(base: &str, sim: &str, admin_key: &str, service_key: &str, db: &str) -> String {
    format!(
        r#"
wxlogin demo is running. Ctrl-C stops it (the temporary database is deleted).

  service     {base}        API docs: {base}/docs   OpenAPI: {base}/openapi.json
  demo page   {base}/       (a phone-shaped page playing the mini program)
  simulator   {sim}/        (plays api.weixin.qq.com and wx.login, and the other
                            platforms' logins: the page's platform switch)
  database    {db}
  admin key   {admin_key}
  service key {service_key}

Try it from another terminal (copy-paste line by line):

# 1. Play wx.login() in the simulator: a new user gets a one-time code
CODE=$(curl -s -X POST {sim}/__sim/login -H 'content-type: application/json' -d '{{"appid":"{DEMO_APPID}"}}' | sed -E 's/.*"code":"([^"]+)".*/\1/'); echo "$CODE"

# 2. Log in with it (the same code again within 5 minutes returns the same session)
LOGIN=$(curl -s -X POST {base}/v1/login -H 'content-type: application/json' -d "{{\"appid\":\"{DEMO_APPID}\",\"code\":\"$CODE\"}}"); echo "$LOGIN"
TOKEN=$(echo "$LOGIN" | sed -E 's/.*"token":"([^"]+)".*/\1/')

# 3. Who am I?
curl -s {base}/v1/session -H "authorization: Bearer $TOKEN"; echo

# 4. What nginx auth_request sees (identity in x-wx-* headers)
curl -si '{base}/v1/auth?appid={DEMO_APPID}' -H "authorization: Bearer $TOKEN"

# 5. A backend checks the token with the service key
curl -s -X POST {base}/v1/introspect -H 'authorization: Bearer {service_key}' -H 'content-type: application/json' -d "{{\"token\":\"$TOKEN\",\"appid\":\"{DEMO_APPID}\"}}"; echo

# 6. Get user info: the simulator encrypts the profile as WeChat would; the service decrypts it
OPENID=$(echo "$LOGIN" | sed -E 's/.*"openid":"([^"]+)".*/\1/')
OPEN=$(curl -s -X POST {sim}/__sim/open-data -H 'content-type: application/json' -d "{{\"appid\":\"{DEMO_APPID}\",\"openid\":\"$OPENID\",\"kind\":\"profile\"}}")
curl -s -X POST {base}/v1/decrypt -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$OPEN"; echo

# 7. Get the phone number: the simulator plays the getPhoneNumber button
PCODE=$(curl -s -X POST {sim}/__sim/phone-code -H 'content-type: application/json' -d "{{\"appid\":\"{DEMO_APPID}\",\"openid\":\"$OPENID\"}}" | sed -E 's/.*"code":"([^"]+)".*/\1/')
curl -s -X POST {base}/v1/phone -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "{{\"code\":\"$PCODE\"}}"; echo

# 8. Log out; the token stops working
curl -s -o /dev/null -w '%{{http_code}}\n' -X POST {base}/v1/logout -H "authorization: Bearer $TOKEN"
curl -s {base}/v1/session -H "authorization: Bearer $TOKEN"; echo
"#
    )
}
