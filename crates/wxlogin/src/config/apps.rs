//! `[[apps]]`: each mini program, its platform and the credentials that
//! platform needs, checked at startup with one line per mistake. Every
//! secret and key may be given inline or as `*_file` (relative to the
//! config file's folder).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use platforms::{Upstream, alipay, baidu, douyin, qq, wecom};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use wechat::AppSecret;

use super::secrets::secret_value;
use super::{ConfigError, invalid};
use crate::domain::App;
use crate::domain::providers::Provider;
use crate::ids::{AppId, Platform};

/// One mini program, as configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    pub appid: String,
    /// `wechat` (default), `douyin`, `alipay`, `qq`, `baidu` or `wecom`.
    #[serde(default)]
    pub platform: Platform,
    /// The AppSecret (Baidu: the App Secret, `sk`; WeCom: the secret of the
    /// WeCom app the mini program is associated with). Not for Alipay.
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
    /// The platform's API host (default: its official one; WeChat apps use
    /// `wechat_base_url`). A simulator's address in tests and demos.
    pub api_base_url: Option<String>,
    /// Baidu: the App Key (`client_id` of the exchange; the open-data trailer).
    pub app_key: Option<String>,
    /// WeCom: the corp id of the associated WeCom app.
    pub corpid: Option<String>,
    /// Alipay: the app's RSA private key (PKCS#8 or PKCS#1, PEM or base64).
    pub app_private_key: Option<SecretString>,
    pub app_private_key_file: Option<PathBuf>,
    /// Alipay: Alipay's RSA public key (from the console), PEM or base64.
    pub alipay_public_key: Option<String>,
    pub alipay_public_key_file: Option<PathBuf>,
    /// Alipay: the AES key of encrypted answers (phone numbers), base64.
    pub aes_key: Option<SecretString>,
    pub aes_key_file: Option<PathBuf>,
}

impl AppSettings {
    /// Take relative `*_file` paths from `dir`.
    pub(super) fn resolve_from(&mut self, dir: &Path) {
        for path in [
            &mut self.secret_file,
            &mut self.app_private_key_file,
            &mut self.alipay_public_key_file,
            &mut self.aes_key_file,
        ] {
            if let Some(p) = path.as_mut().filter(|p| p.is_relative()) {
                *p = dir.join(&*p);
            }
        }
    }
}

/// Everything the checks of one app need to name its settings.
struct Named<'a> {
    setting: &'a str,
}

impl Named<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> ConfigError {
        invalid(format!("{}.{field}", self.setting), problem)
    }

    fn required(
        &self,
        field: &str,
        inline: Option<SecretString>,
        file: Option<&Path>,
    ) -> Result<SecretString, ConfigError> {
        secret_value(&format!("{}.{field}", self.setting), inline, file)?
            .ok_or_else(|| self.err(field, format!("missing: set {field}_file (or {field})")))
    }

    fn secret(&self, app: &AppSettings) -> Result<AppSecret, ConfigError> {
        let text = self.required("secret", app.secret.clone(), app.secret_file.as_deref())?;
        AppSecret::parse(text.expose_secret()).map_err(|e| self.err("secret", e.to_string()))
    }

    fn unused(&self, field: &str, set: bool, platform: Platform) -> Result<(), ConfigError> {
        if set {
            return Err(self.err(field, format!("is not a setting of {platform} apps")));
        }
        Ok(())
    }
}

