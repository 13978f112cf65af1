//! The command line: `serve`, `sim`, `demo`, `migrate`, `keygen`,
//! `code2session`. Startup errors print one clear line and exit non-zero.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::Application;
use crate::config::Settings;
#[cfg(feature = "demo")]
use crate::demo;
use crate::domain::DataKey;
use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "wxlogin",
    version,
    about = "Login service for WeChat Mini Programs"
)]
pub struct Cli {
    /// Log format (also `log_format` in the config file).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// TOML config file (default: wxlogin.toml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run the WeChat simulator alone (seeded with the demo app).
    #[cfg(feature = "demo")]
    Sim {
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: String,
    },
    /// Simulator + service on a temporary SQLite, with a walkthrough.
    #[cfg(feature = "demo")]
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The tokens the demo issues: `opaque` (default) or `jwt` (signed
        /// access tokens + refresh tokens; the issuer is the --listen address).
        #[arg(long, default_value = "opaque", value_parser = ["opaque", "jwt"])]
        tokens: String,
    },
    /// Create or upgrade the store's schema, then exit.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print a new random data key (base64 of 32 bytes).
    Keygen,
    /// Re-seal every stored value under the first key of the data key ring
    /// (`data_key_files = ["new.key", "old.key"]`), online, page by page.
    Rekey {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Values per page.
        #[arg(long, default_value_t = 500)]
        page: usize,
    },
    /// jwt mode: make a new signing key that signs at once; with
    /// --drop-old, delete the others (a compromised key: every access token
    /// in flight is refused, clients refresh).
    RotateSigningKey {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        drop_old: bool,
    },
    /// Call jscode2session once, for debugging a real app's credentials.
    Code2session {
        #[arg(long)]
        appid: String,
        /// File holding the AppSecret (never pass secrets on the command line).
        #[arg(long)]
        secret_file: PathBuf,
        #[arg(long)]
        code: String,
        #[arg(long, default_value = wechat::DEFAULT_BASE_URL)]
        base_url: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let settings = Settings::load(config.as_deref())?;
            telemetry::init_logging(
                cli.log_format.unwrap_or(settings.log_format),
                "info,wxlogin=info",
            );
            let config = settings.validate()?;
            let app = Application::build(config).await?;
            tracing::info!(addr = %app.local_addr()?, "wxlogin listening");
            app.run_until_stopped().await?;
        }
        #[cfg(feature = "demo")]
        Command::Sim { listen } => {
            telemetry::init_logging(cli.log_format.unwrap_or_default(), "info");
            demo::run_simulator(&listen).await?;
        }
        #[cfg(feature = "demo")]
        Command::Demo { listen, tokens } => {
            telemetry::init_logging(cli.log_format.unwrap_or_default(), "warn,wxlogin=info");
            demo::run(&listen, tokens == "jwt").await?;
        }
        Command::Migrate { config } => {
            let settings = Settings::load(config.as_deref())?;
            crate::store::open(&settings.store, true).await?;
            println!("migrations applied to {}", settings.store);
        }
        Command::Keygen => println!("{}", DataKey::generate_text()),
        Command::Rekey { config, page } => {
            telemetry::init_logging(cli.log_format.unwrap_or_default(), "warn");
            let config = Settings::load(config.as_deref())?.validate()?;
            let state =
                crate::app::build_state(&config, std::sync::Arc::new(crate::clock::SystemClock))
                    .await?;
            let report = state
                .core
                .rekey(page.max(1), |table, so_far| {
                    println!(
                        "{table:?}: {} re-sealed, {} already current, {} changed meanwhile, {} unopenable",
                        so_far.resealed, so_far.current, so_far.changed, so_far.unopenable
                    );
                })
                .await?;
            if report.unopenable > 0 {
                anyhow::bail!(
                    "{} values open under no key of the ring: keep the key that sealed them",
                    report.unopenable
                );
            }
            println!("done: every stored value is sealed under the first key of the ring");
        }
        Command::RotateSigningKey { config, drop_old } => {
            telemetry::init_logging(cli.log_format.unwrap_or_default(), "warn");
            let config = Settings::load(config.as_deref())?.validate()?;
            let state =
                crate::app::build_state(&config, std::sync::Arc::new(crate::clock::SystemClock))
                    .await?;
            let kid = state.core.rotate_signing_key(drop_old).await?;
            println!(
                "new signing key {kid} signs from now on{}",
                if drop_old {
                    "; every other key was deleted"
                } else {
                    ""
                }
            );
        }
        Command::Code2session {
            appid,
            secret_file,
            code,
            base_url,
        } => {
            let appid = wechat::AppId::parse(&appid)?;
            let secret = std::fs::read_to_string(&secret_file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", secret_file.display()))?;
            let secret = wechat::AppSecret::parse(secret.trim())?;
            let code = wechat::JsCode::parse(&code)?;
            let client = wechat::Client::builder().base_url(base_url).build()?;
            let session = client.code2session(&appid, &secret, &code).await?;
            println!("openid:      {}", session.openid);
            println!(
                "unionid:     {}",
                session
                    .unionid
                    .as_ref()
                    .map_or("(none: app not bound to an Open Platform account)", |u| u
                        .as_str())
            );
            println!("session_key: [redacted] (valid, 16 bytes)");
        }
    }
    Ok(())
}
