//! `/v1/decrypt`'s core path (`Core::decrypt`: token hash, session read,
//! user read, sealed key opened with AES-256-GCM, AES-128-CBC decrypt, JSON,
//! watermark) against the raw limit measured in the same run (AES-128-CBC +
//! serde_json on the same payload). SQLite in memory; the session comes from a
//! real login against the in-process simulator.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;
use std::hint::black_box;
use wechat_sim::{AppSpec, OpenDataKind, Simulator, UserSpec};
use wxlogin::clock::SystemClock;
use wxlogin::config::{AppSettings, Settings};
use wxlogin::domain::DataKey;
use wxlogin::domain::open_data::EncryptedData;

const APPID: &str = "wx4f4bc4dec97d474b";
const SECRET: &str = "bench-secret-0123456789abcdef";

struct Setup {
    core: Arc<wxlogin::Core>,
    token: String,
    input: EncryptedData,
    blob: wechat_sim::OpenDataBlob,
    key: String,
}

/// A service core on its own in-memory SQLite, a user logged in through the
/// simulator, and that user's profile data as the mini program gets it.
async fn setup(sim: &wechat_sim::SimHandle, cache_ttl: i64) -> Setup {
    let openid = sim
        .sim()
        .add_user(APPID, UserSpec::default())
        .expect("user");
    let code = sim.sim().mint_login_code(APPID, &openid).expect("code");
    let mut settings = Settings {
        store: wxlogin::store::StoreUrl::Sqlite(wxlogin::store::SqliteTarget::Memory),
        data_key: Some(SecretString::from(DataKey::generate_text())),
        wechat_base_url: sim.base_url(),
        apps: vec![AppSettings {
            appid: APPID.into(),
            secret: Some(SecretString::from(SECRET)),
            secret_file: None,
            ..AppSettings::default()
        }],
        ..Settings::default()
    };
    settings.sessions.cache_ttl = cache_ttl;
    let config = settings.validate().expect("config");
    let state = wxlogin::app::build_state(&config, Arc::new(SystemClock))
        .await
        .expect("state");
    let core = state.core.clone();
    let login = core.login(Some(APPID), &code).await.expect("login");
    let blob = sim
        .sim()
        .open_data(APPID, &openid, OpenDataKind::Profile)
        .expect("blob");
    let key = sim.sim().session_key(APPID, &openid).expect("key");
    let input = EncryptedData {
        encrypted_data: blob.encrypted_data.clone(),
        iv: Some(blob.iv.clone()),
        raw_data: None,
        signature: None,
    };
    Setup {
        core,
        token: login.token.expose_secret().to_owned(),
        input,
        blob,
        key,
    }
}

fn decrypt(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (plain, cached, _sim) = rt.block_on(async {
        let sim = Simulator::new();
        sim.add_app(AppSpec {
            appid: APPID.into(),
            secret: SECRET.into(),
            bound_to_open_platform: true,
            ip_whitelist: false,
            ..AppSpec::default()
        });
        let sim = sim.spawn().await.expect("sim");
        (setup(&sim, 0).await, setup(&sim, 5).await, sim)
    });
    let mut group = c.benchmark_group("decrypt");
    group.bench_function("raw limit: AES-128-CBC + serde_json", |b| {
        b.iter(|| {
            let blob = &plain.blob;
            let out = wechat::crypto::decrypt_bytes(
                black_box(&plain.key),
                &blob.iv,
                &blob.encrypted_data,
            )
            .expect("decrypts");
            black_box(serde_json::from_slice::<serde_json::Value>(&out).expect("json"))
        })
    });
    for (name, s) in [
        ("Core::decrypt (store + sealed key + crypto)", &plain),
        (
            "Core::decrypt, cache_ttl = 5 (sealed key + crypto)",
            &cached,
        ),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                black_box(
                    s.core
                        .decrypt(&s.token, None, &s.input)
                        .await
                        .expect("decrypts"),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decrypt);
criterion_main!(benches);