/// Build one app: its id checked in its platform's shape, its credentials
/// read and parsed, its client pointed at its host.
pub(super) fn build(
    setting: &str,
    app: AppSettings,
    deadline: Duration,
) -> Result<App, ConfigError> {
    let n = Named { setting };
    let platform = app.platform;
    let host = |default: &str| {
        app.api_base_url
            .clone()
            .unwrap_or_else(|| default.to_owned())
    };
    let upstream = |name: &'static str, url: String| {
        Upstream::new(name, &url, deadline).map_err(|e| n.err("api_base_url", e.to_string()))
    };
    if platform != Platform::Alipay && platform != Platform::Douyin {
        let set = app.app_private_key.is_some() || app.app_private_key_file.is_some();
        n.unused("app_private_key", set, platform)?;
    }
    if platform != Platform::Alipay {
        for (field, set) in [
            (
                "alipay_public_key",
                app.alipay_public_key.is_some() || app.alipay_public_key_file.is_some(),
            ),
            (
                "aes_key",
                app.aes_key.is_some() || app.aes_key_file.is_some(),
            ),
        ] {
            n.unused(field, set, platform)?;
        }
    }
    if platform != Platform::Baidu {
        n.unused("app_key", app.app_key.is_some(), platform)?;
    }
    if platform != Platform::Wecom {
        n.unused("corpid", app.corpid.is_some(), platform)?;
    }
    let shape = |ok: bool, rule: &str| {
        if ok {
            Ok(())
        } else {
            Err(n.err("appid", rule.to_owned()))
        }
    };
    let digits = app.appid.bytes().all(|b| b.is_ascii_digit()) && !app.appid.is_empty();
    let provider = match platform {
        Platform::Wechat | Platform::Wecom => {
            let appid =
                wechat::AppId::parse(&app.appid).map_err(|e| n.err("appid", e.to_string()))?;
            if platform == Platform::Wechat {
                n.unused("api_base_url", app.api_base_url.is_some(), platform)?;
                Provider::Wechat {
                    appid,
                    secret: n.secret(&app)?,
                }
            } else {
                let corpid = app
                    .corpid
                    .clone()
                    .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric()))
                    .ok_or_else(|| {
                        n.err(
                            "corpid",
                            "missing or malformed: the associated WeCom corp id",
                        )
                    })?;
                Provider::Wecom {
                    corpid,
                    corpsecret: n.secret(&app)?,
                    client: wecom::Client::new(upstream("wecom", host(wecom::BASE_URL))?),
                }
            }
        }
        Platform::Qq => {
            shape(digits, "a QQ appid is digits")?;
            let appid = wechat::AppId::parse_loose(&app.appid)
                .map_err(|e| n.err("appid", e.to_string()))?;
            let client = wechat::Client::builder()
                .base_url(host(qq::BASE_URL))
                .deadline(deadline)
                .build()
                .map_err(|e| n.err("api_base_url", e.to_string()))?;
            Provider::Qq {
                appid,
                secret: n.secret(&app)?,
                client,
            }
        }
        Platform::Douyin => {
            shape(
                app.appid.starts_with("tt"),
                "a Douyin appid starts with `tt`",
            )?;
            // Phone numbers by code need the app's private key (optional).
            let phone_key = secret_value(
                &format!("{setting}.app_private_key"),
                app.app_private_key.clone(),
                app.app_private_key_file.as_deref(),
            )?
            .map(|k| douyin::PhoneKey::parse(k.expose_secret()).map(Arc::new))
            .transpose()
            .map_err(|e| n.err("app_private_key", e.to_string()))?;
            Provider::Douyin {
                secret: n.secret(&app)?,
                client: douyin::Client::new(
                    upstream("douyin", host(douyin::BASE_URL))?,
                    upstream("douyin", host(douyin::OPEN_BASE_URL))?,
                ),
                phone_key,
            }
        }
        Platform::Baidu => {
            shape(digits, "a Baidu appid is digits")?;
            let app_key = app
                .app_key
                .clone()
                .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
                .ok_or_else(|| n.err("app_key", "missing or malformed: the App Key (client_id)"))?;
            Provider::Baidu {
                app_key,
                secret: n.secret(&app)?,
                client: baidu::Client::new(upstream("baidu", host(baidu::BASE_URL))?),
            }
        }
        Platform::Alipay => {
            shape(digits, "an Alipay app_id is digits")?;
            n.unused(
                "secret",
                app.secret.is_some() || app.secret_file.is_some(),
                platform,
            )?;
            let private = n.required(
                "app_private_key",
                app.app_private_key.clone(),
                app.app_private_key_file.as_deref(),
            )?;
            let public = n.required(
                "alipay_public_key",
                app.alipay_public_key.clone().map(SecretString::from),
                app.alipay_public_key_file.as_deref(),
            )?;
            let keys = alipay::Keys::parse(private.expose_secret(), public.expose_secret())
                .map_err(|e| n.err(e.setting(), e.to_string()))?;
            let alipay_public_key = alipay::public_key(public.expose_secret())
                .map_err(|e| n.err("alipay_public_key", e.to_string()))?;
            let aes_key = secret_value(
                &format!("{setting}.aes_key"),
                app.aes_key.clone(),
                app.aes_key_file.as_deref(),
            )?
            .map(|k| alipay::aes_key(k.expose_secret()).map(Arc::new))
            .transpose()
            .map_err(|e| n.err("aes_key", e.to_string()))?;
            Provider::Alipay {
                keys: Arc::new(keys),
                aes_key,
                alipay_public_key: Arc::new(alipay_public_key),
                client: alipay::Client::new(upstream("alipay", host(alipay::BASE_URL))?),
            }
        }
    };
    Ok(App {
        appid: AppId::parse(&app.appid).map_err(|e| n.err("appid", e.to_string()))?,
        platform,
        provider,
    })
}
