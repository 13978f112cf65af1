//! The client against the simulator over real HTTP: every endpoint, every errcode
//! path, retries inside the deadline, timeouts, garbage bodies, query encoding,
//! and secret redaction in everything a failed call can print.

use std::time::{Duration, Instant};

use wechat::{
    AccessToken, AppId, AppSecret, Client, Endpoint, ErrCode, Error, JsCode, OpenId, PhoneCode,
    SessionKey,
};
use wechat_sim::{AppSpec, Fault, FaultKind, Garbage, SimEndpoint, SimHandle, Simulator, UserSpec};

const BOUND_APP: &str = "wx4f4bc4dec97d474b";
const PLAIN_APP: &str = "wx1111111111111111";
const SECRET: &str = "s3cr3t-app-secret-0123456789abcd";

struct Fixture {
    sim: SimHandle,
    client: Client,
}

impl Fixture {
    async fn new() -> Self {
        let sim = Simulator::new();
        for (appid, bound) in [(BOUND_APP, true), (PLAIN_APP, false)] {
            sim.add_app(AppSpec {
                appid: appid.into(),
                secret: SECRET.into(),
                bound_to_open_platform: bound,
                ip_whitelist: false,
                ..AppSpec::default()
            });
        }
        let sim = sim.spawn().await.unwrap();
        let client = Client::builder()
            .base_url(sim.base_url())
            .deadline(Duration::from_secs(3))
            .build()
            .unwrap();
        Self { sim, client }
    }

    fn sim(&self) -> &Simulator {
        self.sim.sim()
    }

    fn user(&self, appid: &str) -> String {
        self.sim().add_user(appid, UserSpec::default()).unwrap()
    }

    fn code(&self, appid: &str, openid: &str) -> JsCode {
        JsCode::parse(&self.sim().mint_login_code(appid, openid).unwrap()).unwrap()
    }

    async fn login(&self, appid: &str, code: &JsCode) -> Result<wechat::Code2Session, Error> {
        self.client.code2session(&app(appid), &secret(), code).await
    }

    async fn stable_token(&self) -> AccessToken {
        self.client
            .stable_token(&app(BOUND_APP), &secret(), false)
            .await
            .unwrap()
            .access_token
    }
}

fn app(s: &str) -> AppId {
    AppId::parse(s).unwrap()
}

fn secret() -> AppSecret {
    AppSecret::parse(SECRET).unwrap()
}

fn errcode(result: Result<impl std::fmt::Debug, Error>) -> ErrCode {
    match result {
        Err(Error::Api(e)) => e.code,
        other => panic!("expected an errcode, got {other:?}"),
    }
}

#[tokio::test]
async fn code2session_returns_openid_key_and_unionid_for_a_bound_app() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    let code = f.code(BOUND_APP, &openid);
    let session = f.login(BOUND_APP, &code).await.unwrap();
    assert_eq!(session.openid.as_str(), openid);
    assert!(session.unionid.is_some());
    assert_eq!(
        Some(session.session_key.expose_secret().to_owned()),
        f.sim().session_key(BOUND_APP, &openid)
    );
    assert_eq!(f.sim().calls(SimEndpoint::Code2Session), 1);
}

#[tokio::test]
async fn code2session_has_no_unionid_for_an_unbound_app() {
    let f = Fixture::new().await;
    let openid = f.user(PLAIN_APP);
    let session = f
        .login(PLAIN_APP, &f.code(PLAIN_APP, &openid))
        .await
        .unwrap();
    assert_eq!(session.openid.as_str(), openid);
    assert_eq!(session.unionid, None);
}

#[tokio::test]
async fn a_reused_code_is_40163_and_an_unknown_code_40029() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    let code = f.code(BOUND_APP, &openid);
    f.login(BOUND_APP, &code).await.unwrap();
    assert_eq!(errcode(f.login(BOUND_APP, &code).await), ErrCode::CodeUsed);
    let unknown = JsCode::parse("051v0m000ObAyK19vV1005SDWf0v0m0s").unwrap();
    assert_eq!(
        errcode(f.login(BOUND_APP, &unknown).await),
        ErrCode::InvalidCode
    );
}

