//! Open data as the mini program receives it: the TV1 profile and TV2 phone
//! shapes (WECHAT_API.md §7), encrypted under the user's current key with a
//! fresh iv, plus `rawData` and its SHA-1 signature for the profile.

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use wechat::crypto::{encrypt_open_data, raw_data_signature};

use crate::ids;
use crate::model::{AppSpec, OpenDataBlob, OpenDataKind, Platform, SimError};
use crate::state::User;

/// The profile fields of WeChat's official sample (TV1); every simulated user
/// shares them, only the ids differ.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    nick_name: &'static str,
    gender: u8,
    language: &'static str,
    city: &'static str,
    province: &'static str,
    country: &'static str,
    avatar_url: &'static str,
}

const PROFILE: RawProfile = RawProfile {
    nick_name: "Band",
    gender: 1,
    language: "zh_CN",
    city: "Guangzhou",
    province: "Guangdong",
    country: "CN",
    avatar_url: "http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0",
};

#[derive(Serialize)]
struct Watermark<'a> {
    timestamp: i64,
    appid: &'a str,
}

/// Field order is TV1's: struct fields serialise in declaration order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile<'a> {
    open_id: &'a str,
    nick_name: &'static str,
    gender: u8,
    language: &'static str,
    city: &'static str,
    province: &'static str,
    country: &'static str,
    avatar_url: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    union_id: Option<&'a str>,
    watermark: Watermark<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Phone<'a> {
    phone_number: &'a str,
    pure_phone_number: &'a str,
    country_code: &'a str,
    watermark: Watermark<'a>,
}

/// A phone number split as WeChat reports it.
pub(crate) struct PhoneParts<'a> {
    /// With the `+<code>` prefix for non-mainland numbers.
    pub phone_number: &'a str,
    pub pure_phone_number: &'a str,
    pub country_code: &'a str,
}

/// `13580006666` is mainland (86); `+852 61234567` (or `+852-61234567`) carries
/// its country code.
pub(crate) fn split_phone(phone: &str) -> PhoneParts<'_> {
    if let Some(rest) = phone.strip_prefix('+') {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (country, pure) = rest.split_at(digits);
        let pure = pure.trim_start_matches([' ', '-']);
        if !country.is_empty() && !pure.is_empty() {
            return PhoneParts {
                phone_number: phone,
                pure_phone_number: pure,
                country_code: country,
            };
        }
    }
    PhoneParts {
        phone_number: phone,
        pure_phone_number: phone,
        country_code: "86",
    }
}

fn to_json(value: &impl Serialize) -> Result<String, SimError> {
    serde_json::to_string(value).map_err(|e| SimError::Internal(e.to_string()))
}

/// Open data as `app`'s platform delivers it: WeChat's scheme for WeChat,
/// QQ, Douyin and WeCom; Baidu's AES-192 layout with the App Key trailer;
/// Alipay's signed, AES-encrypted phone envelope (as `encrypted_data`).
pub(crate) fn seal_for(
    app: &AppSpec,
    user: &User,
    kind: OpenDataKind,
    now_unix: i64,
) -> Result<OpenDataBlob, SimError> {
    match app.platform {
        Platform::Baidu => {
            let app_key = app.app_key.as_deref().unwrap_or_default();
            let plain = match kind {
                OpenDataKind::Profile => to_json(&serde_json::json!({
                    "openid": user.openid, "nickname": PROFILE.nick_name,
                    "headimgurl": PROFILE.avatar_url, "sex": PROFILE.gender,
                }))?,
                OpenDataKind::Phone => to_json(&serde_json::json!({"mobile": user.phone}))?,
            };
            let iv = STANDARD.encode(ids::iv());
            let encrypted =
                platforms::baidu::encrypt(&user.key24, &iv, plain.as_bytes(), app_key, ids::iv())
                    .map_err(|e| SimError::Internal(e.to_string()))?;
            Ok(OpenDataBlob {
                encrypted_data: encrypted,
                iv,
                raw_data: None,
                signature: None,
            })
        }
        Platform::Alipay => match kind {
            OpenDataKind::Phone => {
                let aes = app.alipay_aes_key.as_deref().ok_or(SimError::Unsupported(
                    "the Alipay app has no alipay_aes_key",
                ))?;
                let envelope = crate::platforms_alipay::alipay_phone_envelope(aes, &user.phone)
                    .ok_or_else(|| SimError::Internal("bad alipay_aes_key".into()))?;
                Ok(OpenDataBlob {
                    encrypted_data: envelope,
                    iv: String::new(),
                    raw_data: None,
                    signature: None,
                })
            }
            OpenDataKind::Profile => Err(SimError::Unsupported(
                "Alipay has no session_key open data; only the phone envelope",
            )),
        },
        // WeCom documents no field names for its user info
        // (`wx.qy.getEnterpriseUserInfo`): the simulator names no openId.
        Platform::Wecom if kind == OpenDataKind::Profile => {
            let plain = to_json(&serde_json::json!({
                "userid": user.openid, "name": PROFILE.nick_name,
                "watermark": {"timestamp": now_unix, "appid": app.appid},
            }))?;
            let iv = ids::iv();
            Ok(OpenDataBlob {
                encrypted_data: encrypt_open_data(&user.key, &iv, plain.as_bytes()),
                iv: STANDARD.encode(iv),
                raw_data: None,
                signature: None,
            })
        }
        _ => seal(&app.appid, app.bound_to_open_platform, user, kind, now_unix),
    }
}

