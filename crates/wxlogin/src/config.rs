//! Configuration: defaults → TOML file → `WXLOGIN_*` environment, with every
//! secret also accepted as `*_file`. [`Settings`] is what the layers say;
//! [`Config`] is the validated result the service runs on, so a bad value fails
//! at startup with a message that names the setting, never with a panic.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::jwt::TokenSettings;
use crate::domain::{App, Apps, DataKey, IdentityPolicy, Policy};
use crate::store::StoreUrl;
use crate::telemetry::LogFormat;

mod apps;
mod env;
mod limits;
mod secrets;
mod tokens;

pub use limits::{HttpLimits, HttpSettings, RateLimits};
pub use secrets::ApiKey;
use secrets::{data_key_ring, secret_value};

/// A setting that is wrong, named so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(String),
    #[error("{setting}: {problem}")]
    Invalid { setting: String, problem: String },
}

fn invalid(setting: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.into(),
        problem: problem.into(),
    }
}

pub use apps::AppSettings;

/// The raw, layered settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: String,
    /// Parsed as it is read: its `Debug` hides a password.
    pub store: StoreUrl,
    pub data_key: Option<SecretString>,
    pub data_key_file: Option<PathBuf>,
    /// A data key ring (the first seals, all open): for rotating the key
    /// with `wxlogin rekey`.
    pub data_keys: Vec<SecretString>,
    pub data_key_files: Vec<PathBuf>,
    pub admin_key: Option<SecretString>,
    pub admin_key_file: Option<PathBuf>,
    pub service_key: Option<SecretString>,
    pub service_key_file: Option<PathBuf>,
    pub wechat_base_url: String,
    /// Deadline of each WeChat call, retries included.
    pub upstream_timeout_ms: u64,
    /// Take the client IP from the last `X-Forwarded-For` entry (only behind a
    /// proxy you run).
    pub trust_forwarded_for: bool,
    pub log_format: LogFormat,
    pub rate_limits: RateLimits,
    pub sessions: Policy,
    pub identity: IdentityPolicy,
    pub tokens: TokenSettings,
    pub http: HttpSettings,
    pub apps: Vec<AppSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            store: StoreUrl::Sqlite(crate::store::SqliteTarget::File("wxlogin.db".into())),
            data_key: None,
            data_key_file: None,
            data_keys: Vec::new(),
            data_key_files: Vec::new(),
            admin_key: None,
            admin_key_file: None,
            service_key: None,
            service_key_file: None,
            wechat_base_url: wechat::DEFAULT_BASE_URL.into(),
            upstream_timeout_ms: 5000,
            trust_forwarded_for: false,
            log_format: LogFormat::Text,
            rate_limits: RateLimits::default(),
            sessions: Policy::default(),
            identity: IdentityPolicy::default(),
            tokens: TokenSettings::default(),
            http: HttpSettings::default(),
            apps: Vec::new(),
        }
    }
}

