//! The limits an operator tunes: login rate limits (`[rate_limits]`) and the
//! server's connection limits (`[http]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Login rate limits (per client IP, per app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Logins per client IP per minute (burst = the same number).
    pub login_per_ip_per_minute: u32,
    /// Logins per app per second (burst = the same number).
    pub login_per_app_per_second: u32,
    /// IPv6 clients share a bucket per prefix of this length: one /64 is
    /// one subscriber's, and holds more addresses than anyone could count.
    pub ipv6_prefix: u8,
    /// Distinct client buckets kept at most; beyond that, new clients share
    /// one bucket until the idle ones are dropped (memory stays bounded
    /// whatever the number of addresses).
    pub max_tracked_clients: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login_per_ip_per_minute: 60,
            login_per_app_per_second: 1000,
            ipv6_prefix: 64,
            max_tracked_clients: 100_000,
        }
    }
}

/// Connection limits of the server (`[http]`); times in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// A connection whose request head is not complete by then is closed.
    pub header_timeout: u64,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: u64,
    /// A request not answered by then (reading its body included) gets 408.
    pub request_timeout: u64,
    /// Connections beyond this are closed as they arrive. Default: the
    /// process's open-file limit less a reserve for the store and files.
    pub max_connections: Option<usize>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_timeout: 10,
            idle_timeout: 60,
            request_timeout: 30,
            max_connections: None,
        }
    }
}

/// `HttpSettings`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

/// Descriptors kept free for the store's connections, SQLite's files and logs.
const FD_RESERVE: usize = 128;

/// The soft open-file limit of this process (Linux), if it can be read.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

impl HttpSettings {
    pub(super) fn validate(self) -> Result<HttpLimits, ConfigError> {
        let seconds = |name: &str, value: u64| {
            if (1..=3600).contains(&value) {
                Ok(Duration::from_secs(value))
            } else {
                Err(invalid(format!("http.{name}"), "must be 1..=3600 seconds"))
            }
        };
        let max_connections = match self.max_connections {
            Some(0) => return Err(invalid("http.max_connections", "must be at least 1")),
            Some(n) => n,
            None => open_file_limit()
                .map_or(1024, |limit| limit.saturating_sub(FD_RESERVE))
                .max(16),
        };
        Ok(HttpLimits {
            header_timeout: seconds("header_timeout", self.header_timeout)?,
            idle_timeout: seconds("idle_timeout", self.idle_timeout)?,
            request_timeout: seconds("request_timeout", self.request_timeout)?,
            max_connections,
        })
    }
}
