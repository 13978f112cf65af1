//! WeChat's answer shapes: errcodes with their observed wording, the `rid`
//! embedded in every `errmsg`, and the HTTP framing (status 200, Content-Type).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngExt as _;
use serde_json::{Value, json};

/// The errcodes the simulator produces itself (faults may send any number).
pub(crate) mod code {
    pub const SYSTEM_BUSY: i64 = -1;
    pub const INVALID_CREDENTIAL: i64 = 40001;
    pub const INVALID_GRANT_TYPE: i64 = 40002;
    pub const INVALID_OPENID: i64 = 40003;
    pub const INVALID_APPID: i64 = 40013;
    pub const INVALID_CODE: i64 = 40029;
    pub const INVALID_URL: i64 = 40066;
    pub const INVALID_APPSECRET: i64 = 40125;
    pub const CODE_USED: i64 = 40163;
    pub const IP_NOT_WHITELISTED: i64 = 40164;
    pub const CODE_BLOCKED: i64 = 40226;
    pub const ACCESS_TOKEN_MISSING: i64 = 41001;
    pub const APPID_MISSING: i64 = 41002;
    pub const APPSECRET_MISSING: i64 = 41004;
    pub const CODE_MISSING: i64 = 41008;
    pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
    pub const REQUIRE_GET: i64 = 43001;
    pub const REQUIRE_POST: i64 = 43002;
    pub const DAILY_QUOTA: i64 = 45009;
    pub const MINUTE_QUOTA: i64 = 45011;
    pub const DATA_FORMAT: i64 = 47001;
    pub const INVALID_SIG_METHOD: i64 = 87008;
    pub const INVALID_SIGNATURE: i64 = 87009;
}

/// The application outcome of one call: a success body or an errcode.
pub(crate) type Outcome = Result<Value, i64>;

/// WeChat's wording for `errcode` (WECHAT_API.md §2–5), without the rid.
pub(crate) fn errmsg_text(errcode: i64) -> &'static str {
    match errcode {
        code::SYSTEM_BUSY => "system error",
        code::INVALID_CREDENTIAL => "invalid credential, access_token is invalid or not latest",
        code::INVALID_GRANT_TYPE => "invalid grant_type",
        code::INVALID_OPENID => "invalid openid",
        code::INVALID_APPID => "invalid appid",
        code::INVALID_CODE => "invalid code",
        code::INVALID_URL => "invalid url",
        code::INVALID_APPSECRET => "invalid appsecret",
        code::CODE_USED => "code been used",
        code::IP_NOT_WHITELISTED => "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist",
        code::CODE_BLOCKED => "code blocked",
        // The next three are our wording: only their numbers are documented.
        40243 => "appsecret frozen",
        code::ACCESS_TOKEN_MISSING => "access_token missing",
        code::APPID_MISSING => "appid missing",
        code::APPSECRET_MISSING => "appsecret missing",
        code::CODE_MISSING => "missing code",
        code::ACCESS_TOKEN_EXPIRED => "access_token expired",
        code::REQUIRE_GET => "require GET method",
        code::REQUIRE_POST => "require POST method",
        43003 => "require https",
        code::DAILY_QUOTA => "reach max api daily quota limit",
        code::MINUTE_QUOTA => "api minute-quota reach limit, must slower, retry next minute",
        code::DATA_FORMAT => "data format error",
        50004 => "api forbidden",
        50007 => "account frozen",
        code::INVALID_SIG_METHOD => "invalid sig_method",
        code::INVALID_SIGNATURE => "invalid signature",
        _ => "simulated error",
    }
}

/// `rid`: the sim-clock Unix seconds in 8 hex digits and two random 8-hex groups,
/// e.g. `652d44d0-1d0af18b-5b069232`.
pub(crate) fn rid(now_unix: i64) -> String {
    let mut rng = rand::rng();
    // WeChat's first group is the low 32 bits of the time; truncation is intended.
    let seconds = now_unix as u32;
    format!(
        "{seconds:08x}-{:08x}-{:08x}",
        rng.random::<u32>(),
        rng.random::<u32>()
    )
}

/// `{"errcode":N,"errmsg":"<text>, rid: <r>"}`.
pub(crate) fn error_body(errcode: i64, now_unix: i64) -> Value {
    json!({
        "errcode": errcode,
        "errmsg": format!("{}, rid: {}", errmsg_text(errcode), rid(now_unix)),
    })
}

/// Frame a JSON body the way WeChat does: HTTP 200, `text/plain` unless the test
/// switched to `application/json` (the header is not reliable in production).
pub(crate) fn respond(body: &Value, json_content_type: bool) -> Response {
    let content_type = if json_content_type {
        "application/json; encoding=utf-8"
    } else {
        "text/plain"
    };
    raw(StatusCode::OK, content_type, body.to_string())
}

/// A response with exactly this status, Content-Type and body.
pub(crate) fn raw(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_is_three_groups_of_eight_hex_starting_with_the_time() {
        let r = rid(0x66c6_9111);
        assert_eq!(r.len(), 26);
        assert!(r.starts_with("66c69111-"));
        assert!(
            r.split('-')
                .all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }

    #[test]
    fn errmsg_carries_the_rid_after_a_comma() {
        let body = error_body(code::INVALID_CODE, 1);
        let msg = body["errmsg"].as_str().unwrap_or_default();
        assert!(msg.starts_with("invalid code, rid: 00000001-"), "{msg}");
    }
}
