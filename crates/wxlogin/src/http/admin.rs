//! Operator endpoints (admin key) for one identity (appid, openid): list and
//! revoke its sessions, reset its session_key. Users across identities are
//! in `users.rs`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::HttpState;
use super::error::ErrorBody;
use super::extract::AdminAuth;
use super::session::SessionResponse;
use crate::domain::Error;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// How many active sessions were revoked.
    pub revoked: u64,
}

/// Active sessions of a user.
#[utoipa::path(
    get,
    path = "/v1/admin/users/{appid}/{openid}/sessions",
    tag = "operator",
    security(("admin_key" = [])),
    params(("appid" = String, Path), ("openid" = String, Path)),
    responses(
        (status = 200, body = SessionList),
        (status = 400, description = "unknown_app", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    )
)]
pub async fn list_sessions(
    State(state): State<Arc<HttpState>>,
    _: AdminAuth,
    Path((appid, openid)): Path<(String, String)>,
) -> Result<Json<SessionList>, Error> {
    let sessions = state.core.list_user_sessions(&appid, &openid).await?;
    Ok(Json(SessionList {
        sessions: sessions.into_iter().map(Into::into).collect(),
    }))
}

/// Revoke every session of a user (every device).
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{appid}/{openid}/sessions",
    tag = "operator",
    security(("admin_key" = [])),
    params(("appid" = String, Path), ("openid" = String, Path)),
    responses(
        (status = 200, body = Revoked),
        (status = 400, description = "unknown_app", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    )
)]
pub async fn revoke_sessions(
    State(state): State<Arc<HttpState>>,
    admin: AdminAuth,
    Path((appid, openid)): Path<(String, String)>,
) -> Result<Json<Revoked>, Error> {
    let revoked = state
        .core
        .revoke_user_sessions(&appid, &openid, &admin.actor)
        .await?;
    Ok(Json(Revoked { revoked }))
}

/// Make WeChat issue a new session_key for the user (`resetusersessionkey`);
/// the old key stays usable for the grace period. The key is never returned.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{appid}/{openid}/session-key/reset",
    tag = "operator",
    security(("admin_key" = [])),
    params(("appid" = String, Path), ("openid" = String, Path)),
    responses(
        (status = 204, description = "Reset"),
        (status = 400, description = "unknown_app", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found: no such user", body = ErrorBody),
        (status = 502, description = "upstream_unavailable", body = ErrorBody),
    )
)]
pub async fn reset_session_key(
    State(state): State<Arc<HttpState>>,
    admin: AdminAuth,
    Path((appid, openid)): Path<(String, String)>,
) -> Result<axum::http::StatusCode, Error> {
    state
        .core
        .reset_session_key(&appid, &openid, &admin.actor)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
