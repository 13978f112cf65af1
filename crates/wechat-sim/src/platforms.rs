//! The login exchanges of the other platforms, as PLATFORMS.md's "Simulator
//! must mimic" sections describe them: each its own path, request encoding,
//! answer envelope, error codes and crypto. QQ shares WeChat's path and
//! semantics (`endpoints.rs`). Answers are JSON text, because Alipay's must
//! be signed over the exact bytes sent.

use serde_json::{Value, json};

use crate::endpoints::Call;
use crate::model::{Platform, SimEndpoint};
use crate::state::{OneTimeCode, State, User};

/// Answer one call to a platform endpoint (not WeChat's).
pub(crate) fn handle(state: &mut State, endpoint: SimEndpoint, call: &Call<'_>) -> String {
    match endpoint {
        SimEndpoint::DouyinCode2Session => douyin(state, call).unwrap_or_else(douyin_error),
        SimEndpoint::BaiduCode2SessionKey => baidu(state, call),
        SimEndpoint::AlipayGateway => crate::platforms_alipay::gateway(state, call),
        SimEndpoint::WecomGetToken => wecom_gettoken(state, call).unwrap_or_else(wecom_error),
        SimEndpoint::WecomCode2Session => wecom_session(state, call).unwrap_or_else(wecom_error),
        SimEndpoint::DouyinClientToken => crate::platforms_douyin::client_token(state, call),
        SimEndpoint::DouyinPhoneNumber => crate::platforms_douyin::phone_number(state, call),
        _ => String::new(),
    }
}

