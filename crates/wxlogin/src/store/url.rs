//! The store URL, parsed once at startup into what each backend needs. Its
//! `Debug` and `Display` show the URL with any password replaced by `***`,
//! so printing the settings, a startup error or a log line never leaks it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use secrecy::{ExposeSecret as _, SecretString};

use super::StoreError;

/// Where the data lives, by URL scheme.
#[derive(Clone)]
pub enum StoreUrl {
    /// `sqlite://path`, `sqlite:path`, `sqlite::memory:`.
    Sqlite(SqliteTarget),
    /// `postgres://…` or `postgresql://…`.
    Postgres(Box<PostgresTarget>),
    /// `redis://…` or `rediss://…`, with `?prefix=NAME` (default `wxlogin`).
    Redis(RedisTarget),
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SqliteTarget {
    File(PathBuf),
    /// A private database that lives as long as the store.
    Memory,
}

/// TLS to PostgreSQL, as libpq's `sslmode` names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PgTls {
    Disable,
    /// TLS when the server offers it, without a certificate check (libpq's
    /// default, and ours except on the loopback).
    Prefer,
    /// TLS always, without a certificate check.
    Require,
    /// TLS always, with the certificate checked against the web PKI roots
    /// and the host name (`verify-ca` and `verify-full`).
    Verify,
}

#[derive(Clone)]
pub struct PostgresTarget {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: PgTls,
    shown: String,
}

#[derive(Clone)]
pub struct RedisTarget {
    /// The URL without our `prefix` parameter; may hold a password.
    pub(super) url: SecretString,
    pub(super) prefix: String,
    shown: String,
}

impl StoreUrl {
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let scheme = text.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => parse_sqlite(text).map(Self::Sqlite),
            "postgres" | "postgresql" => parse_postgres(text).map(|t| Self::Postgres(Box::new(t))),
            "redis" | "rediss" => parse_redis(text).map(Self::Redis),
            _ => Err(StoreError::Config(format!(
                "unsupported store scheme `{scheme}:` (supported: sqlite:, postgres://, redis://)"
            ))),
        }
    }

    /// A relative SQLite path taken from `dir` (the config file's folder).
    pub fn relative_to(self, dir: &Path) -> Self {
        match self {
            Self::Sqlite(SqliteTarget::File(path)) if path.is_relative() => {
                Self::Sqlite(SqliteTarget::File(dir.join(path)))
            }
            other => other,
        }
    }
}

