//! Open-data decryption must never panic, whatever the key, iv and data.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, &str)| {
    let (key, iv, data) = input;
    let _ = wechat::crypto::decrypt_bytes(key, iv, data);
    if let (Ok(key), Ok(appid)) = (
        wechat::SessionKey::parse(key),
        wechat::AppId::parse("wx4f4bc4dec97d474b"),
    ) {
        let _ = wechat::crypto::decrypt_open_data(&key, iv, data, &appid);
        let _ = wechat::crypto::verify_raw_data_signature(data, &key, iv);
    }
    if let Ok(appid) = wechat::AppId::parse("wx4f4bc4dec97d474b") {
        let _ = wechat::crypto::parse_open_data(data.as_bytes(), &appid);
    }
});
