//! The HTTP client and the one request path every endpoint shares.
//!
//! One function sends a request, enforces the call's deadline, retries `-1` with
//! jittered exponential backoff while the deadline allows, and turns whatever
//! comes back into either the typed answer or an [`Error`]. Endpoints only say
//! which path, which parameters and which answer type (see `api.rs`).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::error::{ApiError, Endpoint, ErrCode, Error, extract_rid};
use crate::transport;

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
        Ok(Client {
            base: transport::base_url(&self.base_url)?,
            http: transport::http_client()?,
            deadline: self.deadline,
            retry: self.retry,
        })
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
        transport::with_retries(
            self.deadline,
            self.retry,
            |outcome| matches!(outcome, Err(Error::Api(e)) if e.code.is_retryable()),
            || Error::Timeout {
                endpoint,
                deadline: self.deadline,
            },
            || self.attempt(endpoint, &request),
        )
        .await
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        request: &Request<'_>,
    ) -> Result<T, Error> {
        let url = transport::endpoint_url(&self.base, endpoint.path());
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

/// A reqwest error, without its URL (which may carry the AppSecret).
fn transport(endpoint: Endpoint, err: reqwest::Error) -> Error {
    Error::Transport {
        endpoint,
        detail: transport::describe(&err),
    }
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
