use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use taskhook::config::Config;
use taskhook::inspector::guard::InspectorToken;
use taskhook::startup::App;
use taskhook::store::models::StoredRequest;
use taskhook::store::{RequestFilter, Store};
use taskhook::wire::Header;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The inspector token every test app uses.
pub const INSPECTOR_TOKEN: &str = "test-token-0123456789abcdef";

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const WORKSPACE: &str = "WS0123456789abcdef0123456789abcdef";
pub const WORKFLOW: &str = "WW0123456789abcdef0123456789abcdef";
pub const QUEUE: &str = "WQ0123456789abcdef0123456789abcdef";
pub const WORKER: &str = "WK0123456789abcdef0123456789abcdef";
pub const TASK: &str = "WT0123456789abcdef0123456789abcdef";
pub const RESERVATION: &str = "WR0123456789abcdef0123456789abcdef";

/// A running taskhook with its own temp database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub inspector: SocketAddr,
    pub store: Store,
    pub db_path: PathBuf,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app on port 0 after letting `tweak` adjust the default configuration.
/// `TEST_LOG=1 cargo test …` shows its logs in a failing test's output.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    taskhook::telemetry::init_for_tests();
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("taskhook.db");
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), db_path.clone());
    config.inspector.listen = "127.0.0.1:0".parse().unwrap();
    config.inspector.token = InspectorToken::fixed(INSPECTOR_TOKEN).unwrap();
    tweak(&mut config);
    let app = App::build(config).await.expect("app builds");
    let addr = app.capture_addr();
    let inspector = app.inspector_addr();
    let store = app.store().clone();
    let (shutdown, stop) = oneshot::channel::<()>();
    let stopped = tokio::spawn(app.run_until_stopped(async move {
        let _ = stop.await;
    }));
    TestApp {
        addr,
        inspector,
        store,
        db_path,
        client: http_client(),
        shutdown: Some(shutdown),
        stopped: Some(stopped),
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post_form(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(params)
            .send()
            .await
            .expect("request sent")
    }

    /// `http://127.0.0.1:PORT{path}` on the inspector listener.
    pub fn inspector_url(&self, path: &str) -> String {
        format!("http://{}{}", self.inspector, path)
    }

    /// GET on the inspector as a script would: with the Bearer token.
    pub async fn inspector_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.inspector_url(path))
            .bearer_auth(INSPECTOR_TOKEN)
            .send()
            .await
            .expect("inspector request sent")
    }

    /// POST JSON to the inspector as a script does (Bearer token).
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.inspector_url(path))
            .bearer_auth(INSPECTOR_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("inspector request sent")
    }

    /// The CSRF token the inspector's forms carry.
    pub async fn csrf(&self) -> String {
        let page = self.inspector_get("/").await.text().await.unwrap();
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a form with a CSRF token")
            .to_owned()
    }

    /// GET on the inspector's JSON API, parsed.
    pub async fn api(&self, path: &str) -> serde_json::Value {
        let response = self.inspector_get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON")
    }

    /// The newest stored requests (newest first).
    pub async fn latest(&self, limit: usize) -> Vec<StoredRequest> {
        let filter = RequestFilter {
            limit,
            ..RequestFilter::default()
        };
        self.store
            .read(move |r| {
                let rows = r.list_requests(&filter)?;
                rows.iter()
                    .map(|row| r.get_request(row.id).map(|full| full.expect("row exists")))
                    .collect()
            })
            .await
            .expect("read")
    }

    /// Starts a graceful shutdown and waits for it to finish. Returns the temp directory so the
    /// database outlives the app.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.stopped.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("stops within 10 s")
                .expect("run task");
        }
        self._dir
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Writes `bytes` on a fresh connection and reads until the server closes it (or 5 s pass).
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    out
}

/// The status code of the first response in a raw HTTP/1 exchange.
pub fn first_status(response: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

/// All header values named `name` (case-insensitive) of a stored header list.
pub fn header_values<'a>(headers: &'a [Header], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_slice())
        .collect()
}

/// The documented assignment-callback parameters (reference §1.2).
pub fn assignment_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Timestamp", "1795864014"),
        ("AccountSid", ACCOUNT),
        ("WorkspaceSid", WORKSPACE),
        ("WorkflowSid", WORKFLOW),
        ("TaskQueueSid", QUEUE),
        ("WorkerSid", WORKER),
        ("WorkerAttributes", r#"{"languages":["en","es"]}"#),
        ("TaskSid", TASK),
        ("TaskAttributes", r#"{"selected_language":"es"}"#),
        ("TaskAge", "3"),
        ("TaskPriority", "0"),
        ("ReservationSid", RESERVATION),
    ]
}

/// A `reservation.accepted` event callback (reference §2).
pub fn reservation_event_params(event: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("EventType", event),
        ("AccountSid", ACCOUNT),
        ("WorkspaceSid", WORKSPACE),
        ("WorkspaceName", "Quickstart"),
        ("EventDescription", "Reservation accepted"),
        ("ResourceType", "Reservation"),
        ("ResourceSid", RESERVATION),
        ("Timestamp", "1795864020"),
        ("TimestampMs", "1795864020123"),
        ("TaskSid", TASK),
        ("TaskAttributes", r#"{"selected_language":"es"}"#),
        ("WorkerSid", WORKER),
        ("WorkerName", "Alice"),
        ("ReservationSid", RESERVATION),
        ("TaskQueueSid", QUEUE),
        ("WorkflowSid", WORKFLOW),
    ]
}

/// A plain HTTP client for tests (redirects followed, no timeouts), with the crypto provider
/// taskhook's reqwest build needs installed first.
pub fn http_builder() -> reqwest::ClientBuilder {
    taskhook::wire::install_crypto_provider();
    reqwest::Client::builder()
}

pub fn http_client() -> reqwest::Client {
    http_builder().build().expect("test HTTP client")
}

/// An inspector page parsed as a browser would (html5ever), for assertions on elements rather
/// than on substrings of the markup.
pub struct Page(scraper::Html);

impl Page {
    pub fn parse(html: &str) -> Self {
        Page(scraper::Html::parse_document(html))
    }

    /// Every element matching the CSS selector.
    pub fn all(&self, css: &str) -> Vec<scraper::ElementRef<'_>> {
        let selector = scraper::Selector::parse(css).expect("a valid selector");
        self.0.select(&selector).collect()
    }

    pub fn has(&self, css: &str) -> bool {
        !self.all(css).is_empty()
    }

    /// The text of every element matching `css`, whitespace collapsed.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.all(css)
            .iter()
            .map(|e| e.text().collect::<Vec<_>>().join(" "))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// The page's visible text, whitespace collapsed.
    pub fn text(&self) -> String {
        self.texts("body").join(" ")
    }
}
