//! The simulator over real HTTP, as a client meets it: wire formats, errcodes
//! and their order, codes, quotas, tokens, keys, open data, faults, and the
//! `/__sim/` test endpoints. Each test spawns its own simulator.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wechat::crypto::{decrypt_open_data, login_state_signature, verify_raw_data_signature};
use wechat::{AppId, SessionKey};
use wechat_sim::{
    AppSpec, Fault, FaultKind, Garbage, OpenDataKind, SimEndpoint, SimHandle, Simulator, UserSpec,
};

const BOUND: &str = "wx4f4bc4dec97d474b";
const PLAIN: &str = "wx1111111111111111";
const SECRET: &str = "s3cr3t-0123456789abcdef";

struct Env {
    sim: SimHandle,
    http: reqwest::Client,
}

async fn env() -> Env {
    let sim = Simulator::new();
    for (appid, bound) in [(BOUND, true), (PLAIN, false)] {
        sim.add_app(AppSpec {
            appid: appid.into(),
            secret: SECRET.into(),
            bound_to_open_platform: bound,
            ip_whitelist: false,
            ..AppSpec::default()
        });
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    Env {
        sim: sim.spawn().await.unwrap(),
        http,
    }
}

/// Status, Content-Type and body of one answer.
struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {:?}", self.text))
    }

    fn errcode(&self) -> i64 {
        self.json()["errcode"].as_i64().unwrap_or(0)
    }
}

impl Env {
    fn sim(&self) -> &Simulator {
        self.sim.sim()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path.trim_start_matches('/'))
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Answer {
            status,
            content_type,
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.answer(self.http.get(self.url(path)).query(query))
            .await
    }

    async fn post(&self, path: &str, query: &[(&str, &str)], body: &Value) -> Answer {
        self.answer(self.http.post(self.url(path)).query(query).json(body))
            .await
    }

    async fn exchange(&self, appid: &str, code: &str) -> Answer {
        let query = [
            ("appid", appid),
            ("secret", SECRET),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ];
        self.get("sns/jscode2session", &query).await
    }

    fn user(&self, appid: &str) -> String {
        self.sim().add_user(appid, UserSpec::default()).unwrap()
    }

    fn code(&self, appid: &str, openid: &str) -> String {
        self.sim().mint_login_code(appid, openid).unwrap()
    }

    async fn stable_token(&self, force: bool) -> Answer {
        let body = json!({"grant_type": "client_credential", "appid": BOUND, "secret": SECRET, "force_refresh": force});
        self.post("cgi-bin/stable_token", &[], &body).await
    }

    async fn token(&self, force: bool) -> String {
        self.stable_token(force).await.json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn check_session(&self, token: &str, openid: &str, key: &str) -> Answer {
        let signature = login_state_signature(&SessionKey::parse(key).unwrap(), b"");
        let query = [
            ("access_token", token),
            ("signature", &signature),
            ("openid", openid),
            ("sig_method", "hmac_sha256"),
        ];
        self.get("wxa/checksession", &query).await
    }

    async fn reset_key(&self, token: &str, openid: &str, key: &str) -> Answer {
        let signature = login_state_signature(&SessionKey::parse(key).unwrap(), b"");
        let query = [
            ("access_token", token),
            ("signature", &signature),
            ("openid", openid),
            ("sig_method", "hmac_sha256"),
        ];
        self.get("wxa/resetusersessionkey", &query).await
    }

    async fn phone(&self, token: &str, body: &Value) -> Answer {
        self.post(
            "wxa/business/getuserphonenumber",
            &[("access_token", token)],
            body,
        )
        .await
    }
}

fn assert_rid(errmsg: &str) {
    let rid = errmsg
        .split("rid: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no rid in {errmsg:?}"));
    let groups: Vec<&str> = rid.split('-').collect();
    assert_eq!(groups.len(), 3, "{rid}");
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_hexdigit())),
        "{rid}"
    );
}

// The tests live in `tests/sim/`; this file is the binary's root and holds the
// shared fixture.
#[path = "sim/faults.rs"]
mod faults;
#[path = "sim/keys.rs"]
mod keys;
#[path = "sim/login.rs"]
mod login;
#[path = "sim/surface.rs"]
mod surface;
#[path = "sim/tokens.rs"]
mod tokens;