/// Build and encrypt open data for `user` of `appid` at `now_unix`.
pub(crate) fn seal(
    appid: &str,
    bound: bool,
    user: &User,
    kind: OpenDataKind,
    now_unix: i64,
) -> Result<OpenDataBlob, SimError> {
    let watermark = Watermark {
        timestamp: now_unix,
        appid,
    };
    let (plain, raw_data) = match kind {
        OpenDataKind::Profile => {
            let plain = to_json(&Profile {
                open_id: &user.openid,
                nick_name: PROFILE.nick_name,
                gender: PROFILE.gender,
                language: PROFILE.language,
                city: PROFILE.city,
                province: PROFILE.province,
                country: PROFILE.country,
                avatar_url: PROFILE.avatar_url,
                union_id: bound.then_some(user.unionid.as_str()),
                watermark,
            })?;
            (plain, Some(to_json(&PROFILE)?))
        }
        OpenDataKind::Phone => {
            let parts = split_phone(&user.phone);
            let plain = to_json(&Phone {
                phone_number: parts.phone_number,
                pure_phone_number: parts.pure_phone_number,
                country_code: parts.country_code,
                watermark,
            })?;
            (plain, None)
        }
    };
    let iv = ids::iv();
    Ok(OpenDataBlob {
        encrypted_data: encrypt_open_data(&user.key, &iv, plain.as_bytes()),
        iv: STANDARD.encode(iv),
        signature: raw_data
            .as_deref()
            .map(|raw| raw_data_signature(raw, &user.key)),
        raw_data,
    })
}

/// Remembers the `encryptedData` the simulator issued, for
/// `checkencryptedmsg`, keyed by hex SHA-256 of the base64 text (what the
/// official page asks for; see `wechat::Client::check_encrypted_msg`).
/// WeChat's reported 3-day horizon is not modelled (uncertain); the oldest
/// entries are forgotten past `ISSUED_KEPT`, so long benchmarks stay bounded.
#[derive(Debug, Default)]
pub(crate) struct Issued {
    by_hash: HashMap<String, (String, i64)>,
    order: VecDeque<String>,
}

const ISSUED_KEPT: usize = 100_000;

impl Issued {
    pub fn record(&mut self, appid: &str, encrypted_data: &str, now_unix: i64) {
        let hash = hex::encode(Sha256::digest(encrypted_data.as_bytes()));
        if self.order.len() >= ISSUED_KEPT
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_hash.remove(&oldest);
        }
        self.order.push_back(hash.clone());
        self.by_hash.insert(hash, (appid.to_owned(), now_unix));
    }

    /// When data with this hash was issued to `appid`, if it was.
    pub fn created(&self, appid: &str, hash: &str) -> Option<i64> {
        self.by_hash
            .get(&hash.to_ascii_lowercase())
            .filter(|(app, _)| app == appid)
            .map(|(_, at)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_split_into_country_code_and_pure_number() {
        let mainland = split_phone("13580006666");
        assert_eq!(
            (mainland.country_code, mainland.pure_phone_number),
            ("86", "13580006666")
        );
        let hk = split_phone("+852 61234567");
        assert_eq!(
            (hk.country_code, hk.pure_phone_number, hk.phone_number),
            ("852", "61234567", "+852 61234567")
        );
    }

    #[test]
    fn raw_data_is_compact_and_in_tv1_order() {
        let raw = to_json(&PROFILE).unwrap();
        assert!(
            raw.starts_with(
                r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou""#
            ),
            "{raw}"
        );
    }
}
