//! A headless Chromium for tests that must see the inspector page as a person does: click,
//! read the clipboard, take screenshots.
//!
//! Needs Debian's `chromium` and `chromium-driver` packages (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`). Without them a test using [`Browser::start`] is skipped with a line
//! on stderr, except under `CI=true`, where a missing browser fails the test.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL_HINT: &str = "apt-get install -y chromium chromium-driver";

/// How long chromedriver may take to answer `/status` with `ready: true`.
const DRIVER_READY_WITHIN: Duration = Duration::from_secs(10);
/// How long Chromium may take to start and open the session.
const SESSION_WITHIN: Duration = Duration::from_secs(60);

/// Without these the browser keeps reaching for the network, which this machine does not have.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
];

/// A headless Chromium driven through chromedriver. Dropping it ends the session and kills
/// chromedriver.
pub struct Browser {
    pub client: Client,
    /// Leader of its own process group, which Chromium and its helpers join.
    chromedriver: Child,
    /// Holds Chromium's `--user-data-dir` and chromedriver's output.
    _dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session.
    ///
    /// Returns `None` (after printing a "skipping browser test: …" line to stderr) when Chromium
    /// or chromedriver is not installed and `CI` is not `"true"`; under `CI=true` a missing
    /// browser is a panic. Any other failure to start is a panic that quotes chromedriver's
    /// output.
    pub async fn start() -> Option<Browser> {
        if let Some(missing) = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .find(|path| !Path::new(path).exists())
        {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "browser tests must run under CI=true, but {missing} is missing; \
                     install it with `{INSTALL_HINT}`"
                );
            }
            eprintln!("skipping browser test: {missing} not found (install with `{INSTALL_HINT}`)");
            return None;
        }

        let dir = tempfile::tempdir().expect("temp dir for the browser");
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).expect("profile dir");
        let log = dir.path().join("chromedriver.log");

        let (chromedriver, base) = spawn_chromedriver(&log).await;
        // From here on a panic drops `browser`, which kills chromedriver and Chromium.
        let mut capabilities = Capabilities::new();
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let connect = builder.connect(&base);
        let client = match tokio::time::timeout(SESSION_WITHIN, connect).await {
            Ok(Ok(client)) => client,
            outcome => {
                let mut chromedriver = chromedriver;
                kill_group(&mut chromedriver);
                let why = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no session within {SESSION_WITHIN:?}"),
                };
                panic!(
                    "Chromium did not start: {why}\nchromedriver output:\n{}",
                    read_log(&log)
                );
            }
        };
        let browser = Browser {
            client,
            chromedriver,
            _dir: dir,
        };

        // Headless Chromium has its own in-memory clipboard, but denies pages `readText()` unless
        // asked. Granting for every origin lets `clipboard_text` read what the page wrote.
        browser
            .cdp(
                "Browser.grantPermissions",
                json!({ "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"] }),
            )
            .await;
        Some(browser)
    }

    /// Saves a PNG screenshot of the window to `target/screenshots/<name>.png` (relative to the
    /// crate root) and returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&folder).expect("create target/screenshots");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Reads the clipboard text as the page sees it (`navigator.clipboard.readText()`), so a test
    /// can check what a copy button copied. Wait for the page to show that the copy finished
    /// before calling this: `writeText` resolves asynchronously.
    pub async fn clipboard_text(&self) -> String {
        const READ: &str = "const done = arguments[arguments.length - 1];
            navigator.clipboard.readText().then(
                text => done({ text }),
                error => done({ error: String(error) }));";
        let answer = self
            .client
            .execute_async(READ, vec![])
            .await
            .expect("run readText");
        match answer.get("text").and_then(Value::as_str) {
            Some(text) => text.to_owned(),
            None => panic!("clipboard not readable: {answer}"),
        }
    }

    /// Makes the page `width` CSS pixels wide (900 high) in the light or dark colour scheme, as
    /// a phone, laptop or desktop would show it. Holds across navigations.
    pub async fn emulate(&self, width: u32, dark: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [
                { "name": "prefers-color-scheme", "value": if dark { "dark" } else { "light" } }
            ] }),
        )
        .await;
    }

    /// Runs axe-core (from `tests/node/node_modules`, installed by `npm ci --prefix tests/node`)
    /// on the current page and returns its violations, one line per failing node. Injected
    /// through WebDriver, so the page's CSP (no inline scripts) does not apply to it.
    pub async fn axe_violations(&self) -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/node/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; run `npm ci --prefix tests/node`", path.display())
        });
        self.client
            .execute(&format!("{source}\n;return true;"), vec![])
            .await
            .expect("inject axe-core");
        const RUN: &str = "const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] }).then(
                r => done({ violations: r.violations.flatMap(v => v.nodes.map(n =>
                    v.id + ' (' + v.impact + '): ' + n.target.join(' ') + ' — ' +
                    (n.failureSummary || '').replace(/\\s+/g, ' ')
                )) }),
                e => done({ error: String(e) }));";
        let answer = self
            .client
            .execute_async(RUN, vec![])
            .await
            .expect("run axe-core");
        match answer.get("violations").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect(),
            None => panic!("axe-core failed: {answer}"),
        }
    }

    /// Closes the session, which quits Chromium, then stops chromedriver. Call at the end of a
    /// test; `Drop` is the fallback.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // `Drop` kills chromedriver and anything left of Chromium.
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver
    /// (`POST /session/{id}/goog/cdp/execute`) and returns its result.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(ExecuteCdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.chromedriver);
        // `_dir` is removed after this, once nothing writes to it any more.
    }
}

