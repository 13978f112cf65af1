//! Connection limits against real sockets: a client that sends nothing, half
//! a request head, goes idle, trickles a body, or opens more connections
//! than the service allows is cut off, and the service keeps answering.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Everything the server sends until it closes the connection, or `None`
/// if it is still open after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_after_the_header_timeout() {
    let app = spawn_app_with(|s| {
        s.http.header_timeout = 1;
        s.http.idle_timeout = 60;
    })
    .await;
    let mut silent = connect(&app).await;
    let mut half = connect(&app).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        until_closed(&mut silent, Duration::from_secs(10))
            .await
            .is_some()
    );
    assert!(
        until_closed(&mut half, Duration::from_secs(10))
            .await
            .is_some()
    );
    let healthz = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await;
    assert_eq!(healthz.unwrap().status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(|s| {
        s.http.header_timeout = 60;
        s.http.idle_timeout = 1;
    })
    .await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let seen = until_closed(&mut conn, Duration::from_secs(10))
        .await
        .expect("closed once idle");
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
}

#[tokio::test]
async fn a_trickled_body_gets_408_request_timeout_in_the_envelope() {
    let app = spawn_app_with(|s| s.http.request_timeout = 1).await;
    let mut conn = connect(&app).await;
    conn.write_all(
        b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\nConnection: close\r\n\r\n{\"code\":",
    )
    .await
    .unwrap();
    let seen = until_closed(&mut conn, Duration::from_secs(10))
        .await
        .expect("answered and closed");
    assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
    assert!(seen.contains(r#""code":"request_timeout""#), "{seen}");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_service_resumes() {
    let app = spawn_app_with(|s| {
        s.http.max_connections = Some(3);
        s.http.header_timeout = 2;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&app).await);
    }
    // Let the server accept the three before the fourth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = connect(&app).await;
    let refused = until_closed(&mut extra, Duration::from_secs(1)).await;
    assert_eq!(refused.as_deref(), Some(""), "closed at once, nothing sent");
    // The held ones send nothing: the header timeout frees their slots.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ok = app
            .http
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
