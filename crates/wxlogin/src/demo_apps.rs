//! The demo's mini programs: WeChat's sample app and one app of every other
//! platform, registered in the simulator and configured in the service, so
//! the demo page can log in from each (its platform switch). The keys are
//! the simulator's published test keys; nothing here is a real credential.

use secrecy::SecretString;
use serde_json::{Value, json};
use wechat_sim::{AppSpec, Platform, Simulator, test_keys};

use crate::config::AppSettings;

/// Not real secrets: the simulator is local.
const SECRET: &str = "demo-platform-secret-0123456789";
const BAIDU_APP_KEY: &str = "DemoBaiduAppKey0123456789abcdefg";
const CORPID: &str = "wwdemo0123456789ab";

/// (platform, appid) of each demo app beside WeChat's.
pub const APPS: [(Platform, &str); 5] = [
    (Platform::Douyin, "tt0123456789abcdef"),
    (Platform::Alipay, "2021000000000001"),
    (Platform::Qq, "1100000001"),
    (Platform::Baidu, "10000001"),
    (Platform::Wecom, "wx0123456789abcdef"),
];

/// Register the demo apps in the simulator.
pub fn register(sim: &Simulator) {
    for (platform, appid) in APPS {
        sim.add_app(AppSpec {
            appid: appid.into(),
            secret: SECRET.into(),
            bound_to_open_platform: true,
            platform,
            app_key: (platform == Platform::Baidu).then(|| BAIDU_APP_KEY.into()),
            corpid: (platform == Platform::Wecom).then(|| CORPID.into()),
            app_public_key: matches!(platform, Platform::Alipay | Platform::Douyin)
                .then(|| test_keys::APP_PUBLIC_KEY.into()),
            alipay_aes_key: (platform == Platform::Alipay).then(|| test_keys::AES_KEY.into()),
            ..AppSpec::default()
        });
    }
}

/// The service's configuration of the demo apps, pointed at the simulator.
pub fn settings(sim_url: &str) -> Vec<AppSettings> {
    APPS.iter()
        .map(|&(platform, appid)| {
            let alipay = platform == Platform::Alipay;
            AppSettings {
                appid: appid.into(),
                platform: crate::ids::Platform::parse(platform.as_str()).unwrap_or_default(),
                secret: (!alipay).then(|| SecretString::from(SECRET)),
                api_base_url: Some(sim_url.to_owned()),
                app_key: (platform == Platform::Baidu).then(|| BAIDU_APP_KEY.into()),
                corpid: (platform == Platform::Wecom).then(|| CORPID.into()),
                app_private_key: matches!(platform, Platform::Alipay | Platform::Douyin)
                    .then(|| SecretString::from(test_keys::APP_PRIVATE_KEY)),
                alipay_public_key: alipay.then(|| test_keys::ALIPAY_PUBLIC_KEY.to_owned()),
                aes_key: alipay.then(|| SecretString::from(test_keys::AES_KEY)),
                ..AppSettings::default()
            }
        })
        .collect()
}

/// The demo page's list of apps (WeChat's first).
pub fn page_apps(wechat_appid: &str) -> Value {
    let mut apps = vec![json!({"platform": "wechat", "appid": wechat_appid})];
    apps.extend(
        APPS.iter()
            .map(|(platform, appid)| json!({"platform": platform.as_str(), "appid": appid})),
    );
    Value::Array(apps)
}
