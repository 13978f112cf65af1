//! The simulator's public vocabulary: how tests describe apps and users, name
//! endpoints, receive open data, and read back what the simulator saw.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The platforms the simulator plays (PLATFORMS.md); each app is of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    #[default]
    Wechat,
    Douyin,
    Alipay,
    Qq,
    Baidu,
    Wecom,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wechat => "wechat",
            Self::Douyin => "douyin",
            Self::Alipay => "alipay",
            Self::Qq => "qq",
            Self::Baidu => "baidu",
            Self::Wecom => "wecom",
        }
    }
}

/// A mini program registered with the simulator.
#[derive(Clone, Default)]
pub struct AppSpec {
    pub appid: String,
    /// The AppSecret (Baidu: `sk`; WeCom: the associated app's corp secret;
    /// unused by Alipay, which signs).
    pub secret: String,
    /// Bound to an Open Platform account (or the platform's equivalent):
    /// only then is `unionid` returned.
    pub bound_to_open_platform: bool,
    /// The owner enabled the IP whitelist and the caller is not on it: every call
    /// carrying the secret answers 40164.
    pub ip_whitelist: bool,
    pub platform: Platform,
    /// Baidu: the App Key (`client_id`).
    pub app_key: Option<String>,
    /// WeCom: the corp the mini program is associated with.
    pub corpid: Option<String>,
    /// The app's RSA public key (PEM or base64): Alipay verifies requests
    /// with it; Douyin encrypts phone numbers with it.
    pub app_public_key: Option<String>,
    /// Alipay: the AES key of encrypted answers (base64, 16 bytes).
    pub alipay_aes_key: Option<String>,
}

/// The secret prints as `[redacted]`.
impl fmt::Debug for AppSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSpec")
            .field("appid", &self.appid)
            .field("secret", &"[redacted]")
            .field("bound_to_open_platform", &self.bound_to_open_platform)
            .field("ip_whitelist", &self.ip_whitelist)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// A user of one app. Every `None` is filled with a realistic random value.
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    /// 28 chars starting with `o` when absent.
    pub openid: Option<String>,
    /// Random when absent; only ever returned for apps bound to Open Platform.
    pub unionid: Option<String>,
    pub blocked: bool,
    /// A mainland number (`13580006666`) or `+<country code> <number>`; a random
    /// mainland number when absent, so the phone flow always works in demos.
    pub phone: Option<String>,
}

/// When minting a login code (playing `wx.login`) gives the user a new session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Rotate on every mint unless the last rotation is younger than `min_period`.
    /// Harsher than WeChat on purpose, so the previous-key logic is exercised.
    OnMint { min_period: Duration },
    /// Keep the key until a reset or `set_session_key`.
    Never,
}

impl Default for Rotation {
    fn default() -> Self {
        Self::OnMint {
            min_period: Duration::ZERO,
        }
    }
}

/// The WeChat endpoints the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimEndpoint {
    #[serde(
        rename = "code2session",
        alias = "code2_session",
        alias = "jscode2session"
    )]
    Code2Session,
    StableToken,
    Token,
    GetUserPhoneNumber,
    CheckSession,
    ResetUserSessionKey,
    #[serde(rename = "checkencryptedmsg", alias = "check_encrypted_msg")]
    CheckEncryptedMsg,
    /// Douyin's `api/apps/v2/jscode2session`.
    DouyinCode2Session,
    /// Alipay's OpenAPI gateway (`alipay.system.oauth.token`).
    AlipayGateway,
    /// Baidu's `oauth/jscode2sessionkey`.
    BaiduCode2SessionKey,
    /// WeCom's `cgi-bin/gettoken`.
    WecomGetToken,
    /// WeCom's `cgi-bin/miniprogram/jscode2session`.
    WecomCode2Session,
    /// Douyin's `oauth/client_token/` (open.douyin.com).
    DouyinClientToken,
    /// Douyin's `api/apps/v1/get_phonenumber_info/` (open.douyin.com).
    DouyinPhoneNumber,
}

impl SimEndpoint {
    pub const ALL: [SimEndpoint; 14] = [
        Self::Code2Session,
        Self::StableToken,
        Self::Token,
        Self::GetUserPhoneNumber,
        Self::CheckSession,
        Self::ResetUserSessionKey,
        Self::CheckEncryptedMsg,
        Self::DouyinCode2Session,
        Self::AlipayGateway,
        Self::BaiduCode2SessionKey,
        Self::WecomGetToken,
        Self::WecomCode2Session,
        Self::DouyinClientToken,
        Self::DouyinPhoneNumber,
    ];

