//! The platform behind each configured app, and how its login code becomes
//! an identity. WeChat's exchange is the service's `wechat` client, as
//! before; QQ is WeChat's protocol at QQ's host; Douyin, Alipay, Baidu and
//! WeCom are the `platforms` crate's clients. Whatever the platform, the
//! login that follows is the same (single flight, one upstream call per
//! code, replay, sealed keys, one session model).
//!
//! Each platform's errors land on the same stable API codes; the platform's
//! own code goes to the logs and to `wxlogin_platform_errors_total`.

use std::sync::Arc;

use platforms::{Kind, alipay, baidu, douyin, wecom};
use secrecy::{ExposeSecret as _, SecretString};
use wechat::{AppSecret, JsCode};
use zeroize::Zeroizing;

use super::{App, Core, Error};
use crate::ids::{OpenId, Platform, UnionId};

/// An app's platform, its credentials and its client.
#[derive(Clone)]
pub enum Provider {
    /// The service's WeChat client (`wechat_base_url`).
    Wechat {
        appid: wechat::AppId,
        secret: AppSecret,
    },
    /// WeChat's protocol at QQ's host.
    Qq {
        appid: wechat::AppId,
        secret: AppSecret,
        client: wechat::Client,
    },
    Douyin {
        secret: AppSecret,
        client: douyin::Client,
        /// The app's RSA private key, for phone numbers by code (optional).
        phone_key: Option<Arc<douyin::PhoneKey>>,
    },
    Alipay {
        keys: Arc<alipay::Keys>,
        /// The AES key of encrypted answers (phone numbers), if configured.
        aes_key: Option<Arc<Zeroizing<Vec<u8>>>>,
        /// The Alipay public key as PKCS#1, to verify phone envelopes.
        alipay_public_key: Arc<Vec<u8>>,
        client: alipay::Client,
    },
    Baidu {
        /// The App Key: `client_id` of the exchange, and the trailer of
        /// every encrypted payload.
        app_key: String,
        secret: AppSecret,
        client: baidu::Client,
    },
    /// The WeCom app the mini program is associated with.
    Wecom {
        corpid: String,
        corpsecret: AppSecret,
        client: wecom::Client,
    },
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Provider({} [redacted])", self.platform())
    }
}

impl Provider {
    pub fn platform(&self) -> Platform {
        match self {
            Self::Wechat { .. } => Platform::Wechat,
            Self::Qq { .. } => Platform::Qq,
            Self::Douyin { .. } => Platform::Douyin,
            Self::Alipay { .. } => Platform::Alipay,
            Self::Baidu { .. } => Platform::Baidu,
            Self::Wecom { .. } => Platform::Wecom,
        }
    }

    /// Whether open data of this platform is WeChat's scheme (AES-128-CBC
    /// with the 16-byte session_key, watermark, rawData signature).
    pub fn wechat_scheme(&self) -> bool {
        matches!(
            self,
            Self::Wechat { .. } | Self::Qq { .. } | Self::Douyin { .. } | Self::Wecom { .. }
        )
    }
}

/// What the mini program sends to log in.
#[derive(Debug, Clone, Copy)]
pub struct LoginCode<'a> {
    pub code: Option<&'a str>,
    /// Douyin's `anonymousCode` (a logged-out device).
    pub anonymous_code: Option<&'a str>,
}

/// An identity as a platform answered it.
#[derive(Debug, Clone)]
pub struct Exchanged {
    pub openid: OpenId,
    pub unionid: Option<UnionId>,
    /// The key of the user's open data (base64 text); Alipay has none.
    pub session_key: Option<SecretString>,
}

impl Error {
    /// The stable API error for a platform's refusal; its own code is
    /// logged and counted.
    pub(crate) fn from_platform(e: &platforms::Error) -> Self {
        crate::telemetry::upstream_platform_error(e.platform(), e.platform_code());
        match e.kind() {
            Kind::InvalidCode => Self::InvalidCode {
                wechat_errcode: None,
            },
            Kind::RateLimited => Self::RateLimited {
                retry_after_secs: 60,
                wechat_errcode: None,
            },
            Kind::Misconfigured => {
                tracing::error!(error = %e, "the platform rejected the app's configuration");
                Self::UpstreamMisconfigured {
                    wechat_errcode: None,
                }
            }
            Kind::Busy | Kind::TokenRejected | Kind::Unavailable => {
                tracing::warn!(error = %e, "the platform is unavailable or answered nonsense");
                Self::UpstreamUnavailable {
                    wechat_errcode: None,
                }
            }
        }
    }
}

fn identity(openid: &str, unionid: Option<&str>) -> Result<(OpenId, Option<UnionId>), Error> {
    let bad = || {
        tracing::warn!("the platform answered an id of a shape wxlogin does not accept");
        Error::UpstreamUnavailable {
            wechat_errcode: None,
        }
    };
    let openid = OpenId::parse(openid).map_err(|_| bad())?;
    let unionid = unionid
        .filter(|u| !u.is_empty())
        .map(|u| UnionId::parse(u).map_err(|_| bad()))
        .transpose()?;
    Ok((openid, unionid))
}

