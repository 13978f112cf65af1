//! The mini program's own session: show it, refresh it, end it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::HttpState;
use super::error::ErrorBody;
use super::extract::{Bearer, ExpectedApp};
use super::login::Tokens;
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
    /// The new token(s); the presented one is revoked.
    #[serde(flatten)]
    pub tokens: Tokens,
    pub session: SessionResponse,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token (`tokens.format = "jwt"`).
    pub refresh_token: String,
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

/// Issue new tokens and revoke the presented one: the bearer token (opaque
/// mode, no body), or `{"refresh_token": …}` (jwt mode, no bearer). A
/// refresh token used twice revokes its whole session.
#[utoipa::path(
    post,
    path = "/v1/session/refresh",
    tag = "mini program",
    security(("bearer" = []), ()),
    request_body(content = Option<RefreshRequest>, description = "jwt mode: the refresh token"),
    responses(
        (status = 200, body = RefreshResponse),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized, invalid_token", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody),
    )
)]
pub async fn refresh(
    State(state): State<Arc<HttpState>>,
    ExpectedApp(app): ExpectedApp,
    bearer: Result<Bearer, Error>,
    body: Bytes,
) -> Result<Json<RefreshResponse>, Error> {
    let refreshed = if body.iter().all(u8::is_ascii_whitespace) {
        let Bearer(token) = bearer?;
        state.core.refresh(&token, app.as_deref()).await?
    } else {
        let request: RefreshRequest = serde_json::from_slice(&body).map_err(|e| {
            Error::InvalidRequest(format!("the body must be {{\"refresh_token\": …}}: {e}"))
        })?;
        state
            .core
            .refresh_with_token(&request.refresh_token, app.as_deref())
            .await?
    };
    Ok(Json(RefreshResponse {
        tokens: Tokens::of(
            &refreshed.token,
            refreshed.access.as_ref(),
            refreshed.session.expires_at,
        ),
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