/// A fault's "busy" or error code in the platform's own envelope.
pub(crate) fn fault_answer(endpoint: SimEndpoint, code: i64) -> String {
    match endpoint {
        SimEndpoint::DouyinCode2Session => douyin_error(code),
        SimEndpoint::AlipayGateway => {
            let sub = if code == -1 {
                "isp.unknow-error"
            } else {
                "isp.simulated"
            };
            json!({"error_response": {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": sub, "sub_msg": "系统繁忙"}})
                .to_string()
        }
        SimEndpoint::BaiduCode2SessionKey => {
            json!({"errno": code, "error": "server_error", "error_description": "simulated"})
                .to_string()
        }
        _ => wecom_error(code),
    }
}

/// Take a live, unused code minted for `appid` (`anonymous` for Douyin's
/// anonymous codes), marking it used; `None` for anything else.
pub(crate) fn take_code<'s>(
    state: &'s mut State,
    code: &str,
    appid: &str,
    anonymous: bool,
    now_ms: i64,
) -> Result<(String, &'s User), CodeError> {
    let minted: &mut OneTimeCode = state.login_codes.get_mut(code).ok_or(CodeError::Unknown)?;
    if minted.appid != appid {
        return Err(CodeError::OtherApp);
    }
    if minted.used || !minted.is_live(now_ms) || minted.anonymous != anonymous {
        return Err(CodeError::Unknown);
    }
    minted.used = true;
    let openid = minted.openid.clone();
    let user = state.user(appid, &openid).map_err(|_| CodeError::Unknown)?;
    Ok((openid, user))
}

pub(crate) enum CodeError {
    Unknown,
    OtherApp,
}

fn field<'b>(body: &'b Value, name: &str) -> Option<&'b str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

// --- Douyin (PLATFORMS.md §1.7) -------------------------------------------

fn douyin_error(err_no: i64) -> String {
    let tips = match err_no {
        -1 => "system error",
        40014 => "bad params",
        40015 => "bad appid",
        40017 => "bad secret",
        40018 => "bad code",
        40019 => "bad anonymous code",
        _ => "simulated error",
    };
    json!({
        "err_no": err_no,
        "err_tips": tips,
        "log_id": log_id(),
        "data": {"session_key": "", "openid": "", "anonymous_openid": "", "unionid": ""},
    })
    .to_string()
}

fn log_id() -> String {
    use rand::RngExt as _;
    let n: u64 = rand::rng().random();
    format!("202612071000{n:016X}")
}

fn douyin(state: &mut State, call: &Call<'_>) -> Result<String, i64> {
    let body: Value = serde_json::from_slice(call.body).map_err(|_| 40014)?;
    let appid = field(&body, "appid").ok_or(40014)?.to_owned();
    let app = state.app(&appid).map_err(|_| 40015)?;
    if app.spec.platform != Platform::Douyin {
        return Err(40015);
    }
    if field(&body, "secret") != Some(app.spec.secret.as_str()) {
        return Err(40017);
    }
    let bound = app.spec.bound_to_open_platform;
    let (code, anonymous) = (field(&body, "code"), field(&body, "anonymous_code"));
    if code.is_none() && anonymous.is_none() {
        return Err(40014);
    }
    let mut data = json!({"session_key": "", "openid": "", "anonymous_openid": "", "unionid": ""});
    if let Some(code) = code {
        let (openid, user) =
            take_code(state, code, &appid, false, call.now_ms).map_err(|_| 40018)?;
        data["openid"] = openid.into();
        data["session_key"] = user.key.expose_secret().into();
        if bound {
            data["unionid"] = user.unionid.clone().into();
        }
        if anonymous.is_some() {
            data["anonymous_openid"] = user.anonymous_openid.clone().into();
        }
    } else if let Some(anonymous) = anonymous {
        let (_, user) =
            take_code(state, anonymous, &appid, true, call.now_ms).map_err(|_| 40019)?;
        data["anonymous_openid"] = user.anonymous_openid.clone().into();
    }
    Ok(json!({"err_no": 0, "err_tips": "success", "log_id": log_id(), "data": data}).to_string())
}

// --- Baidu (PLATFORMS.md §4.7) --------------------------------------------

fn baidu_error(error: &str, description: &str) -> String {
    json!({"errno": 10010100, "error": error, "error_description": description}).to_string()
}

fn baidu(state: &mut State, call: &Call<'_>) -> String {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(call.body).unwrap_or_default();
    let param = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(client_id) = param("client_id") else {
        return baidu_error(
            "invalid_request",
            "Key: 'Code2SessionKeyParam.ClientID' Error:Field validation for 'ClientID' failed on the 'required' tag",
        );
    };
    let app = state.apps.values().find(|a| {
        a.spec.platform == Platform::Baidu && a.spec.app_key.as_deref() == Some(client_id)
    });
    let Some(app) = app else {
        return baidu_error("invalid_client", "unknown client_id");
    };
    if param("sk") != Some(app.spec.secret.as_str()) {
        return baidu_error("invalid_client", "invalid sk");
    }
    let appid = app.spec.appid.clone();
    let Some(code) = param("code") else {
        return baidu_error("invalid_request", "code is required");
    };
    match take_code(state, code, &appid, false, call.now_ms) {
        Ok((openid, user)) => json!({"openid": openid, "session_key": user.key24}).to_string(),
        Err(_) => baidu_error("invalid_grant", "invalid code"),
    }
}

// --- WeCom (PLATFORMS.md §5.7) --------------------------------------------

fn wecom_error(errcode: i64) -> String {
    let text = match errcode {
        -1 => "system busy",
        40001 => "invalid secret",
        40013 => "invalid corpid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        42001 => "access_token expired",
        45009 => "api freq out of limit",
        48002 => "api forbidden",
        _ => "simulated error",
    };
    json!({
        "errcode": errcode,
        "errmsg": format!("{text}, hint: [1618404220_194_81d4{:04x}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}", errcode.unsigned_abs() % 0xffff),
    })
    .to_string()
}

fn wecom_gettoken(state: &mut State, call: &Call<'_>) -> Result<String, i64> {
    let corpid = call.param("corpid").ok_or(40013)?;
    let app = state
        .apps
        .values()
        .find(|a| a.spec.platform == Platform::Wecom && a.spec.corpid.as_deref() == Some(corpid))
        .ok_or(40013)?;
    if call.param("corpsecret") != Some(app.spec.secret.as_str()) {
        return Err(40001);
    }
    let appid = app.spec.appid.clone();
    let ttl_ms = state.config.token_ttl_ms();
    let grant = state.tokens.stable(&appid, false, ttl_ms, call.now_ms)?;
    Ok(json!({"errcode": 0, "errmsg": "ok", "access_token": grant.access_token, "expires_in": grant.expires_in}).to_string())
}

fn wecom_session(state: &mut State, call: &Call<'_>) -> Result<String, i64> {
    let token = call.param("access_token").ok_or(40014)?;
    let appid = state
        .tokens
        .check(token, call.now_ms)
        .map_err(|e| if e == 42001 { 42001 } else { 40014 })?
        .to_owned();
    let corpid = state
        .app(&appid)
        .ok()
        .and_then(|a| a.spec.corpid.clone())
        .ok_or(40014)?;
    let code = call.param("js_code").ok_or(40029)?.to_owned();
    match take_code(state, &code, &appid, false, call.now_ms) {
        Ok((userid, user)) => Ok(json!({
            "corpid": corpid, "userid": userid, "session_key": user.key.expose_secret(),
            "errcode": 0, "errmsg": "ok",
        })
        .to_string()),
        // A code of a mini program the token's app is not associated with.
        Err(CodeError::OtherApp) => Err(48002),
        Err(CodeError::Unknown) => Err(40029),
    }
}
