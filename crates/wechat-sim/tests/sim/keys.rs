//! What hangs off the session key and the phone button: phone numbers,
//! checksession / reset, and open data that goes stale on rotation.

use crate::*;

#[tokio::test]
async fn a_phone_code_gives_the_number_once() {
    let env = env().await;
    let spec = UserSpec {
        phone: Some("13580006666".into()),
        ..UserSpec::default()
    };
    let openid = env.sim().add_user(BOUND, spec).unwrap();
    let other = env.user(BOUND);
    let token = env.token(false).await;
    let code = env.sim().mint_phone_code(BOUND, &openid).unwrap();
    assert_eq!(code.len(), 64);
    assert_eq!(
        env.phone(&token, &json!({"code": code, "openid": other}))
            .await
            .errcode(),
        40029,
        "openid mismatch"
    );
    let answer = env
        .phone(&token, &json!({"code": code, "openid": openid}))
        .await;
    let body = answer.json();
    assert_eq!(
        (body["errcode"].as_i64(), body["errmsg"].as_str()),
        (Some(0), Some("ok"))
    );
    let info = &body["phone_info"];
    assert_eq!(info["phoneNumber"], "13580006666");
    assert_eq!(info["purePhoneNumber"], "13580006666");
    assert_eq!(info["countryCode"], "86");
    assert_eq!(info["watermark"]["appid"], BOUND);
    assert_eq!(
        info["watermark"]["timestamp"].as_i64(),
        Some(env.sim().clock().now_unix())
    );
    assert_eq!(
        env.phone(&token, &json!({"code": code})).await.errcode(),
        40029,
        "reused"
    );
    let expired = env.sim().mint_phone_code(BOUND, &openid).unwrap();
    env.sim().set_country_code_as_number(true);
    let fresh = env.sim().mint_phone_code(BOUND, &openid).unwrap();
    assert_eq!(
        env.phone(&token, &json!({"code": fresh})).await.json()["phone_info"]["countryCode"],
        86
    );
    env.sim().clock().advance(Duration::from_secs(301));
    assert_eq!(
        env.phone(&token, &json!({"code": expired})).await.errcode(),
        40029,
        "expired"
    );
    let in_query = env
        .answer(
            env.http
                .post(env.url("wxa/business/getuserphonenumber"))
                .query(&[("access_token", token.as_str()), ("code", fresh.as_str())])
                .json(&json!({})),
        )
        .await;
    assert_eq!(in_query.errcode(), 40029, "the code belongs in the body");
}

#[tokio::test]
async fn checksession_fails_with_87009_after_a_reset() {
    let env = env().await;
    let openid = env.user(BOUND);
    let token = env.token(false).await;
    let key = env.exchange(BOUND, &env.code(BOUND, &openid)).await.json()["session_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        env.check_session(&token, &openid, &key).await.json(),
        json!({"errcode": 0, "errmsg": "ok"})
    );
    let reset = env.reset_key(&token, &openid, &key).await.json();
    assert_eq!(reset["errcode"], 0);
    assert_eq!(reset["openid"], openid.as_str());
    let new_key = reset["session_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(
        env.sim().session_key(BOUND, &openid).as_deref(),
        Some(new_key.as_str())
    );
    assert_eq!(
        env.check_session(&token, &openid, &key).await.errcode(),
        87009
    );
    assert_eq!(
        env.check_session(&token, &openid, &new_key).await.errcode(),
        0
    );
    // One reset per user per minute by default.
    assert_eq!(
        env.reset_key(&token, &openid, &new_key).await.errcode(),
        45011
    );
    env.sim().clock().advance(Duration::from_secs(60));
    assert_eq!(env.reset_key(&token, &openid, &new_key).await.errcode(), 0);
    let md5 = [
        ("access_token", token.as_str()),
        ("signature", "x"),
        ("openid", openid.as_str()),
        ("sig_method", "md5"),
    ];
    assert_eq!(env.get("wxa/checksession", &md5).await.errcode(), 87008);
}

#[tokio::test]
async fn open_data_decrypts_under_the_current_key_and_goes_stale_on_rotation() {
    let env = env().await;
    let openid = env.user(BOUND);
    let appid = AppId::parse(BOUND).unwrap();
    let key = SessionKey::parse(&env.sim().session_key(BOUND, &openid).unwrap()).unwrap();
    let profile = env
        .sim()
        .open_data(BOUND, &openid, OpenDataKind::Profile)
        .unwrap();
    let data = decrypt_open_data(&key, &profile.iv, &profile.encrypted_data, &appid).unwrap();
    assert_eq!(data.data["openId"], openid.as_str());
    assert!(data.data["unionId"].is_string());
    assert_eq!(data.watermark.timestamp, env.sim().clock().now_unix());
    let raw = profile.raw_data.as_deref().unwrap();
    assert!(
        !raw.contains("openId") && !raw.contains("watermark") && !raw.contains(' '),
        "{raw}"
    );
    assert!(verify_raw_data_signature(
        raw,
        &key,
        profile.signature.as_deref().unwrap()
    ));
    let phone = env
        .sim()
        .open_data(BOUND, &openid, OpenDataKind::Phone)
        .unwrap();
    assert!(phone.raw_data.is_none() && phone.signature.is_none());
    let data = decrypt_open_data(&key, &phone.iv, &phone.encrypted_data, &appid).unwrap();
    assert_eq!(data.data["countryCode"], "86");
    assert_ne!(phone.iv, profile.iv, "a fresh iv each time");
    // wx.login rotates the key: the blob minted before it is stale.
    env.code(BOUND, &openid);
    let rotated = SessionKey::parse(&env.sim().session_key(BOUND, &openid).unwrap()).unwrap();
    assert_ne!(rotated, key);
    let error =
        decrypt_open_data(&rotated, &profile.iv, &profile.encrypted_data, &appid).unwrap_err();
    assert!(error.may_be_wrong_key(), "{error:?}");
}

#[tokio::test]
async fn a_seeded_test_vector_key_is_used_for_open_data() {
    let env = env().await;
    let openid = env.user(PLAIN);
    env.sim()
        .set_session_key(PLAIN, &openid, "tiihtNczf5v6AKRyjwEUhQ==")
        .unwrap();
    assert!(
        env.sim()
            .set_session_key(PLAIN, &openid, "tiihtNczf5v6AKRyjwEU")
            .is_err()
    );
    let blob = env
        .sim()
        .open_data(PLAIN, &openid, OpenDataKind::Profile)
        .unwrap();
    let key = SessionKey::parse("tiihtNczf5v6AKRyjwEUhQ==").unwrap();
    let data = decrypt_open_data(
        &key,
        &blob.iv,
        &blob.encrypted_data,
        &AppId::parse(PLAIN).unwrap(),
    )
    .unwrap();
    assert!(data.data.get("unionId").is_none(), "unbound app");
    let wire = serde_json::to_value(&blob).unwrap();
    assert!(
        wire["encryptedData"].is_string() && wire["rawData"].is_string(),
        "{wire}"
    );
}
