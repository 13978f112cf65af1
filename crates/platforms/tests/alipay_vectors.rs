//! PLATFORMS.md §2.3–2.4 vectors, with the Alipay SDK's published test keys
//! (tests/fixtures/README.md): a real gateway answer's signature, the
//! request-signing string and signature, and the phone envelope.

use platforms::alipay::{self, Keys};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const FILE_UPLOAD_SIGN: &str = "F+LDzpTNiavn7xVZPGuPCSSVRSmWzJGgtuji6tVELGEaqMaNj0jRKXUEr5nloZJBBmwEnddOyCjjepMmrTKTvoOqQ0Efxpr/R1iEeHTHVbb/Q8TTh6Up5gHJDkILdaWS2q1cWeQ6VT+HQY9P3WRXS7uhILHuDODIhpAyCu5KhWGt0rMCIG+Im6NODJP2oohtSCtmTFXg58HH587Z2y2bdbjzOxLvzD9IrU1imghXQ2S/Q+wMIvRk9on6cWnBLkrNvJKapA2ReNGWOwyuASvB9zDVzhMPbR+3mfRGkVDxsq5HYLjBKGskJMXHw0HuugZij6ScRuaLPODhmHwr/pJ9yw==";

#[test]
fn a_real_gateway_answer_verifies_over_its_raw_text_only() {
    let public = alipay::public_key(&fixture("alipay-public-key.pem")).unwrap();
    let signed = r#"{"code":"10000","msg":"Success","file_id":"CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"}"#;
    assert!(alipay::verify_with(&public, signed, FILE_UPLOAD_SIGN));
    // The same object re-serialized differently no longer verifies.
    let reformatted =
        r#"{"code": "10000", "msg": "Success", "file_id": "CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"}"#;
    assert!(!alipay::verify_with(&public, reformatted, FILE_UPLOAD_SIGN));
    assert!(!alipay::verify_with(&public, signed, "wrong-sign"));
}

#[test]
fn the_request_signing_vector_matches() {
    let keys = Keys::parse(
        &fixture("app-private-key.pem"),
        &fixture("alipay-public-key.pem"),
    )
    .unwrap();
    let params = [
        ("app_id", "2021000122671080"),
        ("method", "alipay.system.oauth.token"),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", "2014-07-24 03:07:50"),
        ("version", "1.0"),
        ("grant_type", "authorization_code"),
        ("code", "4b203fe6c11548bcabd8da5bb087a83b"),
    ];
    let text = alipay::canonical(&params);
    assert_eq!(
        text,
        "app_id=2021000122671080&charset=utf-8&code=4b203fe6c11548bcabd8da5bb087a83b&format=JSON&grant_type=authorization_code&method=alipay.system.oauth.token&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0"
    );
    assert_eq!(
        keys.sign(&text),
        "J0gp6YODkuAkyGfcTbh2p7DZC5EBr9/moxO0H0i8v2NPTOueYDxpkPq7ogBodLiNqGLpaCdlGv8XT3WqtERHjh4nMy1Yn3dXu56+b0eT5BgTqGKg2B+Y2IjfhAnGnkQugO49IyHe+AltyBXble5KznTRnEp8Hwr5ZurAvwyaAL+iGjnA5K5mZahl6eP0JHvqReJbYzfFyKRa3q4sg0gQ1HSAC2Gg0OBkEt8TSERj9lUw5hfa7IFE9GEi9qIXyQZUmigutf30hKmEi9/k0chCprpHKRC9BS0/kEv2Lk+0D02skRac3CdGyIN5b64WSrjp5N85MTQc1X92w7DRG1LaOA=="
    );
}

#[test]
fn the_phone_envelope_verifies_then_decrypts() {
    let aes = alipay::aes_key("aYA0GP8JEW+D7/UFaskCWA==").unwrap();
    // The vector's envelope is signed with the app key pair standing in for
    // Alipay's (PLATFORMS.md §2.4).
    let public = alipay::public_key(&fixture("app-public-key.pem")).unwrap();
    let envelope = serde_json::json!({
        "response": "4AOYHE0rpPnRnghunsGo+mY02DzANFLwNJJCiHfrNh2we+X5AAoad9ZH/8U2jkBBReukwx0ETW2b88v62vA4iw==",
        "sign": "BNscOVRZ4uhmTy2WO4XJpFhRSSIhwXqEHvO2WMIFNMAn8f3jEoxe4nmu5yZeYdAvtRvbhv/QU+XmZcxs9EEEGrwqEt+zvIuLuYeeQlQhUFpr3DZlW4SQ8fZQutva3I2eiIl5s6BrBeQh3Fh3YezOfdfsJ/sG172l+ururp//oHbBGQj3ePGikh0llDm8bEGpkpidHrC04uLEha3GFT0cdbE2JZsx9itfFzN0BvmSLkLdnHXKCmqbwELBuALqTXCtky8GjRs8MJPEfFgpEkLBF3PENK6IfINXY907rxzgk2AnOJs0aevvA+Ih1UQ1hN8GDFqh4Zf5xKE4AH4By2GH9w==",
        "sign_type": "RSA2",
        "encrypt_type": "AES",
        "charset": "UTF-8",
    })
    .to_string();
    let data = alipay::decrypt_phone(&envelope, &aes, &public).unwrap();
    assert_eq!(data["mobile"], "1597671905");
    // Signed by another key: refused before decryption.
    let other = alipay::public_key(&fixture("alipay-public-key.pem")).unwrap();
    assert_eq!(
        alipay::decrypt_phone(&envelope, &aes, &other).unwrap_err(),
        alipay::PhoneError::BadSignature
    );
}
