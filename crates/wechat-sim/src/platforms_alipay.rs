//! Alipay's OpenAPI gateway as the simulator plays it (PLATFORMS.md §2.7):
//! parameters from the query and the form body, the RSA2 signature checked
//! with the app's public key, answers signed as "Alipay" over their exact
//! text (with `/` escaped as `\/`, so a client that re-serializes before
//! verifying fails), errors under `error_response` or the method's key.

use std::sync::LazyLock;

use platforms::alipay;
use ring::signature::RsaKeyPair;
use serde_json::json;

use crate::endpoints::Call;
use crate::platforms::{CodeError, take_code};
use crate::state::State;

/// The simulator's published test keys (keys/README.md).
pub mod test_keys {
    /// Alipay's public key as the simulator signs: what a wxlogin app
    /// pointed at the simulator sets as `alipay_public_key`.
    pub const ALIPAY_PUBLIC_KEY: &str = include_str!("../keys/alipay-public-key.pem");
    /// The demo/test Alipay app's private key (wxlogin signs with it).
    pub const APP_PRIVATE_KEY: &str = include_str!("../keys/app-private-key.txt");
    /// Its public key, registered with the simulator's app.
    pub const APP_PUBLIC_KEY: &str = include_str!("../keys/app-public-key.txt");
    /// The demo/test Alipay app's AES key (phone numbers).
    pub const AES_KEY: &str = "aYA0GP8JEW+D7/UFaskCWA==";
    pub(crate) const ALIPAY_PRIVATE_KEY: &str = include_str!("../keys/alipay-private-key.pem");
}

/// The simulator's "Alipay" signing key.
static ALIPAY_KEY: LazyLock<Option<RsaKeyPair>> = LazyLock::new(|| {
    use base64::Engine as _;
    let body: String = test_keys::ALIPAY_PRIVATE_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    RsaKeyPair::from_der(&der).ok()
});

/// Sign as Alipay does (for answers and phone envelopes).
pub(crate) fn alipay_sign(content: &str) -> String {
    ALIPAY_KEY
        .as_ref()
        .map(|key| alipay::sign_with(key, content))
        .unwrap_or_default()
}

const RESPONSE_KEY: &str = "alipay_system_oauth_token_response";

/// `{"<key>":<object text>,"sign":"…"}` signed over the object's exact text.
fn signed(key: &str, object: &str) -> String {
    format!(r#"{{"{key}":{object},"sign":"{}"}}"#, alipay_sign(object))
}

pub(crate) fn gateway(state: &mut State, call: &Call<'_>) -> String {
    let mut params: Vec<(String, String)> = call.query.to_vec();
    params.extend(
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(call.body).unwrap_or_default(),
    );
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let error = |code: &str, msg: &str, sub_code: &str, sub_msg: &str| {
        json!({"error_response": {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}})
            .to_string()
    };
    let Some(app_id) = param("app_id") else {
        return error(
            "40001",
            "Missing Required Arguments",
            "isv.missing-app-id",
            "缺少AppID参数",
        );
    };
    let Ok(app) = state.app(app_id) else {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-app-id",
            "无效的AppID参数",
        );
    };
    let app_key = app.spec.app_public_key.clone().unwrap_or_default();
    if param("method") != Some("alipay.system.oauth.token") {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-method",
            "不存在的方法名",
        );
    }
    let Some(sign) = param("sign") else {
        return error(
            "40001",
            "Missing Required Arguments",
            "isv.missing-signature",
            "缺少签名参数",
        );
    };
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let content = alipay::canonical(&pairs);
    let verified = alipay::public_key(&app_key)
        .map(|key| alipay::verify_with(&key, &content, sign))
        .unwrap_or(false);
    if !verified {
        // Under the method's own key, as observed; `sub_msg` echoes the
        // string the gateway verified, `&` escaped.
        let object = json!({
            "code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature",
            "sub_msg": format!("验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{}", content.replace('&', "&amp;")),
        })
        .to_string();
        return signed(RESPONSE_KEY, &object);
    }
    if param("grant_type") != Some("authorization_code") {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.grant-type-invalid",
            "grant_type参数不正确",
        );
    }
    let app_id = app_id.to_owned();
    let bound = app.spec.bound_to_open_platform;
    let Some(code) = param("code") else {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.code-invalid",
            "授权码code无效",
        );
    };
    let code = code.to_owned();
    match take_code(state, &code, &app_id, false, call.now_ms) {
        Ok((openid, user)) => {
            let union = if bound {
                format!(r#","union_id":"{}""#, user.unionid)
            } else {
                String::new()
            };
            // Slashes escaped as `\/`, as the gateway sends them: a client
            // that re-serializes before verifying fails.
            let object = format!(
                r#"{{"user_id":"{}","open_id":"{openid}"{union},"access_token":"authusrB{}\/x","expires_in":"3600","refresh_token":"authusrB{}","re_expires_in":"3600","auth_start":"2026-12-07 10:00:00"}}"#,
                user.alipay_user_id,
                crate::ids::login_code(),
                crate::ids::login_code()
            );
            signed(RESPONSE_KEY, &object)
        }
        Err(CodeError::OtherApp) => error(
            "40002",
            "Invalid Arguments",
            "isv.unmatched-app-id",
            "授权码与应用不匹配",
        ),
        Err(CodeError::Unknown) => error(
            "40002",
            "Invalid Arguments",
            "isv.code-invalid",
            "授权码code无效",
        ),
    }
}

/// `my.getPhoneNumber`'s `response` string for a user (PLATFORMS.md §2.4).
pub(crate) fn alipay_phone_envelope(aes_key_b64: &str, phone: &str) -> Option<String> {
    let key = alipay::aes_key(aes_key_b64).ok()?;
    let key: [u8; 16] = key.as_slice().try_into().ok()?;
    let plain = json!({"code": "10000", "msg": "Success", "mobile": phone}).to_string();
    let response = alipay::encrypt_phone(&key, &plain);
    let sign = alipay_sign(&format!("\"{response}\""));
    Some(
        json!({"response": response, "sign": sign, "sign_type": "RSA2", "encrypt_type": "AES", "charset": "UTF-8"})
            .to_string(),
    )
}