#[tokio::test]
async fn an_expired_code_is_40029_without_sleeping() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    let code = f.code(BOUND_APP, &openid);
    f.sim().clock().advance(Duration::from_secs(5 * 60 + 1));
    assert_eq!(
        errcode(f.login(BOUND_APP, &code).await),
        ErrCode::InvalidCode
    );
}

#[tokio::test]
async fn a_code_of_another_app_wrong_secret_unknown_app_and_blocked_user_map_to_their_codes() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    let code = f.code(BOUND_APP, &openid);
    assert_eq!(
        errcode(f.login(PLAIN_APP, &code).await),
        ErrCode::InvalidCode
    );
    let wrong = AppSecret::parse("not-the-secret").unwrap();
    let result = f.client.code2session(&app(BOUND_APP), &wrong, &code).await;
    assert_eq!(errcode(result), ErrCode::InvalidAppSecret);
    let result = f
        .client
        .code2session(&app("wx2222222222222222"), &secret(), &code)
        .await;
    assert_eq!(errcode(result), ErrCode::InvalidAppId);
    f.sim().set_blocked(BOUND_APP, &openid, true).unwrap();
    assert_eq!(
        errcode(f.login(BOUND_APP, &code).await),
        ErrCode::UserBlocked
    );
}

#[tokio::test]
async fn the_101st_call_for_a_user_within_a_minute_is_45011() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    // Align to the start of a sim minute so the window cannot roll mid-test.
    let clock = f.sim().clock();
    clock.advance(Duration::from_millis(
        60_000 - clock.now_millis().rem_euclid(60_000) as u64,
    ));
    for _ in 0..100 {
        f.login(BOUND_APP, &f.code(BOUND_APP, &openid))
            .await
            .unwrap();
    }
    let code = f.code(BOUND_APP, &openid);
    assert_eq!(
        errcode(f.login(BOUND_APP, &code).await),
        ErrCode::MinuteQuotaReached
    );
    f.sim().clock().advance(Duration::from_secs(61));
    f.login(BOUND_APP, &f.code(BOUND_APP, &openid))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_listed_errcode_maps_to_its_variant_with_the_rid() {
    let f = Fixture::new().await;
    let codes = [
        (-1, ErrCode::SystemBusy),
        (40001, ErrCode::InvalidCredential),
        (40002, ErrCode::InvalidGrantType),
        (40013, ErrCode::InvalidAppId),
        (40029, ErrCode::InvalidCode),
        (40066, ErrCode::InvalidUrl),
        (40125, ErrCode::InvalidAppSecret),
        (40163, ErrCode::CodeUsed),
        (40164, ErrCode::IpNotWhitelisted),
        (40226, ErrCode::UserBlocked),
        (40243, ErrCode::AppSecretFrozen),
        (41001, ErrCode::AccessTokenMissing),
        (41002, ErrCode::AppIdMissing),
        (41004, ErrCode::AppSecretMissing),
        (41008, ErrCode::CodeMissing),
        (42001, ErrCode::AccessTokenExpired),
        (43002, ErrCode::RequirePost),
        (43003, ErrCode::RequireHttps),
        (45009, ErrCode::DailyQuotaReached),
        (45011, ErrCode::MinuteQuotaReached),
        (47001, ErrCode::DataFormatError),
        (50004, ErrCode::ApiNotAllowed),
        (50007, ErrCode::AccountFrozen),
        (87008, ErrCode::InvalidSigMethod),
        (87009, ErrCode::InvalidSignature),
        (99999, ErrCode::Other(99999)),
    ];
    // A deadline no attempt reaches, even on a loaded machine: the -1 case ends
    // when its retries run out (under a second), every other code at once.
    let client = f.client.with_deadline(Duration::from_secs(10));
    let openid = f.user(BOUND_APP);
    for (number, variant) in codes {
        f.sim().set_fault(
            SimEndpoint::Code2Session,
            Fault::always(FaultKind::Errcode(number)),
        );
        let code = f.code(BOUND_APP, &openid);
        match client.code2session(&app(BOUND_APP), &secret(), &code).await {
            Err(Error::Api(e)) => {
                assert_eq!(e.code, variant);
                assert_eq!(e.code.code(), number);
                assert_eq!(e.endpoint, Endpoint::Code2Session);
                let rid = e.rid.expect("rid extracted");
                assert_eq!(rid.len(), 26, "{rid}");
            }
            other => panic!("{number}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn busy_twice_then_success_is_a_success_within_the_deadline() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    let code = f.code(BOUND_APP, &openid);
    f.sim()
        .set_fault(SimEndpoint::Code2Session, Fault::times(FaultKind::Busy, 2));
    let started = Instant::now();
    f.login(BOUND_APP, &code).await.unwrap();
    assert!(started.elapsed() < f.client.deadline());
    assert_eq!(f.sim().calls(SimEndpoint::Code2Session), 3);
}

#[tokio::test]
async fn busy_forever_gives_up_with_system_busy_inside_the_deadline() {
    let f = Fixture::new().await;
    let code = f.code(BOUND_APP, &f.user(BOUND_APP));
    f.sim()
        .set_fault(SimEndpoint::Code2Session, Fault::always(FaultKind::Busy));
    let deadline = Duration::from_millis(400);
    let started = Instant::now();
    let result = f
        .client
        .with_deadline(deadline)
        .code2session(&app(BOUND_APP), &secret(), &code)
        .await;
    assert_eq!(errcode(result), ErrCode::SystemBusy);
    assert!(started.elapsed() <= deadline + Duration::from_millis(250));
    assert!(
        f.sim().calls(SimEndpoint::Code2Session) >= 2,
        "retried at least once"
    );
}

#[tokio::test]
async fn a_hang_ends_with_a_timeout_at_the_deadline() {
    let f = Fixture::new().await;
    let code = f.code(BOUND_APP, &f.user(BOUND_APP));
    f.sim()
        .set_fault(SimEndpoint::Code2Session, Fault::always(FaultKind::Hang));
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let result = f
        .client
        .with_deadline(deadline)
        .code2session(&app(BOUND_APP), &secret(), &code)
        .await;
    let elapsed = started.elapsed();
    assert!(
        matches!(
            result,
            Err(Error::Timeout {
                endpoint: Endpoint::Code2Session,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(elapsed >= deadline, "{elapsed:?}");
    assert!(
        elapsed < deadline + Duration::from_millis(500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn garbage_bodies_and_http_errors_are_typed_errors() {
    let f = Fixture::new().await;
    let code = f.code(BOUND_APP, &f.user(BOUND_APP));
    for garbage in [
        Garbage::NotJson,
        Garbage::TruncatedJson,
        Garbage::Html,
        Garbage::Empty,
    ] {
        f.sim().set_fault(
            SimEndpoint::Code2Session,
            Fault::always(FaultKind::Garbage(garbage)),
        );
        let result = f.login(BOUND_APP, &code).await;
        assert!(matches!(result, Err(Error::Malformed { .. })), "{result:?}");
    }
    for body in [true, false] {
        f.sim().set_fault(
            SimEndpoint::Code2Session,
            Fault::always(FaultKind::HttpStatus { status: 502, body }),
        );
        let result = f.login(BOUND_APP, &code).await;
        assert!(
            matches!(result, Err(Error::HttpStatus { status: 502, .. })),
            "{result:?}"
        );
    }
    f.sim()
        .set_fault(SimEndpoint::Code2Session, Fault::always(FaultKind::Reset));
    let result = f.login(BOUND_APP, &code).await;
    assert!(matches!(result, Err(Error::Transport { .. })), "{result:?}");
    f.sim().clear_faults();
    f.login(BOUND_APP, &code).await.unwrap();
}

#[tokio::test]
async fn json_content_type_parses_as_well_as_text_plain() {
    let f = Fixture::new().await;
    f.sim().set_json_content_type(true);
    let openid = f.user(BOUND_APP);
    f.login(BOUND_APP, &f.code(BOUND_APP, &openid))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_code_with_query_syntax_reaches_the_simulator_as_one_literal_value() {
    let f = Fixture::new().await;
    let hostile = "x&appid=wx0000000000000000#";
    let code = JsCode::parse(hostile).unwrap();
    assert_eq!(
        errcode(f.login(BOUND_APP, &code).await),
        ErrCode::InvalidCode
    );
    let seen = f.sim().seen_query(SimEndpoint::Code2Session);
    let query = seen.last().unwrap();
    let values = |key: &str| {
        query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(values("js_code"), [hostile]);
    assert_eq!(values("appid"), [BOUND_APP]);
    assert_eq!(values("grant_type"), ["authorization_code"]);
    assert!(
        values("access_token").is_empty(),
        "jscode2session takes no access_token"
    );
    assert_eq!(f.sim().calls_for_code(hostile), 1);
}

#[tokio::test]
async fn stable_token_is_stable_and_force_refresh_replaces_it() {
    let f = Fixture::new().await;
    let first = f
        .client
        .stable_token(&app(BOUND_APP), &secret(), false)
        .await
        .unwrap();
    assert!(first.expires_in > Duration::from_secs(300));
    let again = f
        .client
        .stable_token(&app(BOUND_APP), &secret(), false)
        .await
        .unwrap();
    assert_eq!(first.access_token, again.access_token);
    let forced = f
        .client
        .stable_token(&app(BOUND_APP), &secret(), true)
        .await
        .unwrap();
    assert_ne!(first.access_token, forced.access_token);
    let wrong = AppSecret::parse("wrong").unwrap();
    let result = f.client.stable_token(&app(BOUND_APP), &wrong, false).await;
    assert!(matches!(result, Err(Error::Api(_))), "{result:?}");
}

#[tokio::test]
async fn legacy_token_issues_a_new_token_each_call() {
    let f = Fixture::new().await;
    let a = f.client.token(&app(BOUND_APP), &secret()).await.unwrap();
    let b = f.client.token(&app(BOUND_APP), &secret()).await.unwrap();
    assert_ne!(a.access_token, b.access_token);
}

#[tokio::test]
async fn phone_number_flow_and_reused_code() {
    let f = Fixture::new().await;
    let openid = f
        .sim()
        .add_user(
            BOUND_APP,
            UserSpec {
                phone: Some("13580006666".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let token = f.stable_token().await;
    let code = PhoneCode::parse(&f.sim().mint_phone_code(BOUND_APP, &openid).unwrap()).unwrap();
    let oid = OpenId::parse(&openid).unwrap();
    let info = f
        .client
        .get_user_phone_number(&token, &code, Some(&oid))
        .await
        .unwrap();
    assert_eq!(info.phone_number, "13580006666");
    assert_eq!(info.pure_phone_number, "13580006666");
    assert_eq!(info.country_code, "86");
    assert_eq!(info.watermark.appid, BOUND_APP);
    let again = f.client.get_user_phone_number(&token, &code, None).await;
    assert_eq!(errcode(again), ErrCode::InvalidCode);
}

#[tokio::test]
async fn country_code_as_a_number_is_normalised_to_a_string() {
    let f = Fixture::new().await;
    f.sim().set_country_code_as_number(true);
    let openid = f
        .sim()
        .add_user(
            BOUND_APP,
            UserSpec {
                phone: Some("13580006666".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let token = f.stable_token().await;
    let code = PhoneCode::parse(&f.sim().mint_phone_code(BOUND_APP, &openid).unwrap()).unwrap();
    let info = f
        .client
        .get_user_phone_number(&token, &code, None)
        .await
        .unwrap();
    assert_eq!(info.country_code, "86");
}

#[tokio::test]
async fn a_bad_access_token_is_40001() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    let code = PhoneCode::parse(&f.sim().mint_phone_code(BOUND_APP, &openid).unwrap()).unwrap();
    let bogus = AccessToken::parse("not-a-token").unwrap();
    let result = f.client.get_user_phone_number(&bogus, &code, None).await;
    let code = errcode(result);
    assert_eq!(code, ErrCode::InvalidCredential);
    assert!(code.is_token_rejected());
}

#[tokio::test]
async fn check_session_is_true_for_the_current_key_and_false_after_a_reset() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    let session = f
        .login(BOUND_APP, &f.code(BOUND_APP, &openid))
        .await
        .unwrap();
    let token = f.stable_token().await;
    assert!(
        f.client
            .check_session(&token, &session.openid, &session.session_key)
            .await
            .unwrap()
    );
    let new_key = f
        .client
        .reset_user_session_key(&token, &session.openid, &session.session_key)
        .await
        .unwrap();
    assert_ne!(new_key, session.session_key);
    assert_eq!(
        Some(new_key.expose_secret().to_owned()),
        f.sim().session_key(BOUND_APP, &openid)
    );
    assert!(
        !f.client
            .check_session(&token, &session.openid, &session.session_key)
            .await
            .unwrap()
    );
    assert!(
        f.client
            .check_session(&token, &session.openid, &new_key)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn nothing_a_failed_call_prints_contains_the_secret_the_key_or_the_code() {
    let f = Fixture::new().await;
    let openid = f.user(BOUND_APP);
    let code = f.code(BOUND_APP, &openid);
    let session = f.login(BOUND_APP, &code).await.unwrap();
    let key: SessionKey = session.session_key.clone();
    let token = f.stable_token().await;
    let mut printed = vec![
        format!("{:?} {:?} {}", session, key, key),
        format!("{:?} {}", secret(), secret()),
        format!("{:?} {} {:?}", token, token, f.client),
        format!("{:?}", Client::builder().base_url(f.sim.base_url())),
        format!("{:?} {}", code, code),
    ];
    let mut errors = vec![f.login(BOUND_APP, &code).await.unwrap_err()];
    for kind in [
        FaultKind::Garbage(Garbage::TruncatedJson),
        FaultKind::HttpStatus {
            status: 500,
            body: true,
        },
        FaultKind::Reset,
        FaultKind::Hang,
    ] {
        f.sim()
            .set_fault(SimEndpoint::Code2Session, Fault::always(kind));
        let client = f.client.with_deadline(Duration::from_millis(200));
        errors.push(
            client
                .code2session(&app(BOUND_APP), &secret(), &code)
                .await
                .unwrap_err(),
        );
    }
    f.sim().clear_faults();
    let wrong_key = SessionKey::from_bytes([7; 16]);
    errors.push(
        f.client
            .reset_user_session_key(&token, &session.openid, &wrong_key)
            .await
            .unwrap_err(),
    );
    for e in &errors {
        printed.push(format!("{e} {e:?} {:?}", std::error::Error::source(e)));
    }
    let secrets = [
        SECRET,
        key.expose_secret(),
        code.expose_secret(),
        token.expose_secret(),
        wrong_key.expose_secret(),
    ];
    for text in &printed {
        for s in secrets {
            assert!(!text.contains(s), "{text} contains a secret");
        }
    }
    assert!(printed.iter().any(|t| t.contains("[redacted]")));
}

/// A base URL that answers with a redirect gets an error, and the request
/// (which carries the AppSecret) is never re-sent to the other origin.
#[tokio::test]
async fn a_redirect_is_not_followed() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = elsewhere.local_addr().unwrap();
    let visited = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_millis(500), elsewhere.accept())
            .await
            .is_ok()
    });
    let redirecting = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", redirecting.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = redirecting.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target}/sns/jscode2session\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    let client = Client::builder().base_url(base).build().unwrap();
    let result = client
        .code2session(
            &AppId::parse(BOUND_APP).unwrap(),
            &AppSecret::parse(SECRET).unwrap(),
            &JsCode::parse("abc").unwrap(),
        )
        .await;
    assert!(
        matches!(result, Err(Error::HttpStatus { status: 307, .. })),
        "{result:?}"
    );
    assert!(!visited.await.unwrap(), "the redirect was followed");
}

/// The AppSecret travels in the clear only to this machine.
#[test]
fn plain_http_is_refused_except_on_the_loopback() {
    for ok in [
        "http://127.0.0.1:9100/",
        "http://localhost:9100",
        "http://[::1]:9100/",
        "https://api.weixin.qq.com/",
    ] {
        assert!(Client::builder().base_url(ok).build().is_ok(), "{ok}");
    }
    for bad in [
        "http://api.weixin.qq.com/",
        "http://10.0.0.1:9100/",
        "http://sim:9100/",
    ] {
        assert!(
            matches!(
                Client::builder().base_url(bad).build(),
                Err(wechat::ConfigError::PlainHttpRemote)
            ),
            "{bad}"
        );
    }
}
