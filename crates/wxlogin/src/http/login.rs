//! `POST /v1/login`: rate limits (per client IP, per app), then the domain's
//! login flow.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::HttpState;
use super::error::ErrorBody;
use super::extract::{ApiJson, ClientIp};
use crate::clock::rfc3339;
use crate::config::RateLimits;
use crate::domain::Error;
use crate::domain::jwt::AccessGrant;
use crate::domain::login::LoginCodes;
use crate::domain::token::SessionToken;
use crate::ids::Platform;
use crate::telemetry;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The mini program; optional when the service has a single app.
    pub appid: Option<String>,
    /// The code of the platform's login (`wx.login`, `tt.login`,
    /// `my.getAuthCode`, `qq.login`, `swan.getLoginCode`, `wx.qy.login`).
    /// WeChat, QQ, WeCom: 1..=128 of `[A-Za-z0-9_-]`. Optional only on
    /// Douyin with `anonymous_code`.
    pub code: Option<String>,
    /// Douyin: `tt.login`'s `anonymousCode` (a logged-out device).
    pub anonymous_code: Option<String>,
    /// The app's platform, if the client says (it must then match).
    pub platform: Option<Platform>,
}

/// The tokens of a login or a refresh: `tokens.format = "opaque"` answers
/// `token` + `expires_at`; `"jwt"` answers `access_token` + `expires_in` +
/// `refresh_token` + `refresh_expires_at`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Tokens {
    /// Opaque session token (`wxl_…`); send as `Authorization: Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Absolute expiry of `token` (RFC 3339); the idle timeout may end it sooner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// A signed access token (JWT); send as `Authorization: Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Seconds the access token is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Opaque refresh token (`wxr_…`): `POST /v1/session/refresh` with it
    /// gives a new pair; used twice, it revokes the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Absolute expiry of the session (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<String>,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

impl Tokens {
    /// The answer for a session token (bearer or refresh) and, in jwt mode,
    /// its access token.
    pub fn of(token: &SessionToken, access: Option<&AccessGrant>, expires_at: i64) -> Self {
        let token = token.expose_secret().to_owned();
        match access {
            None => Self {
                token: Some(token),
                expires_at: Some(rfc3339(expires_at)),
                token_type: "Bearer",
                ..Self::default()
            },
            Some(grant) => Self {
                access_token: Some(grant.token.expose_secret().to_owned()),
                expires_in: Some(grant.expires_in),
                refresh_token: Some(token),
                refresh_expires_at: Some(rfc3339(expires_at)),
                token_type: "Bearer",
                ..Self::default()
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    #[serde(flatten)]
    pub tokens: Tokens,
    /// The user: one across apps when they share a unionid.
    pub user_id: String,
    pub platform: Platform,
    pub appid: String,
    pub openid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// True the first time this openid logs in to this app (a new identity;
    /// its user may exist already, joined by unionid).
    pub new_user: bool,
}

/// Keyed GCRA limiters for logins.
pub struct LoginLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_app: DefaultKeyedRateLimiter<String>,
    ipv6_prefix: u8,
    max_tracked: usize,
}

/// The bucket new clients share while `max_tracked_clients` are tracked.
const OVERFLOW: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

/// The rate-limit key of a client address: IPv4 as it is (also when mapped
/// into IPv6), IPv6 cut to its first `prefix` bits.
pub fn client_key(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(prefix.min(128)))
                    .unwrap_or(0);
                IpAddr::V6((bits & mask).into())
            }
        },
    }
}

impl LoginLimiter {
    pub fn new(limits: RateLimits) -> Self {
        let per_ip = NonZeroU32::new(limits.login_per_ip_per_minute).unwrap_or(NonZeroU32::MIN);
        let per_app = NonZeroU32::new(limits.login_per_app_per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            per_ip: RateLimiter::keyed(Quota::per_minute(per_ip)),
            per_app: RateLimiter::keyed(Quota::per_second(per_app)),
            ipv6_prefix: limits.ipv6_prefix,
            max_tracked: limits.max_tracked_clients,
        }
    }

