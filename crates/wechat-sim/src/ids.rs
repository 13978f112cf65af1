//! Fresh random identifiers in the shapes WeChat uses (WECHAT_API.md §1):
//! openids, login and phone codes, session keys, access tokens.

use rand::RngExt as _;
use rand::distr::Alphanumeric;
use wechat::SessionKey;

/// The 64 characters WeChat's openids and tokens are drawn from.
const TOKEN_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

fn token_chars(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(TOKEN_CHARS[rng.random_range(0..TOKEN_CHARS.len())]))
        .collect()
}

/// An openid or unionid: 28 chars of `[A-Za-z0-9_-]` starting with `o`.
pub(crate) fn openid() -> String {
    format!("o{}", token_chars(27))
}

/// A user id in the shape of `platform`'s samples (PLATFORMS.md): Douyin's
/// contain dots, Alipay's open_id is long alphanumeric, Baidu's 26
/// characters, WeCom's userid a name; WeChat's and QQ's as above.
pub(crate) fn openid_for(platform: crate::model::Platform) -> String {
    use crate::model::Platform;
    let alnum = |n: usize| -> String {
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(n)
            .map(char::from)
            .collect()
    };
    match platform {
        Platform::Wechat | Platform::Qq => openid(),
        Platform::Douyin => format!("{}.{}.{}", alnum(3), alnum(2), alnum(10)),
        Platform::Alipay => format!("0{}", alnum(44)),
        Platform::Baidu => alnum(26),
        Platform::Wecom => format!("user.{}", alnum(8).to_lowercase()),
    }
}

/// A Douyin device's anonymous_openid.
pub(crate) fn anonymous_openid() -> String {
    format!("anon{}", token_chars(24))
}

/// An Alipay user_id: `2088` and 12 digits.
pub(crate) fn alipay_user_id() -> String {
    let mut rng = rand::rng();
    let digits: String = (0..12)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect();
    format!("2088{digits}")
}

/// A Baidu session_key: 24 bytes, 32 base64 characters.
pub(crate) fn session_key_24() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `wx.login` code: 32 chars of `[A-Za-z0-9]`, like every real sample.
pub(crate) fn login_code() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// A `getPhoneNumber` code: 64 lowercase hex digits, like the official sample.
pub(crate) fn phone_code() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    hex::encode(bytes)
}

/// A fresh 16-byte session key.
pub(crate) fn session_key() -> SessionKey {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    SessionKey::from_bytes(bytes)
}

/// An opaque access token shaped like WeChat's (`<n>_<long random text>`).
pub(crate) fn access_token() -> String {
    let generation = rand::rng().random_range(70..100);
    format!("{generation}_{}", token_chars(128))
}

/// A mainland mobile number, `13` followed by 9 digits.
pub(crate) fn phone_number() -> String {
    let mut rng = rand::rng();
    let digits: String = (0..9)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect();
    format!("13{digits}")
}

/// 16 random bytes for an AES-CBC iv.
pub(crate) fn iv() -> [u8; 16] {
    let mut iv = [0u8; 16];
    rand::rng().fill(&mut iv);
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_have_wechat_shapes() {
        let o = openid();
        assert_eq!(o.len(), 28);
        assert!(o.starts_with('o'));
        let c = login_code();
        assert_eq!(c.len(), 32);
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()));
        let p = phone_code();
        assert_eq!(p.len(), 64);
        assert!(
            p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(session_key().expose_secret().len(), 24);
        assert_eq!(phone_number().len(), 11);
    }
}
