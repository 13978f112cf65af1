//! What the mini program asks about its user through WeChat: open-data
//! decryption, the phone number, and whether the session_key is still valid.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::HttpState;
use super::error::ErrorBody;
use super::extract::{ApiJson, Bearer, ExpectedApp};
use crate::domain::Error;
use crate::domain::open_data::EncryptedData;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecryptRequest {
    /// `encryptedData` as the mini program received it (standard base64).
    /// WeChat's own field names (`encryptedData`, `rawData`) are accepted too,
    /// so the client can forward WeChat's object unchanged.
    #[serde(alias = "encryptedData")]
    pub encrypted_data: String,
    /// `iv` (standard base64 of 16 bytes); not for Alipay, whose
    /// `encrypted_data` is the whole `response` of `my.getPhoneNumber`.
    pub iv: Option<String>,
    /// Profile data: the exact `rawData` string, to verify `signature`.
    #[serde(alias = "rawData")]
    pub raw_data: Option<String>,
    pub signature: Option<String>,
    /// After decrypting, ask WeChat whether it issued this `encrypted_data`
    /// (`checkencryptedmsg`): for legacy encrypted phone data, which its owner
    /// could otherwise alter. Spends the app's quota; limited per user.
    #[serde(default)]
    pub check_with_wechat: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecryptResponse {
    /// The decrypted JSON object, watermark included.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// WeChat's answer, when `check_with_wechat` was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_check: Option<WechatCheck>,
}

/// WeChat vouched for the data (`checkencryptedmsg`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WechatCheck {
    /// Always true here: a false answer is the `open_data_not_authentic` error.
    pub valid: bool,
    /// When WeChat made the data (unix seconds), when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<i64>,
}

/// Decrypt open data (user info, phone number, share info) with the session's
/// session_key; the previous key is tried during its grace period.
#[utoipa::path(
    post,
    path = "/v1/decrypt",
    tag = "mini program",
    security(("bearer" = [])),
    request_body = DecryptRequest,
    responses(
        (status = 200, body = DecryptResponse),
        (status = 400, description = "invalid_base64, invalid_iv, invalid_encrypted_data, invalid_open_data, watermark_mismatch, bad_signature, openid_mismatch, open_data_not_authentic, open_data_refused, not_supported, invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized, invalid_token", body = ErrorBody),
        (status = 409, description = "session_key_stale: call wx.login, log in, fetch the data again", body = ErrorBody),
        (status = 429, description = "rate_limited (check_with_wechat only)", body = ErrorBody),
        (status = 502, description = "upstream_unavailable (check_with_wechat only)", body = ErrorBody),
    )
)]
pub async fn decrypt(
    State(state): State<Arc<HttpState>>,
    ExpectedApp(app): ExpectedApp,
    Bearer(token): Bearer,
    ApiJson(request): ApiJson<DecryptRequest>,
) -> Result<Json<DecryptResponse>, Error> {
    let input = EncryptedData {
        encrypted_data: request.encrypted_data,
        iv: request.iv,
        raw_data: request.raw_data,
        signature: request.signature,
    };
    let decrypted = state.core.decrypt(&token, app.as_deref(), &input).await?;
    let wechat_check = if request.check_with_wechat {
        let check = state
            .core
            .check_open_data(&decrypted, &input.encrypted_data)
            .await?;
        Some(WechatCheck {
            valid: check.valid,
            create_time: check.create_time,
        })
    } else {
        None
    };
    Ok(Json(DecryptResponse {
        data: decrypted.data,
        wechat_check,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneRequest {
    /// The `code` from the getPhoneNumber button (not the login code).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneResponse {
    /// With the country prefix for non-mainland numbers.
    pub phone_number: String,
    pub pure_phone_number: String,
    pub country_code: String,
}

/// The session user's phone number, from a getPhoneNumber code.
#[utoipa::path(
    post,
    path = "/v1/phone",
    tag = "mini program",
    security(("bearer" = [])),
    request_body = PhoneRequest,
    responses(
        (status = 200, body = PhoneResponse),
        (status = 400, description = "invalid_phone_code, watermark_mismatch, not_supported", body = ErrorBody),
        (status = 401, description = "unauthorized, invalid_token", body = ErrorBody),
        (status = 502, description = "upstream_unavailable", body = ErrorBody),
    )
)]
pub async fn phone(
    State(state): State<Arc<HttpState>>,
    ExpectedApp(app): ExpectedApp,
    Bearer(token): Bearer,
    ApiJson(request): ApiJson<PhoneRequest>,
) -> Result<Json<PhoneResponse>, Error> {
    let info = state
        .core
        .phone_number(&token, app.as_deref(), &request.code)
        .await?;
    Ok(Json(PhoneResponse {
        phone_number: info.phone_number,
        pure_phone_number: info.pure_phone_number,
        country_code: info.country_code,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    /// False when WeChat no longer accepts the stored session_key (rotated or
    /// expired): open data will not decrypt until the user logs in again.
    pub session_key_valid: bool,
}

/// Ask WeChat (`checksession`) whether the stored session_key is still valid.
#[utoipa::path(
    post,
    path = "/v1/session/check",
    tag = "mini program",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CheckResponse),
        (status = 401, description = "unauthorized, invalid_token", body = ErrorBody),
        (status = 502, description = "upstream_unavailable", body = ErrorBody),
    )
)]
pub async fn check(
    State(state): State<Arc<HttpState>>,
    ExpectedApp(app): ExpectedApp,
    Bearer(token): Bearer,
) -> Result<Json<CheckResponse>, Error> {
    let valid = state.core.check_session_key(&token, app.as_deref()).await?;
    Ok(Json(CheckResponse {
        session_key_valid: valid,
    }))
}
