//! What every upstream client of wxlogin shares, WeChat's and the other
//! platforms' (`platforms` crate): an HTTP client that follows no redirect,
//! the rule that credentials travel in the clear only to this machine, a
//! deadline per call with bounded, jittered retries of "busy" answers, and
//! transport errors described without their URL (which may carry a secret).

use std::future::Future;
use std::time::Duration;

use rand::RngExt as _;
use tokio::time::Instant;
use url::Url;

pub use crate::client::{ConfigError, RetryPolicy};

/// The HTTP client of an upstream API: rustls with ring, no redirects (a
/// redirect would re-send a request carrying a secret to wherever it
/// points), `TCP_NODELAY`, a pooled connection kept a minute.
pub fn http_client() -> Result<reqwest::Client, ConfigError> {
    // reqwest is built without a default TLS provider (ring, not aws-lc); it
    // panics at build() unless a provider is installed. Installing twice is a
    // harmless no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ConfigError::Http(e.without_url().to_string()))
}

/// Parse an upstream base URL: http(s), https unless the host is a loopback
/// address (the simulator), ending in `/` so that paths join exactly.
pub fn base_url(text: &str) -> Result<Url, ConfigError> {
    let mut base = Url::parse(text).map_err(|_| ConfigError::BadBaseUrl)?;
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(ConfigError::BadBaseUrl);
    }
    if base.scheme() == "http" && !is_loopback(&base) {
        return Err(ConfigError::PlainHttpRemote);
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `base` with `path` (relative, fixed) appended, and no query.
pub fn endpoint_url(base: &Url, path: &str) -> Url {
    // Setting the path is exact, and cheaper than `Url::join`, which runs
    // the whole parser (IDNA included) on every call.
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path()));
    url.set_query(None);
    url.set_fragment(None);
    url
}

impl RetryPolicy {
    /// Full-jitter backoff before retry number `retry` (0-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let ceiling_ms = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Duration::from_millis(rand::rng().random_range(ceiling_ms / 2..=ceiling_ms))
    }
}

/// Run `attempt` until it answers something other than "busy" (as `busy`
/// tells), the policy's attempts are spent, or `deadline` has passed (then
/// `timed_out()`). Retries only when the backoff still fits the deadline.
pub async fn with_retries<T, E, Fut>(
    deadline: Duration,
    policy: RetryPolicy,
    busy: impl Fn(&Result<T, E>) -> bool,
    timed_out: impl Fn() -> E,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let deadline_at = Instant::now() + deadline;
    let mut retry = 0;
    loop {
        let outcome = tokio::time::timeout_at(deadline_at, attempt())
            .await
            .unwrap_or_else(|_| Err(timed_out()));
        if !busy(&outcome) || retry + 1 >= policy.max_attempts {
            return outcome;
        }
        let backoff = policy.backoff(retry);
        if Instant::now() + backoff >= deadline_at {
            return outcome;
        }
        tracing::debug!(retry, ?backoff, "upstream busy, retrying");
        tokio::time::sleep(backoff).await;
        retry += 1;
    }
}

/// Describe a reqwest error without its URL (which may carry a secret).
pub fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_connect() {
        "connection failed"
    } else if err.is_timeout() {
        "timed out"
    } else if err.is_body() || err.is_decode() {
        "response body interrupted"
    } else if err.is_request() {
        "request failed"
    } else {
        "error"
    };
    match std::error::Error::source(err) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    }
}
