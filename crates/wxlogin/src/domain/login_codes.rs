//! What a mini program sends to log in, and the shapes accepted before
//! anything else runs (junk never costs an upstream call): WeChat's code
//! shape, the looser ones of the platforms that document none, and Douyin's
//! `anonymous_code`.

use super::providers::LoginCode;
use crate::ids::Platform;

/// DESIGN.md's accepted code shape: 1..=128 of `[A-Za-z0-9_-]`. Checked before
/// anything else so junk never costs an upstream call.
pub fn valid_code_shape(code: &str) -> bool {
    (1..=128).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The code shape of a platform: WeChat's (and QQ's and WeCom's) as above;
/// the others document none, and Baidu's may carry `@` (an open-source
/// host app): 1..=256 of `[A-Za-z0-9_@.=+/-]`.
pub fn valid_code_shape_for(platform: Platform, code: &str) -> bool {
    match platform {
        Platform::Wechat | Platform::Qq | Platform::Wecom => valid_code_shape(code),
        _ => {
            (1..=256).contains(&code.len())
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_@.=+/-".contains(&b))
        }
    }
}

/// A login request's codes, owned (the exchange runs in a task of its own).
#[derive(Debug, Clone, Default)]
pub struct LoginCodes {
    pub code: Option<String>,
    /// Douyin's `anonymousCode`.
    pub anonymous_code: Option<String>,
}

impl LoginCodes {
    pub(crate) fn borrowed(&self) -> LoginCode<'_> {
        LoginCode {
            code: self.code.as_deref(),
            anonymous_code: self.anonymous_code.as_deref(),
        }
    }

    /// What single flight and replay key on: the code, else the anonymous
    /// one (marked, so the two never share a claim).
    pub(crate) fn claim_text(&self) -> Option<String> {
        match (&self.code, &self.anonymous_code) {
            (Some(code), _) => Some(code.clone()),
            (None, Some(anonymous)) => Some(format!("anonymous\0{anonymous}")),
            (None, None) => None,
        }
    }
}
