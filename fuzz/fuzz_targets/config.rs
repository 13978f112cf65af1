//! Any TOML config must load to settings or a clear error, and validate to a
//! config or a clear error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = wxlogin::config::Settings::from_toml_str(text).map(|s| s.validate());
});
