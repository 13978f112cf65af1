//! Serving the simulator over TCP, with the one thing axum does not offer out of
//! the box: a handler that can drop its own connection (the `Reset` fault).
//!
//! Each accepted socket is wrapped in [`SimConn`], whose kill switch travels to
//! handlers as axum connect-info ([`ConnControl`]). A handler that flips it makes
//! the socket fail its next read or write, so hyper abandons the connection
//! without answering; on drop the socket is closed with `SO_LINGER` 0, so the
//! peer gets a TCP RST, like a proxy resetting the connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::Simulator;

/// What a handler knows about its connection: how to kill it, and whether the
/// server is stopping (a hanging handler gives up then).
#[derive(Clone, Debug)]
pub(crate) struct ConnControl {
    killed: Arc<AtomicBool>,
    stopping: watch::Receiver<()>,
}

impl ConnControl {
    /// Make the connection fail instead of answering.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
    }

    /// Resolves when the server starts shutting down.
    pub async fn stopping(&self) {
        let mut stopping = self.stopping.clone();
        // Err means the sender is gone, which is the shutdown signal itself.
        while stopping.changed().await.is_ok() {}
    }
}

impl Connected<IncomingStream<'_, SimListener>> for ConnControl {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.io().control.clone()
    }
}

/// A TCP listener whose connections can be killed by their handlers.
pub(crate) struct SimListener {
    inner: TcpListener,
    stopping: watch::Receiver<()>,
}

impl SimListener {
    pub fn new(inner: TcpListener, stopping: watch::Receiver<()>) -> Self {
        Self { inner, stopping }
    }
}

impl Listener for SimListener {
    type Io = SimConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimConn, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY not set");
                    }
                    let control = ConnControl {
                        killed: Arc::new(AtomicBool::new(false)),
                        stopping: self.stopping.clone(),
                    };
                    return (SimConn { stream, control }, addr);
                }
                // Per-connection errors (e.g. the peer already left) or fd
                // exhaustion: wait a little, as axum's own listener does.
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted socket that fails every operation once its handler killed it.
pub(crate) struct SimConn {
    stream: TcpStream,
    control: ConnControl,
}

impl SimConn {
    fn check(&self) -> io::Result<()> {
        if self.control.killed.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "reset by fault injection",
            ));
        }
        Ok(())
    }
}

impl Drop for SimConn {
    fn drop(&mut self) {
        if self.control.killed.load(Ordering::Relaxed)
            && let Err(e) = self.stream.set_zero_linger()
        {
            // The peer then sees a plain close (FIN) instead of a reset: still a
            // connection closed without an answer.
            tracing::debug!(error = %e, "SO_LINGER 0 not set; closing normally");
        }
    }
}

impl AsyncRead for SimConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A running simulator; dropping it stops the server (gracefully: open
/// connections finish, hanging handlers give up).
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    sim: Simulator,
    _stop: watch::Sender<()>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT/`, with the trailing slash a base URL join needs.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn sim(&self) -> &Simulator {
        &self.sim
    }
}

impl Simulator {
    /// Bind `127.0.0.1:0` and serve [`Simulator::router`] in a background task.
    pub async fn spawn(&self) -> io::Result<SimHandle> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(());
        let sim = self.clone();
        tokio::spawn(async move {
            let mut stopped = stopped;
            let signal = async move { while stopped.changed().await.is_ok() {} };
            if let Err(e) = sim.serve(listener, signal).await {
                tracing::error!(error = %e, "wechat simulator stopped with an error");
            }
        });
        Ok(SimHandle {
            addr,
            sim: self.clone(),
            _stop: stop,
        })
    }

    /// Serve on `listener` until `shutdown` resolves, then finish open
    /// connections (hanging handlers give up at once). This is what `spawn` and
    /// the binary use; serving [`Simulator::router`] some other way works too,
    /// but then a `Reset` fault can only abort the response body.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let (stop, stopping) = watch::channel(());
        let listener = SimListener::new(listener, stopping);
        let app = self
            .router()
            .into_make_service_with_connect_info::<ConnControl>();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                drop(stop);
            })
            .await
    }
}
