//! Which `WXLOGIN_*` environment variables are settings. Figment would stop
//! at the first variable that names no setting; in a Kubernetes namespace
//! with a Service called `wxlogin`, every pod gets `WXLOGIN_PORT`,
//! `WXLOGIN_SERVICE_HOST`, … so only known names are passed on, service
//! links are ignored, and anything else is a warning that names the closest
//! setting (a typo should be seen, not silently dropped).

use std::ffi::OsString;

/// Top-level settings (`Settings`' fields).
const SETTINGS: &[&str] = &[
    "listen",
    "store",
    "data_key",
    "data_key_file",
    "data_keys",
    "data_key_files",
    "admin_key",
    "admin_key_file",
    "service_key",
    "service_key_file",
    "wechat_base_url",
    "upstream_timeout_ms",
    "trust_forwarded_for",
    "log_format",
    "rate_limits",
    "sessions",
    "identity",
    "tokens",
    "http",
    "apps",
];

/// Tables whose keys are set as `WXLOGIN_TABLE__KEY`.
const SECTIONS: &[&str] = &["rate_limits", "sessions", "identity", "tokens", "http"];

/// Read by `Settings::load` itself: a single app without a file.
const SINGLE_APP: &[&str] = &["appid", "secret", "secret_file"];

/// Whether `key` (after `WXLOGIN_`) goes to figment as a setting.
pub(super) fn is_setting(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    match key.split_once("__") {
        Some((section, rest)) => SECTIONS.contains(&section) && !rest.is_empty(),
        None => SETTINGS.contains(&key.as_str()),
    }
}

/// The variables Kubernetes injects for a Service named `wxlogin`:
/// `_SERVICE_HOST`, `_SERVICE_PORT[_NAME]`, `_PORT`, `_PORT_8080_TCP[_…]`.
fn is_service_link(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    key == "SERVICE_HOST"
        || key.starts_with("SERVICE_PORT")
        || key == "PORT"
        || key
            .strip_prefix("PORT_")
            .and_then(|rest| rest.split('_').next())
            .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

/// One warning per `WXLOGIN_*` variable that is neither a setting, nor read
/// by the loader, nor a Kubernetes service link, nor the test suite's.
pub(super) fn unknown_variables(vars: impl Iterator<Item = (OsString, OsString)>) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, _) in vars {
        let Some(key) = name.to_str().and_then(|n| n.strip_prefix("WXLOGIN_")) else {
            continue;
        };
        let lower = key.to_ascii_lowercase();
        if is_setting(key)
            || SINGLE_APP.contains(&lower.as_str())
            || lower.starts_with("test_")
            || is_service_link(key)
        {
            continue;
        }
        let closest = SETTINGS
            .iter()
            .chain(SINGLE_APP)
            .min_by_key(|s| strsim::levenshtein(s, &lower))
            .map_or(String::new(), |s| {
                format!(" (did you mean WXLOGIN_{}?)", s.to_ascii_uppercase())
            });
        warnings.push(format!(
            "WXLOGIN_{key} is not a setting and is ignored{closest}"
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(names: &[&str]) -> Vec<String> {
        unknown_variables(
            names
                .iter()
                .map(|n| (OsString::from(n), OsString::from("x"))),
        )
    }

    #[test]
    fn kubernetes_service_links_are_ignored_quietly() {
        let links = [
            "WXLOGIN_PORT",
            "WXLOGIN_SERVICE_HOST",
            "WXLOGIN_SERVICE_PORT",
            "WXLOGIN_SERVICE_PORT_HTTP",
            "WXLOGIN_PORT_8080_TCP",
            "WXLOGIN_PORT_8080_TCP_ADDR",
            "WXLOGIN_PORT_8080_TCP_PROTO",
        ];
        assert!(warnings(&links).is_empty());
        assert!(links.iter().all(|l| !is_setting(&l["WXLOGIN_".len()..])));
    }

    #[test]
    fn an_unknown_variable_warns_with_the_closest_setting() {
        let found = warnings(&["WXLOGIN_CMD", "WXLOGIN_DATA_KEY_FIEL", "OTHER_THING"]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[1].contains("did you mean WXLOGIN_DATA_KEY_FILE?"),
            "{found:?}"
        );
    }

    #[test]
    fn settings_sections_and_the_single_app_are_known() {
        for key in [
            "STORE",
            "data_key_file",
            "data_keys",
            "data_key_files",
            "SESSIONS__IDLE_TTL",
            "RATE_LIMITS__LOGIN_PER_IP_PER_MINUTE",
        ] {
            assert!(is_setting(key), "{key}");
        }
        assert!(!is_setting("SESSIONS__"));
        assert!(!is_setting("APPID"), "read by the loader, not figment");
        assert!(
            warnings(&[
                "WXLOGIN_APPID",
                "WXLOGIN_SECRET_FILE",
                "WXLOGIN_TEST_REDIS_URL"
            ])
            .is_empty()
        );
    }
}
