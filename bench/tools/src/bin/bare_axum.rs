//! The limit for the verify benchmark (`bench/run`): a bare axum handler that
//! answers 200 on `GET /v1/auth`, multi-thread tokio, nothing else. It uses
//! the same global allocator as the `wxlogin` binary, so the ratio measures
//! our work per request, not the allocator.
//!
//! `cargo run --release -p wxlogin-bench-tools --bin bare_axum -- 18080`

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::Router;
use axum::routing::get;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: bare_axum PORT"))?
        .parse()?;
    let app = Router::new().route("/v1/auth", get(|| async { "" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
