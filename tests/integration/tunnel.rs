//! Behind a tunnel with no flags (issue 14): the inspector makes way for ngrok's agent API, the
//! tunnel's public URL is found (ngrok's agent API, cloudflared's metrics server — both faked
//! here on loopback, since neither agent can run offline), and callbacks signed by
//! twilio-python for that URL are judged valid.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};
use taskhook::taskrouter::signature::AuthToken;
use taskhook::taskrouter::signature::Verdict;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdout};

use crate::helpers::{TASK, WORKSPACE, http_client, spawn_app_with};

const TOKEN: &str = "tunnel-test-auth-token";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

/// The signature twilio-python's RequestValidator computes; None (skip) where twilio-python
/// is not installed, which CI does not allow.
fn twilio_python_signature(url: &str, params: &[(&str, &str)]) -> Option<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/sign.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(url)
        .args(params.iter().map(|(k, v)| format!("{k}={v}")))
        .env("TOKEN", TOKEN)
        .output();
    match output {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "twilio-python must be installed under CI (.ci/run installs it)"
            );
            eprintln!("SKIP: python3 with the twilio package is not installed");
            None
        }
    }
}

fn params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("EventType", "task.created"),
        ("WorkspaceSid", WORKSPACE),
        ("TaskSid", TASK),
    ]
}

/// Sends a callback to the capture port as a tunnel delivers it: `Host` is the public host.
async fn deliver(capture: SocketAddr, host: &str, proto: Option<&str>, signature: &str) {
    let mut request = http_client()
        .post(format!("http://{capture}/events"))
        .header("Host", host)
        .header("X-Twilio-Signature", signature)
        .form(&params());
    if let Some(proto) = proto {
        request = request.header("X-Forwarded-Proto", proto);
    }
    let response = request.send().await.expect("delivered");
    assert_eq!(response.status(), 204);
}

/// A fake agent API serving `routes` (path → JSON) on `listener`; abort the handle to stop it.
fn fake_agent(
    listener: TcpListener,
    routes: Vec<(&'static str, Value)>,
) -> tokio::task::JoinHandle<()> {
    let mut router = axum::Router::new();
    for (path, body) in routes {
        router = router.route(path, get(move || async move { Json(body) }));
    }
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    })
}

fn ngrok_endpoints(public: &str, capture_port: u16) -> (&'static str, Value) {
    (
        "/api/endpoints",
        json!({"endpoints": [
            {"id": "ep_other", "url": "https://other.ngrok-free.app",
             "upstream": {"url": "http://localhost:3000", "protocol": "http1"}},
            {"id": "ep_1", "url": public,
             "upstream": {"url": format!("http://localhost:{capture_port}"), "protocol": "http1"}},
        ]}),
    )
}

fn ngrok_tunnels(public: &str, capture_port: u16) -> (&'static str, Value) {
    (
        "/api/tunnels",
        json!({"tunnels": [
            {"name": "command_line", "public_url": public, "proto": "https",
             "config": {"addr": format!("http://localhost:{capture_port}"), "inspect": true}},
        ], "uri": "/api/tunnels"}),
    )
}

struct Serve {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    inspector: String,
    stderr: tokio::task::JoinHandle<String>,
}

