//! The WeChat side of the HTTP surface: every call is counted and logged, meets
//! its endpoint's fault (before or after committing), and otherwise gets the
//! answer `endpoints.rs` computes, framed as WeChat frames it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use serde_json::Value;

use crate::Simulator;
use crate::endpoints::{self, Call};
use crate::faults::{FaultKind, Garbage};
use crate::model::SimEndpoint;
use crate::observe::Seen;
use crate::platforms;
use crate::server::ConnControl;
use crate::state::State as SimState;
use crate::wire::{code, error_body, raw, respond};

/// Bodies larger than this are refused as 47001 (WeChat's are tiny).
const MAX_BODY: usize = 64 * 1024;
/// "Forever" for a hanging call: far beyond any client deadline.
const HANG_FOR: Duration = Duration::from_secs(3600);

/// The six WeChat endpoints (any method: a wrong one is answered 43001/43002).
pub(crate) fn routes() -> Router<Simulator> {
    SimEndpoint::ALL
        .into_iter()
        .fold(Router::new(), |router, endpoint| {
            router.route(
                endpoint.path(),
                any(move |State(sim): State<Simulator>, request: Request| {
                    wechat_call(sim, Some(endpoint), request)
                }),
            )
        })
}

/// Any other path outside `/__sim/`: 40066 `invalid url`.
pub(crate) async fn unknown_path(State(sim): State<Simulator>, request: Request) -> Response {
    wechat_call(sim, None, request).await
}

fn decode_query(uri: &Uri) -> Vec<(String, String)> {
    match Query::<Vec<(String, String)>>::try_from_uri(uri) {
        Ok(Query(pairs)) => pairs,
        Err(e) => {
            // Only a query that is not even form-encoded gets here; WeChat would
            // see no usable parameter either, and answers the missing-one code.
            tracing::debug!(error = %e, "undecodable query");
            Vec::new()
        }
    }
}

/// The app a call is about, for `calls_for_app`: its `appid` (query or JSON
/// body), else the owner of its access token.
fn app_of(state: &SimState, query: &[(String, String)], body: &[u8]) -> Option<String> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    param("appid")
        .or_else(|| {
            // Not an error here: a body that is not JSON simply names no app
            // (the endpoint itself answers 47001 for it).
            let body: Value = serde_json::from_slice(body).ok()?;
            body.get("appid")?.as_str().map(str::to_owned)
        })
        .or_else(|| {
            state
                .tokens
                .owner(&param("access_token")?)
                .map(str::to_owned)
        })
}

