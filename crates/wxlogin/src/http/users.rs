//! Operator endpoints for users across apps (admin key): a user with its
//! identities, sessions and proved phone; revoke all of a user's sessions;
//! merge two users; split an identity off; recorded conflicts; the audit log.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::HttpState;
use super::admin::Revoked;
use super::error::ErrorBody;
use super::extract::{AdminAuth, ApiJson};
use super::session::SessionResponse;
use crate::clock::rfc3339;
use crate::domain::Error;
use crate::domain::users::UserView;
use crate::ids::Platform;
use crate::store::{AuditEntry, ConflictRecord};

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityResponse {
    pub platform: Platform,
    pub appid: String,
    pub openid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user_id: String,
    pub created_at: String,
    pub identities: Vec<IdentityResponse>,
    /// Active sessions of every identity.
    pub sessions: Vec<SessionResponse>,
    /// The number the user proved through `/v1/phone`, when
    /// `identity.store_phone` is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_at: Option<String>,
}

impl From<UserView> for UserResponse {
    fn from(v: UserView) -> Self {
        Self {
            user_id: v.user_id,
            created_at: rfc3339(v.created_at),
            identities: v
                .identities
                .into_iter()
                .map(|i| IdentityResponse {
                    platform: i.platform,
                    appid: i.appid,
                    openid: i.openid,
                    unionid: i.unionid,
                    created_at: rfc3339(i.created_at),
                })
                .collect(),
            sessions: v.sessions.into_iter().map(Into::into).collect(),
            phone_number: v.phone_number,
            phone_at: v.phone_at.map(rfc3339),
        }
    }
}

