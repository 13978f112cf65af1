//! Liveness, readiness and Prometheus metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::HttpState;
use crate::domain::Error;

/// Liveness: the process answers, and nothing happened that only a restart
/// mends (a failed `fsync` of the SQLite WAL).
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive"), (status = 503, description = "store_unavailable: restart the service")))]
pub async fn healthz(State(state): State<Arc<HttpState>>) -> Result<Json<Value>, Error> {
    state.core.store.alive()?;
    Ok(Json(json!({"status": "ok"})))
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "ready"), (status = 503, description = "store_unavailable")))]
pub async fn readyz(State(state): State<Arc<HttpState>>) -> Result<Json<Value>, Error> {
    state.core.store.ping().await?;
    Ok(Json(json!({"status": "ready"})))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<HttpState>>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