/// `taskhook serve` with no inspector or tunnel flags, on `capture`.
async fn serve(db: &std::path::Path, capture: SocketAddr) -> Serve {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args(["serve", "--listen", &capture.to_string(), "--db"])
        .arg(db)
        .env("TWILIO_ACCOUNT_SID", ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .env_remove("TASKHOOK_INSPECTOR")
        .env_remove("TASKHOOK_PUBLIC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn taskhook");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let stderr = tokio::spawn(async move {
        let mut all = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut all).await;
        all
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || lines.next_line().await.unwrap().expect("a line");
    let capture_line = next().await;
    assert_eq!(capture_line, format!("capture: http://{capture}"));
    let inspector = next()
        .await
        .strip_prefix("inspector: ")
        .expect("inspector line")
        .to_owned();
    Serve {
        child,
        lines,
        inspector,
        stderr,
    }
}

impl Serve {
    async fn public_line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("a public: line within 10 s")
            .unwrap()
            .expect("a line")
    }

    /// The newest request's signature verdict, from the inspector's API.
    async fn last_verdict(&self) -> (String, Value) {
        let (base, token) = self.inspector.split_once("/?token=").unwrap();
        let list: Value = http_client()
            .get(format!("{base}/api/requests?limit=1"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let row = list["requests"][0].clone();
        (row["signature"].as_str().unwrap_or("").to_owned(), row)
    }

    async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        self.stderr.await.unwrap_or_default()
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_ngrok_with_no_flags_the_ports_coexist_and_signatures_are_valid() {
    // ngrok's agent API takes 127.0.0.1:4040 first: the inspector's default.
    let agent = match TcpListener::bind("127.0.0.1:4040").await {
        Ok(agent) => agent,
        Err(err) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "127.0.0.1:4040 must be free under CI: {err}"
            );
            eprintln!("SKIP: 127.0.0.1:4040 is in use here ({err})");
            return;
        }
    };
    let public = "https://abc123.ngrok-free.app";
    let Some(signature) = twilio_python_signature(&format!("{public}/events"), &params()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let capture = free_port();
    let first_agent = fake_agent(agent, vec![ngrok_endpoints(public, capture.port())]);

    // 1. The agent first: the inspector makes way, the tunnel is found at once.
    let mut taskhook = serve(&db, capture).await;
    assert!(
        !taskhook.inspector.starts_with("http://127.0.0.1:4040/"),
        "{}",
        taskhook.inspector
    );
    assert_eq!(taskhook.public_line().await, format!("public: {public}"));
    deliver(capture, "abc123.ngrok-free.app", Some("https"), &signature).await;
    let (verdict, row) = taskhook.last_verdict().await;
    assert_eq!(verdict, "valid", "{row}");
    // The page's top bar shows it, with a copy button.
    let (base, token) = taskhook.inspector.split_once("/?token=").unwrap();
    let html = http_client()
        .get(format!("{base}/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = crate::helpers::Page::parse(&html);
    assert_eq!(page.texts("#public-url"), [public]);
    assert!(page.has(&format!("#public-url button.copy[data-copy=\"{public}\"]")));
    let stderr = taskhook.stop().await;
    assert!(
        stderr.contains("127.0.0.1:4040 is taken by an ngrok agent"),
        "{stderr}"
    );

    // 2. taskhook first (4040 is free again, so the inspector takes it), then an agent with
    // the older API on the next port, as a second ngrok would.
    first_agent.abort();
    let _ = first_agent.await;
    let mut taskhook = serve(&db, capture).await;
    assert!(
        taskhook.inspector.starts_with("http://127.0.0.1:4040/"),
        "{}",
        taskhook.inspector
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = "https://late.ngrok-free.app";
    let Ok(late) = TcpListener::bind("127.0.0.1:4041").await else {
        eprintln!("SKIP (second half): 127.0.0.1:4041 is in use");
        return;
    };
    let _late_agent = fake_agent(late, vec![ngrok_tunnels(later, capture.port())]);
    assert_eq!(taskhook.public_line().await, format!("public: {later}"));
    let Some(signature) = twilio_python_signature(&format!("{later}/events"), &params()) else {
        return;
    };
    deliver(capture, "late.ngrok-free.app", Some("https"), &signature).await;
    let (verdict, row) = taskhook.last_verdict().await;
    assert_eq!(verdict, "valid", "{row}");
    let _ = taskhook.stop().await;
}

#[tokio::test]
async fn a_cloudflared_shaped_request_is_judged_against_the_forwarded_scheme() {
    let Some(https) =
        twilio_python_signature("https://calm-river.trycloudflare.com/events", &params())
    else {
        return;
    };
    let app = spawn_app_with(|c| c.capture.signature_token = Some(AuthToken::new(TOKEN))).await;
    let host = "calm-river.trycloudflare.com";
    deliver(app.addr, host, Some("https"), &https).await;
    let row = &app.latest(1).await[0];
    assert_eq!(row.summary.signature, Verdict::Valid);

    // The last X-Forwarded-Proto counts: an earlier one may come from the sender.
    deliver(app.addr, host, Some("https, http"), &https).await;
    let row = &app.latest(1).await[0];
    assert_eq!(row.summary.signature, Verdict::Invalid);
    let reason = row.signature_reason.as_deref().unwrap_or("");
    assert!(
        reason.contains(&format!("http://{host}/events")) && reason.contains("X-Forwarded-Proto"),
        "{reason}"
    );

    // Without the header the Host alone is used, over http, and the reason says so.
    deliver(app.addr, host, None, &https).await;
    let row = &app.latest(1).await[0];
    assert_eq!(row.summary.signature, Verdict::Invalid);
    let reason = row.signature_reason.as_deref().unwrap_or("");
    assert!(reason.contains("no tunnel found"), "{reason}");
    let _ = app.stop().await;
}

#[tokio::test]
async fn a_cloudflared_quick_tunnel_is_found_through_its_metrics_server() {
    let Some(signature) =
        twilio_python_signature("https://quick-fox.trycloudflare.com/events", &params())
    else {
        return;
    };
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}", metrics.local_addr().unwrap());
    fake_agent(
        metrics,
        vec![(
            "/quicktunnel",
            json!({"hostname": "quick-fox.trycloudflare.com"}),
        )],
    );
    let app = spawn_app_with(|c| {
        c.capture.signature_token = Some(AuthToken::new(TOKEN));
        c.tunnel.detect = true;
        c.tunnel.api = Some(metrics_url);
    })
    .await;
    // The tunnel is asked at start and every few seconds; a request arriving before the first
    // answer is judged by its Host, so deliver until the found URL is used.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        // A cloudflared-forwarded request carries the public Host but, here, no
        // X-Forwarded-Proto: only the found tunnel URL makes it valid.
        deliver(app.addr, "quick-fox.trycloudflare.com", None, &signature).await;
        let row = &app.latest(1).await[0];
        if row.summary.signature == Verdict::Valid {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never judged against the tunnel: {:?}",
            row.signature_reason
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = app.stop().await;
}
