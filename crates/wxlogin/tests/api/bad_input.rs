//! The bad-input table: malformed JSON, wrong types, missing and unknown and
//! duplicate fields, oversized bodies and headers, invalid base64, wrong iv
//! length, unicode, NUL bytes, injection strings, wrong Content-Type, tokens of
//! the wrong shape — across every endpoint. Each must answer its exact 4xx and
//! stable code (never a 5xx), and what was stored before must be intact after.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

struct Case {
    method: Method,
    path: String,
    auth: Option<String>,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: StatusCode,
    code: &'static str,
}

fn case(
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
    status: StatusCode,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        auth: auth.map(str::to_owned),
        content_type: body.map(|_| "application/json"),
        body: body.map(|b| b.as_bytes().to_vec()),
        status,
        code,
    }
}

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const UNAUTH: StatusCode = StatusCode::UNAUTHORIZED;

/// Bodies that are not a JSON object of the right shape, for any JSON endpoint.
fn malformed_bodies() -> Vec<String> {
    let mut bodies: Vec<String> = [
        "",
        "{",
        "}",
        "[",
        "[]",
        "null",
        "true",
        "123",
        "\"text\"",
        "{\"code\":}",
        "{\"code\":\"a\",}",
        "{'code':'a'}",
        "{\"code\":\"a\"",
        "{code:\"a\"}",
        "\u{feff}{\"code\":\"a\"}",
        "{\"code\":\"a\"}\u{0}",
        "{\"code\":\"a\"} trailing",
        "{\"code\":1e999999}",
        "\u{0}",
        "{\"\u{0}\":1}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    bodies.push(format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)));
    bodies.push(format!(
        "{{\"code\":{}}}",
        "[".repeat(200) + &"]".repeat(200)
    ));
    bodies
}

fn all_cases(token: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let t = Some(token);
    let json_endpoints: [(&str, Option<&str>); 4] = [
        ("/v1/login", None),
        ("/v1/decrypt", t),
        ("/v1/phone", t),
        ("/v1/introspect", Some(SERVICE_KEY)),
    ];
    // 1. Malformed bodies on every JSON endpoint.
    for (path, auth) in json_endpoints {
        for body in malformed_bodies() {
            cases.push(case(
                Method::POST,
                path,
                auth,
                Some(&body),
                BAD,
                "invalid_request",
            ));
        }
    }
    // 2. Wrong Content-Type and oversized bodies.
    for (path, auth) in json_endpoints {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
        ] {
            cases.push(Case {
                method: Method::POST,
                path: path.into(),
                auth: auth.map(str::to_owned),
                content_type,
                body: Some(b"{\"code\":\"abc\"}".to_vec()),
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
            });
        }
        let huge = format!("{{\"code\":\"{}\"}}", "a".repeat(20_000));
        cases.push(case(
            Method::POST,
            path,
            auth,
            Some(&huge),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ));
    }
    // 3. Wrong types, missing, unknown and duplicate fields.
    for body in [
        r#"{"code":5}"#,
        r#"{"code":null}"#,
        r#"{"code":["a"]}"#,
        r#"{"code":{"a":1}}"#,
        r#"{"code":true}"#,
        r#"{"appid":5,"code":"abc"}"#,
        r#"{}"#,
        r#"{"appid":"wx4f4bc4dec97d474b"}"#,
        r#"{"code":"abc","extra":1}"#,
        r#"{"code":"abc","code":"def"}"#,
        r#"{"Code":"abc"}"#,
    ] {
        cases.push(case(
            Method::POST,
            "/v1/login",
            None,
            Some(body),
            BAD,
            "invalid_request",
        ));
    }
    for body in [
        r#"{"iv":"AAAAAAAAAAAAAAAAAAAAAA=="}"#,
        r#"{"encrypted_data":"AAAA"}"#,
        r#"{"encrypted_data":1,"iv":"x"}"#,
        r#"{"encrypted_data":"AAAA","iv":null}"#,
        r#"{"encrypted_data":"A","iv":"B","x":1}"#,
        r#"{"encrypted_data":"A","encrypted_data":"B","iv":"C"}"#,
        r#"{"encrypted_data":"A","iv":"B","raw_data":"{}"}"#,
        r#"{"encrypted_data":"A","iv":"B","signature":"00"}"#,
    ] {
        cases.push(case(
            Method::POST,
            "/v1/decrypt",
            t,
            Some(body),
            BAD,
            "invalid_request",
        ));
    }
    for body in [
        r#"{}"#,
        r#"{"code":1}"#,
        r#"{"code":"a","x":1}"#,
        r#"{"code":"a","code":"b"}"#,
    ] {
        cases.push(case(
            Method::POST,
            "/v1/phone",
            t,
            Some(body),
            BAD,
            "invalid_request",
        ));
    }
    for body in [
        r#"{}"#,
        r#"{"token":1}"#,
        r#"{"token":"a","x":1}"#,
        r#"{"token":"a","appid":7}"#,
    ] {
        cases.push(case(
            Method::POST,
            "/v1/introspect",
            Some(SERVICE_KEY),
            Some(body),
            BAD,
            "invalid_request",
        ));
    }
    // 4. Login codes of the wrong shape: unicode, NUL, injection, length.
    let long = "a".repeat(129);
    for code in [
        "",
        " ",
        "abc def",
        "abc&appid=wx0000000000000000",
        "abc#x",
        "abc?x=1",
        "码",
        "é",
        "emoji😀",
        "a\u{0}b",
        "\u{202e}abc",
        "' OR '1'='1",
        "\"; DROP TABLE sessions; --",
        "<script>alert(1)</script>",
        "${jndi:ldap://127.0.0.1/x}",
        "../../etc/passwd",
        "%00",
        "a+b",
        "a/b",
        "a=b",
        "a\nb",
        "a\tb",
        long.as_str(),
    ] {
        let body = serde_json::json!({"appid": APP_A, "code": code}).to_string();
        cases.push(case(
            Method::POST,
            "/v1/login",
            None,
            Some(&body),
            BAD,
            "invalid_code",
        ));
    }
    cases.push(case(
        Method::POST,
        "/v1/login",
        None,
        Some(r#"{"appid":"wx0000000000000000","code":"abc"}"#),
        BAD,
        "unknown_app",
    ));
    cases.push(case(
        Method::POST,
        "/v1/login",
        None,
        Some(r#"{"appid":"' OR 1=1","code":"abc"}"#),
        BAD,
        "unknown_app",
    ));
    // 5. Open data: invalid base64, wrong iv length, bad lengths.
    let iv = "r7BXXKkLb8qrSNn05n0qiA==";
    for (data, iv_, code) in [
        ("not base64!", iv, "invalid_base64"),
        ("AAAA AAAA", iv, "invalid_base64"),
        ("AAAAAAAAAAAAAAAAAAAAAA", iv, "invalid_base64"),
        (
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "r7BXXKkLb8qrSNn05n0q",
            "invalid_iv",
        ),
        ("AAAAAAAAAAAAAAAAAAAAAA==", "AAAA", "invalid_iv"),
        ("AAAAAAAAAAAAAAAAAAAAAA==", "", "invalid_iv"),
        ("AAAAAAAAAAAAAAAAAAAAAA==", "码", "invalid_base64"),
        ("", iv, "invalid_encrypted_data"),
        ("AAAA", iv, "invalid_encrypted_data"),
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAA", iv, "invalid_encrypted_data"),
    ] {
        let body = serde_json::json!({"encrypted_data": data, "iv": iv_}).to_string();
        cases.push(case(Method::POST, "/v1/decrypt", t, Some(&body), BAD, code));
    }
    // 6. Phone codes of the wrong shape.
    for code in ["", "x&y", "码", "a\u{0}b", "<script>", &"f".repeat(300)] {
        let body = serde_json::json!({"code": code}).to_string();
        cases.push(case(
            Method::POST,
            "/v1/phone",
            t,
            Some(&body),
            BAD,
            "invalid_phone_code",
        ));
    }
    // 7. Tokens of the wrong shape on every bearer endpoint.
    let bad_tokens = [
        "",
        "wxl_",
        "wxl_short",
        "WXL_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "wxl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
        "wxl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "' OR 1=1 --",
    ];
    let long_token = format!("wxl_{}", "A".repeat(8000));
    let bearer_endpoints = [
        (Method::GET, "/v1/session", None),
        (Method::POST, "/v1/session/refresh", None),
        (Method::POST, "/v1/logout", None),
        (Method::POST, "/v1/session/check", None),
        (
            Method::POST,
            "/v1/decrypt",
            Some(
                r#"{"encrypted_data":"AAAAAAAAAAAAAAAAAAAAAA==","iv":"AAAAAAAAAAAAAAAAAAAAAA=="}"#,
            ),
        ),
        (Method::POST, "/v1/phone", Some(r#"{"code":"abc"}"#)),
        (Method::GET, "/v1/auth?appid=wx4f4bc4dec97d474b", None),
    ];
    for (method, path, body) in &bearer_endpoints {
        for bad in bad_tokens
            .iter()
            .copied()
            .chain([long_token.as_str(), &token[..token.len() - 1]])
        {
            let code = if bad.is_empty() {
                "unauthorized"
            } else {
                "invalid_token"
            };
            cases.push(case(method.clone(), path, Some(bad), *body, UNAUTH, code));
        }
        cases.push(case(
            method.clone(),
            path,
            None,
            *body,
            UNAUTH,
            "unauthorized",
        ));
    }
    // 8. Operator and backend endpoints with junk in paths and queries:
    // appid and openid are parsed like everywhere else.
    let admin = Some(ADMIN_KEY);
    for openid in [
        "%E7%A0%81",
        "a%00b",
        "..%2F..%2Fetc",
        &"o".repeat(2000),
        "%27%20OR%201%3D1",
    ] {
        for (method, path) in [
            (
                Method::GET,
                format!("/v1/admin/users/{APP_A}/{openid}/sessions"),
            ),
            (
                Method::DELETE,
                format!("/v1/admin/users/%27/{openid}/sessions"),
            ),
            (
                Method::POST,
                format!("/v1/admin/users/{APP_A}/{openid}/session-key/reset"),
            ),
        ] {
            cases.push(case(method, &path, admin, None, BAD, "invalid_request"));
        }
    }
    for (method, path, status, code) in [
        (
            Method::GET,
            "/v1/admin/users/wx0000000000000000/o1/sessions",
            BAD,
            "unknown_app",
        ),
        (
            Method::DELETE,
            "/v1/admin/users/%27/o1/sessions",
            BAD,
            "invalid_request",
        ),
        (
            Method::POST,
            "/v1/admin/users/wx4f4bc4dec97d474b/nobody/session-key/reset",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        cases.push(case(method, path, admin, None, status, code));
    }
    for query in [
        "appid=wx0000000000000000",
        "appid=",
        "appid=%00",
        "appid=%E7%A0%81",
    ] {
        cases.push(case(
            Method::GET,
            &format!("/v1/access-token?{query}"),
            Some(SERVICE_KEY),
            None,
            BAD,
            "unknown_app",
        ));
    }
    for query in ["appid=wx0000000000000000", "appid=%00", "appid=' OR 1=1"] {
        cases.push(case(
            Method::GET,
            &format!("/v1/auth?{query}"),
            t,
            None,
            UNAUTH,
            "invalid_token",
        ));
    }
    cases.push(case(
        Method::GET,
        "/v1/nope",
        None,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    ));
    cases.push(case(
        Method::GET,
        "/%00",
        None,
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    ));
    cases
}

#[tokio::test]
async fn every_bad_input_gets_its_4xx_and_stable_code_and_nothing_stored_is_harmed() {
    let app = spawn_app().await;
    let (token, openid, _) = app.login(APP_A).await;
    let (other_token, _, _) = app.login(APP_B).await;
    let cases = all_cases(&token);
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut request = app
            .http
            .request(c.method.clone(), format!("{}{}", app.address, c.path));
        if let Some(auth) = &c.auth {
            request = request.header("authorization", format!("Bearer {auth}"));
        }
        if let Some(content_type) = c.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = &c.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let code = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if status != c.status || code != c.code {
            failures.push(format!(
                "{} {} auth={:?} body={:?}: got {status} {code:?}, want {} {}",
                c.method,
                c.path.chars().take(80).collect::<String>(),
                c.auth
                    .as_deref()
                    .map(|a| a.chars().take(20).collect::<String>()),
                c.body
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned()),
                c.status,
                c.code
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Huge headers: refused before any handler, still a 4xx.
    let huge = app
        .http
        .get(format!("{}/v1/session", app.address))
        .header("x-junk", "a".repeat(200_000))
        .bearer_auth(&token)
        .send()
        .await;
    let (status, code) = error_code(huge.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large"
        )
    );
    // Nothing stored before was lost or changed.
    let session: Value = app
        .get_bearer("/v1/session", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["openid"], openid.as_str());
    assert_eq!(app.session_status(&other_token).await, StatusCode::OK);
}

/// Every route answers a method it does not take, and a path segment that
/// is not UTF-8, in the error envelope with a stable code.
#[tokio::test]
async fn wrong_methods_and_malformed_paths_get_the_error_envelope() {
    let app = spawn_app().await;
    let admin_user = format!("/v1/admin/users/{APP_A}/o1");
    let routes: Vec<(String, Vec<Method>)> = vec![
        ("/v1/login".into(), vec![Method::POST]),
        ("/v1/session".into(), vec![Method::GET]),
        ("/v1/session/refresh".into(), vec![Method::POST]),
        ("/v1/logout".into(), vec![Method::POST]),
        ("/v1/session/check".into(), vec![Method::POST]),
        ("/v1/decrypt".into(), vec![Method::POST]),
        ("/v1/phone".into(), vec![Method::POST]),
        ("/v1/introspect".into(), vec![Method::POST]),
        ("/v1/auth".into(), vec![Method::GET]),
        ("/v1/access-token".into(), vec![Method::GET]),
        (
            format!("{admin_user}/sessions"),
            vec![Method::GET, Method::DELETE],
        ),
        (
            format!("{admin_user}/session-key/reset"),
            vec![Method::POST],
        ),
        ("/healthz".into(), vec![Method::GET]),
        ("/readyz".into(), vec![Method::GET]),
        ("/metrics".into(), vec![Method::GET]),
    ];
    let mut failures = Vec::new();
    for (path, allowed) in &routes {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            if allowed.contains(&method) {
                continue;
            }
            let response = app
                .http
                .request(method.clone(), format!("{}{path}", app.address))
                .send()
                .await
                .unwrap();
            let (status, code) = error_code(response).await;
            if (status, code.as_str()) != (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed") {
                failures.push(format!("{method} {path}: {status} {code}"));
            }
        }
    }
    for path in [
        "/v1/admin/users/%FF%FE/o1/sessions".to_owned(),
        format!("/v1/admin/users/{APP_A}/%C3%28/sessions"),
        format!("/v1/admin/users/{APP_A}/%80/session-key/reset"),
    ] {
        let method = if path.ends_with("reset") {
            Method::POST
        } else {
            Method::GET
        };
        let response = app
            .http
            .request(method.clone(), format!("{}{path}", app.address))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap();
        let (status, code) = error_code(response).await;
        if (status, code.as_str()) != (StatusCode::BAD_REQUEST, "invalid_request") {
            failures.push(format!("{method} {path}: {status} {code}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
