//! `serve --connect` against the local TaskRouter (issue 14): the workspace is pointed at
//! taskhook, a new task's callbacks arrive signed valid, and every URL is put back — after
//! SIGTERM, and after SIGKILL + `taskhook restore` — except one someone changed meanwhile.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use taskhook::sim::{Sim, SimConfig};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::helpers::http_client;

/// The sim's REST API as a developer's script calls it.
struct Rest<'a> {
    sim: &'a Sim,
}

impl Rest<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Value {
        let response = http_client()
            .request(method, format!("{}{path}", self.sim.base_url()))
            .basic_auth(self.sim.account_sid(), Some(self.sim.auth_token().expose()))
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    fn workspace(&self) -> String {
        format!("/v1/Workspaces/{}", self.sim.workspace_sid())
    }

    fn workflow(&self) -> String {
        format!("{}/Workflows/{}", self.workspace(), self.sim.workflow_sid())
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, &[]).await
    }

    async fn set(&self, path: &str, form: &[(&str, &str)]) {
        self.call(reqwest::Method::POST, path, form).await;
    }

    /// (EventCallbackUrl, EventsFilter, AssignmentCallbackUrl, FallbackAssignmentCallbackUrl)
    async fn urls(&self) -> [Value; 4] {
        let ws = self.get(&self.workspace()).await;
        let wf = self.get(&self.workflow()).await;
        [
            ws["event_callback_url"].clone(),
            ws["events_filter"].clone(),
            wf["assignment_callback_url"].clone(),
            wf["fallback_assignment_callback_url"].clone(),
        ]
    }
}

struct Serve {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    inspector: String,
}

async fn serve_connect(sim: &Sim, db: &Path, capture: SocketAddr) -> Serve {
    serve_connect_with(sim, db, capture, &[]).await
}

async fn serve_connect_with(sim: &Sim, db: &Path, capture: SocketAddr, extra: &[&str]) -> Serve {
    let public = format!("http://{capture}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args(["serve", "--connect", "--listen", &capture.to_string()])
        .args(["--inspector", "127.0.0.1:0", "--public-url", &public])
        .args([
            "--taskrouter-url",
            &sim.base_url(),
            "--workspace",
            sim.workspace_sid(),
        ])
        .args(extra)
        .arg("--db")
        .arg(db)
        .env("TWILIO_ACCOUNT_SID", sim.account_sid())
        .env("TWILIO_AUTH_TOKEN", sim.auth_token().expose())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn taskhook");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut inspector = String::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("lines within 10 s")
            .unwrap()
            .expect("a connected: line");
        if let Some(url) = line.strip_prefix("inspector: ") {
            inspector = url.to_owned();
        }
        if let Some(sids) = line.strip_prefix("connected: ") {
            assert!(sids.contains(sim.workspace_sid()), "{line}");
            assert!(sids.contains(sim.workflow_sid()), "{line}");
            break;
        }
    }
    Serve {
        child,
        lines,
        inspector,
    }
}