/// A user, with its identities, active sessions and proved phone number.
#[utoipa::path(
    get,
    path = "/v1/admin/users/{user_id}",
    tag = "operator",
    security(("admin_key" = [])),
    params(("user_id" = String, Path)),
    responses(
        (status = 200, body = UserResponse),
        (status = 400, description = "invalid_request: malformed user_id", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub async fn get_user(
    State(state): State<Arc<HttpState>>,
    _: AdminAuth,
    Path(user_id): Path<String>,
) -> Result<Json<UserResponse>, Error> {
    Ok(Json(state.core.user_view(&user_id).await?.into()))
}

/// Revoke every session of every identity of a user.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{user_id}/sessions",
    tag = "operator",
    security(("admin_key" = [])),
    params(("user_id" = String, Path)),
    responses(
        (status = 200, body = Revoked),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub async fn revoke_user(
    State(state): State<Arc<HttpState>>,
    admin: AdminAuth,
    Path(user_id): Path<String>,
) -> Result<Json<Revoked>, Error> {
    let revoked = state.core.revoke_user_by_id(&user_id, &admin.actor).await?;
    Ok(Json(Revoked { revoked }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The user merged into this one: its identities and sessions move
    /// here, then it is deleted (its stored phone number is not kept).
    pub other_user_id: String,
}

/// Merge another user into this one, in one transaction; audited.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{user_id}/merge",
    tag = "operator",
    security(("admin_key" = [])),
    params(("user_id" = String, Path)),
    request_body = MergeRequest,
    responses(
        (status = 200, description = "The merged user", body = UserResponse),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found: either user", body = ErrorBody),
    )
)]
pub async fn merge(
    State(state): State<Arc<HttpState>>,
    admin: AdminAuth,
    Path(user_id): Path<String>,
    ApiJson(request): ApiJson<MergeRequest>,
) -> Result<Json<UserResponse>, Error> {
    let view = state
        .core
        .merge_users(&user_id, &request.other_user_id, &admin.actor)
        .await?;
    Ok(Json(view.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnlinkResponse {
    /// The new user the identity now belongs to.
    pub user_id: String,
    /// The user it was split off.
    pub previous_user_id: String,
}

/// Split an identity (and its sessions) off its user into a new user.
#[utoipa::path(
    post,
    path = "/v1/admin/identities/{appid}/{openid}/unlink",
    tag = "operator",
    security(("admin_key" = [])),
    params(("appid" = String, Path), ("openid" = String, Path)),
    responses(
        (status = 200, body = UnlinkResponse),
        (status = 400, description = "invalid_request, unknown_app", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "only_identity: nothing to split off", body = ErrorBody),
    )
)]
pub async fn unlink(
    State(state): State<Arc<HttpState>>,
    admin: AdminAuth,
    Path((appid, openid)): Path<(String, String)>,
) -> Result<Json<UnlinkResponse>, Error> {
    let (to, from) = state
        .core
        .unlink_identity(&appid, &openid, &admin.actor)
        .await?;
    Ok(Json(UnlinkResponse {
        user_id: to.to_string(),
        previous_user_id: from.to_string(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConflictQuery {
    /// Resolved conflicts too (default: only unresolved ones).
    #[serde(default)]
    pub all: bool,
    /// At most this many (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictResponse {
    pub id: String,
    pub at: String,
    pub platform: Platform,
    pub unionid: String,
    /// The identity whose login met the conflict, and its user.
    pub appid: String,
    pub openid: String,
    pub user_id: String,
    /// The user the unionid belongs to.
    pub other_user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

impl From<ConflictRecord> for ConflictResponse {
    fn from(c: ConflictRecord) -> Self {
        Self {
            id: c.id,
            at: rfc3339(c.at),
            platform: c.platform,
            unionid: c.unionid.to_string(),
            appid: c.appid.to_string(),
            openid: c.openid.to_string(),
            user_id: c.user_id.to_string(),
            other_user_id: c.other_user_id.to_string(),
            resolved_at: c.resolved_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictList {
    pub conflicts: Vec<ConflictResponse>,
}

/// Logins whose unionid belongs to another user than their identity's:
/// kept apart, newest first, until an admin merges them.
#[utoipa::path(
    get,
    path = "/v1/admin/conflicts",
    tag = "operator",
    security(("admin_key" = [])),
    params(ConflictQuery),
    responses(
        (status = 200, body = ConflictList),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    )
)]
pub async fn conflicts(
    State(state): State<Arc<HttpState>>,
    _: AdminAuth,
    Query(query): Query<ConflictQuery>,
) -> Result<Json<ConflictList>, Error> {
    let found = state
        .core
        .conflicts(query.all, query.limit.unwrap_or(100))
        .await?;
    Ok(Json(ConflictList {
        conflicts: found.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Only entries about this user.
    pub user_id: Option<String>,
    /// The page after this entry id (the `next` of the previous page).
    pub before: Option<String>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResponse {
    pub id: String,
    pub at: String,
    /// `login`, or `admin:<key id>`.
    pub actor: String,
    /// `link`, `conflict`, `merge`, `unlink`, `revoke_sessions`, `reset_session_key`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<AuditEntry> for AuditResponse {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor,
            action: e.action,
            user_id: e.user_id.map(|u| u.to_string()),
            other_user_id: e.other_user_id.map(|u| u.to_string()),
            appid: e.appid.map(|a| a.to_string()),
            openid: e.openid.map(|o| o.to_string()),
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditResponse>,
    /// Pass as `before` for the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The audit log, newest first: links, conflicts, merges, unlinks and every
/// admin action.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "operator",
    security(("admin_key" = [])),
    params(AuditParams),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    )
)]
pub async fn audit(
    State(state): State<Arc<HttpState>>,
    _: AdminAuth,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditPage>, Error> {
    let limit = params.limit.unwrap_or(100);
    let entries = state
        .core
        .audit_log(params.user_id.as_deref(), params.before.as_deref(), limit)
        .await?;
    let full = entries.len() >= limit.clamp(1, crate::domain::users::MAX_PAGE) as usize;
    let next = full.then(|| entries.last().map(|e| e.id.clone())).flatten();
    Ok(Json(AuditPage {
        entries: entries.into_iter().map(Into::into).collect(),
        next,
    }))
}
