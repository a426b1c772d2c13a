use std::process::{Command, Output};

use crate::helpers::*;

fn taskhook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run taskhook")
}

fn one_error_line(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    assert!(stderr.starts_with("taskhook: error: "), "{stderr}");
    stderr
}

#[test]
fn a_port_in_use_is_one_clear_line_and_a_nonzero_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");

    let output = taskhook(&[
        "serve",
        "--listen",
        &addr,
        "--inspector",
        "127.0.0.1:0",
        "--db",
        db.to_str().unwrap(),
    ]);

    let line = one_error_line(&output);
    assert!(line.contains(&format!("cannot listen on {addr}")), "{line}");
}

#[test]
fn an_assignment_response_without_instruction_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reply.json");
    std::fs::write(&file, r#"{"accept": true}"#).unwrap();

    let output = taskhook(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--inspector",
        "127.0.0.1:0",
        "--db",
        dir.path().join("t.db").to_str().unwrap(),
        "--assignment-response",
        file.to_str().unwrap(),
    ]);

    let line = one_error_line(&output);
    assert!(line.contains("\"instruction\""), "{line}");
    assert!(
        !dir.path().join("t.db").exists(),
        "nothing opened before validation"
    );
}

#[test]
fn a_database_from_a_newer_taskhook_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("future.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();

    let output = taskhook(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--inspector",
        "127.0.0.1:0",
        "--db",
        db.to_str().unwrap(),
    ]);

    let line = one_error_line(&output);
    assert!(
        line.contains("newer taskhook") && line.contains("99"),
        "{line}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(!dir.path().join("future.db-wal").exists());
}

#[test]
fn unusable_database_paths_fail_without_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let in_missing_dir = dir.path().join("no/such/dir/t.db");
    let output = taskhook(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--inspector",
        "127.0.0.1:0",
        "--db",
        in_missing_dir.to_str().unwrap(),
    ]);
    assert!(one_error_line(&output).contains("cannot open database"));
    assert!(!dir.path().join("no").exists());

    let not_a_db = dir.path().join("garbage.db");
    std::fs::write(&not_a_db, vec![0x42; 8192]).unwrap();
    let output = taskhook(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--inspector",
        "127.0.0.1:0",
        "--db",
        not_a_db.to_str().unwrap(),
    ]);
    assert!(one_error_line(&output).contains("not a database"));
    assert_eq!(std::fs::read(&not_a_db).unwrap(), vec![0x42; 8192]);

    let output = taskhook(&[
        "requests",
        "--db",
        dir.path().join("absent.db").to_str().unwrap(),
    ]);
    assert!(one_error_line(&output).contains("no database at"));
    assert!(!dir.path().join("absent.db").exists());
}

#[tokio::test]
async fn requests_lists_newest_first_as_a_table_or_json_lines() {
    let app = spawn_app().await;
    app.post_form("/assignment", &assignment_params()).await;
    app.post_form("/events", &reservation_event_params("reservation.accepted"))
        .await;
    let db = app.db_path.clone();
    let _dir = app.stop().await;

    let json = taskhook(&["requests", "--db", db.to_str().unwrap(), "--json"]);
    assert!(json.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["kind"], "event");
    assert_eq!(rows[0]["event_type"], "reservation.accepted");
    assert_eq!(rows[0]["status"], 204);
    assert_eq!(rows[1]["kind"], "assignment");
    assert_eq!(rows[1]["task_sid"], TASK);
    assert_eq!(rows[1]["reservation_sid"], RESERVATION);
    assert_eq!(rows[1]["signature"], "unchecked");

    let table = taskhook(&["requests", "--db", db.to_str().unwrap(), "--limit", "1"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "header + one row: {text}");
    assert!(text.contains("reservation.accepted") && text.contains(TASK));
}

#[test]
fn a_non_loopback_inspector_needs_an_explicit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let output = taskhook(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--inspector",
        "0.0.0.0:0",
        "--db",
        db.to_str().unwrap(),
    ]);
    let line = one_error_line(&output);
    assert!(line.contains("--allow-remote-inspector"), "{line}");
    assert!(!db.exists());
}

