//! How a domain [`Error`] becomes an HTTP response: a fitting status and the
//! body `{"error":{"code","message","wechat_errcode"?}}`. The response carries
//! a [`Failure`] extension so the request middleware logs it once, with the
//! request id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Error;

/// The error envelope of every failed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (see the README's table).
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
    /// The WeChat errcode behind this error, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_errcode: Option<i64>,
}

pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::InvalidRequest(_)
        | Error::InvalidCode { .. }
        | Error::UnknownApp
        | Error::InvalidOpenData { .. }
        | Error::WatermarkMismatch
        | Error::BadSignature
        | Error::InvalidPhoneCode { .. }
        | Error::NotSupported(_) => StatusCode::BAD_REQUEST,
        Error::CodeUsed { .. } | Error::SessionKeyStale | Error::OnlyIdentity => {
            StatusCode::CONFLICT
        }
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::UserBlocked { .. } | Error::Forbidden => StatusCode::FORBIDDEN,
        Error::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
        Error::UpstreamMisconfigured { .. } | Error::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Error::Unauthorized | Error::InvalidToken => StatusCode::UNAUTHORIZED,
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// What went wrong, attached to every error response for the request
/// middleware (`http::observe`), which logs it with the request's context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure {
    pub(crate) code: &'static str,
    pub(crate) wechat_errcode: Option<i64>,
}

/// A response error with an explicit status, for transport-level problems the
/// domain does not know (body too large, wrong content type).
pub struct HttpError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The error envelope with `status`, marked with its [`Failure`] for `observe`:
/// the one place both error types become a response.
fn error_response(
    status: StatusCode,
    code: &'static str,
    message: String,
    wechat_errcode: Option<i64>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
            wechat_errcode,
        },
    };
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(Failure {
        code,
        wechat_errcode,
    });
    response
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message, None)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut response = error_response(
            status_of(&self),
            self.code(),
            self.to_string(),
            self.wechat_errcode(),
        );
        let headers = response.headers_mut();
        match &self {
            Error::RateLimited {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Error::Unauthorized | Error::InvalidToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Error::StoreUnavailable | Error::UpstreamUnavailable { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1u32));
            }
            _ => {}
        }
        response
    }
}