    /// The URL path WeChat serves it at.
    pub fn path(self) -> &'static str {
        match self {
            Self::Code2Session => "/sns/jscode2session",
            Self::StableToken => "/cgi-bin/stable_token",
            Self::Token => "/cgi-bin/token",
            Self::GetUserPhoneNumber => "/wxa/business/getuserphonenumber",
            Self::CheckSession => "/wxa/checksession",
            Self::ResetUserSessionKey => "/wxa/resetusersessionkey",
            Self::CheckEncryptedMsg => "/wxa/business/checkencryptedmsg",
            Self::DouyinCode2Session => "/api/apps/v2/jscode2session",
            Self::AlipayGateway => "/gateway.do",
            Self::BaiduCode2SessionKey => "/oauth/jscode2sessionkey",
            Self::WecomGetToken => "/cgi-bin/gettoken",
            Self::WecomCode2Session => "/cgi-bin/miniprogram/jscode2session",
            Self::DouyinClientToken => "/oauth/client_token/",
            Self::DouyinPhoneNumber => "/api/apps/v1/get_phonenumber_info/",
        }
    }

    /// The name used in JSON (`/__sim/stats`, `/__sim/faults`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Code2Session => "code2session",
            Self::StableToken => "stable_token",
            Self::Token => "token",
            Self::GetUserPhoneNumber => "get_user_phone_number",
            Self::CheckSession => "check_session",
            Self::ResetUserSessionKey => "reset_user_session_key",
            Self::CheckEncryptedMsg => "checkencryptedmsg",
            Self::DouyinCode2Session => "douyin_code2session",
            Self::AlipayGateway => "alipay_gateway",
            Self::BaiduCode2SessionKey => "baidu_code2sessionkey",
            Self::WecomGetToken => "wecom_gettoken",
            Self::WecomCode2Session => "wecom_code2session",
            Self::DouyinClientToken => "douyin_client_token",
            Self::DouyinPhoneNumber => "douyin_phone_number",
        }
    }

    /// Another platform's endpoint (its own framing, `platforms.rs`).
    pub(crate) fn is_platform(self) -> bool {
        matches!(
            self,
            Self::DouyinCode2Session
                | Self::AlipayGateway
                | Self::BaiduCode2SessionKey
                | Self::WecomGetToken
                | Self::WecomCode2Session
                | Self::DouyinClientToken
                | Self::DouyinPhoneNumber
        )
    }

    /// Whether WeChat only accepts a JSON POST here (the others are GET).
    pub(crate) fn is_post(self) -> bool {
        matches!(
            self,
            Self::StableToken | Self::GetUserPhoneNumber | Self::CheckEncryptedMsg
        )
    }
}

impl fmt::Display for SimEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which open data the mini program asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenDataKind {
    /// `wx.getUserInfo`: the TV1 shape, with `rawData` and `signature`.
    Profile,
    /// The legacy encrypted phone number: the TV2 shape.
    Phone,
}

/// What the mini program receives and forwards to its backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenDataBlob {
    pub encrypted_data: String,
    pub iv: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Why a helper method refused (the HTTP surface answers WeChat errcodes instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    UnknownApp,
    UnknownUser,
    /// `add_user` with an openid the app already has.
    UserExists,
    /// Not standard base64 of exactly 16 bytes.
    InvalidSessionKey,
    /// The app's platform has no such thing.
    Unsupported(&'static str),
    /// A bug in the simulator (e.g. a value that would not serialise).
    Internal(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownApp => "unknown appid",
            Self::UnknownUser => "unknown openid for this app",
            Self::UserExists => "the app already has a user with this openid",
            Self::InvalidSessionKey => "session_key must be standard base64 of 16 bytes",
            Self::Unsupported(what) => what,
            Self::Internal(detail) => return write!(f, "simulator bug: {detail}"),
        })
    }
}

impl std::error::Error for SimError {}

/// One request as the simulator logged it, with every secret value replaced by
/// `[redacted]` (see [`crate::Simulator::seen_query`] for the raw query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    /// `None` for a path the simulator does not serve (answered 40066).
    pub endpoint: Option<SimEndpoint>,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<String>,
}