impl Core {
    /// Trade the login code with the app's platform: one upstream call
    /// (two for WeCom on a cold token cache, shared by every login).
    pub(crate) async fn exchange_code(
        self: &Arc<Self>,
        app: &App,
        login: LoginCode<'_>,
    ) -> Result<Exchanged, Error> {
        let invalid = || Error::InvalidCode {
            wechat_errcode: None,
        };
        let code = login.code;
        let answer = match &app.provider {
            Provider::Wechat { appid, secret } => {
                let code = JsCode::parse(code.ok_or_else(invalid)?).map_err(|_| invalid())?;
                return self
                    .wechat_exchange(&self.wechat, appid, secret, &code)
                    .await;
            }
            Provider::Qq {
                appid,
                secret,
                client,
            } => {
                let code = JsCode::parse(code.ok_or_else(invalid)?).map_err(|_| invalid())?;
                return self.wechat_exchange(client, appid, secret, &code).await;
            }
            Provider::Douyin { secret, client, .. } => {
                if code.is_none() && login.anonymous_code.is_none() {
                    return Err(invalid());
                }
                client
                    .code2session(app.appid.as_str(), secret, code, login.anonymous_code)
                    .await
            }
            Provider::Alipay { keys, client, .. } => {
                let code = code.ok_or_else(invalid)?;
                client
                    .oauth_token(app.appid.as_str(), keys, code, self.clock.now())
                    .await
            }
            Provider::Baidu {
                app_key,
                secret,
                client,
            } => {
                let code = code.ok_or_else(invalid)?;
                client.jscode2sessionkey(app_key, secret, code).await
            }
            Provider::Wecom { client, .. } => {
                let code = code.ok_or_else(invalid)?;
                // Its token errors are already the API's (a refused corp
                // secret is upstream_misconfigured, the store's own 503).
                let answer = self.wecom_exchange(app, client, code).await?;
                Ok(answer)
            }
        };
        let answer = answer.map_err(|e| Error::from_platform(&e))?;
        let (openid, unionid) = identity(&answer.subject, answer.unionid.as_deref())?;
        Ok(Exchanged {
            openid,
            unionid,
            session_key: answer.session_key,
        })
    }

    async fn wechat_exchange(
        &self,
        client: &wechat::Client,
        appid: &wechat::AppId,
        secret: &AppSecret,
        code: &JsCode,
    ) -> Result<Exchanged, Error> {
        let started = std::time::Instant::now();
        let answer = client.code2session(appid, secret, code).await;
        crate::telemetry::upstream_latency("jscode2session", started.elapsed());
        let session = answer.map_err(|e| {
            let err = Error::from(e);
            crate::telemetry::upstream_error(err.wechat_errcode());
            err
        })?;
        Ok(Exchanged {
            openid: OpenId::from(&session.openid),
            unionid: session.unionid.as_ref().map(UnionId::from),
            session_key: Some(SecretString::from(
                session.session_key.expose_secret().to_owned(),
            )),
        })
    }

    /// WeCom's exchange carries the corp access_token (managed like WeChat's
    /// access_token: shared by instances, one refresh at a time); a refused
    /// token is refreshed once and the call made once more.
    async fn wecom_exchange(
        self: &Arc<Self>,
        app: &App,
        client: &wecom::Client,
        code: &str,
    ) -> Result<platforms::Exchanged, Error> {
        let token = self.access_token(app.appid.as_str()).await?;
        let answer = match client
            .jscode2session(token.token.expose_secret(), code)
            .await
        {
            Err(e) if e.kind() == Kind::TokenRejected => {
                let fresh = self.refresh_access_token(app, Some(&token.token)).await?;
                client
                    .jscode2session(fresh.token.expose_secret(), code)
                    .await
            }
            other => other,
        };
        answer.map_err(|e| Error::from_platform(&e))
    }
}

/// `session_key` as the store keeps it: its text, or nothing (Alipay).
pub(crate) fn key_text(key: Option<&SecretString>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(key.map_or_else(Vec::new, |k| k.expose_secret().as_bytes().to_vec()))
}

impl Core {
    /// Douyin's phone number by code: the client_token (managed like an
    /// access_token, refreshed once if refused), the number opened with the
    /// app's private key (`platforms::douyin` says what is uncertain).
    pub(crate) async fn douyin_phone(
        self: &Arc<Self>,
        app: &App,
        code: &str,
    ) -> Result<wechat::PhoneInfo, Error> {
        let Provider::Douyin {
            client,
            phone_key: Some(key),
            ..
        } = &app.provider
        else {
            return Err(Error::NotSupported(Platform::Douyin));
        };
        let token = self.access_token(app.appid.as_str()).await?;
        let answer = match client
            .phone_number(token.token.expose_secret(), code, key)
            .await
        {
            Err(e) if e.kind() == Kind::TokenRejected => {
                let fresh = self.refresh_access_token(app, Some(&token.token)).await?;
                client
                    .phone_number(fresh.token.expose_secret(), code, key)
                    .await
            }
            other => other,
        };
        let data = answer.map_err(|e| match Error::from_platform(&e) {
            Error::InvalidCode { .. } => Error::InvalidPhoneCode {
                wechat_errcode: None,
            },
            other => other,
        })?;
        let text = |k: &str| -> Option<String> {
            match data.get(k)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let watermark = data.get("watermark");
        let malformed = || Error::UpstreamUnavailable {
            wechat_errcode: None,
        };
        Ok(wechat::PhoneInfo {
            phone_number: text("phoneNumber").ok_or_else(malformed)?,
            pure_phone_number: text("purePhoneNumber").ok_or_else(malformed)?,
            country_code: text("countryCode").unwrap_or_else(|| "86".to_owned()),
            watermark: wechat::crypto::Watermark {
                appid: watermark
                    .and_then(|w| w.get("appid"))
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(malformed)?
                    .to_owned(),
                timestamp: watermark
                    .and_then(|w| w.get("timestamp"))
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0),
            },
        })
    }
}
