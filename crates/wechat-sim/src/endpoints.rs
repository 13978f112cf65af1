//! The WeChat endpoints as pure functions of the state: parameters in,
//! success body or errcode out, checks in the order WECHAT_API.md §8 gives.
//! No HTTP here (that is `http.rs`), so the ordering rules read top to bottom.

use axum::http::Method;
use serde_json::{Map, Value, json};
use wechat::crypto::verify_login_state_signature;

use crate::ids;
use crate::model::SimEndpoint;
use crate::opendata::split_phone;
use crate::state::{App, State, User};
use crate::wire::{Outcome, code};

/// Jscode2session answers 45011 past this many calls per user per minute.
const LOGIN_CALLS_PER_MINUTE: u32 = 100;

/// One received call, decoded.
pub(crate) struct Call<'a> {
    pub method: &'a Method,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    pub now_ms: i64,
}

impl Call<'_> {
    /// The first value of a query parameter; empty counts as missing.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The body as a JSON object, else 47001.
    fn json(&self) -> Result<Map<String, Value>, i64> {
        match serde_json::from_slice(self.body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(code::DATA_FORMAT),
        }
    }
}

/// A non-empty string field of a JSON body.
fn field<'m>(body: &'m Map<String, Value>, name: &str) -> Option<&'m str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// Answer one call to `endpoint`.
pub(crate) fn handle(state: &mut State, endpoint: SimEndpoint, call: &Call<'_>) -> Outcome {
    // WeChat's common codes: 43002 for a POST-only API, 43001 for a GET-only one.
    if endpoint.is_post() && call.method != Method::POST {
        return Err(code::REQUIRE_POST);
    }
    if !endpoint.is_post() && call.method != Method::GET {
        return Err(code::REQUIRE_GET);
    }
    match endpoint {
        SimEndpoint::Code2Session => code2session(state, call),
        SimEndpoint::StableToken => stable_token(state, call),
        SimEndpoint::Token => legacy_token(state, call),
        SimEndpoint::GetUserPhoneNumber => phone_number(state, call),
        SimEndpoint::CheckSession => check_session(state, call).map(|_| ok()),
        SimEndpoint::ResetUserSessionKey => reset_session_key(state, call),
        SimEndpoint::CheckEncryptedMsg => check_encrypted_msg(state, call),
        // Answered with their own framing by `platforms.rs`.
        SimEndpoint::DouyinCode2Session
        | SimEndpoint::AlipayGateway
        | SimEndpoint::BaiduCode2SessionKey
        | SimEndpoint::WecomGetToken
        | SimEndpoint::WecomCode2Session
        | SimEndpoint::DouyinClientToken
        | SimEndpoint::DouyinPhoneNumber => Err(code::INVALID_URL),
    }
}

fn ok() -> Value {
    json!({"errcode": 0, "errmsg": "ok"})
}

/// Unknown appid 40013, wrong secret 40125, IP whitelist 40164.
fn authenticate<'s>(state: &'s State, appid: &str, secret: &str) -> Result<&'s App, i64> {
    let app = state.apps.get(appid).ok_or(code::INVALID_APPID)?;
    if app.spec.secret != secret {
        return Err(code::INVALID_APPSECRET);
    }
    if app.spec.ip_whitelist {
        return Err(code::IP_NOT_WHITELISTED);
    }
    Ok(app)
}

fn code2session(state: &mut State, call: &Call<'_>) -> Outcome {
    let appid = call.param("appid").ok_or(code::APPID_MISSING)?;
    let secret = call.param("secret").ok_or(code::APPSECRET_MISSING)?;
    let js_code = call.param("js_code").ok_or(code::CODE_MISSING)?;
    let bound = authenticate(state, appid, secret)?
        .spec
        .bound_to_open_platform;
    let minted = state
        .login_codes
        .get_mut(js_code)
        .filter(|c| c.appid == appid && c.is_live(call.now_ms))
        .ok_or(code::INVALID_CODE)?;
    let app = state.apps.get_mut(appid).ok_or(code::INVALID_APPID)?;
    let user = app
        .users
        .get_mut(&minted.openid)
        .ok_or(code::INVALID_CODE)?;
    // Every call that resolves to a user counts, refused ones included.
    let calls_this_minute = user.login_quota.hit(call.now_ms);
    if minted.used {
        return Err(code::CODE_USED);
    }
    if user.blocked {
        return Err(code::CODE_BLOCKED);
    }
    if calls_this_minute > LOGIN_CALLS_PER_MINUTE {
        return Err(code::MINUTE_QUOTA);
    }
    minted.used = true;
    let mut body = json!({
        "openid": user.openid,
        "session_key": user.key.expose_secret(),
    });
    if bound {
        body["unionid"] = Value::from(user.unionid.as_str());
    }
    Ok(body)
}

/// grant_type 40002, appid 41002, secret 41004, then `authenticate`.
fn token_credentials<'a>(
    state: &State,
    grant_type: Option<&str>,
    appid: Option<&'a str>,
    secret: Option<&str>,
) -> Result<&'a str, i64> {
    if grant_type != Some("client_credential") {
        return Err(code::INVALID_GRANT_TYPE);
    }
    let appid = appid.ok_or(code::APPID_MISSING)?;
    let secret = secret.ok_or(code::APPSECRET_MISSING)?;
    authenticate(state, appid, secret)?;
    Ok(appid)
}

