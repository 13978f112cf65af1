//! The binary as an operator meets it: startup errors are one clear line and a
//! non-zero exit (never a panic), `keygen`, `migrate`, JSON logs, and the
//! shipped two-instance example config.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_wxlogin");
const APPID: &str = "wx4f4bc4dec97d474b";

fn wxlogin(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("WXLOGIN_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn keygen(dir: &Path) -> String {
    let out = wxlogin(dir, &["keygen"], &[]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn keygen_prints_base64_of_32_random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    use base64::Engine as _;
    let a = keygen(dir.path());
    let b = keygen(dir.path());
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&a)
            .unwrap()
            .len(),
        32
    );
    assert_ne!(a, b);
}

#[test]
fn bad_configuration_fails_with_one_clear_line_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    std::fs::write(dir.path().join("data.key"), &key).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "app-secret-0123456789").unwrap();
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    let base = [
        ("WXLOGIN_LISTEN", "127.0.0.1:0"),
        ("WXLOGIN_STORE", db.as_str()),
    ];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("WXLOGIN_APPID", APPID),
                ("WXLOGIN_SECRET_FILE", "secret.txt"),
            ],
            "data_key",
        ),
        (
            vec![
                ("WXLOGIN_DATA_KEY", "not-base64!"),
                ("WXLOGIN_APPID", APPID),
                ("WXLOGIN_SECRET_FILE", "secret.txt"),
            ],
            "data_key",
        ),
        (vec![("WXLOGIN_DATA_KEY_FILE", "data.key")], "apps"),
        (
            vec![
                ("WXLOGIN_DATA_KEY_FILE", "data.key"),
                ("WXLOGIN_APPID", "wx123"),
            ],
            "appid",
        ),
        (
            vec![
                ("WXLOGIN_DATA_KEY_FILE", "data.key"),
                ("WXLOGIN_APPID", APPID),
            ],
            "secret",
        ),
        (
            vec![
                ("WXLOGIN_DATA_KEY_FILE", "data.key"),
                ("WXLOGIN_APPID", APPID),
                ("WXLOGIN_SECRET_FILE", "missing.txt"),
            ],
            "missing.txt",
        ),
        (
            vec![
                ("WXLOGIN_DATA_KEY_FILE", "data.key"),
                ("WXLOGIN_APPID", APPID),
                ("WXLOGIN_SECRET_FILE", "secret.txt"),
                ("WXLOGIN_STORE", "postgres://nobody@127.0.0.1:1/none"),
            ],
            "postgres",
        ),
        (
            vec![
                ("WXLOGIN_DATA_KEY_FILE", "data.key"),
                ("WXLOGIN_APPID", APPID),
                ("WXLOGIN_SECRET_FILE", "secret.txt"),
                ("WXLOGIN_STORE", "mysql://x"),
            ],
            "unsupported store scheme",
        ),
        (
            vec![
                ("WXLOGIN_DATA_KEY_FILE", "data.key"),
                ("WXLOGIN_APPID", APPID),
                ("WXLOGIN_SECRET_FILE", "secret.txt"),
                ("WXLOGIN_UPSTREAM_TIMEOUT_MS", "soon"),
            ],
            "UPSTREAM_TIMEOUT_MS",
        ),
    ];
    for (extra, expected) in cases {
        let mut env: Vec<(&str, &str)> = base.to_vec();
        env.extend(extra.iter().copied());
        let out = wxlogin(dir.path(), &["serve"], &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} started");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !stderr.contains(&key) && !stderr.contains("app-secret-0123456789"),
            "{stderr}"
        );
    }
}

