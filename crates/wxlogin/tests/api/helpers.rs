//! `spawn_app()`: a simulator and a service on port 0, a temporary SQLite
//! file, a manual clock, and a typed handle to drive them.

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use wechat_sim::{AppSpec, SimEndpoint, SimHandle, Simulator, UserSpec};
use wxlogin::Application;
use wxlogin::clock::ManualClock;
use wxlogin::config::{AppSettings, Settings};
use wxlogin::domain::DataKey;

pub const APP_A: &str = "wx4f4bc4dec97d474b";
pub const APP_B: &str = "wx1111111111111111";
pub const SECRET_A: &str = "secret-of-app-a-0123456789abcdef";
pub const SECRET_B: &str = "secret-of-app-b-0123456789abcdef";
pub const ADMIN_KEY: &str = "admin-key-0123456789-abcdefghij";
pub const SERVICE_KEY: &str = "service-key-0123456789-abcdefgh";

pub struct TestApp {
    pub address: String,
    pub sim: SimHandle,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub dir: TempDir,
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// A service with two apps (A bound to an Open Platform account, B not).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let sim = Simulator::new();
    for (appid, secret, bound) in [(APP_A, SECRET_A, true), (APP_B, SECRET_B, false)] {
        sim.add_app(AppSpec {
            appid: appid.into(),
            secret: secret.into(),
            bound_to_open_platform: bound,
            ip_whitelist: false,
            ..AppSpec::default()
        });
    }
    let sim = sim.spawn().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        store: wxlogin::store::StoreUrl::Sqlite(wxlogin::store::SqliteTarget::File(
            dir.path().join("wxlogin.db"),
        )),
        data_key: Some(SecretString::from(DataKey::generate_text())),
        admin_key: Some(SecretString::from(ADMIN_KEY)),
        service_key: Some(SecretString::from(SERVICE_KEY)),
        wechat_base_url: sim.base_url(),
        upstream_timeout_ms: 2000,
        apps: [(APP_A, SECRET_A), (APP_B, SECRET_B)]
            .into_iter()
            .map(|(appid, secret)| AppSettings {
                appid: appid.into(),
                secret: Some(SecretString::from(secret)),
                secret_file: None,
                ..AppSettings::default()
            })
            .collect(),
        ..Settings::default()
    };
    settings.rate_limits.login_per_ip_per_minute = 10_000;
    tweak(&mut settings);
    let clock = ManualClock::new();
    let mut app = TestApp {
        address: String::new(),
        sim,
        clock,
        http: http_client(),
        dir,
        settings,
        stop: None,
        server: None,
    };
    app.start().await;
    app
}

/// Another running instance of the service (same settings, same store).
pub struct Instance {
    pub address: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Instance {
    pub async fn start(settings: &Settings, clock: &ManualClock) -> Self {
        let config = settings.clone().validate().unwrap();
        let app = Application::build_with_clock(config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            address,
            stop: Some(tx),
            server: Some(server),
        }
    }

    /// Stop gracefully and wait until the server is gone.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl TestApp {
    async fn start(&mut self) {
        let instance = Instance::start(&self.settings, &self.clock).await;
        self.address = instance.address;
        self.stop = instance.stop;
        self.server = instance.server;
    }

    /// A second instance on the same store, simulator and clock.
    pub async fn another_instance(&self) -> Instance {
        Instance::start(&self.settings, &self.clock).await
    }

    /// Stop the service and start a new one on the same database file.
    pub async fn restart(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.start().await;
    }

    pub fn sim(&self) -> &Simulator {
        self.sim.sim()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("wxlogin.db")
    }

    /// A new simulator user of `appid`.
    pub fn new_user(&self, appid: &str) -> String {
        self.sim().add_user(appid, UserSpec::default()).unwrap()
    }

    /// Play `wx.login()` for a user.
    pub fn code_for(&self, appid: &str, openid: &str) -> String {
        self.sim().mint_login_code(appid, openid).unwrap()
    }

    pub fn code2session_calls(&self) -> u64 {
        self.sim().calls(SimEndpoint::Code2Session)
    }

    pub async fn post_login(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/login", self.address))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Log a new user of `appid` in; returns (token, openid, response body).
    pub async fn login(&self, appid: &str) -> (String, String, Value) {
        let openid = self.new_user(appid);
        let (token, body) = self.login_as(appid, &openid).await;
        (token, openid, body)
    }

    /// Log an existing user in from a fresh `wx.login()` code (which rotates
    /// their session_key); returns (token, response body).
    pub async fn login_as(&self, appid: &str, openid: &str) -> (String, Value) {
        let code = self.code_for(appid, openid);
        let response = self.post_login(json!({"appid": appid, "code": code})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        // The bearer token: opaque, or the access token in jwt mode.
        let token = body["token"].as_str().or(body["access_token"].as_str());
        (token.unwrap().to_owned(), body)
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn session_status(&self, token: &str) -> StatusCode {
        self.get_bearer("/v1/session", token).await.status()
    }
}

/// The stable error code of an error response.
pub async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}
