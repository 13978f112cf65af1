//! Errors of the platforms' APIs: the platform's own code kept as text (they
//! are numbers on some platforms, strings on Alipay), classified into the few
//! kinds a login service acts on. Nothing here holds a URL, a secret, a code
//! or a key; Alipay's `sub_msg`, which can echo the signed request, is
//! never kept.

/// What a caller does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// "Busy": retried within the deadline, then reported as unavailable.
    Busy,
    /// The login code is unknown, expired, used or for another app.
    InvalidCode,
    /// The platform throttles this app or user.
    RateLimited,
    /// This service's credentials or keys are wrong: the operator must act.
    Misconfigured,
    /// The access token the call carried was refused (expired, superseded).
    TokenRejected,
    /// Anything else, including transport failures and nonsense answers.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{platform} {endpoint} answered {code}: {message}")]
    Api {
        platform: &'static str,
        endpoint: &'static str,
        /// The platform's own code (`err_no`, `errno`/`error`, `sub_code`, `errcode`).
        code: String,
        message: String,
        kind: Kind,
    },
    #[error("{platform} {endpoint}: {detail}")]
    Transport {
        platform: &'static str,
        endpoint: &'static str,
        detail: String,
    },
    #[error("{platform} {endpoint}: no answer within {deadline:?}")]
    Timeout {
        platform: &'static str,
        endpoint: &'static str,
        deadline: std::time::Duration,
    },
    #[error("{platform} {endpoint}: HTTP {status}")]
    HttpStatus {
        platform: &'static str,
        endpoint: &'static str,
        status: u16,
    },
    #[error("{platform} {endpoint}: malformed answer: {detail}")]
    Malformed {
        platform: &'static str,
        endpoint: &'static str,
        detail: String,
    },
    /// An answer whose signature does not verify (Alipay): not to be trusted.
    #[error("{platform} {endpoint}: the answer's signature does not verify")]
    BadSignature {
        platform: &'static str,
        endpoint: &'static str,
    },
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Api { kind, .. } => *kind,
            _ => Kind::Unavailable,
        }
    }

    /// Which platform answered (or failed to).
    pub fn platform(&self) -> &'static str {
        match self {
            Self::Api { platform, .. }
            | Self::Transport { platform, .. }
            | Self::Timeout { platform, .. }
            | Self::HttpStatus { platform, .. }
            | Self::Malformed { platform, .. }
            | Self::BadSignature { platform, .. } => platform,
        }
    }

    /// The platform's own code, for logs and metrics.
    pub fn platform_code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}
