//! Douyin's open platform as the simulator plays it (PLATFORMS.md §1.3–1.4):
//! `client_token` (data.error_code envelope; a new token leaves the old one
//! valid, as the 5-minute grace does) and the phone number by code,
//! answered RSA-encrypted (PKCS#1 v1.5) with the app's public key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Encrypt, PublicKey};
use serde_json::{Value, json};

use crate::endpoints::Call;
use crate::model::Platform;
use crate::state::State;

fn body(call: &Call<'_>) -> Value {
    serde_json::from_slice(call.body).unwrap_or(Value::Null)
}

fn token_error(code: i64, description: &str) -> String {
    json!({"data": {"access_token": "", "description": description, "error_code": code, "expires_in": 0}, "message": "error"})
        .to_string()
}

/// `POST oauth/client_token/`.
pub(crate) fn client_token(state: &mut State, call: &Call<'_>) -> String {
    let body = body(call);
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if text("grant_type") != "client_credential" {
        return token_error(10002, "grant_type");
    }
    let appid = text("client_key");
    let Ok(app) = state.app(&appid) else {
        return token_error(10003, "client_key");
    };
    if app.spec.platform != Platform::Douyin || app.spec.secret != text("client_secret") {
        return token_error(10013, "client_key or client_secret");
    }
    let ttl_ms = state.config.token_ttl_ms();
    match state.tokens.stable(&appid, false, ttl_ms, call.now_ms) {
        Ok(grant) => json!({
            "data": {"access_token": format!("clt.{}", grant.access_token), "description": "", "error_code": 0, "expires_in": grant.expires_in},
            "message": "success",
        })
        .to_string(),
        Err(_) => token_error(10013, "client_key or client_secret"),
    }
}

fn phone_error(err_no: i64, tips: &str) -> String {
    json!({"err_no": err_no, "err_tips": tips, "log_id": "20261207100000SIMULATED", "data": ""})
        .to_string()
}

/// `POST api/apps/v1/get_phonenumber_info/` with the `access-token` header
/// (the simulator takes it from the query too, where `Call` keeps headers
/// it was given; see `http.rs`).
pub(crate) fn phone_number(state: &mut State, call: &Call<'_>) -> String {
    let Some(token) = call.param("access-token") else {
        return phone_error(28001008, "access-token missing");
    };
    let token = token.strip_prefix("clt.").unwrap_or(token);
    let Ok(appid) = state.tokens.check(token, call.now_ms).map(str::to_owned) else {
        return phone_error(28001008, "access-token expired or invalid");
    };
    let body = body(call);
    let Some(code) = body.get("code").and_then(Value::as_str) else {
        return phone_error(28001007, "code missing");
    };
    let minted = state
        .phone_codes
        .get_mut(code)
        .filter(|c| !c.used && c.appid == appid && c.is_live(call.now_ms));
    let Some(minted) = minted else {
        return phone_error(28005187, "code expired or invalid");
    };
    minted.used = true;
    let (openid, minted_ms) = (minted.openid.clone(), minted.minted_ms);
    let Ok(app) = state.app(&appid) else {
        return phone_error(28001007, "app");
    };
    let Some(key) = app.spec.app_public_key.as_deref().and_then(|k| {
        PublicKey::from_public_key_pem(k)
            .ok()
            .or_else(|| der_key(k))
    }) else {
        return phone_error(28001007, "the app has no public key configured");
    };
    let Ok(user) = state.user(&appid, &openid) else {
        return phone_error(28005187, "user");
    };
    let parts = crate::opendata::split_phone(&user.phone);
    let plain = json!({
        "phoneNumber": parts.phone_number, "purePhoneNumber": parts.pure_phone_number,
        "countryCode": parts.country_code,
        "watermark": {"appid": appid, "timestamp": minted_ms.div_euclid(1000)},
    })
    .to_string();
    match key.encrypt(&mut rand::rng(), Pkcs1v15Encrypt, plain.as_bytes()) {
        Ok(sealed) => json!({"err_no": 0, "err_tips": "success", "log_id": "20261207100000SIMULATED", "data": STANDARD.encode(sealed)}).to_string(),
        Err(_) => phone_error(28001007, "the phone data does not fit one RSA block"),
    }
}

/// A public key given as bare base64 SubjectPublicKeyInfo.
fn der_key(text: &str) -> Option<PublicKey> {
    let body: String = text.split_whitespace().collect();
    let der = STANDARD.decode(body).ok()?;
    PublicKey::from_public_key_der(&der).ok()
}
