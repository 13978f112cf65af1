//! Every test vector of WECHAT_API.md §7, positive and negative, through the
//! crate's public crypto API.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use wechat::crypto::{
    CryptoError, decrypt_bytes, decrypt_open_data, encrypt_open_data, login_state_signature,
    raw_data_signature, verify_login_state_signature, verify_raw_data_signature,
};
use wechat::{AppId, SessionKey};

const APPID: &str = "wx4f4bc4dec97d474b";
const K1: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const IV1: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const TV1_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
const TV1_PLAIN: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;
const TV2_DATA: &str = "xT8p8W6jIVdEWQ+ccHuD2bmG5RSiwg14VWRFw/UGVh6Aj+jDIadafJ4xdCIBQ/uxDiyw/MZWvpFyRn3pP3xxVfNQxFtzghvK+Pj5JQI7x412Zc+UKBdZyt5yiQboroSxabTum1k4MMOlnoCxhJ46cxPDT2EuLbNUf2McwNtGO0/9E+Xj/ZwENw48ucueL3UqNoKpXxFYvqH6eawrR2MXnA==";
const TV2_PLAIN: &str = r#"{"phoneNumber":"13580006666","purePhoneNumber":"13580006666","countryCode":"86","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;
const TV3_KEY: &str = "HyVFkGl5F5OQWJZZaNzBBg==";
const TV3_RAW: &str = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
const TV5_DATA: &str = "jTW0h9aBTtszG7J2Dxilnap/B4E344Gvw3ilrBD2MT1Y3+ifZeXOj6gNReFiWeqR2tFMSS0B+8IF4TeUfOmI7yU60Qd11Q5hOQNhSPjwTtPcjYQjsRGgs3sCf0KZn/esY0VHrpYATS8lPEzFj1+DYQ==";
const N9_DATA: &str = "xT8p8W6jIVdEWQ+ccHuD2bmG5RSiwg14VWRFw/UGVh6Aj+jDIadafJ4xdCIBQ/uxDiyw/MZWvpFyRn3pP3xxVfNQxFtzghvK+Pj5JQI7x412Zc+UKBdZyt5yiQboroSxabTum1k4MMOlnoCxhJ46c1NS9Zep5tw/ULPbD0E0V478/E+LpDujHxv7GA+ss8v+XRtEpXkmf50yNUJgoAAu4Q==";

fn key(s: &str) -> SessionKey {
    SessionKey::parse(s).unwrap()
}

fn appid(s: &str) -> AppId {
    AppId::parse(s).unwrap()
}

fn iv1() -> [u8; 16] {
    STANDARD.decode(IV1).unwrap().try_into().unwrap()
}

