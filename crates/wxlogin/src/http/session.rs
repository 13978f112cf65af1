//! The mini program's own session: show it, refresh it, end it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::HttpState;
use super::error::ErrorBody;
use super::extract::{Bearer, ExpectedApp};
use crate::clock::rfc3339;
use crate::domain::Error;
use crate::domain::sessions::SessionInfo;
use crate::ids::Platform;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub session_id: String,
    /// The user (one across their identities).
    pub user_id: String,
    pub platform: Platform,
    pub appid: String,
    pub openid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub created_at: String,
    /// Absolute expiry (RFC 3339).
    pub expires_at: String,
    /// Idle expiry (RFC 3339); moves forward as the token is used.
    pub idle_expires_at: String,
}

impl From<SessionInfo> for SessionResponse {
    fn from(s: SessionInfo) -> Self {
        Self {
            session_id: s.session_id,
            user_id: s.user_id,
            platform: s.platform,
            appid: s.appid,
            openid: s.openid,
            unionid: s.unionid,
            created_at: rfc3339(s.created_at),
            expires_at: rfc3339(s.expires_at),
            idle_expires_at: rfc3339(s.idle_expires_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshResponse {
    /// The new token; the old one is revoked.
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: String,
    pub session: SessionResponse,
}

/// The session behind the bearer token.
#[utoipa::path(
    get,
    path = "/v1/session",
    tag = "mini program",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SessionResponse),
        (status = 401, description = "unauthorized, invalid_token", body = ErrorBody),
    )
)]
pub async fn get_session(
    State(state): State<Arc<HttpState>>,
    ExpectedApp(app): ExpectedApp,
    Bearer(token): Bearer,
) -> Result<Json<SessionResponse>, Error> {
    let session = state.core.verify(&token, app.as_deref()).await?;
    Ok(Json(session.into()))
}

/// Issue a new token and revoke the presented one.
#[utoipa::path(
    post,
    path = "/v1/session/refresh",
    tag = "mini program",
    security(("bearer" = [])),
    responses(
        (status = 200, body = RefreshResponse),
        (status = 401, description = "unauthorized, invalid_token", body = ErrorBody),
    )
)]
pub async fn refresh(
    State(state): State<Arc<HttpState>>,
    ExpectedApp(app): ExpectedApp,
    Bearer(token): Bearer,
) -> Result<Json<RefreshResponse>, Error> {
    let refreshed = state.core.refresh(&token, app.as_deref()).await?;
    Ok(Json(RefreshResponse {
        token: refreshed.token.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_at: rfc3339(refreshed.session.expires_at),
        session: refreshed.session.into(),
    }))
}

/// Revoke the presented token.
#[utoipa::path(
    post,
    path = "/v1/logout",
    tag = "mini program",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "unauthorized, invalid_token", body = ErrorBody),
    )
)]
pub async fn logout(
    State(state): State<Arc<HttpState>>,
    ExpectedApp(app): ExpectedApp,
    Bearer(token): Bearer,
) -> Result<StatusCode, Error> {
    state.core.logout(&token, app.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
