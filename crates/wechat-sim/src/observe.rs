//! What tests read back: call counters (per endpoint, app and login code), a
//! bounded log of requests with secrets redacted, and the raw decoded queries
//! for tests that assert how a client encoded its parameters.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use crate::model::{RecordedRequest, SimEndpoint};

/// How many requests (and raw queries per endpoint) are kept.
const KEEP: usize = 1000;
/// Parameter names whose values are secrets or one-time credentials.
const SECRET_NAMES: [&str; 10] = [
    "secret",
    "access_token",
    "access-token",
    "js_code",
    "code",
    "anonymous_code",
    "session_key",
    "sk",
    "corpsecret",
    "client_secret",
];
const REDACTED: &str = "[redacted]";

/// One request as the HTTP layer parsed it.
pub(crate) struct Seen<'a> {
    pub endpoint: Option<SimEndpoint>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    /// The app the call is about (its `appid`, or the owner of its token).
    pub appid: Option<&'a str>,
}

#[derive(Debug, Default)]
pub(crate) struct Observed {
    calls: HashMap<SimEndpoint, u64>,
    per_code: HashMap<String, u64>,
    per_app: HashMap<String, u64>,
    log: VecDeque<RecordedRequest>,
    queries: HashMap<SimEndpoint, VecDeque<Vec<(String, String)>>>,
}

impl Observed {
    pub fn record(&mut self, seen: &Seen<'_>) {
        if let Some(endpoint) = seen.endpoint {
            *self.calls.entry(endpoint).or_default() += 1;
            if endpoint == SimEndpoint::Code2Session
                && let Some((_, code)) = seen.query.iter().find(|(k, _)| k == "js_code")
            {
                *self.per_code.entry(code.clone()).or_default() += 1;
            }
            push_bounded(
                self.queries.entry(endpoint).or_default(),
                seen.query.to_vec(),
            );
        }
        if let Some(appid) = seen.appid {
            *self.per_app.entry(appid.to_owned()).or_default() += 1;
        }
        push_bounded(
            &mut self.log,
            RecordedRequest {
                endpoint: seen.endpoint,
                method: seen.method.to_owned(),
                path: seen.path.to_owned(),
                query: redact_query(seen.query),
                body: redact_body(seen.body),
            },
        );
    }

    pub fn calls(&self, endpoint: SimEndpoint) -> u64 {
        self.calls.get(&endpoint).copied().unwrap_or(0)
    }

    pub fn calls_for_code(&self, code: &str) -> u64 {
        self.per_code.get(code).copied().unwrap_or(0)
    }

    pub fn calls_for_app(&self, appid: &str) -> u64 {
        self.per_app.get(appid).copied().unwrap_or(0)
    }

    pub fn per_app(&self) -> &HashMap<String, u64> {
        &self.per_app
    }

    pub fn seen_query(&self, endpoint: SimEndpoint) -> Vec<Vec<(String, String)>> {
        self.queries
            .get(&endpoint)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The last `n` requests, oldest first.
    pub fn last_requests(&self, n: usize) -> Vec<RecordedRequest> {
        let skip = self.log.len().saturating_sub(n);
        self.log.iter().skip(skip).cloned().collect()
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() >= KEEP {
        queue.pop_front();
    }
    queue.push_back(item);
}

fn redact_query(query: &[(String, String)]) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(k, v)| {
            let v = if SECRET_NAMES.contains(&k.as_str()) {
                REDACTED
            } else {
                v
            };
            (k.clone(), v.to_owned())
        })
        .collect()
}

/// A JSON object body with its secret fields redacted; anything else is kept
/// only as a description, since it cannot be redacted field by field.
fn redact_body(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut map)) => {
            for name in SECRET_NAMES {
                if let Some(value) = map.get_mut(name) {
                    *value = Value::from(REDACTED);
                }
            }
            Some(Value::Object(map).to_string())
        }
        _ => Some(format!(
            "[redacted: {} bytes, not a JSON object]",
            body.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_the_log_but_not_in_seen_queries() {
        let mut observed = Observed::default();
        let query = vec![
            ("appid".to_owned(), "wx1".to_owned()),
            ("secret".to_owned(), "hunter2".to_owned()),
            ("js_code".to_owned(), "abc".to_owned()),
        ];
        observed.record(&Seen {
            endpoint: Some(SimEndpoint::Code2Session),
            method: "GET",
            path: "/sns/jscode2session",
            query: &query,
            body: br#"{"secret":"hunter2","appid":"wx1"}"#,
            appid: Some("wx1"),
        });
        let logged = format!("{:?}", observed.last_requests(10));
        assert!(
            !logged.contains("hunter2") && !logged.contains("\"abc\""),
            "{logged}"
        );
        assert!(logged.contains("[redacted]"));
        assert_eq!(observed.seen_query(SimEndpoint::Code2Session), vec![query]);
        assert_eq!(observed.calls_for_code("abc"), 1);
        assert_eq!(observed.calls_for_app("wx1"), 1);
    }
}