async fn wechat_call(sim: Simulator, endpoint: Option<SimEndpoint>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let conn = parts
        .extensions
        .get::<ConnectInfo<ConnControl>>()
        .map(|info| info.0.clone());
    // An unreadable or oversized body is answered like a malformed one.
    let (body, body_ok) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => (bytes, true),
        Err(_) => (Bytes::new(), false),
    };
    let mut query = decode_query(&parts.uri);
    // Douyin's open platform carries its token in an `access-token` header;
    // the endpoints read parameters from one list.
    if let Some(token) = parts
        .headers
        .get("access-token")
        .and_then(|v| v.to_str().ok())
    {
        query.push(("access-token".to_owned(), token.to_owned()));
    }
    let (strike, json_content_type) = {
        let mut state = sim.lock();
        let appid = app_of(&state, &query, &body);
        state.observed.record(&Seen {
            endpoint,
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: &query,
            body: &body,
            appid: appid.as_deref(),
        });
        let strike = endpoint.and_then(|e| state.faults.draw(e));
        (strike, state.config.json_content_type)
    };
    let now_unix = sim.clock().now_unix();
    let Some(endpoint) = endpoint else {
        return respond(&error_body(code::INVALID_URL, now_unix), json_content_type);
    };
    let fault = |strike: &Option<crate::faults::Strike>, after_commit: bool| {
        strike
            .as_ref()
            .filter(|s| s.after_commit == after_commit)
            .map(|s| s.kind.clone())
    };
    if let Some(kind) = fault(&strike, false) {
        let platform_answer = match (&kind, endpoint.is_platform()) {
            (FaultKind::Busy, true) => Some(platforms::fault_answer(endpoint, -1)),
            (FaultKind::Errcode(code), true) => Some(platforms::fault_answer(endpoint, *code)),
            _ => None,
        };
        if let Some(text) = platform_answer {
            return raw(StatusCode::OK, "application/json; charset=utf-8", text);
        }
        if let Some(response) = inject(&kind, conn.as_ref(), now_unix, json_content_type).await {
            return response;
        }
    }
    let now_ms = sim.clock().now_millis();
    let call = Call {
        method: &parts.method,
        query: &query,
        body: &body,
        now_ms,
    };
    let response = if endpoint.is_platform() {
        let text = platforms::handle(&mut sim.lock(), endpoint, &call);
        raw(StatusCode::OK, "application/json; charset=utf-8", text)
    } else {
        let outcome = if body_ok {
            endpoints::handle(&mut sim.lock(), endpoint, &call)
        } else {
            Err(code::DATA_FORMAT)
        };
        let answer = outcome.unwrap_or_else(|errcode| error_body(errcode, now_ms.div_euclid(1000)));
        respond(&answer, json_content_type)
    };
    if let Some(kind) = fault(&strike, true)
        && let Some(faulted) = inject(&kind, conn.as_ref(), now_unix, json_content_type).await
    {
        return faulted;
    }
    response
}

/// Apply a fault. `None` means "now answer normally" (latency already slept).
async fn inject(
    kind: &FaultKind,
    conn: Option<&ConnControl>,
    now_unix: i64,
    json_content_type: bool,
) -> Option<Response> {
    let response = match kind {
        FaultKind::Latency(delay) => {
            tokio::time::sleep(*delay).await;
            return None;
        }
        FaultKind::Busy => respond(&error_body(code::SYSTEM_BUSY, now_unix), json_content_type),
        FaultKind::Errcode(errcode) => respond(&error_body(*errcode, now_unix), json_content_type),
        FaultKind::Garbage(garbage) => garbage_response(*garbage),
        FaultKind::HttpStatus { status, body } => status_response(*status, *body),
        FaultKind::Hang => {
            match conn {
                Some(conn) => {
                    tokio::select! {
                        () = tokio::time::sleep(HANG_FOR) => {}
                        () = conn.stopping() => {}
                    }
                }
                None => tokio::time::sleep(HANG_FOR).await,
            }
            reset(conn)
        }
        FaultKind::Reset => reset(conn),
    };
    Some(response)
}

fn garbage_response(garbage: Garbage) -> Response {
    let (content_type, body) = match garbage {
        Garbage::NotJson => ("text/plain", "upstream error"),
        Garbage::TruncatedJson => ("text/plain", r#"{"openid":"o"#),
        Garbage::Html => ("text/html", "<html><body>502 Bad Gateway</body></html>"),
        Garbage::Empty => ("text/plain", ""),
    };
    raw(StatusCode::OK, content_type, body.to_owned())
}

/// A proxy's error page, as nginx in front of WeChat would send it.
fn status_response(status: u16, with_body: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = if with_body {
        let title = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error")
        );
        format!(
            "<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center><hr><center>nginx</center></body></html>"
        )
    } else {
        String::new()
    };
    raw(status, "text/html", body)
}

/// Drop the connection without an answer. Served by `spawn`/`serve`, the socket
/// itself is killed (TCP RST); served some other way, the response body fails
/// at once, which makes hyper abort the connection mid-response.
fn reset(conn: Option<&ConnControl>) -> Response {
    match conn {
        Some(conn) => {
            conn.kill();
            Response::new(Body::empty())
        }
        None => Response::new(Body::new(FailingBody)),
    }
}

/// A response body whose first frame is an error.
struct FailingBody;

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset by fault injection",
        ))))
    }
}
