//! The HTTP adapter: routes (mirroring DESIGN.md's API table), the OpenAPI
//! document generated from the handlers, and the middleware stack (request
//! ids, tracing without secrets, metrics, body limit).

pub mod admin;
pub mod backend;
pub mod error;
pub mod extract;
pub mod login;
pub mod ops;
pub mod session;
pub mod user_data;
pub mod users;
pub mod wellknown;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tracing::Instrument as _;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::ApiKey;
use crate::domain::Core;
use error::HttpError;
pub use extract::WxSession;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest request body accepted (our bodies are small JSON objects).
pub const BODY_LIMIT: usize = 16 * 1024;
/// Largest total size of request headers accepted (names + values).
pub const HEADER_LIMIT: usize = 16 * 1024;

/// Shared state of the handlers.
pub struct HttpState {
    pub core: Arc<Core>,
    pub limiter: login::LoginLimiter,
    pub admin_key: Option<ApiKey>,
    pub service_key: Option<ApiKey>,
    pub trust_forwarded_for: bool,
    pub metrics: PrometheusHandle,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "wxlogin", description = "Login service for WeChat Mini Programs"),
    modifiers(&SecuritySchemes),
    tags(
        (name = "mini program", description = "Called by the mini program (Bearer session token)"),
        (name = "backend", description = "Called by other backends and reverse proxies"),
        (name = "operator", description = "Admin key"),
        (name = "operations", description = "Health and metrics"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme("service_key", bearer());
        components.add_security_scheme("admin_key", bearer());
    }
}

/// Errors any operation can answer, whatever its own list says: transport
/// checks (413, 415, 431), rate limits and WeChat/store trouble (429, 500, 502,
/// 503). Declared on every operation so clients (and schemathesis) see the
/// whole contract; every 2xx/4xx/5xx also gets a description.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let common = [
            (
                "400",
                "invalid_request (malformed JSON, wrong or missing fields)",
            ),
            ("413", "payload_too_large: body over 16 KiB"),
            (
                "415",
                "unsupported_media_type: body is not application/json",
            ),
            (
                "429",
                "rate_limited (ours, or WeChat's 45011); see Retry-After",
            ),
            ("431", "headers_too_large: request headers over 16 KiB"),
            ("500", "upstream_misconfigured or internal"),
            (
                "502",
                "upstream_unavailable: WeChat busy, unreachable or answering nonsense",
            ),
            ("503", "store_unavailable"),
        ];
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                for (status, description) in common {
                    responses.entry(status.to_owned()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(description)
                                .content(
                                    "application/json",
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                                        .build(),
                                )
                                .build(),
                        )
                    });
                }
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = if status.starts_with('2') {
                            "Success".into()
                        } else {
                            "Error".into()
                        };
                    }
                }
            }
        }
    }
}

/// The API routes and their OpenAPI document, without middleware: this is
/// what an existing axum app nests.
pub fn api(state: Arc<HttpState>) -> (Router, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(login::login))
        .routes(routes!(session::get_session))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(user_data::check))
        .routes(routes!(user_data::decrypt))
        .routes(routes!(user_data::phone))
        .routes(routes!(backend::access_token))
        .routes(routes!(admin::reset_session_key))
        .routes(routes!(backend::introspect))
        .routes(routes!(backend::forward_auth))
        .routes(routes!(admin::list_sessions, admin::revoke_sessions))
        .routes(routes!(users::get_user))
        .routes(routes!(users::revoke_user))
        .routes(routes!(users::merge))
        .routes(routes!(users::unlink))
        .routes(routes!(users::conflicts))
        .routes(routes!(users::audit))
        .routes(routes!(wellknown::jwks))
        .routes(routes!(wellknown::openid_configuration))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .split_for_parts();
    // Paths exist only now (ApiDoc's modifiers ran before the routes were added).
    let mut openapi = openapi;
    utoipa::Modify::modify(&CommonErrors, &mut openapi);
    (router.with_state(state), openapi)
}