#[tokio::test]
async fn export_and_replay_from_the_shell() {
    let target = spawn_app().await;
    let app = spawn_app().await;
    app.post_form("/events", &reservation_event_params("task.created"))
        .await;
    app.post_form("/assignment", &assignment_params()).await;
    let db = app.db_path.clone();
    let _dir = app.stop().await;
    let db = db.to_str().unwrap().to_owned();

    let har = taskhook(&["export", "--db", &db, "--format", "har", "--task", TASK]);
    assert!(har.status.success());
    let har: serde_json::Value = serde_json::from_slice(&har.stdout).unwrap();
    assert_eq!(har["log"]["entries"].as_array().unwrap().len(), 2);
    let curl =
        String::from_utf8(taskhook(&["export", "--db", &db, "--format", "curl"]).stdout).unwrap();
    assert!(
        curl.starts_with("#!/usr/bin/env bash") && curl.matches("\ncurl ").count() == 2,
        "{curl}"
    );
    let jsonl =
        String::from_utf8(taskhook(&["export", "--db", &db, "--format", "jsonl"]).stdout).unwrap();
    assert_eq!(jsonl.lines().count(), 2);

    // The task's callbacks, in order, to another taskhook standing in for the app.
    let replay = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args([
            "replay",
            "--task",
            TASK,
            "--to",
            &target.url(""),
            "--db",
            &db,
        ])
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let received: Vec<String> = target
        .latest(5)
        .await
        .iter()
        .rev()
        .map(|r| r.summary.path.clone())
        .collect();
    assert_eq!(received, ["/events", "/assignment"]);
}

/// The README's first command: `taskhook demo` runs the whole quickstart with no account.
#[tokio::test]
async fn demo_prints_its_addresses_and_alice_accepts_with_one_call() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--inspector",
            "127.0.0.1:0",
            "--sim-listen",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(dir.path().join("demo.db"))
        .env("TASKHOOK_INSPECTOR_TOKEN", INSPECTOR_TOKEN)
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("TWILIO_AUTH_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = std::collections::HashMap::new();
    while printed.len() < 8 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(15), lines.next_line())
            .await
            .expect("demo prints its lines")
            .unwrap()
            .expect("a line");
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        printed.insert(key.to_owned(), value.to_owned());
    }
    for key in [
        "sim",
        "account_sid",
        "auth_token",
        "workspace_sid",
        "workflow_sid",
        "capture",
        "inspector",
        "task",
    ] {
        assert!(printed.contains_key(key), "missing {key}: {printed:?}");
    }
    assert!(printed["account_sid"].starts_with("AC") && printed["task"].starts_with("WT"));
    let inspector = printed["inspector"]
        .split("/?token=")
        .next()
        .unwrap()
        .to_owned();
    let client = crate::helpers::http_client();
    let get = |path: String| {
        client
            .get(format!("{inspector}{path}"))
            .bearer_auth(INSPECTOR_TOKEN)
            .send()
    };

    // The assignment callback arrives (signed by the sim, verified by taskhook). The
    // reservation may show first, from the reservation.created event, so wait for both.
    let mut seen = None;
    for _ in 0..100 {
        let reservations: serde_json::Value = get("/api/reservations".into())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let assignments: serde_json::Value = get("/api/requests?kind=assignment".into())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let (Some(sid), Some(assignment)) = (
            reservations["reservations"][0]["reservation_sid"].as_str(),
            assignments["requests"].get(0),
        ) {
            seen = Some((sid.to_owned(), assignment.clone()));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (reservation, assignment) = seen.expect("a reservation and its assignment within 10 s");
    assert_eq!(assignment["signature"], "valid", "{assignment}");

    let accepted: serde_json::Value = client
        .post(format!("{inspector}/api/reservations/{reservation}/accept"))
        .bearer_auth(INSPECTOR_TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["worker_name"], "Alice");
    assert_eq!(accepted["reservation_status"], "accepted");

    // The sim delivers reservation.accepted asynchronously, like TaskRouter.
    let task = printed["task"].clone();
    let mut page = String::new();
    for _ in 0..100 {
        page = get(format!("/tasks/{task}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains(">accepted<") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let timeline = &page[page.find("id=\"timeline\"").unwrap()..];
    let order: Vec<usize> = [">created<", ">reserved<", ">accepted<"]
        .iter()
        .map(|s| timeline.find(s).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "created → reserved → accepted"
    );
    child.start_kill().unwrap();
}
