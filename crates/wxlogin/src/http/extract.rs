//! Extractors that turn requests into domain values or into our error shape:
//! JSON bodies (rejections become 400/413/415 with stable codes), bearer
//! tokens, operator keys, the client IP, and [`WxSession`] for embedding.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::HttpState;
use super::error::HttpError;
use crate::config::ApiKey;
use crate::domain::sessions::SessionInfo;
use crate::domain::{Core, Error};

/// `axum::Json` with rejections in the API's error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> HttpError {
    let (status, code) = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        }
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        }
        _ => (StatusCode::BAD_REQUEST, "invalid_request"),
    };
    let message = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "expected Content-Type: application/json".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_owned(),
        // serde's message names the field and the expected type; the body text
        // is the caller's own, so echoing its position is harmless.
        _ => rejection.body_text(),
    };
    HttpError {
        status,
        code,
        message,
    }
}

/// The `Authorization: Bearer <token>` value, or 401 `unauthorized`.
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        bearer(parts)
            .map(|t| Self(t.to_owned()))
            .ok_or(Error::Unauthorized)
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The app a mini-program request says it belongs to (`X-Wx-Appid`), so a token
/// of another app is refused.
pub struct ExpectedApp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ExpectedApp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("x-wx-appid") {
            None => Ok(Self(None)),
            Some(v) => v
                .to_str()
                .map(|s| Self(Some(s.to_owned())))
                .map_err(|_| Error::InvalidRequest("X-Wx-Appid is not ASCII".into())),
        }
    }
}

fn check_key(parts: &Parts, key: Option<&ApiKey>) -> Result<(), Error> {
    let given = bearer(parts).ok_or(Error::Unauthorized)?;
    match key {
        Some(key) if key.matches(given) => Ok(()),
        _ => Err(Error::Forbidden),
    }
}

/// Proof that the caller presented the admin key, and who that is for the
/// audit log (`admin:<key id>`).
pub struct AdminAuth {
    pub actor: String,
}

impl FromRequestParts<Arc<HttpState>> for AdminAuth {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, Self::Rejection> {
        check_key(parts, state.admin_key.as_ref())?;
        let id = state.admin_key.as_ref().map(|k| k.id()).unwrap_or_default();
        Ok(Self {
            actor: format!("admin:{id}"),
        })
    }
}

/// Proof that the caller presented the service key.
pub struct ServiceAuth;

impl FromRequestParts<Arc<HttpState>> for ServiceAuth {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, Self::Rejection> {
        check_key(parts, state.service_key.as_ref()).map(|()| Self)
    }
}

/// The client's IP: the socket peer, or the last `X-Forwarded-For` hop when
/// `trust_forwarded_for` is on (that hop was written by your own proxy).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<Arc<HttpState>> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, Self::Rejection> {
        if state.trust_forwarded_for {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .rev()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| v.rsplit(',').next())
                .and_then(|hop| hop.trim().parse::<IpAddr>().ok());
            if let Some(ip) = forwarded {
                return Ok(Self(ip));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(Self(peer))
    }
}

/// For Rust backends that embed wxlogin: the verified session of the request's
/// bearer token, checked in process. Works in any router whose state gives an
/// `Arc<Core>` through `FromRef`.
///
/// The app is never taken from the request (a client could name any app):
/// with a single configured app every token is that app's; with several apps
/// the extractor refuses (`invalid_request`) and the handler should call
/// `core.verify(token, Some(its_appid))` itself.
///
/// ```ignore
/// async fn me(WxSession(session): WxSession) -> String { session.openid }
/// ```
pub struct WxSession(pub SessionInfo);

impl<S> FromRequestParts<S> for WxSession
where
    Arc<Core>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let core = Arc::<Core>::from_ref(state);
        if core.apps.len() != 1 {
            return Err(Error::InvalidRequest(
                "WxSession needs exactly one configured app; with several, verify with an explicit appid".into(),
            ));
        }
        let token = bearer(parts).ok_or(Error::Unauthorized)?;
        core.verify(token, None).await.map(Self)
    }
}