impl Serve {
    /// Waits for an assignment callback judged `valid` in the inspector's API.
    async fn signed_assignment(&self) -> Value {
        let (base, token) = self.inspector.split_once("/?token=").unwrap();
        for _ in 0..100 {
            let list: Value = http_client()
                .get(format!("{base}/api/requests?kind=assignment&limit=1"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(row) = list["requests"].get(0) {
                return row.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no assignment callback arrived");
    }

    /// SIGTERM, then everything it printed until it exited.
    async fn terminate(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let mut rest = String::new();
        while let Ok(Some(line)) = self.lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}\n{rest}");
        rest
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_points_the_workspace_at_taskhook_and_every_exit_puts_it_back() {
    let sim = Sim::start(SimConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let rest = Rest { sim: &sim };
    // Where the developer's own backend normally gets the callbacks.
    rest.set(
        &rest.workspace(),
        &[
            ("EventCallbackUrl", "http://backend.example/events"),
            ("EventsFilter", "task.created,reservation.created"),
        ],
    )
    .await;
    rest.set(
        &rest.workflow(),
        &[
            ("AssignmentCallbackUrl", "http://backend.example/assign"),
            (
                "FallbackAssignmentCallbackUrl",
                "http://backend.example/fallback",
            ),
        ],
    )
    .await;
    let before = rest.urls().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let capture = free_port();

    // 1. Connected: every URL points at taskhook, a new task's callback arrives signed valid.
    let taskhook = serve_connect(&sim, &db, capture).await;
    let public = format!("http://{capture}");
    assert_eq!(
        rest.urls().await,
        [
            Value::from(format!("{public}/events")),
            Value::Null,
            Value::from(format!("{public}/assignment")),
            Value::from(format!("{public}/assignment")),
        ]
    );
    sim.create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    let callback = taskhook.signed_assignment().await;
    assert_eq!(callback["signature"], "valid", "{callback}");
    // Someone changes one value meanwhile: the restore must leave it alone.
    rest.set(
        &rest.workflow(),
        &[(
            "FallbackAssignmentCallbackUrl",
            "http://someone.else/fallback",
        )],
    )
    .await;
    let printed = taskhook.terminate().await;
    let after = rest.urls().await;
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1], before[1]);
    assert_eq!(after[2], before[2]);
    assert_eq!(after[3], "http://someone.else/fallback");
    assert!(
        printed.contains("FallbackAssignmentCallbackUrl alone"),
        "{printed}"
    );

    // 2. Killed: the workspace still points at taskhook until `taskhook restore`.
    let before = rest.urls().await;
    let mut taskhook = serve_connect(&sim, &db, capture).await;
    taskhook.child.start_kill().unwrap();
    let _ = taskhook.child.wait().await;
    assert_eq!(rest.urls().await[2], format!("{public}/assignment"));
    let restore = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args(["restore", "--db"])
        .arg(&db)
        .env("TWILIO_ACCOUNT_SID", sim.account_sid())
        .env("TWILIO_AUTH_TOKEN", sim.auth_token().expose())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&restore.stdout);
    assert!(
        restore.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert!(stdout.contains("restored"), "{stdout}");
    assert_eq!(rest.urls().await, before);
    // Nothing is left to restore a second time.
    let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args(["restore", "--db"])
        .arg(&db)
        .env("TWILIO_ACCOUNT_SID", sim.account_sid())
        .env("TWILIO_AUTH_TOKEN", sim.auth_token().expose())
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "nothing to restore"
    );
    sim.shutdown().await;
}

/// What the sim's Event Streams API lists: (sinks, subscriptions).
async fn sinks_and_subscriptions(rest: &Rest<'_>) -> (Vec<Value>, Vec<Value>) {
    let sinks = rest.get("/v1/Sinks").await["sinks"]
        .as_array()
        .unwrap()
        .clone();
    let subs = rest.get("/v1/Subscriptions").await["subscriptions"]
        .as_array()
        .unwrap()
        .clone();
    (sinks, subs)
}

async fn taskhook_restore(sim: &Sim, db: &Path) -> String {
    let restore = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args(["restore", "--db"])
        .arg(db)
        .env("TWILIO_ACCOUNT_SID", sim.account_sid())
        .env("TWILIO_AUTH_TOKEN", sim.auth_token().expose())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&restore.stdout).into_owned();
    assert!(
        restore.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_mode_makes_a_temporary_sink_and_leaves_none_behind() {
    let sim = Sim::start(SimConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let rest = Rest { sim: &sim };
    rest.set(
        &rest.workspace(),
        &[("EventCallbackUrl", "http://backend.example/events")],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let capture = free_port();
    let public = format!("http://{capture}");

    // 1. Connected: a tagged sink + subscription; the EventCallbackUrl is left alone.
    let taskhook = serve_connect_with(&sim, &db, capture, &["--events", "streams"]).await;
    let (sinks, subs) = sinks_and_subscriptions(&rest).await;
    assert_eq!((sinks.len(), subs.len()), (1, 1), "{sinks:?} {subs:?}");
    assert_eq!(
        sinks[0]["sink_configuration"]["destination"],
        format!("{public}/events-streams")
    );
    let tag = sinks[0]["description"].as_str().unwrap();
    assert!(tag.starts_with("taskhook temporary"), "{tag}");
    assert_eq!(subs[0]["description"], tag);
    assert_eq!(subs[0]["sink_sid"], sinks[0]["sid"]);
    let subscribed = rest
        .get(&format!(
            "/v1/Subscriptions/{}/SubscribedEvents",
            subs[0]["sid"].as_str().unwrap()
        ))
        .await;
    let types = subscribed["types"].as_array().unwrap();
    assert!(types.len() > 20, "every TaskRouter type");
    assert!(types.iter().all(|t| {
        t["type"]
            .as_str()
            .unwrap()
            .starts_with("com.twilio.taskrouter.")
    }));
    assert_eq!(
        rest.get(&rest.workspace()).await["event_callback_url"],
        "http://backend.example/events"
    );
    // A new task's events arrive as a signed batch on the sink's path.
    sim.create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    let (base, token) = taskhook.inspector.split_once("/?token=").unwrap();
    let mut found = None;
    for _ in 0..100 {
        let list: Value = http_client()
            .get(format!(
                "{base}/api/requests?event_type=task.created&limit=1"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(row) = list["requests"].get(0) {
            found = Some(row.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = found.expect("task.created through Event Streams");
    assert_eq!(row["path"], "/events-streams");
    assert_eq!(row["signature"], "valid", "{row}");
    taskhook.terminate().await;
    let (sinks, subs) = sinks_and_subscriptions(&rest).await;
    assert!(
        sinks.is_empty() && subs.is_empty(),
        "deleted at exit: {sinks:?} {subs:?}"
    );

    // 2. Killed: the sink stays until `taskhook restore` deletes it.
    let mut taskhook = serve_connect_with(&sim, &db, capture, &["--events", "streams"]).await;
    taskhook.child.start_kill().unwrap();
    let _ = taskhook.child.wait().await;
    assert_eq!(sinks_and_subscriptions(&rest).await.0.len(), 1);
    let stdout = taskhook_restore(&sim, &db).await;
    assert!(stdout.contains("/v1/Sinks/DG"), "{stdout}");
    let (sinks, subs) = sinks_and_subscriptions(&rest).await;
    assert!(sinks.is_empty() && subs.is_empty(), "{sinks:?} {subs:?}");
    assert_eq!(
        taskhook_restore(&sim, &db).await.trim(),
        "nothing to restore"
    );
    sim.shutdown().await;
}
