//! Wiring: from a validated [`Config`] to a bound, running server.
//! `Application::build(config)` → `.port()` → `.run_until_stopped()`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::Core;
use crate::http::{self, HttpState};
use crate::store::{self, StoreError};
use crate::telemetry;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("token signing keys: {0}")]
    SigningKeys(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Open the store (running migrations) and build the handlers' state. For
/// embedding: nest `http::router(state)` in your own axum app, and use
/// `state.core` with the [`crate::WxSession`] extractor.
pub async fn build_state(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<Arc<HttpState>, StartupError> {
    let store = store::open(&config.store, true).await?;
    let core = Arc::new(
        Core::new(
            store,
            config.wechat.clone(),
            clock,
            config.data_key.clone(),
            config.apps.clone(),
            config.policy,
        )
        .with_identity(config.identity)
        .with_tokens(config.tokens.clone()),
    );
    // jwt mode: the signing keys exist before the first login needs one.
    core.refresh_signing_keys()
        .await
        .map_err(|e| StartupError::SigningKeys(e.to_string()))?;
    Ok(Arc::new(HttpState {
        core,
        limiter: http::login::LoginLimiter::new(config.rate_limits),
        admin_key: config.admin_key.clone(),
        service_key: config.service_key.clone(),
        trust_forwarded_for: config.trust_forwarded_for,
        metrics: telemetry::metrics_handle(),
    }))
}

pub struct Application {
    listener: TcpListener,
    limits: crate::config::HttpLimits,
    state: Arc<HttpState>,
    extra: Option<axum::Router>,
}

impl Application {
    /// Open the store (running migrations), build the domain and bind the port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with an injected clock (tests, demo).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let state = build_state(&config, clock).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: config.listen,
                    source,
                })?;
        Ok(Self {
            listener,
            limits: config.http,
            state,
            extra: None,
        })
    }

    /// Serve more routes beside the API (the demo page).
    pub fn with_routes(mut self, routes: axum::Router) -> Self {
        self.extra = Some(routes);
        self
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The domain core, for in-process use (embedding, tests).
    pub fn core(&self) -> Arc<Core> {
        self.state.core.clone()
    }

    /// Serve until SIGTERM or Ctrl-C, then finish in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serve until `shutdown` resolves (the server's seam for tests).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let mut app = http::router(self.state);
        if let Some(extra) = self.extra {
            app = extra.merge(app);
        }
        let result = crate::serve::serve(self.listener, app, self.limits, shutdown).await;
        housekeeping.abort();
        result
    }
}

/// Periodic cleanup: expired claims and dead sessions, idle rate-limit keys;
/// with the verify cache on, its stale entries every `cache_ttl` seconds, so an
/// opened session_key leaves memory about `cache_ttl` after it stops serving
/// (later by as long as a slow store makes the purge beside it wait).
async fn housekeeping(state: Arc<HttpState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let cache_ttl = state.core.policy.cache_ttl;
    let mut sweep = tokio::time::interval(Duration::from_secs(cache_ttl.max(1) as u64));
    loop {
        tokio::select! {
            // With the cache off there is nothing to sweep.
            _ = sweep.tick(), if cache_ttl > 0 => state.core.sweep_cache(),
            _ = tick.tick() => {
                state.limiter.shrink();
                state.core.shrink_limits();
                // jwt mode: pick up keys other instances made; rotate when due.
                if let Err(e) = state.core.refresh_signing_keys().await {
                    tracing::warn!(error = %e, "cannot refresh the token signing keys");
                }
                match state.core.store.purge_expired(state.core.clock.now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(rows = n, "purged expired rows"),
                    Err(e) => tracing::warn!(error = %e, "purge failed"),
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
