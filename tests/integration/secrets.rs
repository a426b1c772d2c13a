//! The Auth Token is a secret: with a sentinel token and `RUST_LOG=trace`, it must not appear in
//! any log line, page, API answer, live-update stream, or the database files.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::fake_taskrouter::{FakeTaskRouter, TOKEN};
use crate::helpers::*;

#[tokio::test]
async fn the_auth_token_never_appears_in_logs_pages_api_or_database() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secret.db");
    let stderr_path = dir.path().join("stderr.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--inspector",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(&db)
        .env("TWILIO_ACCOUNT_SID", ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("TASKHOOK_TASKROUTER_URL", &fake.url)
        .env("TASKHOOK_INSPECTOR_TOKEN", INSPECTOR_TOKEN)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let mut address_lines = Vec::new();
    for _ in 0..2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap()
            .unwrap();
        address_lines.push(line.expect("an address line"));
    }
    let (capture_line, inspector_line) = (address_lines[0].clone(), address_lines[1].clone());
    stdout.push_str(&capture_line);
    stdout.push_str(&inspector_line);
    let capture = capture_line.strip_prefix("capture: ").unwrap().to_owned();
    let inspector = inspector_line
        .strip_prefix("inspector: ")
        .unwrap()
        .split("/?")
        .next()
        .unwrap()
        .to_owned();
    let client = crate::helpers::http_client();
    let mut seen = String::new();

    // Live stream open while everything happens.
    let mut live = client
        .get(format!("{inspector}/live"))
        .bearer_auth(INSPECTOR_TOKEN)
        .send()
        .await
        .unwrap();
    client
        .post(format!("{capture}/assignment"))
        .header("X-Twilio-Signature", "bm90LWEtcmVhbC1zaWduYXR1cmU=")
        .form(&assignment_params())
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let answer = client
            .post(format!("{inspector}/api/reservations/{RESERVATION}/accept"))
            .bearer_auth(INSPECTOR_TOKEN)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        seen.push_str(&answer.text().await.unwrap());
    }
    let refresh = client
        .post(format!(
            "{inspector}/api/reservations/{RESERVATION}/refresh"
        ))
        .bearer_auth(INSPECTOR_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    seen.push_str(&refresh.text().await.unwrap());
    // The page link carries the inspector token in its query: the request's log span must not.
    // (It answers by setting the cookie and redirecting to the bare URL.)
    let via_link = crate::helpers::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{inspector}/?token={INSPECTOR_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert!(via_link.status().is_redirection(), "{}", via_link.status());
    for page in [
        "/".to_owned(),
        "/requests/1".to_owned(),
        "/reservations".to_owned(),
        format!("/tasks/{TASK}"),
        "/api/requests".to_owned(),
        "/api/requests/1".to_owned(),
        "/api/reservations".to_owned(),
        format!("/api/tasks/{TASK}"),
        "/static/app.js".to_owned(),
    ] {
        let response = client
            .get(format!("{inspector}{page}"))
            .bearer_auth(INSPECTOR_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{page}");
        seen.push_str(&response.text().await.unwrap());
    }
    if let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(2), live.chunk()).await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("Alice"), "the accept went through");
    assert_eq!(
        fake.calls().len(),
        4,
        "accept, accept (400), its state fetch, refresh"
    );

    // Stop it gracefully so everything is flushed, then read every file it wrote.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    while let Ok(Some(line)) = lines.next_line().await {
        stdout.push_str(&line);
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(stderr.contains("TRACE"), "trace logging was on");
    // Each request has its span: the capture's with the stored row's id, the inspector's.
    assert!(
        stderr.contains(r#"capture{method=POST path="/assignment""#) && stderr.contains("id=1"),
        "a capture span names the request: {stderr}"
    );
    assert!(
        stderr.contains(r#"inspector{method=GET path="/api/requests"}"#),
        "an inspector span names the request"
    );
    assert!(
        !stderr.contains(INSPECTOR_TOKEN),
        "the log leaks the inspector token"
    );

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("secret.db") {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(!files.is_empty());
    for needle in [TOKEN, basic.as_str()] {
        assert!(!stdout.contains(needle), "stdout leaks the token");
        assert!(!stderr.contains(needle), "the log leaks the token");
        assert!(
            !seen.contains(needle),
            "a page or API answer leaks the token"
        );
        for (name, bytes) in &files {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "{name} contains the token");
        }
    }
}

#[tokio::test]
async fn taskhook_accept_from_the_shell_finds_the_task_and_workspace_in_the_recording() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let app = spawn_app().await;
    app.post_form("/assignment", &assignment_params()).await;
    let db = app.db_path.clone();
    let _dir = app.stop().await;
    // tokio's Command: the fake TaskRouter runs on this test's runtime and must keep serving.
    let run = |args: &[&str], token: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
            .args(args)
            .arg("--db")
            .arg(&db)
            .env("TWILIO_ACCOUNT_SID", ACCOUNT)
            .env("TWILIO_AUTH_TOKEN", token)
            .env("TASKHOOK_TASKROUTER_URL", &fake.url)
            .env("RUST_LOG", "off")
            .output()
    };

    let accepted = run(&["accept", RESERVATION], TOKEN).await.unwrap();
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&accepted.stdout).trim(),
        "Alice · accepted"
    );
    assert_eq!(
        fake.calls()[0].path,
        format!("/v1/Workspaces/{WORKSPACE}/Tasks/{TASK}/Reservations/{RESERVATION}")
    );

    let again = run(&["reject", RESERVATION], TOKEN).await.unwrap();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already in state [accepted]"), "{stderr}");

    let wrong = run(&["accept", RESERVATION], "not-the-token")
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !wrong.status.success() && stderr.contains("credentials rejected"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-token"));

    let unknown = run(&["accept", "WRffffffffffffffffffffffffffffffff"], TOKEN)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no TaskSid known"));
}
