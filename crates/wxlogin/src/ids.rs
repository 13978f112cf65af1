//! The typed ids that cross the line between the domain and the store. They
//! live below both, so the store never imports the domain: a value parsed
//! once at the edge (an HTTP request, a row read back) is never re-parsed from
//! a string further in.

use std::fmt;

use sha2::{Digest, Sha256};

/// Why an id was refused. Names the field, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {rule}")]
pub struct IdError {
    pub field: &'static str,
    pub rule: &'static str,
}

/// An app's id on its platform: WeChat's `wx…`, Douyin's `tt…`, Alipay's,
/// QQ's and Baidu's digits. 1..=64 of `[A-Za-z0-9._-]`; each platform's
/// stricter shape is checked where the app is configured.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AppId(String);

/// A user's id within one app (WeChat's openid, Alipay's open_id, WeCom's
/// `corpid:userid`, …). Platforms document loose shapes (Douyin's contain
/// dots): 1..=128 of `[A-Za-z0-9._:@=+-]`, which keeps them safe in paths,
/// headers and store keys.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct OpenId(String);

/// A user's id across the apps of one account of one platform.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct UnionId(String);

fn checked(
    s: &str,
    field: &'static str,
    max: usize,
    extra: &[u8],
    rule: &'static str,
) -> Result<String, IdError> {
    let ok = (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
    ok.then(|| s.to_owned()).ok_or(IdError { field, rule })
}

impl AppId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        checked(s, "appid", 64, b"._-", "must be 1..=64 of [A-Za-z0-9._-]").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl OpenId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        checked(
            s,
            "openid",
            128,
            b"._:@=+-",
            "must be 1..=128 of [A-Za-z0-9._:@=+-]",
        )
        .map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl UnionId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        checked(
            s,
            "unionid",
            128,
            b"._:@=+-",
            "must be 1..=128 of [A-Za-z0-9._:@=+-]",
        )
        .map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({:?})", self.0)
    }
}
impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenId({:?})", self.0)
    }
}
impl fmt::Display for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for UnionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnionId({:?})", self.0)
    }
}
impl fmt::Display for UnionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&wechat::AppId> for AppId {
    fn from(id: &wechat::AppId) -> Self {
        Self(id.as_str().to_owned())
    }
}
impl From<&wechat::OpenId> for OpenId {
    fn from(id: &wechat::OpenId) -> Self {
        Self(id.as_str().to_owned())
    }
}
impl From<&wechat::UnionId> for UnionId {
    fn from(id: &wechat::UnionId) -> Self {
        Self(id.as_str().to_owned())
    }
}

/// A session's id: a UUIDv7, so ids sort by creation time.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Accepts what we issue (and the ids of older releases): 1..=64 of
    /// `[A-Za-z0-9-]`.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's own id, stable across the user's identities (apps, platforms):
/// a UUIDv7, kept as its lowercase hyphenated text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Any UUID (ids written by a migration are v7-shaped too), normalised.
    pub fn parse(s: &str) -> Option<Self> {
        let id = uuid::Uuid::try_parse(s).ok()?;
        Some(Self(id.hyphenated().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The mini program platform an identity belongs to. An openid or unionid
/// means something only within its platform.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Debug,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
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
    pub const ALL: [Platform; 6] = [
        Self::Wechat,
        Self::Douyin,
        Self::Alipay,
        Self::Qq,
        Self::Baidu,
        Self::Wecom,
    ];

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

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SHA-256 of a session token: what the store keys sessions by. A database
/// leak does not yield usable tokens.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn digest(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to correlate log lines and reveals nothing usable.
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

/// The single-flight key of a login: SHA-256 over appid and code, so the
/// store never holds a live login code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimKey(pub [u8; 32]);

impl ClaimKey {
    pub fn of(appid: &AppId, code: &str) -> Self {
        let mut h = Sha256::new();
        h.update(appid.as_str().as_bytes());
        h.update([0]);
        h.update(code.as_bytes());
        Self(h.finalize().into())
    }
}

impl fmt::Debug for ClaimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimKey({}…)", hex::encode(&self.0[..4]))
    }
}

/// Who holds a lease (a login claim or a lock): a random id per attempt or
/// per process, compared for fencing.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Owner(String);

impl Owner {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// An owner read back from the store.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a lock shared by every instance.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct LockName(String);

impl LockName {
    /// The lock one instance holds while it refreshes an app's access_token.
    pub fn access_token(appid: &AppId) -> Self {
        Self(format!("access_token:{appid}"))
    }

    /// A lock of the service's own (e.g. `signing_keys`).
    pub fn named(name: &str) -> Self {
        Self(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A definitive upstream refusal of a login code, recorded on its claim so
/// that every duplicate of the code gets the same answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Refusal {
    InvalidCode,
    CodeUsed,
    UserBlocked,
}

impl Refusal {
    /// The stable text kept in the store (the API's error code).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCode => "invalid_code",
            Self::CodeUsed => "code_used",
            Self::UserBlocked => "user_blocked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::InvalidCode, Self::CodeUsed, Self::UserBlocked]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refusals_round_trip_through_their_stored_text() {
        for r in [
            Refusal::InvalidCode,
            Refusal::CodeUsed,
            Refusal::UserBlocked,
        ] {
            assert_eq!(Refusal::parse(r.as_str()), Some(r));
        }
        assert_eq!(Refusal::parse(""), None);
    }

    #[test]
    fn session_ids_are_uuids_and_junk_is_refused() {
        let id = SessionId::generate();
        assert_eq!(SessionId::parse(id.as_str()), Some(id));
        assert_eq!(SessionId::parse(""), None);
        assert_eq!(SessionId::parse("a\0b"), None);
        assert_eq!(SessionId::parse(&"a".repeat(65)), None);
    }

    #[test]
    fn user_ids_are_normalised_uuids_and_platforms_round_trip() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(id.as_str()), Some(id.clone()));
        let upper = id.as_str().to_uppercase();
        assert_eq!(UserId::parse(&upper), Some(id));
        assert_eq!(UserId::parse("not-a-uuid"), None);
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()), Some(p));
        }
        assert_eq!(Platform::parse("WeChat"), None);
    }

    #[test]
    fn ids_accept_every_platform_shape_and_refuse_unsafe_characters() {
        for id in [
            "wx4f4bc4dec97d474b",
            "tt07e3715e98c9aac0",
            "2021000122671080",
            "1109876543",
        ] {
            assert!(AppId::parse(id).is_ok(), "{id}");
        }
        for id in [
            "8PB.cW.TabxdbJFs",
            "wwabc:zhang.san@corp",
            "anon:V3Ws",
            "oGZUI0egBJY1zhBYw2KhdUfwVJJE",
        ] {
            assert!(OpenId::parse(id).is_ok(), "{id}");
        }
        assert!(UnionId::parse("ab085c8d-6911-4sca-ba17-257vh646cba8").is_ok());
        for bad in ["", "a/b", "a b", "a%2F", "a\0", &"o".repeat(129)] {
            assert!(OpenId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(AppId::parse("wx:1").is_err());
    }

    #[test]
    fn claim_keys_separate_appid_from_code() {
        let app = AppId::parse("wx4f4bc4dec97d474b").unwrap();
        assert_ne!(ClaimKey::of(&app, "ab"), ClaimKey::of(&app, "ba"));
    }
}
