//! `/__sim/`: the HTTP face of the helper methods, for demos and for tests in
//! other processes (play `wx.login`, mint phone codes and open data, add users,
//! arm faults, move the clock, read counters). JSON in and out; errors are 4xx
//! with `{"error": "..."}`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Simulator;
use crate::faults::{Fault, FaultKind, Garbage};
use crate::model::{OpenDataKind, SimEndpoint, SimError, UserSpec};

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/__sim/login", only(post(login)))
        .route("/__sim/phone-code", only(post(phone_code)))
        .route("/__sim/open-data", only(post(open_data)))
        .route("/__sim/users", only(post(add_user)))
        .route("/__sim/stats", only(get(stats)))
        .route("/__sim/requests", only(get(requests)))
        .route("/__sim/faults", only(post(set_fault).delete(clear_faults)))
        .route("/__sim/clock/advance", only(post(advance_clock)))
        .route("/__sim/reset-counters", only(post(reset_counters)))
        .route(
            "/__sim/{*rest}",
            any(|| async { TestApiError::not_found("no such simulator endpoint") }),
        )
        // The demo page (served by wxlogin on another port) plays wx.login
        // from the browser; the test API is local and holds nothing secret.
        .layer(tower_http::cors::CorsLayer::permissive())
}

/// A wrong method answers in this API's error shape, not axum's empty 405.
fn only(router: MethodRouter<Simulator>) -> MethodRouter<Simulator> {
    router.fallback(|| async {
        TestApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: "method not allowed".to_owned(),
        }
    })
}

/// A test endpoint refusing a request.
#[derive(Debug)]
struct TestApiError {
    status: StatusCode,
    message: String,
}

impl TestApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.to_owned(),
        }
    }
}

impl From<SimError> for TestApiError {
    fn from(e: SimError) -> Self {
        let status = match e {
            SimError::UnknownApp | SimError::UnknownUser => StatusCode::NOT_FOUND,
            SimError::UserExists => StatusCode::CONFLICT,
            SimError::InvalidSessionKey | SimError::Unsupported(_) => StatusCode::BAD_REQUEST,
            SimError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self {
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for TestApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

type Answer = Result<Json<Value>, TestApiError>;

/// Parse a JSON body ourselves so a bad one gets `{"error": ...}`.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, TestApiError> {
    serde_json::from_slice(body)
        .map_err(|e| TestApiError::bad_request(format!("bad JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    appid: String,
    openid: Option<String>,
}

/// Play `wx.login`; without an openid, a new user signs up first.
async fn login(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let request: LoginRequest = parse(&body)?;
    let openid = match request.openid {
        Some(openid) => openid,
        None => sim.add_user(&request.appid, UserSpec::default())?,
    };
    // `tt.login` gives an anonymousCode too (always; the code only when the
    // user is logged in to the host app).
    let platform = sim.platform_of(&request.appid).unwrap_or_default();
    let code = sim.mint_login_code(&request.appid, &openid)?;
    let mut answer = json!({"code": code, "openid": openid, "platform": platform});
    if platform == crate::model::Platform::Douyin {
        answer["anonymous_code"] = sim.mint_anonymous_code(&request.appid, &openid)?.into();
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRef {
    appid: String,
    openid: String,
}

async fn phone_code(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let user: UserRef = parse(&body)?;
    let code = sim.mint_phone_code(&user.appid, &user.openid)?;
    Ok(Json(json!({"code": code})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenDataRequest {
    appid: String,
    openid: String,
    kind: OpenDataKind,
}

async fn open_data(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let request: OpenDataRequest = parse(&body)?;
    let blob = sim.open_data(&request.appid, &request.openid, request.kind)?;
    let blob = serde_json::to_value(blob).map_err(|e| SimError::Internal(e.to_string()))?;
    Ok(Json(blob))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUserRequest {
    appid: String,
    openid: Option<String>,
    unionid: Option<String>,
    #[serde(default)]
    blocked: bool,
    phone: Option<String>,
}

async fn add_user(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let request: AddUserRequest = parse(&body)?;
    let spec = UserSpec {
        openid: request.openid,
        unionid: request.unionid,
        blocked: request.blocked,
        phone: request.phone,
    };
    let openid = sim.add_user(&request.appid, spec)?;
    Ok(Json(json!({"openid": openid})))
}

async fn stats(State(sim): State<Simulator>) -> Json<Value> {
    let calls: BTreeMap<&str, u64> = SimEndpoint::ALL
        .into_iter()
        .map(|endpoint| (endpoint.name(), sim.calls(endpoint)))
        .collect();
    let per_app: BTreeMap<String, u64> =
        sim.lock().observed.per_app().clone().into_iter().collect();
    Json(json!({"calls": calls, "per_app": per_app}))
}

#[derive(Deserialize)]
struct RequestsQuery {
    n: Option<usize>,
}

/// The redacted request log, newest last (`?n=`, default 100).
async fn requests(State(sim): State<Simulator>, Query(query): Query<RequestsQuery>) -> Json<Value> {
    Json(json!({"requests": sim.last_requests(query.n.unwrap_or(100))}))
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum FaultName {
    Latency,
    Busy,
    Errcode,
    Garbage,
    HttpStatus,
    Hang,
    Reset,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    endpoint: SimEndpoint,
    kind: FaultName,
    latency_ms: Option<u64>,
    errcode: Option<i64>,
    garbage: Option<Garbage>,
    status: Option<u16>,
    body: Option<bool>,
    times: Option<u32>,
    probability: Option<f64>,
    #[serde(default)]
    after_commit: bool,
}

impl FaultRequest {
    fn fault(&self) -> Result<Fault, TestApiError> {
        let need = |what: &str| TestApiError::bad_request(format!("this kind needs `{what}`"));
        let kind = match self.kind {
            FaultName::Latency => FaultKind::Latency(Duration::from_millis(
                self.latency_ms.ok_or_else(|| need("latency_ms"))?,
            )),
            FaultName::Busy => FaultKind::Busy,
            FaultName::Errcode => FaultKind::Errcode(self.errcode.ok_or_else(|| need("errcode"))?),
            FaultName::Garbage => FaultKind::Garbage(self.garbage.ok_or_else(|| need("garbage"))?),
            FaultName::HttpStatus => FaultKind::HttpStatus {
                status: self.status.ok_or_else(|| need("status"))?,
                body: self.body.unwrap_or(true),
            },
            FaultName::Hang => FaultKind::Hang,
            FaultName::Reset => FaultKind::Reset,
        };
        Ok(Fault {
            kind,
            times: self.times,
            probability: self.probability.unwrap_or(1.0),
            after_commit: self.after_commit,
        })
    }
}

async fn set_fault(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let request: FaultRequest = parse(&body)?;
    sim.set_fault(request.endpoint, request.fault()?);
    Ok(Json(json!({"ok": true})))
}

async fn clear_faults(State(sim): State<Simulator>) -> Json<Value> {
    sim.clear_faults();
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceRequest {
    seconds: u64,
}

async fn advance_clock(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let request: AdvanceRequest = parse(&body)?;
    let clock = sim.clock();
    clock.advance(Duration::from_secs(request.seconds));
    Ok(Json(json!({"now": clock.now_unix()})))
}

async fn reset_counters(State(sim): State<Simulator>) -> Json<Value> {
    sim.reset_counters();
    Json(json!({"ok": true}))
}