    /// The bucket of `ip`. While the limiter tracks as many buckets as it may
    /// (even after dropping the idle ones), every login shares `OVERFLOW`:
    /// memory stays bounded, and the limits tighten rather than open.
    fn bucket(&self, ip: IpAddr) -> IpAddr {
        let key = client_key(ip, self.ipv6_prefix);
        if self.per_ip.len() < self.max_tracked {
            return key;
        }
        self.per_ip.retain_recent();
        if self.per_ip.len() < self.max_tracked {
            return key;
        }
        metrics::counter!("wxlogin_rate_limit_overflow_total").increment(1);
        OVERFLOW
    }

    /// Client buckets tracked now.
    pub fn tracked_clients(&self) -> usize {
        self.per_ip.len()
    }

    fn check(&self, ip: IpAddr, appid: &str) -> Result<(), Error> {
        let refused = |not_until: governor::NotUntil<_>| Error::RateLimited {
            retry_after_secs: not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1),
            wechat_errcode: None,
        };
        self.per_ip.check_key(&self.bucket(ip)).map_err(refused)?;
        self.per_app.check_key(&appid.to_owned()).map_err(refused)?;
        Ok(())
    }

    /// Drop state of keys that are back to full capacity (called periodically).
    pub fn shrink(&self) {
        self.per_ip.retain_recent();
        self.per_app.retain_recent();
    }
}

/// Trade a `wx.login()` code for a session token.
#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "mini program",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in (or the same code replayed within 5 minutes)", body = LoginResponse),
        (status = 400, description = "invalid_code, unknown_app, invalid_request", body = ErrorBody),
        (status = 403, description = "user_blocked", body = ErrorBody),
        (status = 409, description = "code_used", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody),
        (status = 502, description = "upstream_unavailable", body = ErrorBody),
        (status = 503, description = "store_unavailable", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<Arc<HttpState>>,
    ClientIp(ip): ClientIp,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, Error> {
    let result = async {
        let app = state.core.apps.resolve(request.appid.as_deref())?;
        if request.platform.is_some_and(|p| p != app.platform) {
            return Err(Error::InvalidRequest(format!(
                "this appid is a {} app",
                app.platform
            )));
        }
        state.limiter.check(ip, app.appid.as_str())?;
        let codes = LoginCodes {
            code: request.code,
            anonymous_code: request.anonymous_code,
        };
        state.core.login_with(Some(app.appid.as_str()), codes).await
    }
    .await;
    telemetry::login_outcome(match &result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    });
    let outcome = result?;
    Ok(Json(LoginResponse {
        tokens: Tokens::of(&outcome.token, outcome.access.as_ref(), outcome.expires_at),
        user_id: outcome.user_id,
        platform: outcome.platform,
        appid: outcome.appid,
        openid: outcome.openid,
        unionid: outcome.unionid,
        new_user: outcome.new_user,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits() -> RateLimits {
        RateLimits {
            login_per_ip_per_minute: 3,
            max_tracked_clients: 100,
            ..RateLimits::default()
        }
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_prefix_and_ipv4_is_whole() {
        let v6 = |s: &str| client_key(s.parse().unwrap(), 64);
        assert_eq!(
            v6("2001:db8:1:2:aaaa::1"),
            v6("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
        assert_eq!(
            v6("::ffff:192.0.2.7"),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_key("2001:db8::1".parse().unwrap(), 128),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forty_addresses_in_one_64_share_its_limit() {
        let limiter = LoginLimiter::new(limits());
        let allowed = (1..=40)
            .filter(|i| {
                let ip: IpAddr = format!("2001:db8:5:6::{i:x}").parse().unwrap();
                limiter.check(ip, "wx4f4bc4dec97d474b").is_ok()
            })
            .count();
        assert_eq!(allowed, 3);
        assert!(
            limiter
                .check("2001:db8:5:7::1".parse().unwrap(), "wx4f4bc4dec97d474b")
                .is_ok()
        );
    }

    #[test]
    fn memory_stays_bounded_whatever_the_number_of_addresses() {
        let limiter = LoginLimiter::new(limits());
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = limiter.check(ip, "wx4f4bc4dec97d474b");
        }
        assert!(
            limiter.tracked_clients() <= 101,
            "{}",
            limiter.tracked_clients()
        );
    }
}