/// chromedriver's vendor command for Chrome DevTools Protocol calls.
#[derive(Debug)]
struct ExecuteCdp {
    cmd: &'static str,
    params: Value,
}

/// `url::Url`'s parse error, named through `reqwest`'s re-export of `Url`.
type UrlError = <reqwest::Url as std::str::FromStr>::Err;

impl WebDriverCompatibleCommand for ExecuteCdp {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, UrlError> {
        let session = session_id.expect("a CDP command needs a session");
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _request_url: &reqwest::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Starts chromedriver on a free port in a process group of its own and waits until `/status`
/// says it is ready. Returns the child and the driver's base URL. A port taken between choosing
/// and binding it makes chromedriver exit; that is retried on another port.
async fn spawn_chromedriver(log: &Path) -> (Child, String) {
    let http = crate::helpers::http_builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("reqwest client");
    let mut attempts = 0;
    loop {
        attempts += 1;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let output = std::fs::File::create(log).expect("chromedriver log");
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log handle"))
            .stderr(output)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {CHROMEDRIVER}: {e}"));
        let base = format!("http://127.0.0.1:{port}/");
        let deadline = Instant::now() + DRIVER_READY_WITHIN;
        loop {
            if let Some(status) = child.try_wait().expect("chromedriver status") {
                if attempts < 3 {
                    break;
                }
                panic!(
                    "chromedriver exited ({status}) before it was ready:\n{}",
                    read_log(log)
                );
            }
            if is_ready(&http, &base).await {
                return (child, base);
            }
            if Instant::now() > deadline {
                kill_group(&mut child);
                panic!(
                    "chromedriver not ready within {DRIVER_READY_WITHIN:?}:\n{}",
                    read_log(log)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn is_ready(http: &reqwest::Client, base: &str) -> bool {
    let Ok(response) = http.get(format!("{base}status")).send().await else {
        return false;
    };
    let Ok(status) = response.json::<Value>().await else {
        return false;
    };
    status["value"]["ready"] == json!(true)
}

/// SIGKILLs the whole process group led by `child` (chromedriver, Chromium and its helpers),
/// then reaps `child`. Chromium's crash handler lives in a session of its own and exits by
/// itself once Chromium is gone.
fn kill_group(child: &mut Child) {
    if child.try_wait().ok().flatten().is_none() {
        // std can signal only its own child; the shell's `kill` reaches the group.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -KILL -{}", child.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// The last 4 KiB of chromedriver's output, for failure messages.
fn read_log(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(log) {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        let start = bytes.len().saturating_sub(4096);
        text = String::from_utf8_lossy(&bytes[start..]).into_owned();
    }
    text
}

#[tokio::test]
async fn the_harness_drives_chromium_and_reads_the_clipboard() {
    use crate::helpers::RESERVATION;
    use axum::response::Html;
    use fantoccini::Locator;

    const PAGE: &str = r#"<!doctype html>
<html><head><title>harness</title></head>
<body>
  <button id="copy">Copy reservation</button>
  <output id="status"></output>
  <script>
    document.getElementById("copy").addEventListener("click", () => {
      navigator.clipboard.writeText("__TEXT__").then(
        () => { document.getElementById("status").textContent = "copied"; },
        (e) => { document.getElementById("status").textContent = "failed: " + e; });
    });
  </script>
</body></html>"#;

    let Some(browser) = Browser::start().await else {
        return;
    };

    let page = PAGE.replace("__TEXT__", RESERVATION);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { Html(page) }));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = &browser.client;
    client
        .goto(&format!("http://{addr}/"))
        .await
        .expect("open page");
    client
        .find(Locator::Css("#copy"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    let status = client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("#status:not(:empty)"))
        .await
        .expect("copy settles")
        .text()
        .await
        .expect("status text");
    assert_eq!(status, "copied");
    assert_eq!(browser.clipboard_text().await, RESERVATION);

    let path = browser.screenshot("harness-self-test").await;
    let png = std::fs::read(&path).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );

    browser.close().await;
    server.abort();
}
