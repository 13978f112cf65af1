//! `wechat-sim`: the simulator as a standalone server for demos and for tests
//! written in other languages. Seeds apps, prints how to play `wx.login`, and
//! runs until Ctrl-C.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use clap::Parser;
use wechat_sim::{AppSpec, Simulator};

const DEMO_APPID: &str = "wx4f4bc4dec97d474b";
const DEMO_SECRET: &str = "demo-secret-0123456789abcdef";

/// An in-memory WeChat (api.weixin.qq.com) for tests and demos.
#[derive(Parser, Debug)]
#[command(name = "wechat-sim", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// An app as APPID:SECRET, or APPID:SECRET:bound for one bound to Open
    /// Platform (unionid returned). Repeatable; without any, the demo app
    /// wx4f4bc4dec97d474b is seeded.
    #[arg(long = "app", value_name = "APPID:SECRET[:bound]")]
    apps: Vec<String>,
}

fn parse_app(text: &str) -> anyhow::Result<AppSpec> {
    let mut parts = text.splitn(3, ':');
    let (Some(appid), Some(secret)) = (parts.next(), parts.next()) else {
        bail!("--app {text:?}: expected APPID:SECRET[:bound]");
    };
    let bound = match parts.next() {
        None => false,
        Some("bound") => true,
        Some(other) => bail!("--app: unknown flag {other:?} (only `bound`)"),
    };
    if appid.is_empty() || secret.is_empty() {
        bail!("--app: appid and secret must not be empty");
    }
    Ok(AppSpec {
        appid: appid.to_owned(),
        secret: secret.to_owned(),
        bound_to_open_platform: bound,
        ip_whitelist: false,
        ..AppSpec::default()
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut apps = cli
        .apps
        .iter()
        .map(|a| parse_app(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if apps.is_empty() {
        apps.push(AppSpec {
            appid: DEMO_APPID.to_owned(),
            secret: DEMO_SECRET.to_owned(),
            bound_to_open_platform: true,
            ip_whitelist: false,
            ..AppSpec::default()
        });
    }
    let sim = Simulator::new();
    let first_appid = apps.first().map(|a| a.appid.clone()).unwrap_or_default();
    for app in apps {
        println!(
            "app {} (bound to Open Platform: {})",
            app.appid, app.bound_to_open_platform
        );
        sim.add_app(app);
    }
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let base = format!("http://{}/", listener.local_addr()?);
    println!("WeChat simulator at {base}");
    println!("play wx.login (creates a user):");
    println!(
        "  curl -s -X POST {base}__sim/login -H 'content-type: application/json' -d '{{\"appid\":\"{first_appid}\"}}'"
    );
    println!("counters: curl -s {base}__sim/stats");
    sim.serve(listener, async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("cannot listen for Ctrl-C ({e}); stopping");
        }
    })
    .await
    .context("server failed")?;
    Ok(())
}
