//! The accept loop: HTTP/1.1 connections served by hyper with the limits
//! `axum::serve` does not have. A client that opens a connection and sends
//! nothing (or half a request head), keeps an idle connection forever, or
//! trickles a body, would otherwise hold a socket and a file descriptor for
//! as long as it likes; enough of them and `/healthz` stops answering.
//!
//! - `header_timeout`: a connection whose first request head is not complete
//!   by then is closed (hyper's header read timeout covers later heads);
//! - `idle_timeout`: a connection with no request in flight for that long is
//!   closed;
//! - `request_timeout`: a request (reading its body included) that has no
//!   answer by then gets 408 `request_timeout`;
//! - `max_connections`: connections beyond it are closed as they arrive, so
//!   the process keeps descriptors for its store and its own files.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::config::HttpLimits;

/// How long a graceful shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(30);

/// Serve `app` on `listener` until `shutdown` resolves, then let the
/// requests in flight finish (at most `DRAIN`).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            // Out of descriptors (or a connection reset before accept):
            // give the ones in use a moment to close instead of spinning.
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics::counter!("wxlogin_http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, stopping) = (app.clone(), stopping.clone());
        tokio::spawn(async move {
            connection(stream, peer, app, limits, stopping).await;
            drop(slot);
        });
    }
    let _ = stop.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN, slots.acquire_many(all)).await;
    Ok(())
}

/// When the connection last finished a request, and how many are in flight.
struct Activity {
    born: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    served: AtomicU64,
}

impl Activity {
    fn since_born(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }
}

/// Marks a request done when its answer is ready (or the request is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_ms.store(self.0.since_born(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    limits: HttpLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        born: Instant::now(),
        last_ms: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        served: AtomicU64::new(0),
    });
    let seen = Arc::clone(&activity);
    let request_timeout = limits.request_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        seen.in_flight.fetch_add(1, Ordering::Relaxed);
        seen.served.fetch_add(1, Ordering::Relaxed);
        let done = InFlight(Arc::clone(&seen));
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let answer = tokio::time::timeout(request_timeout, app.oneshot(request)).await;
            drop(done);
            Ok::<_, Infallible>(match answer {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => crate::http::request_timeout(),
            })
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let tick = (limits.header_timeout.min(limits.idle_timeout) / 4).max(Duration::from_millis(50));
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stopping.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep(tick), if !closing => {
                if activity.in_flight.load(Ordering::Relaxed) > 0 {
                    continue;
                }
                // Before its first request a connection gets `header_timeout`
                // to send a complete head; after one, `idle_timeout`.
                let limit = if activity.served.load(Ordering::Relaxed) == 0 {
                    limits.header_timeout
                } else {
                    limits.idle_timeout
                };
                let quiet = activity
                    .since_born()
                    .saturating_sub(activity.last_ms.load(Ordering::Relaxed));
                if quiet >= limit.as_millis() as u64 {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}
