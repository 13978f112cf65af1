//! Parsing any WeChat answer body must give a typed result, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    wechat::fuzzing::parse_every_answer(body);
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = wechat::extract_rid(text);
    }
});
