//! What other backends and reverse proxies call: token introspection (service
//! key) and forward auth for nginx `auth_request` / Traefik / Envoy.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::HttpState;
use super::error::ErrorBody;
use super::extract::{ApiJson, Bearer, ServiceAuth};
use crate::domain::Error;
use crate::ids::Platform;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectRequest {
    /// The session token to check.
    pub token: String,
    /// Require the token to belong to this app.
    pub appid: Option<String>,
}

/// RFC 7662 style answer; only `active` is present when the token is not.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IntrospectResponse {
    pub active: bool,
    /// The user (one across their identities); the JWT `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Issued at (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expires at (Unix seconds): the sooner of absolute and idle expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// Check a token on behalf of another backend.
#[utoipa::path(
    post,
    path = "/v1/introspect",
    tag = "backend",
    security(("service_key" = [])),
    request_body = IntrospectRequest,
    responses(
        (status = 200, body = IntrospectResponse),
        (status = 400, description = "invalid_request: several apps are configured and no appid was given", body = ErrorBody),
        (status = 401, description = "unauthorized: no service key", body = ErrorBody),
        (status = 403, description = "forbidden: wrong service key", body = ErrorBody),
    )
)]
pub async fn introspect(
    State(state): State<Arc<HttpState>>,
    _: ServiceAuth,
    ApiJson(request): ApiJson<IntrospectRequest>,
) -> Result<Json<IntrospectResponse>, Error> {
    // Fail closed like `/v1/auth`: with several apps, a token of any app
    // would otherwise be "active" for a backend that serves one of them.
    require_appid(&state, request.appid.as_deref())?;
    match state
        .core
        .verify(&request.token, request.appid.as_deref())
        .await
    {
        Ok(s) => Ok(Json(IntrospectResponse {
            active: true,
            exp: Some(s.expires_at.min(s.idle_expires_at)),
            iat: Some(s.created_at),
            user_id: Some(s.user_id),
            platform: Some(s.platform),
            appid: Some(s.appid),
            openid: Some(s.openid),
            unionid: s.unionid,
            session_id: Some(s.session_id),
        })),
        Err(Error::InvalidToken) => Ok(Json(IntrospectResponse::default())),
        Err(e) => Err(e),
    }
}

/// With several apps a token check must say which app it is for: fail
/// closed rather than accept any app's token.
fn require_appid(state: &HttpState, appid: Option<&str>) -> Result<(), Error> {
    if appid.is_none() && state.core.apps.len() > 1 {
        return Err(Error::InvalidRequest(
            "several apps are configured: pass the appid this check is for".into(),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuthQuery {
    /// Require the token to belong to this app.
    pub appid: Option<String>,
}

/// Forward auth: 200 with `x-wx-user-id`, `x-wx-platform`, `x-wx-openid`,
/// `x-wx-unionid`, `x-wx-appid`, `x-wx-session-id` headers, or 401.
#[utoipa::path(
    get,
    path = "/v1/auth",
    tag = "backend",
    security(("bearer" = [])),
    params(AuthQuery),
    responses(
        (status = 200, description = "Valid; identity in x-wx-* headers"),
        (status = 400, description = "invalid_request: several apps are configured and no appid was given", body = ErrorBody),
        (status = 401, description = "unauthorized, invalid_token", body = ErrorBody),
    )
)]
pub async fn forward_auth(
    State(state): State<Arc<HttpState>>,
    Query(query): Query<AuthQuery>,
    Bearer(token): Bearer,
) -> Result<(StatusCode, HeaderMap), Error> {
    require_appid(&state, query.appid.as_deref())?;
    let s = state.core.verify(&token, query.appid.as_deref()).await?;
    // Constant names: `insert(&str, ..)` would parse each name per request.
    const APPID: HeaderName = HeaderName::from_static("x-wx-appid");
    const OPENID: HeaderName = HeaderName::from_static("x-wx-openid");
    const SESSION_ID: HeaderName = HeaderName::from_static("x-wx-session-id");
    const UNIONID: HeaderName = HeaderName::from_static("x-wx-unionid");
    const USER_ID: HeaderName = HeaderName::from_static("x-wx-user-id");
    const PLATFORM: HeaderName = HeaderName::from_static("x-wx-platform");
    let mut headers = HeaderMap::with_capacity(6);
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put(APPID, &s.appid);
    put(OPENID, &s.openid);
    put(SESSION_ID, &s.session_id);
    put(USER_ID, &s.user_id);
    put(PLATFORM, s.platform.as_str());
    if let Some(unionid) = &s.unionid {
        put(UNIONID, unionid);
    }
    Ok((StatusCode::OK, headers))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AccessTokenQuery {
    /// The app whose token is wanted (optional with a single app).
    pub appid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTokenResponse {
    pub access_token: String,
    /// Seconds left (at least 300 while WeChat's handover works as documented).
    pub expires_in: i64,
    pub appid: String,
}

/// The app's current WeChat access_token, managed centrally (stable_token,
/// refreshed ahead of expiry) so no other backend calls `/cgi-bin/token`.
#[utoipa::path(
    get,
    path = "/v1/access-token",
    tag = "backend",
    security(("service_key" = [])),
    params(AccessTokenQuery),
    responses(
        (status = 200, body = AccessTokenResponse),
        (status = 400, description = "unknown_app, invalid_request, not_supported", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 502, description = "upstream_unavailable", body = ErrorBody),
    )
)]
pub async fn access_token(
    State(state): State<Arc<HttpState>>,
    _: ServiceAuth,
    Query(query): Query<AccessTokenQuery>,
) -> Result<Json<AccessTokenResponse>, Error> {
    let app = state.core.apps.resolve(query.appid.as_deref())?;
    let appid = app.appid.as_str().to_owned();
    let managed = state.core.access_token(&appid).await?;
    Ok(Json(AccessTokenResponse {
        access_token: managed.token.expose_secret().to_owned(),
        expires_in: managed.expires_at - state.core.clock.now(),
        appid,
    }))
}
