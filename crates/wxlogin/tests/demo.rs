//! `wxlogin demo`, as a new user meets it: start the binary, copy the printed
//! walkthrough into a shell, and check what each step answers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_printed_demo_walkthrough_works_in_a_shell() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxlogin"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut printed = Vec::new();
    let mut remaining_after_last_step = None;
    while remaining_after_last_step != Some(0) {
        let timeout = Duration::from_secs(60).saturating_sub(started.elapsed());
        let line = rx
            .recv_timeout(timeout)
            .expect("the demo printed its walkthrough");
        if line.starts_with("# 8.") {
            remaining_after_last_step = Some(2);
        } else if let Some(n) = remaining_after_last_step.as_mut() {
            *n -= 1;
        }
        printed.push(line);
    }
    let first = printed.iter().position(|l| l.starts_with("# 1.")).unwrap();
    let script = printed[first..].join("\n");
    let output = Command::new("bash").args(["-c", &script]).output().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{script}\n---\n{out}");
    for expected in [
        "\"token\":\"wxl_",
        "\"new_user\":true",
        "\"openid\":\"o",
        "\"nickName\":",
        "\"phone_number\":\"1",
        "x-wx-openid: o",
        "\"active\":true",
        "204",
        "\"code\":\"invalid_token\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}