impl FromStr for StoreUrl {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for StoreUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<String> for StoreUrl {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, StoreError> {
        Self::parse(&s)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(SqliteTarget::File(path)) => write!(f, "sqlite://{}", path.display()),
            Self::Sqlite(SqliteTarget::Memory) => f.write_str("sqlite::memory:"),
            Self::Postgres(t) => f.write_str(&t.shown),
            Self::Redis(t) => f.write_str(&t.shown),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

fn parse_sqlite(text: &str) -> Result<SqliteTarget, StoreError> {
    let rest = text
        .strip_prefix("sqlite://")
        .or_else(|| text.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut memory = path == ":memory:";
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair {
            "mode=memory" => memory = true,
            // sqlx's default, accepted for URLs written for earlier releases.
            "mode=rwc" => {}
            other => {
                return Err(StoreError::Config(format!(
                    "unsupported sqlite URL parameter `{other}` (supported: mode=memory)"
                )));
            }
        }
    }
    if memory {
        return Ok(SqliteTarget::Memory);
    }
    if path.is_empty() {
        return Err(StoreError::Config(
            "the sqlite URL names no file (sqlite://path/to/wxlogin.db)".into(),
        ));
    }
    Ok(SqliteTarget::File(PathBuf::from(path)))
}

/// A URL with its password (in the authority or as a `password` parameter)
/// replaced by `***`.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "password" {
                "***".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.is_empty() {
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// Remove our own parameter `name` from the URL and return its value. The
/// other parameters keep their text exactly as written: re-encoding them
/// would turn `options=-c%20search_path…` into `-c+search_path…`, which the
/// driver does not decode back.
fn take_param(url: &mut url::Url, name: &str) -> Option<String> {
    let query = url.query()?.to_owned();
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            if key != name {
                return true;
            }
            value = url::form_urlencoded::parse(format!("v={raw}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned());
            false
        })
        .collect();
    let kept = kept.join("&");
    url.set_query((!kept.is_empty()).then_some(kept.as_str()));
    value
}

fn bad_url(engine: &str) -> impl Fn(url::ParseError) -> StoreError {
    move |e| StoreError::Config(format!("bad {engine} URL: {e}"))
}

fn parse_postgres(text: &str) -> Result<PostgresTarget, StoreError> {
    let mut url = url::Url::parse(text).map_err(bad_url("postgres"))?;
    let shown = redacted(&url);
    let sslmode = take_param(&mut url, "sslmode");
    let config = tokio_postgres::Config::from_str(url.as_str()).map_err(|e| {
        // tokio-postgres names the option, never its value.
        StoreError::Config(format!("bad postgres URL {shown}: {e}"))
    })?;
    let chosen = sslmode.or_else(|| std::env::var("PGSSLMODE").ok());
    let tls = match chosen.as_deref() {
        None if on_loopback(&config) => PgTls::Disable,
        None | Some("prefer" | "allow") => PgTls::Prefer,
        Some("disable") => PgTls::Disable,
        Some("require") => PgTls::Require,
        Some("verify-ca" | "verify-full") => PgTls::Verify,
        Some(other) => {
            return Err(StoreError::Config(format!(
                "unsupported sslmode `{other}` (disable, prefer, require, verify-ca, verify-full)"
            )));
        }
    };
    Ok(PostgresTarget { config, tls, shown })
}

/// Like libpq, we default to `sslmode=prefer`. To a server on this machine's
/// loopback (or a Unix socket) TLS protects nothing: the bytes never leave
/// the kernel, and whoever can read them there can read the server's memory.
/// So when neither the URL nor `PGSSLMODE` chooses, the loopback gets none.
fn on_loopback(config: &tokio_postgres::Config) -> bool {
    use tokio_postgres::config::Host;
    !config.get_hosts().is_empty()
        && config.get_hosts().iter().all(|host| match host {
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            Host::Unix(_) => true,
        })
}

fn parse_redis(text: &str) -> Result<RedisTarget, StoreError> {
    let mut url = url::Url::parse(text).map_err(bad_url("redis"))?;
    let shown = redacted(&url);
    let prefix = take_param(&mut url, "prefix").unwrap_or_else(|| "wxlogin".to_owned());
    if prefix.is_empty() || prefix.contains(['{', '}', ':']) {
        return Err(StoreError::Config(
            "the redis prefix must be non-empty, without `{`, `}` or `:`".into(),
        ));
    }
    Ok(RedisTarget {
        url: SecretString::from(url.to_string()),
        prefix,
        shown,
    })
}

impl RedisTarget {
    pub(super) fn url(&self) -> &str {
        self.url.expose_secret()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for text in [
            "postgres://app:hunter2@db.example:5432/wx?sslmode=require",
            "postgres://app@db.example/wx?password=hunter2",
            "redis://:hunter2@cache.example:6379/0?prefix=t1",
        ] {
            let url = StoreUrl::parse(text).unwrap();
            for shown in [url.to_string(), format!("{url:?}")] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(shown.contains("***"), "{shown}");
            }
        }
        let err = StoreUrl::parse("postgres://app:hunter2@db/wx?connect_timeout=x").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn sqlite_urls() {
        let file = |p: &str| StoreUrl::parse(p).map(|u| u.to_string());
        assert_eq!(file("sqlite://wxlogin.db").unwrap(), "sqlite://wxlogin.db");
        assert_eq!(
            file("sqlite:///var/lib/x.db").unwrap(),
            "sqlite:///var/lib/x.db"
        );
        assert_eq!(file("sqlite::memory:").unwrap(), "sqlite::memory:");
        assert_eq!(
            file("sqlite://x.db?mode=memory").unwrap(),
            "sqlite::memory:"
        );
        assert!(file("sqlite://x.db?vfs=unix-none").is_err());
        assert!(file("sqlite://").is_err());
        let moved = StoreUrl::parse("sqlite://state/x.db")
            .unwrap()
            .relative_to(Path::new("/etc/wxlogin"));
        assert_eq!(moved.to_string(), "sqlite:///etc/wxlogin/state/x.db");
    }

    #[test]
    fn tls_follows_sslmode_and_the_loopback() {
        let tls = |u: &str| match StoreUrl::parse(u).unwrap() {
            StoreUrl::Postgres(t) => t.tls,
            _ => unreachable!(),
        };
        assert_eq!(tls("postgres://u@127.0.0.1/db"), PgTls::Disable);
        let StoreUrl::Postgres(t) =
            StoreUrl::parse("postgres://u@h/db?options=-c%20search_path%3Dx&sslmode=require")
                .unwrap()
        else {
            unreachable!()
        };
        assert_eq!(t.config.get_options(), Some("-c search_path=x"));
        assert_eq!(tls("postgres://u@localhost/db"), PgTls::Disable);
        assert_eq!(tls("postgres://u@[::1]/db"), PgTls::Disable);
        assert_eq!(
            tls("postgres://u@127.0.0.1/db?sslmode=require"),
            PgTls::Require
        );
        assert_eq!(
            tls("postgres://u@db.example/db?sslmode=verify-full"),
            PgTls::Verify
        );
        assert!(StoreUrl::parse("postgres://u@h/db?sslmode=bogus").is_err());
        assert!(StoreUrl::parse("mysql://u@h/db").is_err());
    }

    #[test]
    fn the_redis_prefix_is_ours_not_the_drivers() {
        let StoreUrl::Redis(t) = StoreUrl::parse("redis://127.0.0.1:6379/2?prefix=t1").unwrap()
        else {
            unreachable!()
        };
        assert_eq!(t.prefix, "t1");
        assert_eq!(t.url(), "redis://127.0.0.1:6379/2");
        assert!(StoreUrl::parse("redis://h?prefix=a:b").is_err());
    }
}
