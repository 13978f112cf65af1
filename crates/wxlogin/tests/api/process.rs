//! The real `wxlogin` binary as a child process, with everything it prints
//! collected: for tests about logs, which only the binary's own subscriber
//! writes the way an operator sees them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::helpers::*;

pub struct ServiceProcess {
    pub address: String,
    /// The data key it was given (a secret the logs must not hold).
    pub data_key: String,
    child: Child,
    lines: Receiver<String>,
    log: String,
}

impl ServiceProcess {
    /// `wxlogin serve` on a SQLite file in `dir`, app A only, the operator
    /// keys of `helpers`, WeChat at `sim_url`; `rust_log` is `RUST_LOG`
    /// (`None`: unset, the binary's default). Returns once it listens.
    pub fn start(dir: &Path, sim_url: &str, rust_log: Option<&str>) -> Self {
        Self::start_on(dir, sim_url, rust_log, None)
    }

    /// `start`, on the store `store_url` instead of the SQLite file.
    pub fn start_on(
        dir: &Path,
        sim_url: &str,
        rust_log: Option<&str>,
        store_url: Option<&str>,
    ) -> Self {
        Self::start_with(dir, sim_url, rust_log, store_url, &[])
    }

    /// `start_on`, with extra `WXLOGIN_*` settings in the environment.
    pub fn start_with(
        dir: &Path,
        sim_url: &str,
        rust_log: Option<&str>,
        store_url: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let data_key = wxlogin::domain::DataKey::generate_text();
        std::fs::write(dir.join("data.key"), &data_key).unwrap();
        std::fs::write(dir.join("secret.txt"), SECRET_A).unwrap();
        let config = format!(
            r#"listen = "127.0.0.1:0"
store = "sqlite://{db}"
data_key_file = "{dir}/data.key"
admin_key = "{ADMIN_KEY}"
service_key = "{SERVICE_KEY}"
wechat_base_url = "{sim_url}"
[[apps]]
appid = "{APP_A}"
secret_file = "{dir}/secret.txt"
"#,
            db = dir.join("w.db").display(),
            dir = dir.display(),
        );
        std::fs::write(dir.join("wxlogin.toml"), config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_wxlogin"));
        command
            .args(["serve", "--config"])
            .arg(dir.join("wxlogin.toml"))
            .env_remove("WXLOGIN_APPID")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        if let Some(url) = store_url {
            command.env("WXLOGIN_STORE", url);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        // Both streams feed one channel; the listening address is read from it.
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut log = String::new();
        let address = loop {
            let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) else {
                panic!("the service did not start; it printed:\n{log}");
            };
            log.push_str(&line);
            log.push('\n');
            if line.contains("wxlogin listening") {
                let start = line.find("127.0.0.1:").unwrap();
                let addr: String = line[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                break format!("http://{addr}");
            }
        };
        Self {
            address,
            data_key,
            child,
            lines,
            log,
        }
    }

    /// `POST /v1/login` with `code` to this process; the (200) answer.
    pub async fn login(&self, code: &str) -> serde_json::Value {
        let login = http_client()
            .post(format!("{}/v1/login", self.address))
            .json(&serde_json::json!({"code": code}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), reqwest::StatusCode::OK);
        login.json().await.unwrap()
    }

    /// Stop the process and return everything it printed.
    pub async fn finish(mut self) -> String {
        // Let the last lines reach the pipes; the runtime keeps serving the
        // simulator meanwhile.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.stop();
        let lines = std::mem::replace(&mut self.lines, std::sync::mpsc::channel().1);
        let mut log = std::mem::take(&mut self.log);
        tokio::task::spawn_blocking(move || {
            while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
                log.push_str(&line);
                log.push('\n');
            }
            log
        })
        .await
        .unwrap()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test that fails before `finish` leaves no process behind.
impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
