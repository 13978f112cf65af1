//! Logs and metrics. Logs go through `tracing` (text or JSON); metrics through
//! the `metrics` facade into one process-wide Prometheus recorder that
//! `/metrics` renders. Nothing recorded here carries a secret: labels are
//! routes, statuses, outcomes and errcodes.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use parking_lot::RwLock;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Install the global subscriber (once; later calls are no-ops). `RUST_LOG`
/// overrides `default_filter`.
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours for a terminal only: no escape codes in journald or files,
        // and no styling work on every request span.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_span_events(FmtSpan::NONE);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use. Every
/// `Application` in the process (tests run several) shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program;
            // then our handle renders only what we record through it.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        upkeep.run_upkeep();
                    }
                });
            }
            handle
        })
        .clone()
}

pub fn login_outcome(outcome: &'static str) {
    metrics::counter!("wxlogin_logins_total", "outcome" => outcome).increment(1);
}

pub fn upstream_error(errcode: Option<i64>) {
    let label = errcode.map_or_else(|| "transport".to_owned(), |c| c.to_string());
    metrics::counter!("wxlogin_upstream_errors_total", "errcode" => label).increment(1);
}

/// A refusal by another platform than WeChat, by that platform's own code
/// (`transport` when no answer came).
pub fn upstream_platform_error(platform: &'static str, code: Option<&str>) {
    let code = code.unwrap_or("transport").to_owned();
    metrics::counter!("wxlogin_platform_errors_total", "platform" => platform, "code" => code)
        .increment(1);
}

pub fn upstream_latency(endpoint: &'static str, elapsed: Duration) {
    metrics::histogram!("wxlogin_upstream_duration_seconds", "endpoint" => endpoint)
        .record(elapsed.as_secs_f64());
}

/// One commit of the SQLite writer: how many writes it carried, and whether
/// it waited for the disk (`synchronous = FULL`).
pub fn sqlite_commit(writes: usize, durable: bool) {
    let durable = if durable { "true" } else { "false" };
    metrics::counter!("wxlogin_sqlite_commits_total", "durable" => durable).increment(1);
    metrics::histogram!("wxlogin_sqlite_batch_writes").record(writes as f64);
}

/// The per-request counter and histogram of one (route, method, status).
struct HttpHandles {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl HttpHandles {
    fn record(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

type HttpHandleMap = HashMap<String, HashMap<(&'static str, u16), HttpHandles>>;

/// Handles by route, then (method, status). The `metrics!` macros would build,
/// allocate and hash a labelled key on every request; this looks it up once
/// per label set. Routes are the router's templates (or "unmatched"), methods
/// a fixed set, so the map stays small.
static HTTP_HANDLES: LazyLock<RwLock<HttpHandleMap>> = LazyLock::new(Default::default);

pub fn http_request(route: &str, method: &'static str, status: u16, elapsed: Duration) {
    if let Some(handles) = HTTP_HANDLES
        .read()
        .get(route)
        .and_then(|by_method| by_method.get(&(method, status)))
    {
        handles.record(elapsed);
        return;
    }
    let handles = HttpHandles {
        requests: metrics::counter!("wxlogin_http_requests_total", "route" => route.to_owned(), "method" => method, "status" => status.to_string()),
        duration: metrics::histogram!("wxlogin_http_request_duration_seconds", "route" => route.to_owned(), "method" => method),
    };
    handles.record(elapsed);
    HTTP_HANDLES
        .write()
        .entry(route.to_owned())
        .or_default()
        .insert((method, status), handles);
}