#[test]
fn tv1_official_sample_decrypts_to_the_exact_plaintext() {
    let plain = decrypt_bytes(K1, IV1, TV1_DATA).unwrap();
    assert_eq!(plain.len(), 393);
    assert_eq!(plain, TV1_PLAIN.as_bytes());
    assert_eq!(
        hex::encode(Sha256::digest(&plain)),
        "3237d8a5dbd413523c194882c7156544d8a06e2afcc97383cc300c17bd09391b"
    );
    let open = decrypt_open_data(&key(K1), IV1, TV1_DATA, &appid(APPID)).unwrap();
    assert_eq!(open.watermark.appid, APPID);
    assert_eq!(open.watermark.timestamp, 1477314187);
    assert_eq!(open.data["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_eq!(open.data["unionId"], "ocMvos6NjeKLIBqg5Mr9QjxrP1FA");
}

#[test]
fn tv2_phone_number_decrypts_and_reencrypts_byte_for_byte() {
    let open = decrypt_open_data(&key(K1), IV1, TV2_DATA, &appid(APPID)).unwrap();
    assert_eq!(open.data["phoneNumber"], "13580006666");
    assert_eq!(open.data["countryCode"], "86");
    assert_eq!(
        decrypt_bytes(K1, IV1, TV2_DATA).unwrap(),
        TV2_PLAIN.as_bytes()
    );
    assert_eq!(
        encrypt_open_data(&key(K1), &iv1(), TV2_PLAIN.as_bytes()),
        TV2_DATA
    );
}

#[test]
fn tv3_raw_data_signature_matches_the_official_value() {
    let k = key(TV3_KEY);
    let sig = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
    assert_eq!(raw_data_signature(TV3_RAW, &k), sig);
    assert!(verify_raw_data_signature(TV3_RAW, &k, sig));
    assert!(verify_raw_data_signature(TV3_RAW, &k, &sig.to_uppercase()));
}

#[test]
fn tv3_reserialised_or_altered_raw_data_does_not_verify() {
    let k = key(TV3_KEY);
    let sig = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
    let spaced = TV3_RAW.replace("\",\"", "\", \"").replace("\":", "\": ");
    let spaced = spaced.replace(",\"", ", \"");
    assert_ne!(spaced, TV3_RAW);
    assert!(!verify_raw_data_signature(&spaced, &k, sig));
    let altered = TV3_RAW.replace("\"gender\":1", "\"gender\":2");
    assert!(!verify_raw_data_signature(&altered, &k, sig));
    assert!(!verify_raw_data_signature(TV3_RAW, &k, &sig[..39]));
    assert!(!verify_raw_data_signature(TV3_RAW, &key(K1), sig));
}

#[test]
fn tv4_login_state_signatures_use_the_base64_text_as_hmac_key() {
    let cases = [
        (
            "o0q0otL8aEzpcZL/FT9WsQ==",
            r#"{"foo":"bar"}"#,
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b",
        ),
        (
            K1,
            "",
            "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735",
        ),
        (
            TV3_KEY,
            "",
            "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058",
        ),
    ];
    for (k, message, expected) in cases {
        assert_eq!(login_state_signature(&key(k), message.as_bytes()), expected);
        assert!(verify_login_state_signature(
            &key(k),
            message.as_bytes(),
            expected
        ));
    }
}

#[test]
fn tv4_wrong_the_decoded_key_signature_is_never_produced_or_accepted() {
    let k = key("o0q0otL8aEzpcZL/FT9WsQ==");
    let wrong = "bfa6883695fed51bb7e5897ce895842574a58f8a9cc5c4343f47c515ab337b89";
    assert_ne!(login_state_signature(&k, br#"{"foo":"bar"}"#), wrong);
    assert!(!verify_login_state_signature(
        &k,
        br#"{"foo":"bar"}"#,
        wrong
    ));
}

#[test]
fn tv5_full_padding_block_is_stripped() {
    let open = decrypt_open_data(&key(K1), IV1, TV5_DATA, &appid(APPID)).unwrap();
    assert_eq!(open.data["nickName"], "BBBBBBBBBBBBBBB");
    assert_eq!(decrypt_bytes(K1, IV1, TV5_DATA).unwrap().len(), 96);
}

fn err(key_b64: &str, iv: &str, data: &str, app: &str) -> CryptoError {
    match SessionKey::parse(key_b64) {
        Ok(k) => decrypt_open_data(&k, iv, data, &appid(app)).unwrap_err(),
        Err(_) => decrypt_bytes(key_b64, iv, data).unwrap_err(),
    }
}

#[test]
fn n1_wrong_key_is_bad_padding_not_json_error() {
    assert_eq!(err(TV3_KEY, IV1, TV1_DATA, APPID), CryptoError::BadPadding);
    assert!(CryptoError::BadPadding.may_be_wrong_key());
}

#[test]
fn n2_n3_n4_malformed_padding_is_rejected_strictly() {
    for data in [
        "hA4O4rDCJB5jFsKXx1y9mQ==",
        "xeiyiN0nJKfhAd5h6TDlNA==",
        "Ohf2G3fOsWuYndsHZctHOQ==",
    ] {
        assert_eq!(err(K1, IV1, data, APPID), CryptoError::BadPadding, "{data}");
    }
}

#[test]
fn n5_n6_ciphertext_not_whole_blocks_is_bad_length() {
    let raw = STANDARD.decode(TV1_DATA).unwrap();
    let cut = STANDARD.encode(&raw[..399]);
    assert_eq!(cut.len(), 532);
    assert_eq!(err(K1, IV1, &cut, APPID), CryptoError::BadLength);
    assert_eq!(err(K1, IV1, "", APPID), CryptoError::BadLength);
}

#[test]
fn n7_short_iv_is_bad_iv() {
    assert_eq!(
        err(K1, "r7BXXKkLb8qrSNn05n0q", TV1_DATA, APPID),
        CryptoError::BadIv
    );
}

#[test]
fn n8_short_key_is_bad_key_and_refused_by_session_key_parse() {
    assert!(SessionKey::parse("tiihtNczf5v6AKRyjwEU").is_err());
    assert_eq!(
        decrypt_bytes("tiihtNczf5v6AKRyjwEU", IV1, TV1_DATA).unwrap_err(),
        CryptoError::BadKey
    );
}

#[test]
fn n9_n14_watermark_of_another_app_is_a_mismatch() {
    assert_eq!(
        err(K1, IV1, N9_DATA, APPID),
        CryptoError::WatermarkMismatch {
            found: "wx0000000000000000".into()
        }
    );
    assert_eq!(
        err(K1, IV1, TV1_DATA, "wx0000000000000000"),
        CryptoError::WatermarkMismatch {
            found: APPID.into()
        }
    );
}

#[test]
fn n10_n12_valid_padding_but_not_json() {
    assert_eq!(
        err(
            K1,
            IV1,
            "8DNuyQ2dObpJijfKK4PitO86rJIDyJuGOmErB+NjP0w=",
            APPID
        ),
        CryptoError::NotJson
    );
    assert_eq!(
        err(K1, "AAAAAAAAAAAAAAAAAAAAAA==", TV1_DATA, APPID),
        CryptoError::NotJson
    );
    assert!(CryptoError::NotJson.may_be_wrong_key());
}

#[test]
fn n11_missing_watermark() {
    assert_eq!(
        err(
            K1,
            IV1,
            "xT8p8W6jIVdEWQ+ccHuD2U+W0WO/Gkgn5MYg8Ml3thc=",
            APPID
        ),
        CryptoError::WatermarkMissing
    );
}

#[test]
fn n13_plus_turned_into_space_is_invalid_base64() {
    let mangled = TV1_DATA.replace('+', " ");
    assert_eq!(
        err(K1, IV1, &mangled, APPID),
        CryptoError::InvalidBase64("encrypted_data")
    );
    assert_eq!(
        err(K1, "r7BXXKkLb8qrSNn05n0qiA=", TV1_DATA, APPID),
        CryptoError::InvalidBase64("iv")
    );
}

#[test]
fn errors_say_nothing_of_the_key() {
    for e in [
        err(TV3_KEY, IV1, TV1_DATA, APPID),
        err(K1, IV1, N9_DATA, APPID),
    ] {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(TV3_KEY) && !text.contains(K1), "{text}");
    }
}
