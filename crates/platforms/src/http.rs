//! One upstream host of one platform: the shared HTTP client and base URL
//! rules of `wechat::transport`, a deadline per call, and retries of the
//! answers the platform's parser calls busy.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use url::Url;
use wechat::transport::{self, ConfigError, RetryPolicy};

use crate::error::{Error, Kind};

#[derive(Clone, Debug)]
pub struct Upstream {
    platform: &'static str,
    http: reqwest::Client,
    base: Url,
    deadline: Duration,
    retry: RetryPolicy,
}

impl Upstream {
    /// A platform's host (its official one, a sandbox, or the simulator).
    pub fn new(
        platform: &'static str,
        base_url: &str,
        deadline: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            platform,
            http: transport::http_client()?,
            base: transport::base_url(base_url)?,
            deadline,
            retry: RetryPolicy::default(),
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Send a request to `path` (relative to the base) until it is not busy
    /// or the deadline passes; `build` adds the parameters, `parse` reads a
    /// 200 answer.
    pub(crate) async fn call<T>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
        parse: impl Fn(&[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let platform = self.platform;
        transport::with_retries(
            self.deadline,
            self.retry,
            |outcome: &Result<T, Error>| matches!(outcome, Err(e) if e.kind() == Kind::Busy),
            || Error::Timeout {
                platform,
                endpoint,
                deadline: self.deadline,
            },
            || async {
                let url = transport::endpoint_url(&self.base, path);
                let request = build(self.http.request(method.clone(), url));
                let transport_error = |e: reqwest::Error| Error::Transport {
                    platform,
                    endpoint,
                    detail: transport::describe(&e),
                };
                let response = request.send().await.map_err(transport_error)?;
                let status = response.status();
                let body = response.bytes().await.map_err(transport_error)?;
                if status != reqwest::StatusCode::OK {
                    return Err(Error::HttpStatus {
                        platform,
                        endpoint,
                        status: status.as_u16(),
                    });
                }
                parse(&body)
            },
        )
        .await
    }

    pub(crate) fn malformed(&self, endpoint: &'static str, detail: &str) -> Error {
        Error::Malformed {
            platform: self.platform,
            endpoint,
            detail: detail.to_owned(),
        }
    }
}

/// Read `body` as JSON, keeping serde's message only when it names a
/// missing field (its other messages may quote a value, i.e. a secret).
pub(crate) fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix("missing field ") {
            Some(field) => format!(
                "missing field {}",
                field.split_whitespace().next().unwrap_or("")
            ),
            None => "not the documented JSON shape".to_owned(),
        }
    })
}
