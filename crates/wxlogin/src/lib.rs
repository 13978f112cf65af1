//! wxlogin: a self-hosted login service for WeChat Mini Programs.
//!
//! - [`domain`]: the login policy and session lifecycle (no HTTP, no SQL);
//! - [`store`]: storage traits by role and their backends;
//! - [`http`]: the axum adapter, OpenAPI, and [`http::WxSession`] for embedding;
//! - [`config`], [`app`], [`cli`]: configuration, wiring, command line.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "demo")]
mod demo_apps;
#[cfg(feature = "demo")]
mod demo_page;
pub mod domain;
pub mod http;
pub mod ids;
mod serve;
pub mod store;
pub mod telemetry;

pub use app::{Application, StartupError};
pub use config::{Config, Settings};
pub use domain::Core;
pub use http::WxSession;
