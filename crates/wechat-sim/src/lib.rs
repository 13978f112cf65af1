//! A faithful in-memory simulator of WeChat's `api.weixin.qq.com`, for tests,
//! demos and benchmarks (WECHAT_API.md §8), and of the login exchanges of the
//! other mini program platforms (Douyin, Alipay, QQ, Baidu, WeCom:
//! PLATFORMS.md), each app being of one platform ([`Platform`]).
//!
//! [`Simulator`] holds the whole WeChat side in memory (apps, users, session
//! keys, login and phone codes, access tokens) on an adjustable [`SimClock`]. It
//! serves WeChat's exact wire formats and errcodes over HTTP
//! ([`Simulator::router`], [`Simulator::spawn`]), plays the mini program's side
//! (`wx.login`, the phone button, open data) from test code or `/__sim/`, and
//! injects faults per endpoint: latency, `-1`, any errcode, garbage bodies, HTTP
//! errors, hangs and connection resets.
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod clock;
mod endpoints;
mod faults;
mod http;
mod ids;
mod model;
mod observe;
mod opendata;
mod platforms;
mod platforms_alipay;
mod platforms_douyin;
mod server;
mod sim;
mod state;
mod test_api;
mod tokens;
mod wire;

pub use clock::SimClock;
pub use faults::{Fault, FaultKind, Garbage};
pub use model::{
    AppSpec, OpenDataBlob, OpenDataKind, Platform, RecordedRequest, Rotation, SimEndpoint,
    SimError, UserSpec,
};
pub use platforms_alipay::test_keys;
pub use server::SimHandle;
pub use sim::Simulator;
