//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`: what an
//! off-the-shelf JWT verifier (an API gateway's plugin, a language's JWT
//! library) needs to check our access tokens offline. Only in jwt mode; 404
//! otherwise.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::HttpState;
use super::error::ErrorBody;
use crate::domain::Error;

/// Verifiers may cache the key set this long; a new key is published an
/// hour before it signs (see `domain/jwt.rs`), so five minutes is safe.
const CACHE: &str = "public, max-age=300";

/// The public keys that sign access tokens: the current one, the next, and
/// any previous one whose tokens may still be valid.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "backend",
    responses(
        (status = 200, description = "RFC 7517 JWK Set", content_type = "application/json"),
        (status = 404, description = "not_found: tokens.format is not jwt", body = ErrorBody),
    )
)]
pub async fn jwks(State(state): State<Arc<HttpState>>) -> Result<Response, Error> {
    let set = state.core.jwks().await?.ok_or(Error::NotFound)?;
    Ok(([(header::CACHE_CONTROL, CACHE)], Json(set)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    pub jwks_uri: String,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
}

/// OpenID Connect discovery, for verifiers configured with an issuer URL.
/// wxlogin is not an OpenID provider: this document exists so verifiers can
/// find `jwks_uri`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "backend",
    responses(
        (status = 200, body = OpenIdConfiguration),
        (status = 404, description = "not_found: tokens.format is not jwt", body = ErrorBody),
    )
)]
pub async fn openid_configuration(State(state): State<Arc<HttpState>>) -> Result<Response, Error> {
    let (issuer, alg) = state.core.token_issuer().ok_or(Error::NotFound)?;
    let doc = OpenIdConfiguration {
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        issuer: issuer.to_owned(),
        id_token_signing_alg_values_supported: vec![alg],
        token_endpoint_auth_methods_supported: vec!["none"],
        subject_types_supported: vec!["public"],
        response_types_supported: vec!["token"],
    };
    Ok(([(header::CACHE_CONTROL, CACHE)], Json(doc)).into_response())
}
