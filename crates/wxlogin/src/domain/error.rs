//! The service's errors, each with a stable snake_case code: the codes are the
//! API (clients branch on them), messages are for people. No variant carries a
//! secret, a token or a URL.

use wechat::ErrCode;

use crate::ids::Refusal;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidRequest(String),
    #[error(
        "the login code is malformed, unknown, expired or for another app; call wx.login again"
    )]
    InvalidCode { wechat_errcode: Option<i64> },
    #[error("the login code was already used; call wx.login again")]
    CodeUsed { wechat_errcode: Option<i64> },
    #[error("unknown appid")]
    UnknownApp,
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        wechat_errcode: Option<i64>,
    },
    #[error("WeChat refused to log this user in (high-risk user)")]
    UserBlocked { wechat_errcode: Option<i64> },
    #[error("WeChat is unavailable or answered nonsense; retry later")]
    UpstreamUnavailable { wechat_errcode: Option<i64> },
    #[error(
        "WeChat rejected this service's app credentials; the operator must fix the configuration"
    )]
    UpstreamMisconfigured { wechat_errcode: Option<i64> },
    #[error("missing credentials")]
    Unauthorized,
    #[error("the token is invalid, expired or revoked; log in again")]
    InvalidToken,
    #[error("these credentials may not do this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("the identity is its user's only one: there is nothing to unlink it from")]
    OnlyIdentity,
    #[error("apps of {0} do not offer this")]
    NotSupported(crate::ids::Platform),
    #[error("{detail}")]
    InvalidOpenData { code: &'static str, detail: String },
    #[error("the data was encrypted for another app (watermark appid differs)")]
    WatermarkMismatch,
    #[error("raw_data does not match its signature")]
    BadSignature,
    #[error(
        "no current session_key decrypts this data: call wx.login, log in again, then fetch the data again and retry"
    )]
    SessionKeyStale,
    #[error(
        "the phone code is invalid, expired or already used; ask the user to tap the button again"
    )]
    InvalidPhoneCode { wechat_errcode: Option<i64> },
    #[error("the store is unavailable; retry later")]
    StoreUnavailable,
    #[error("internal error")]
    Internal,
}

impl Error {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidCode { .. } => "invalid_code",
            Self::CodeUsed { .. } => "code_used",
            Self::UnknownApp => "unknown_app",
            Self::RateLimited { .. } => "rate_limited",
            Self::UserBlocked { .. } => "user_blocked",
            Self::UpstreamUnavailable { .. } => "upstream_unavailable",
            Self::UpstreamMisconfigured { .. } => "upstream_misconfigured",
            Self::Unauthorized => "unauthorized",
            Self::InvalidToken => "invalid_token",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::OnlyIdentity => "only_identity",
            Self::NotSupported(_) => "not_supported",
            Self::InvalidOpenData { code, .. } => code,
            Self::WatermarkMismatch => "watermark_mismatch",
            Self::BadSignature => "bad_signature",
            Self::SessionKeyStale => "session_key_stale",
            Self::InvalidPhoneCode { .. } => "invalid_phone_code",
            Self::StoreUnavailable => "store_unavailable",
            Self::Internal => "internal",
        }
    }

    /// The same error without a WeChat errcode (another platform's).
    pub fn without_wechat_errcode(self) -> Self {
        match self {
            Self::InvalidCode { .. } => Self::InvalidCode {
                wechat_errcode: None,
            },
            Self::CodeUsed { .. } => Self::CodeUsed {
                wechat_errcode: None,
            },
            Self::UserBlocked { .. } => Self::UserBlocked {
                wechat_errcode: None,
            },
            other => other,
        }
    }

    pub fn wechat_errcode(&self) -> Option<i64> {
        match self {
            Self::InvalidCode { wechat_errcode }
            | Self::CodeUsed { wechat_errcode }
            | Self::RateLimited { wechat_errcode, .. }
            | Self::UserBlocked { wechat_errcode }
            | Self::UpstreamUnavailable { wechat_errcode }
            | Self::UpstreamMisconfigured { wechat_errcode }
            | Self::InvalidPhoneCode { wechat_errcode } => *wechat_errcode,
            _ => None,
        }
    }

    /// Rebuild a definitive login failure recorded on a claim by another request.
    /// The answer for a code whose claim recorded a refusal.
    pub fn from_refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::InvalidCode => Self::InvalidCode {
                wechat_errcode: Some(40029),
            },
            Refusal::CodeUsed => Self::CodeUsed {
                wechat_errcode: Some(40163),
            },
            Refusal::UserBlocked => Self::UserBlocked {
                wechat_errcode: Some(40226),
            },
        }
    }

    /// A failure that will not change on retry, so duplicates of the same
    /// code get it too.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::InvalidCode { .. } => Some(Refusal::InvalidCode),
            Self::CodeUsed { .. } => Some(Refusal::CodeUsed),
            Self::UserBlocked { .. } => Some(Refusal::UserBlocked),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "store unavailable");
                Self::StoreUnavailable
            }
            StoreError::Config(detail) | StoreError::Corrupt(detail) => {
                tracing::error!(%detail, "store error");
                Self::Internal
            }
        }
    }
}

impl From<wechat::Error> for Error {
    /// DESIGN.md's mapping of WeChat outcomes to stable codes.
    fn from(e: wechat::Error) -> Self {
        let Some(code) = e.errcode() else {
            tracing::warn!(error = %e, "WeChat unreachable or malformed answer");
            return Self::UpstreamUnavailable {
                wechat_errcode: None,
            };
        };
        let wechat_errcode = Some(code.code());
        let token_endpoint = matches!(&e, wechat::Error::Api(api) if matches!(api.endpoint, wechat::Endpoint::StableToken | wechat::Endpoint::Token));
        match code {
            // On the token endpoints 40001 means a wrong AppSecret.
            ErrCode::InvalidCredential if token_endpoint => {
                tracing::error!(error = %e, "WeChat rejected the app's secret");
                Self::UpstreamMisconfigured { wechat_errcode }
            }
            ErrCode::DailyQuotaReached => Self::RateLimited {
                retry_after_secs: 3600,
                wechat_errcode,
            },
            // The stored key is no longer the user's current one.
            ErrCode::InvalidSignature => Self::SessionKeyStale,
            ErrCode::InvalidCode => Self::InvalidCode { wechat_errcode },
            ErrCode::CodeUsed => Self::CodeUsed { wechat_errcode },
            ErrCode::MinuteQuotaReached => Self::RateLimited {
                retry_after_secs: 60,
                wechat_errcode,
            },
            ErrCode::UserBlocked => Self::UserBlocked { wechat_errcode },
            ErrCode::InvalidAppId
            | ErrCode::InvalidAppSecret
            | ErrCode::AppIdMissing
            | ErrCode::AppSecretMissing
            | ErrCode::IpNotWhitelisted
            | ErrCode::AppSecretFrozen
            | ErrCode::ApiNotAllowed
            | ErrCode::AccountFrozen => {
                tracing::error!(error = %e, "WeChat rejected the app's configuration");
                Self::UpstreamMisconfigured { wechat_errcode }
            }
            _ => {
                tracing::warn!(error = %e, "WeChat error");
                Self::UpstreamUnavailable { wechat_errcode }
            }
        }
    }
}