/// The whole service: API + `/openapi.json` + `/docs` + middleware.
///
/// Our per-request work (request id, header limit, metrics) is one layer,
/// `observe`: every `from_fn` layer clones and boxes the service below it
/// on each request, a cost a cached verify notices.
pub fn router(state: Arc<HttpState>) -> Router {
    let (api, openapi) = api(state);
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(observe))
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
}

async fn not_found() -> HttpError {
    HttpError {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: "no such endpoint".into(),
    }
}

/// Per request, in one layer:
/// - the request id: a client's `x-request-id` is kept (a proxy's id ties its
///   logs to ours) only if it looks like an id, at most 64 of
///   `[A-Za-z0-9._-]`; otherwise, or if there is none, a UUID. It is set on
///   the request and echoed on the response, so no client puts 16 KiB or
///   log-lookalike text into our log lines;
/// - the header limit: hyper accepts headers of several hundred KiB, nothing
///   we serve needs more than a bearer token, so more than `HEADER_LIMIT` is a
///   431 in our error shape;
/// - the request span: it gives every line logged inside the request its
///   context, but costs ~10% of a cached verify, so it is a debug span of its
///   own target, switched on with `RUST_LOG=info,wxlogin::request=debug`;
/// - the metrics, and one log line for a failure (WARN for a 5xx, DEBUG for a
///   refusal) with the request id the client saw, so a support ticket quoting
///   `x-request-id` finds its line.
///
/// `router()` installs it; a backend that embeds wxlogin can layer it on its
/// own routes (`axum::middleware::from_fn(wxlogin::http::observe)`) so they
/// get the same (a store outage during `WxSession` is logged, say).
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = match request.headers().get(REQUEST_ID) {
        Some(id) if looks_like_an_id(id.as_bytes()) => id.clone(),
        _ => {
            let mut text = uuid::Uuid::encode_buffer();
            let fresh = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
            // A hyphenated UUID is always a valid header value.
            let fresh = HeaderValue::from_str(fresh)
                .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
            request.headers_mut().insert(REQUEST_ID, fresh.clone());
            fresh
        }
    };
    let request_id = id.to_str().unwrap_or_default();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    // Any token is a valid HTTP method: bound the label set.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let response = if header_bytes > HEADER_LIMIT {
        HttpError {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            code: "headers_too_large",
            message: format!("request headers exceed {HEADER_LIMIT} bytes"),
        }
        .into_response()
    } else {
        let span = tracing::debug_span!(
            target: "wxlogin::request",
            "request",
            method,
            // The path only: query strings never reach the logs.
            path = request.uri().path(),
            request_id,
        );
        next.run(request).instrument(span).await
    };
    let status = response.status();
    if let Some(failure) = response.extensions().get::<error::Failure>() {
        if status.is_server_error() {
            tracing::warn!(
                method,
                route,
                status = status.as_u16(),
                code = failure.code,
                wechat_errcode = failure.wechat_errcode,
                request_id,
                "request failed"
            );
        } else {
            tracing::debug!(
                method,
                route,
                status = status.as_u16(),
                code = failure.code,
                request_id,
                "request refused"
            );
        }
    }
    let mut response = enveloped(response);
    crate::telemetry::http_request(route, method, status.as_u16(), started.elapsed());
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The answer to a request that was not answered within
/// `http.request_timeout` (a slow body, a stuck store).
pub fn request_timeout() -> Response {
    HttpError {
        status: StatusCode::REQUEST_TIMEOUT,
        code: "request_timeout",
        message: "the request took too long".into(),
    }
    .into_response()
}

/// A failure that did not come from our handlers (axum's own 405 with an
/// empty body, a path segment that is not UTF-8, …) gets the API's error
/// envelope with a stable code; its other headers (`Allow`, …) are kept.
fn enveloped(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<error::Failure>().is_some()
    {
        return response;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this endpoint does not take that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "body must be application/json")
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("headers_too_large", "request headers too large")
        }
        s if s.is_client_error() => ("invalid_request", "malformed request"),
        _ => ("internal", "internal error"),
    };
    let (parts, _) = response.into_parts();
    let mut fresh = HttpError {
        status,
        code,
        message: message.into(),
    }
    .into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

fn looks_like_an_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
