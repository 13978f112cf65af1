//! Token and code parsing: never a panic; what parses round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Some(token) = wxlogin::domain::token::SessionToken::parse(text) {
        assert_eq!(token.expose_secret(), text);
        let _ = token.hash();
    }
    let _ = wxlogin::domain::login::valid_code_shape(text);
    let _ = wechat::JsCode::parse(text);
    let _ = wechat::SessionKey::parse(text);
    let _ = wechat::AppId::parse(text);
    let _ = wechat::OpenId::parse(text);
});
