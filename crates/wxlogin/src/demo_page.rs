//! The demo page of `wxlogin demo`: a phone-shaped page that plays the mini
//! program against the simulator, using the same SDK file mini programs use.
//! Compiled into the binary so the demo works from any directory.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("../../../clients/miniprogram/demo/index.html");
const APP_JS: &str = include_str!("../../../clients/miniprogram/demo/app.js");
const SHIM_JS: &str = include_str!("../../../clients/miniprogram/demo/wx-shim.js");
const STYLE: &str = include_str!("../../../clients/miniprogram/demo/style.css");
const SDK: &str = include_str!("../../../clients/miniprogram/src/index.js");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

/// Routes of the page; `config_json` tells it the appid and simulator URL.
pub fn routes(config_json: String) -> Router {
    let js = "text/javascript; charset=utf-8";
    Router::new()
        .route("/", get(asset("text/html; charset=utf-8", INDEX)))
        .route("/demo/app.js", get(asset(js, APP_JS)))
        .route("/demo/wx-shim.js", get(asset(js, SHIM_JS)))
        .route(
            "/demo/style.css",
            get(asset("text/css; charset=utf-8", STYLE)),
        )
        .route("/sdk/wxlogin.js", get(asset(js, SDK)))
        .route(
            "/demo/config.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], config_json) }),
        )
}
