//! Errors of calls to WeChat: a typed errcode (with the `rid` WeChat support asks
//! for) kept apart from transport failures, timeouts and malformed bodies.
//!
//! Nothing here ever holds a URL, a secret or a session_key: the request URL of a
//! `jscode2session` call carries the AppSecret, so transport errors are reduced to
//! their kind before they become an [`Error`].

use std::time::Duration;

macro_rules! errcodes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        /// Every errcode WECHAT_API.md lists, plus a fallback for the rest.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrCode {
            $($(#[$doc])* $variant,)*
            /// A code not listed above; the number is kept.
            Other(i64),
        }

        impl ErrCode {
            pub fn from_code(code: i64) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    other => Self::Other(other),
                }
            }

            pub fn code(self) -> i64 {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Other(code) => code,
                }
            }
        }
    };
}

errcodes! {
    /// -1: WeChat busy; the only code worth retrying.
    SystemBusy = -1,
    /// 40001: wrong secret while fetching a token, or a token invalid / superseded.
    InvalidCredential = 40001,
    /// 40002: invalid grant_type.
    InvalidGrantType = 40002,
    /// 40013: unknown appid.
    InvalidAppId = 40013,
    /// 40029: login or phone code unknown, expired or minted for another app.
    InvalidCode = 40029,
    /// 40066: invalid url.
    InvalidUrl = 40066,
    /// 40125: wrong AppSecret.
    InvalidAppSecret = 40125,
    /// 40163: login code already exchanged.
    CodeUsed = 40163,
    /// 40164: caller IP not in the app's whitelist.
    IpNotWhitelisted = 40164,
    /// 40226: high-risk user; login refused.
    UserBlocked = 40226,
    /// 40243: AppSecret frozen by the owner.
    AppSecretFrozen = 40243,
    /// 41001: access_token missing.
    AccessTokenMissing = 41001,
    /// 41002: appid missing.
    AppIdMissing = 41002,
    /// 41004: appsecret missing.
    AppSecretMissing = 41004,
    /// 41008: js_code missing.
    CodeMissing = 41008,
    /// 42001: access_token expired.
    AccessTokenExpired = 42001,
    /// 43002: wrong HTTP method.
    RequirePost = 43002,
    /// 43003: plain HTTP refused.
    RequireHttps = 43003,
    /// 45009: daily quota exhausted.
    DailyQuotaReached = 45009,
    /// 45011: per-minute quota exhausted (100 jscode2session per user per minute).
    MinuteQuotaReached = 45011,
    /// 47001: body is not valid JSON.
    DataFormatError = 47001,
    /// 50004: the account may not use this API.
    ApiNotAllowed = 50004,
    /// 50007: account frozen.
    AccountFrozen = 50007,
    /// 87008: sig_method other than hmac_sha256.
    InvalidSigMethod = 87008,
    /// 87009: signature does not match the user's current session_key.
    InvalidSignature = 87009,
}

impl ErrCode {
    /// Whether a call answering this code should be retried (with backoff).
    pub fn is_retryable(self) -> bool {
        self == Self::SystemBusy
    }

    /// Whether the access_token used by the call was refused (40001/42001): the
    /// caller should force one refresh and retry once.
    pub fn is_token_rejected(self) -> bool {
        matches!(self, Self::InvalidCredential | Self::AccessTokenExpired)
    }
}

impl std::fmt::Display for ErrCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// The WeChat endpoints this crate calls; used in errors, metrics and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Code2Session,
    StableToken,
    Token,
    GetUserPhoneNumber,
    CheckSession,
    ResetUserSessionKey,
    CheckEncryptedMsg,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Self::Code2Session => "sns/jscode2session",
            Self::StableToken => "cgi-bin/stable_token",
            Self::Token => "cgi-bin/token",
            Self::GetUserPhoneNumber => "wxa/business/getuserphonenumber",
            Self::CheckSession => "wxa/checksession",
            Self::ResetUserSessionKey => "wxa/resetusersessionkey",
            Self::CheckEncryptedMsg => "wxa/business/checkencryptedmsg",
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.path())
    }
}

/// An errcode answer from WeChat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{endpoint} answered errcode {code}: {message}")]
pub struct ApiError {
    pub endpoint: Endpoint,
    pub code: ErrCode,
    /// WeChat's `errmsg`, for people and logs; never branch on it.
    pub message: String,
    /// The request id from `errmsg` (`rid: xxxxxxxx-xxxxxxxx-xxxxxxxx`), for support.
    pub rid: Option<String>,
}

/// Everything a call to WeChat can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// WeChat answered with an errcode.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No complete answer before the call's deadline (retries included).
    #[error("{endpoint}: no answer within the deadline of {deadline:?}")]
    Timeout {
        endpoint: Endpoint,
        deadline: Duration,
    },
    /// Connection refused, reset, TLS failure... (described without the URL).
    #[error("{endpoint}: transport error: {detail}")]
    Transport { endpoint: Endpoint, detail: String },
    /// A non-200 HTTP status (e.g. a proxy's 502).
    #[error("{endpoint}: HTTP status {status}")]
    HttpStatus { endpoint: Endpoint, status: u16 },
    /// A 200 whose body is not JSON, or lacks a field the call needs.
    #[error("{endpoint}: malformed response: {detail}")]
    Malformed { endpoint: Endpoint, detail: String },
}

impl Error {
    /// The WeChat errcode, when WeChat answered with one.
    pub fn errcode(&self) -> Option<ErrCode> {
        match self {
            Self::Api(e) => Some(e.code),
            _ => None,
        }
    }

    /// True when WeChat could not be reached or gave no usable answer: a fault of
    /// the upstream, not of the request.
    pub fn is_upstream_failure(&self) -> bool {
        match self {
            Self::Api(e) => e.code == ErrCode::SystemBusy,
            _ => true,
        }
    }
}

/// Extract the `rid` from an errmsg such as `invalid code, rid: 652d44d0-1d0af18b-5b069232`
/// or `invalid code hint: [x] rid: 65f3...`. Tolerant: the token after `rid: `.
pub fn extract_rid(errmsg: &str) -> Option<String> {
    let start = errmsg.rfind("rid: ")? + "rid: ".len();
    let rid: String = errmsg[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    (!rid.is_empty()).then_some(rid)
}