fn grant_json(grant: crate::tokens::Grant) -> Value {
    json!({"access_token": grant.access_token, "expires_in": grant.expires_in})
}

fn stable_token(state: &mut State, call: &Call<'_>) -> Outcome {
    let body = call.json()?;
    let appid = token_credentials(
        state,
        field(&body, "grant_type"),
        field(&body, "appid"),
        field(&body, "secret"),
    )?;
    let force = body
        .get("force_refresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ttl_ms = state.config.token_ttl_ms();
    let grant = state.tokens.stable(appid, force, ttl_ms, call.now_ms)?;
    Ok(grant_json(grant))
}

fn legacy_token(state: &mut State, call: &Call<'_>) -> Outcome {
    let appid = token_credentials(
        state,
        call.param("grant_type"),
        call.param("appid"),
        call.param("secret"),
    )?;
    let ttl_ms = state.config.token_ttl_ms();
    Ok(grant_json(state.tokens.legacy(appid, ttl_ms, call.now_ms)))
}

/// 41001 missing, 40001 unknown or superseded, 42001 expired; else the token's app.
fn token_app(state: &State, call: &Call<'_>) -> Result<String, i64> {
    let token = call
        .param("access_token")
        .ok_or(code::ACCESS_TOKEN_MISSING)?;
    state.tokens.check(token, call.now_ms).map(str::to_owned)
}

fn phone_number(state: &mut State, call: &Call<'_>) -> Outcome {
    let appid = token_app(state, call)?;
    let body = call.json()?;
    let wanted_openid = field(&body, "openid");
    let minted = field(&body, "code")
        .and_then(|c| state.phone_codes.get_mut(c))
        .filter(|c| {
            !c.used
                && c.appid == appid
                && c.is_live(call.now_ms)
                && wanted_openid.is_none_or(|o| o == c.openid)
        })
        .ok_or(code::INVALID_CODE)?;
    let user = state
        .apps
        .get(&appid)
        .and_then(|app| app.users.get(&minted.openid))
        .ok_or(code::INVALID_CODE)?;
    minted.used = true;
    let parts = split_phone(&user.phone);
    let country_code = match (
        state.config.country_code_as_number,
        parts.country_code.parse::<u64>(),
    ) {
        (true, Ok(number)) => Value::from(number),
        _ => Value::from(parts.country_code),
    };
    let mut body = ok();
    body["phone_info"] = json!({
        "phoneNumber": parts.phone_number,
        "purePhoneNumber": parts.pure_phone_number,
        "countryCode": country_code,
        // When the user consented, i.e. tapped the button that minted the code.
        "watermark": {"timestamp": minted.minted_ms.div_euclid(1000), "appid": appid},
    });
    Ok(body)
}

/// The shared checks of checksession and reset: token, sig_method 87008, openid
/// 40003, signature over the empty body with the user's current key 87009.
fn check_session<'s>(state: &'s mut State, call: &Call<'_>) -> Result<&'s mut User, i64> {
    let appid = token_app(state, call)?;
    if call.param("sig_method") != Some("hmac_sha256") {
        return Err(code::INVALID_SIG_METHOD);
    }
    let user = call
        .param("openid")
        .and_then(|openid| state.apps.get_mut(&appid)?.users.get_mut(openid))
        .ok_or(code::INVALID_OPENID)?;
    let signature = call.param("signature").unwrap_or_default();
    if !verify_login_state_signature(&user.key, b"", signature) {
        return Err(code::INVALID_SIGNATURE);
    }
    Ok(user)
}

fn reset_session_key(state: &mut State, call: &Call<'_>) -> Outcome {
    let limit = state.config.reset_limit_per_minute;
    let user = check_session(state, call)?;
    if user.reset_quota.hit(call.now_ms) > limit {
        return Err(code::MINUTE_QUOTA);
    }
    // The old key dies at once; expiry is not modelled, so "the new key inherits
    // the old expiry" holds trivially.
    user.key = ids::session_key();
    Ok(json!({
        "errcode": 0,
        "errmsg": "ok",
        "openid": user.openid,
        "session_key": user.key.expose_secret(),
    }))
}

/// Whether the simulator issued the open data whose hex SHA-256 is
/// `encrypted_msg_hash`, to this token's app. Unknown data answers
/// `vaild:false` without `create_time` (WeChat documents no other shape).
fn check_encrypted_msg(state: &mut State, call: &Call<'_>) -> Outcome {
    let appid = token_app(state, call)?;
    let body = call.json()?;
    let hash = field(&body, "encrypted_msg_hash").ok_or(code::DATA_FORMAT)?;
    let mut answer = ok();
    match state.issued.created(&appid, hash) {
        Some(created) => {
            answer["vaild"] = Value::Bool(true);
            answer["create_time"] = Value::from(created);
        }
        None => answer["vaild"] = Value::Bool(false),
    }
    Ok(answer)
}