/// A backend holding the service key must not be an operator.
#[test]
fn an_admin_key_equal_to_the_service_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.key"), keygen(dir.path())).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "app-secret-0123456789").unwrap();
    let same = "one-key-for-both-0123456789";
    let out = wxlogin(
        dir.path(),
        &["serve"],
        &[
            ("WXLOGIN_DATA_KEY_FILE", "data.key"),
            ("WXLOGIN_APPID", APPID),
            ("WXLOGIN_SECRET_FILE", "secret.txt"),
            ("WXLOGIN_ADMIN_KEY", same),
            ("WXLOGIN_SERVICE_KEY", same),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.starts_with("error: service_key: must differ from admin_key"),
        "{stderr}"
    );
    assert!(!stderr.contains(same), "{stderr}");
}

/// An unknown `WXLOGIN_*` variable is a warning naming the closest setting;
/// the variables Kubernetes injects for a Service named `wxlogin` are
/// ignored quietly; the command still runs.
#[test]
fn unknown_and_kubernetes_variables_do_not_stop_startup() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let out = wxlogin(
        dir.path(),
        &["migrate"],
        &[
            ("WXLOGIN_STORE", &db),
            ("WXLOGIN_CMD", "bench"),
            ("WXLOGIN_PORT", "tcp://10.0.0.7:8080"),
            ("WXLOGIN_PORT_8080_TCP", "tcp://10.0.0.7:8080"),
            ("WXLOGIN_PORT_8080_TCP_ADDR", "10.0.0.7"),
            ("WXLOGIN_SERVICE_HOST", "10.0.0.7"),
            ("WXLOGIN_SERVICE_PORT", "8080"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("WXLOGIN_CMD"), "{stderr}");
    assert!(warnings[0].contains("did you mean"), "{stderr}");
    assert!(!stderr.contains("PORT"), "{stderr}");
}

/// `*_file` paths and a SQLite store in the config file are taken from the
/// file's folder, whatever the working directory.
#[test]
fn paths_in_the_config_resolve_from_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("state")).unwrap();
    std::fs::write(etc.join("data.key"), keygen(dir.path())).unwrap();
    std::fs::write(etc.join("secret.txt"), "0123456789abcdef0123456789").unwrap();
    std::fs::write(
        etc.join("wxlogin.toml"),
        format!(
            "store = \"sqlite://state/wx.db\"\ndata_key_file = \"data.key\"\n\
             [[apps]]\nappid = \"{APPID}\"\nsecret_file = \"secret.txt\"\n"
        ),
    )
    .unwrap();
    let out = wxlogin(
        dir.path(),
        &["migrate", "--config", "etc/wxlogin.toml"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(etc.join("state/wx.db").exists());
    assert!(!dir.path().join("state").exists());
}

/// A SQLite file in a folder that does not exist: the error names the path
/// and says why, once.
#[test]
fn a_missing_state_folder_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("var/lib/wxlogin/wxlogin.db");
    let db = format!("sqlite://{}", missing.display());
    let out = wxlogin(dir.path(), &["migrate"], &[("WXLOGIN_STORE", &db)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
}

#[test]
fn the_two_instance_example_config_is_valid_and_migrate_works() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/two-instances/wxlogin.toml");
    std::fs::copy(example, dir.path().join("wxlogin.toml")).unwrap();
    std::fs::write(dir.path().join("data.key"), keygen(dir.path())).unwrap();
    for (file, text) in [
        ("secret.txt", "0123456789abcdef0123456789"),
        ("admin.key", "admin-0123456789abcdef0123"),
        ("service.key", "service-0123456789abcdef01"),
    ] {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    // The example points at PostgreSQL; the test keeps its file layout but uses SQLite.
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let out = wxlogin(
        dir.path(),
        &["migrate", "--config", "wxlogin.toml"],
        &[("WXLOGIN_STORE", &db)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("m.db").exists());
    // `serve` accepts the whole file (it fails only later, if at all, on the store).
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--config", "wxlogin.toml"])
        .env("WXLOGIN_STORE", &db)
        .env("WXLOGIN_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // log_format = "json" in the example: every line is a JSON object.
    let line: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|_| panic!("not JSON: {first}"));
    assert_eq!(line["message"], "wxlogin listening", "{line}");
}
