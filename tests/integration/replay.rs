use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine;
use serde_json::json;
use taskhook::capture::forward::Forwarder;
use taskhook::taskrouter::signature::{self, AuthToken};

use crate::helpers::*;

const TOKEN: &str = "replay-test-auth-token";

/// One request the stand-in app received: target, headers, body.
type Received = (String, HeaderMap, Vec<u8>);

/// What a stand-in for the user's own app received.
#[derive(Clone, Default)]
struct AppLog(Arc<Mutex<Vec<Received>>>);

/// The user's app: records each request and answers 201 with its own header and body.
async fn start_user_app() -> (String, AppLog) {
    let log = AppLog::default();
    let seen = log.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                seen.0
                    .lock()
                    .unwrap()
                    .push((uri.to_string(), headers, body.to_vec()));
                (
                    axum::http::StatusCode::CREATED,
                    [("x-app", "mine")],
                    r#"{"instruction":"accept"}"#,
                )
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

#[tokio::test]
async fn a_replay_to_another_port_passes_the_apps_signature_check() {
    // The user's app is another taskhook: it records byte-exact and checks signatures.
    let user_app =
        spawn_app_with(|c| c.capture.signature_token = Some(AuthToken::new(TOKEN))).await;
    let app = spawn_app_with(|c| {
        c.capture.signature_token = Some(AuthToken::new(TOKEN));
        c.capture.public_url = Some("https://abc.ngrok.app".into());
    })
    .await;
    let params = assignment_params();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let signed = signature::sign_request(
        &AuthToken::new(TOKEN),
        "https://abc.ngrok.app/assignment?src=tr",
        Some(b"application/x-www-form-urlencoded"),
        body.as_bytes(),
        "POST",
    );
    app.client
        .post(app.url("/assignment?src=tr"))
        .header("X-Twilio-Signature", &signed)
        .header("X-Custom", "kept")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let original = app.latest(1).await.remove(0);
    assert_eq!(
        original.summary.signature,
        "valid".parse().unwrap(),
        "signed by TaskRouter for the public URL"
    );

    let replayed = app
        .post_json(
            &format!("/api/requests/{}/replay", original.summary.id),
            json!({"to": user_app.url("")}),
        )
        .await;

    assert_eq!(replayed.status(), 201);
    let record: serde_json::Value = replayed.json().await.unwrap();
    assert_eq!(record["replay_of"], original.summary.id);
    assert_eq!(record["status"], 200, "the target's answer");
    let received = user_app.latest(1).await.remove(0);
    assert_eq!(received.body, original.body, "byte-identical body");
    assert_eq!(received.summary.path, "/assignment");
    assert_eq!(received.summary.query.as_deref(), Some("src=tr"));
    assert_eq!(
        received.summary.signature,
        "valid".parse().unwrap(),
        "re-signed for the new URL, so the app's check passes"
    );
    // Headers: same values in the same order, apart from Host and the new signature. (Names
    // arrive lowercased: hyper's client, like every HTTP/1 client crate, does not let a caller
    // choose header-name case, and names are case-insensitive.)
    let comparable = |headers: &[taskhook::wire::Header]| -> Vec<(String, Vec<u8>)> {
        headers
            .iter()
            .filter(|h| {
                ![
                    "host",
                    "x-twilio-signature",
                    "content-length",
                    "accept",
                    "user-agent",
                ]
                .contains(&h.name.to_ascii_lowercase().as_str())
            })
            .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
            .collect()
    };
    assert_eq!(comparable(&received.headers), comparable(&original.headers));
    assert_ne!(
        header_values(&received.headers, "x-twilio-signature"),
        [signed.as_bytes()]
    );

    // Keeping the original signature sends it unchanged — and the app rejects it.
    app.post_json(
        &format!("/api/requests/{}/replay", original.summary.id),
        json!({"to": user_app.url(""), "resign": false}),
    )
    .await;
    let kept = user_app.latest(1).await.remove(0);
    assert_eq!(
        header_values(&kept.headers, "x-twilio-signature"),
        [signed.as_bytes()]
    );
    assert_eq!(kept.summary.signature, "invalid".parse().unwrap());

    // The original's page lists its replays; the list marks them.
    let page = app
        .inspector_get(&format!("/requests/{}", original.summary.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(Page::parse(&page).has("#replays"), "the replays section");
    let list = app.inspector_get("/").await.text().await.unwrap();
    assert!(
        Page::parse(&list).has(".badge.replay"),
        "the replay is badged"
    );
}

#[tokio::test]
async fn a_replay_with_changes_sends_the_edits_and_recomputes_length() {
    let (user_url, log) = start_user_app().await;
    let app = spawn_app_with(|c| c.capture.signature_token = Some(AuthToken::new(TOKEN))).await;
    app.post_form("/assignment", &assignment_params()).await;
    let id = app.latest(1).await[0].summary.id;

    let replayed = app.post_json(&format!("/api/requests/{id}/replay"),
        json!({"to": user_url, "method": "PUT", "path": "/other?x=1", "headers": [{"name": "X-Edited", "value": "yes"}, {"name": "Content-Type", "value": "text/plain"}], "body": "edited"}),
    )
    .await;

    assert_eq!(replayed.status(), 201);
    let record: serde_json::Value = replayed.json().await.unwrap();
    assert_eq!(
        (
            record["method"].as_str(),
            record["path"].as_str(),
            record["status"].as_u64()
        ),
        (Some("PUT"), Some("/other"), Some(201))
    );
    let (uri, headers, body) = log.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(uri, "/other?x=1");
    assert_eq!(body, b"edited");
    assert_eq!(headers["x-edited"], "yes");
    assert_eq!(headers["content-length"], "6");
    assert!(headers.get("x-twilio-signature").is_some(), "re-signed");
    let detail = app.api(&format!("/api/requests/{}", record["id"])).await;
    assert_eq!(detail["response"]["body"], r#"{"instruction":"accept"}"#);
}

#[tokio::test]
async fn replays_refuse_targets_outside_the_allowlist_and_broken_headers() {
    let app = spawn_app().await;
    app.post_form("/assignment", &assignment_params()).await;
    let id = app.latest(1).await[0].summary.id;

    for (edits, expected) in [
        (
            json!({"to": "http://169.254.169.254/latest/meta-data/"}),
            "not an allowed replay target",
        ),
        (
            json!({"to": "http://example.com"}),
            "not an allowed replay target",
        ),
        (
            json!({"to": "http://[::ffff:127.0.0.1]:8080"}),
            "not an allowed replay target",
        ),
        // Parsed as a URL parser does (0xa9 = 169): the metadata address in disguise.
        (
            json!({"to": "http://0xa9.254.169.254/"}),
            "not an allowed replay target",
        ),
        (json!({"to": "file:///etc/passwd"}), "http or https only"),
        (json!({"to": "gopher://127.0.0.1/"}), "http or https only"),
        (json!({"to": "http://user:pw@127.0.0.1:1/"}), "credentials"),
        (
            json!({"headers": [{"name": "X-A", "value": "a\r\nX-Injected: 1"}]}),
            "CR, LF",
        ),
        (
            json!({"headers": [{"name": "Bad Name", "value": "x"}]}),
            "not a valid header name",
        ),
        (json!({"path": "/a b"}), "spaces or control"),
        (json!({"method": "CONNECT"}), "not a method"),
    ] {
        let response = app
            .post_json(&format!("/api/requests/{id}/replay"), edits.clone())
            .await;
        assert_eq!(response.status(), 400, "{edits}");
        let message = response.json::<serde_json::Value>().await.unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(expected), "{edits}: {message}");
    }
    assert_eq!(
        app.latest(10).await.len(),
        1,
        "nothing was sent or recorded"
    );
    assert_eq!(
        app.post_json("/api/requests/999/replay", json!({}))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn forward_mode_records_both_sides_and_answers_with_the_apps_response() {
    let (user_url, log) = start_user_app().await;
    let forward = reqwest::Url::parse(&user_url).unwrap();
    let app = spawn_app_with(move |c| {
        c.capture.forward = Some(Forwarder::new(&forward, false, Duration::from_secs(2)).unwrap())
    })
    .await;

    let response = app
        .client
        .post(app.url("/assignment?q=1"))
        .header("Connection", "keep-alive, X-Hop")
        .header("X-Hop", "drop me")
        .header("X-Keep", "keep me")
        .form(&assignment_params())
        .send()
        .await
        .unwrap();

    assert_eq!(
        response.status(),
        201,
        "the app's status goes back to TaskRouter"
    );
    assert_eq!(response.headers()["x-app"], "mine");
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"instruction":"accept"}"#
    );
    let (uri, headers, body) = log.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(uri, "/assignment?q=1");
    assert_eq!(headers["host"], app.addr.to_string(), "original Host kept");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], app.addr.to_string());
    assert_eq!(headers["x-keep"], "keep me");
    assert!(
        headers.get("x-hop").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    let stored = app.latest(1).await.remove(0);
    assert_eq!(stored.body, body, "the request side");
    assert_eq!(stored.response.status, 201, "the app's side");
    assert_eq!(stored.response.body, br#"{"instruction":"accept"}"#);
    assert_eq!(
        stored.summary.kind,
        taskhook::taskrouter::status::Kind::Assignment
    );

    // Replays default to the forward target.
    let replayed = app
        .post_json(
            &format!("/api/requests/{}/replay", stored.summary.id),
            json!({}),
        )
        .await;
    assert_eq!(replayed.status(), 201);
    assert_eq!(log.0.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_app_that_is_down_or_silent_gets_502_or_504_recorded_with_the_error() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = reqwest::Url::parse(&format!("http://{}", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let app = spawn_app_with(move |c| {
        c.capture.forward = Some(Forwarder::new(&down, false, Duration::from_secs(2)).unwrap())
    })
    .await;
    let refused = app.post_form("/assignment", &assignment_params()).await;
    assert_eq!(refused.status(), 502);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("could not reach the app")
    );
    assert!(
        app.latest(1).await[0]
            .summary
            .error
            .as_deref()
            .unwrap()
            .contains("could not reach the app")
    );

    // Accepts the connection, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let black_hole =
        reqwest::Url::parse(&format!("http://{}", silent.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let app = spawn_app_with(move |c| {
        c.capture.forward =
            Some(Forwarder::new(&black_hole, false, Duration::from_secs(1)).unwrap())
    })
    .await;
    let timed_out = app.post_form("/assignment", &assignment_params()).await;
    assert_eq!(timed_out.status(), 504);
    assert!(
        app.latest(1).await[0]
            .summary
            .error
            .as_deref()
            .unwrap()
            .contains("--forward-timeout")
    );
}

#[test]
fn the_forward_target_may_not_be_taskhook_itself() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    drop(taken);
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--inspector",
            &format!("127.0.0.1:{port}"),
            "--forward",
            &format!("http://localhost:{port}"),
            "--db",
        ])
        .arg(dir.path().join("t.db"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("points at taskhook itself"));
}

#[tokio::test]
async fn har_export_has_the_1_2_structure_and_request_bytes_round_trip() {
    let app = spawn_app().await;
    app.post_form("/assignment?x=1", &assignment_params()).await;
    app.client
        .post(app.url("/bin"))
        .body(vec![0xff, 0x00, 0x41])
        .send()
        .await
        .unwrap();
    let stored = app.latest(2).await;

    let response = app.inspector_get("/api/export?format=har").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("taskhook.har")
    );
    let har: serde_json::Value = response.json().await.unwrap();

    assert_eq!(har["log"]["version"], "1.2");
    assert_eq!(har["log"]["creator"]["name"], "taskhook");
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        for key in [
            "startedDateTime",
            "time",
            "request",
            "response",
            "cache",
            "timings",
        ] {
            assert!(entry.get(key).is_some(), "entry.{key}");
        }
        for key in [
            "method",
            "url",
            "httpVersion",
            "cookies",
            "headers",
            "queryString",
            "headersSize",
            "bodySize",
        ] {
            assert!(entry["request"].get(key).is_some(), "request.{key}");
        }
        for key in [
            "status",
            "statusText",
            "httpVersion",
            "cookies",
            "headers",
            "content",
            "redirectURL",
            "headersSize",
            "bodySize",
        ] {
            assert!(entry["response"].get(key).is_some(), "response.{key}");
        }
    }
    let form = &entries[0]["request"];
    assert_eq!(form["url"], format!("http://{}/assignment?x=1", app.addr));
    assert_eq!(form["queryString"][0], json!({"name": "x", "value": "1"}));
    assert_eq!(
        form["postData"]["text"].as_str().unwrap().as_bytes(),
        stored[1].body.as_slice()
    );
    let binary = &entries[1]["request"]["postData"];
    assert_eq!(binary["encoding"], "base64");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(binary["text"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, stored[0].body);
    assert_eq!(entries[0]["response"]["content"]["text"], "{}");

    let jsonl = app
        .inspector_get("/api/export?format=jsonl")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(jsonl.lines().count(), 2);
    assert_eq!(
        app.inspector_get("/api/export?format=xml").await.status(),
        400
    );
}

/// Cookies ignore ports: a browser that opens the capture URL sends the inspector's cookie,
/// which holds the token that accepts, rejects and clears with the user's credentials. It must
/// reach neither the record, nor the API, nor an export, nor the user's app.
#[tokio::test]
async fn the_inspector_cookie_sent_to_the_capture_port_goes_nowhere() {
    let (user_url, log) = start_user_app().await;
    let forward = reqwest::Url::parse(&user_url).unwrap();
    let app = spawn_app_with(move |c| {
        c.capture.forward = Some(Forwarder::new(&forward, false, Duration::from_secs(2)).unwrap())
    })
    .await;
    let port = app.inspector.port();
    let response = app
        .client
        .get(app.url("/"))
        .header(
            "Cookie",
            format!("theme=dark; taskhook_{port}={INSPECTOR_TOKEN}; taskhook_1={INSPECTOR_TOKEN}"),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    let (_, headers, _) = log.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        headers["cookie"], "theme=dark",
        "the app gets the other cookies only"
    );
    let stored = app.latest(1).await.remove(0);
    let cookie: Vec<_> = stored
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
        .map(|h| h.value.clone())
        .collect();
    assert_eq!(cookie, vec![b"theme=dark".to_vec()]);
    for path in [
        format!("/api/requests/{}", stored.summary.id),
        "/api/export?format=har".to_owned(),
        "/api/export?format=curl".to_owned(),
        format!("/requests/{}", stored.summary.id),
    ] {
        let text = app.inspector_get(&path).await.text().await.unwrap();
        assert!(
            !text.contains(INSPECTOR_TOKEN),
            "{path} shows the inspector token"
        );
    }
}