impl Settings {
    /// Defaults, then the TOML file (if given, or `wxlogin.toml` if present),
    /// then `WXLOGIN_*` variables (nested with `__`, e.g.
    /// `WXLOGIN_SESSIONS__IDLE_TTL`). `WXLOGIN_APPID` + `WXLOGIN_SECRET[_FILE]`
    /// add a single app without a file.
    ///
    /// Relative paths in the file (`*_file`, a SQLite store) are taken from
    /// the file's folder, as most servers' configs do; paths given in the
    /// environment from the working directory. An unknown `WXLOGIN_*`
    /// variable is a warning naming the closest setting, not an error (a
    /// Kubernetes Service named `wxlogin` injects `WXLOGIN_PORT`, … into
    /// every pod; those are ignored quietly); a known one with a bad value
    /// still stops startup.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        let file = match file {
            Some(path) if !path.exists() => {
                return Err(invalid(
                    "--config",
                    format!("{} does not exist", path.display()),
                ));
            }
            Some(path) => Some(path),
            None => Some(Path::new("wxlogin.toml")).filter(|p| p.exists()),
        };
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        for warning in env::unknown_variables(std::env::vars_os()) {
            eprintln!("warning: {warning}");
        }
        let env = Env::prefixed("WXLOGIN_")
            .filter(|k| env::is_setting(k.as_str()))
            .split("__");
        let mut settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        if let Some(dir) = file.and_then(Path::parent) {
            settings.resolve_from(dir);
        }
        if let Ok(appid) = std::env::var("WXLOGIN_APPID") {
            settings.apps.push(AppSettings {
                appid,
                secret: std::env::var("WXLOGIN_SECRET").ok().map(SecretString::from),
                secret_file: std::env::var_os("WXLOGIN_SECRET_FILE").map(PathBuf::from),
                ..AppSettings::default()
            });
        }
        Ok(settings)
    }

    /// Relative paths that came from the config file, taken from its folder;
    /// those the environment set stay as given.
    fn resolve_from(&mut self, dir: &Path) {
        let from_env = |name: &str| std::env::var_os(format!("WXLOGIN_{name}")).is_some();
        let join = |path: &mut Option<PathBuf>, name: &str| {
            if let Some(p) = path.as_mut().filter(|p| p.is_relative() && !from_env(name)) {
                *p = dir.join(&*p);
            }
        };
        join(&mut self.data_key_file, "DATA_KEY_FILE");
        if !from_env("DATA_KEY_FILES") {
            for p in self.data_key_files.iter_mut().filter(|p| p.is_relative()) {
                *p = dir.join(&*p);
            }
        }
        join(&mut self.admin_key_file, "ADMIN_KEY_FILE");
        join(&mut self.service_key_file, "SERVICE_KEY_FILE");
        for app in &mut self.apps {
            app.resolve_from(dir);
        }
        if !from_env("STORE") {
            self.store = self.store.clone().relative_to(dir);
        }
    }

    /// Settings from TOML text alone (defaults for what it leaves out).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Figment::new()
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))
    }

    /// Validate everything; the result cannot be half-valid.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| invalid("listen", "must be an address like 127.0.0.1:8080"))?;
        let data_key = data_key_ring(
            self.data_key,
            self.data_key_file.as_deref(),
            self.data_keys,
            &self.data_key_files,
        )?;
        let admin_key = secret_value("admin_key", self.admin_key, self.admin_key_file.as_deref())?
            .map(|k| ApiKey::new("admin_key", &k))
            .transpose()?;
        let service_key = secret_value(
            "service_key",
            self.service_key,
            self.service_key_file.as_deref(),
        )?
        .map(|k| ApiKey::new("service_key", &k))
        .transpose()?;
        if let (Some(admin), Some(service)) = (&admin_key, &service_key)
            && admin.same_as(service)
        {
            return Err(invalid(
                "service_key",
                "must differ from admin_key: a backend holding the service key would be an operator",
            ));
        }
        if self.apps.is_empty() {
            return Err(invalid(
                "apps",
                "no app configured: add an [[apps]] table (appid + secret_file) or set WXLOGIN_APPID and WXLOGIN_SECRET_FILE",
            ));
        }
        let mut apps = Vec::new();
        let deadline = Duration::from_millis(self.upstream_timeout_ms);
        for (i, app) in self.apps.into_iter().enumerate() {
            let setting = format!("apps[{i}]");
            let app = apps::build(&setting, app, deadline)?;
            if apps.iter().any(|a: &App| a.appid == app.appid) {
                return Err(invalid(format!("{setting}.appid"), "configured twice"));
            }
            apps.push(app);
        }
        let p = self.sessions;
        if p.session_ttl <= 0
            || p.idle_ttl <= 0
            || p.key_grace < 0
            || p.replay_window <= 0
            || p.touch_interval < 0
            || !(0..=3600).contains(&p.cache_ttl)
            || p.max_per_user == 0
            || p.user_calls_per_minute == 0
        {
            return Err(invalid(
                "sessions",
                "lifetimes must be positive numbers of seconds (cache_ttl: 0..=3600); max_per_user and user_calls_per_minute at least 1",
            ));
        }
        if self.upstream_timeout_ms == 0 || self.upstream_timeout_ms > 60_000 {
            return Err(invalid("upstream_timeout_ms", "must be 1..=60000"));
        }
        if self.rate_limits.login_per_ip_per_minute == 0
            || self.rate_limits.login_per_app_per_second == 0
        {
            return Err(invalid("rate_limits", "limits must be at least 1"));
        }
        if !(16..=128).contains(&self.rate_limits.ipv6_prefix) {
            return Err(invalid("rate_limits.ipv6_prefix", "must be 16..=128"));
        }
        if self.rate_limits.max_tracked_clients < 16 {
            return Err(invalid(
                "rate_limits.max_tracked_clients",
                "must be at least 16",
            ));
        }
        let wechat = wechat::Client::builder()
            .base_url(self.wechat_base_url.clone())
            .deadline(Duration::from_millis(self.upstream_timeout_ms))
            .build()
            .map_err(|e| invalid("wechat_base_url", e.to_string()))?;
        let http = self.http.validate()?;
        tokens::validate(&self.tokens)?;
        Ok(Config {
            listen,
            http,
            store: self.store,
            data_key,
            admin_key,
            service_key,
            wechat,
            trust_forwarded_for: self.trust_forwarded_for,
            log_format: self.log_format,
            rate_limits: self.rate_limits,
            policy: p,
            identity: self.identity,
            tokens: self.tokens,
            apps: Apps::new(apps),
        })
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub http: HttpLimits,
    pub store: StoreUrl,
    pub data_key: DataKey,
    pub admin_key: Option<ApiKey>,
    pub service_key: Option<ApiKey>,
    pub wechat: wechat::Client,
    pub trust_forwarded_for: bool,
    pub log_format: LogFormat,
    pub rate_limits: RateLimits,
    pub policy: Policy,
    pub identity: IdentityPolicy,
    pub tokens: TokenSettings,
    pub apps: Apps,
}
