//! The HTTP client and the one request path every endpoint shares.
//!
//! One function sends a request, enforces the call's deadline, retries `-1` with
//! jittered exponential backoff while the deadline allows, and turns whatever
//! comes back into either the typed answer or an [`Error`]. Endpoints only say
//! which path, which parameters and which answer type (see `api.rs`).

use std::time::Duration;

use rand::RngExt as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::error::{ApiError, Endpoint, ErrCode, Error, extract_rid};

/// WeChat's production host.
pub const DEFAULT_BASE_URL: &str = "https://api.weixin.qq.com/";

/// Invalid client configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("base URL is not a valid http(s) URL")]
    BadBaseUrl,
    /// The AppSecret travels in every login request: in the clear only to
    /// this machine (the simulator), never across a network.
    #[error("base URL uses http:// for a host that is not a loopback address; use https://")]
    PlainHttpRemote,
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// How `-1` (system busy) answers are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles after each retry (full jitter).
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// Full-jitter backoff before retry number `retry` (0-based).
    fn backoff(&self, retry: u32) -> Duration {
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

/// Async client for WeChat's server APIs. Cheap to clone (the connection pool is
/// shared).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    deadline: Duration,
    retry: RetryPolicy,
}

/// Builder for [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    deadline: Duration,
    retry: RetryPolicy,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            deadline: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientBuilder {
    /// Point the client at another host (a regional host, or the simulator).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The default deadline of each call, retries included.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn build(self) -> Result<Client, ConfigError> {
        let mut base = Url::parse(&self.base_url).map_err(|_| ConfigError::BadBaseUrl)?;
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
        // reqwest is built without a default TLS provider (ring, not aws-lc); it
        // panics at build() unless a provider is installed. Installing twice is a
        // harmless no-op error.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            // A redirect would re-send a request that carries the AppSecret
            // to wherever it points: follow none (a 3xx is an error).
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ConfigError::Http(e.without_url().to_string()))?;
        Ok(Client {
            http,
            base,
            deadline: self.deadline,
            retry: self.retry,
        })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The parameters of one request; secrets are exposed only while building it.
pub(crate) struct Request<'a> {
    pub method: reqwest::Method,
    pub query: Vec<(&'static str, &'a str)>,
    pub body: Option<Value>,
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for WeChat's production host with default deadline and retries.
    pub fn new() -> Result<Self, ConfigError> {
        Self::builder().build()
    }

    /// A copy of this client whose calls use `deadline` (retries included).
    pub fn with_deadline(&self, deadline: Duration) -> Self {
        Self {
            deadline,
            ..self.clone()
        }
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Send `request` to `endpoint`, retrying `-1` while the deadline allows.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        request: Request<'_>,
    ) -> Result<T, Error> {
        let deadline_at = Instant::now() + self.deadline;
        let mut retry = 0;
        loop {
            let outcome = tokio::time::timeout_at(deadline_at, self.attempt(endpoint, &request))
                .await
                .unwrap_or(Err(Error::Timeout {
                    endpoint,
                    deadline: self.deadline,
                }));
            let busy = matches!(&outcome, Err(Error::Api(e)) if e.code.is_retryable());
            if !busy || retry + 1 >= self.retry.max_attempts {
                return outcome;
            }
            let backoff = self.retry.backoff(retry);
            if Instant::now() + backoff >= deadline_at {
                return outcome;
            }
            tracing::debug!(%endpoint, retry, ?backoff, "wechat busy (-1), retrying");
            tokio::time::sleep(backoff).await;
            retry += 1;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        request: &Request<'_>,
    ) -> Result<T, Error> {
        // The base ends in '/' and the path is a fixed relative one: setting the
        // path is exact, and cheaper than `Url::join`, which runs the whole
        // parser (IDNA included) on every call.
        let mut url = self.base.clone();
        url.set_path(&format!("{}{}", self.base.path(), endpoint.path()));
        url.set_query(None);
        url.set_fragment(None);
        let mut builder = self
            .http
            .request(request.method.clone(), url)
            .query(&request.query);
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(|e| transport(endpoint, e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(endpoint, e))?;
        if status != reqwest::StatusCode::OK {
            return Err(Error::HttpStatus {
                endpoint,
                status: status.as_u16(),
            });
        }
        parse_answer(endpoint, &bytes)
    }
}

/// Describe a reqwest error without its URL (which may carry the AppSecret).
fn transport(endpoint: Endpoint, err: reqwest::Error) -> Error {
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
    let detail = match std::error::Error::source(&err) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    };
    Error::Transport { endpoint, detail }
}

/// Interpret a 200 body: JSON whatever the Content-Type; an error is an `errcode`
/// other than 0; a success must have every field `T` needs.
pub(crate) fn parse_answer<T: DeserializeOwned>(
    endpoint: Endpoint,
    body: &[u8],
) -> Result<T, Error> {
    let malformed = |detail: &str| Error::Malformed {
        endpoint,
        detail: detail.to_owned(),
    };
    let value: Value = serde_json::from_slice(body).map_err(|_| malformed("body is not JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| malformed("body is not a JSON object"))?;
    if let Some(code) = object.get("errcode") {
        let code = code
            .as_i64()
            .ok_or_else(|| malformed("errcode is not an integer"))?;
        if code != 0 {
            let message = object
                .get("errmsg")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            return Err(ApiError {
                endpoint,
                code: ErrCode::from_code(code),
                rid: extract_rid(&message),
                message,
            }
            .into());
        }
    }
    serde_json::from_value(value).map_err(|e| {
        // serde's messages may quote the offending value (a token, a key): keep
        // only which field was missing.
        let text = e.to_string();
        match text.strip_prefix("missing field ") {
            Some(field) => malformed(&format!("missing field {field}")),
            None => malformed("a field has the wrong type or shape"),
        }
    })
}
