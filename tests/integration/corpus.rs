//! The bad-input corpus (`tests/data/corpus/`, one raw request per file; see its README): each
//! case goes to the real server on a fresh connection and is recorded or refused with a clear
//! status, the server keeps answering, and — in headless Chromium — nothing a case carries runs
//! as script or opens a dialog: on the live list while the cases arrive, on the first render of
//! the list, and on every recorded case's detail page.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use taskhook::store::models::StoredRequest;
use taskhook::taskrouter::signature::AuthToken;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::browser_support::Browser;
use crate::helpers::*;

/// Body limit of the corpus app: small enough that "over the limit" files stay small.
const MAX_BODY: usize = 256 * 1024;
/// Head deadline of the corpus app, so slowloris cases end quickly.
const HEADER_READ_TIMEOUT: Duration = Duration::from_millis(400);
/// Body deadline of the corpus app.
const BODY_READ_TIMEOUT: Duration = Duration::from_millis(500);
/// Delay between bytes of a trickled case.
const TRICKLE: Duration = Duration::from_millis(100);
/// Longest any one exchange may take.
const EXCHANGE_WITHIN: Duration = Duration::from_secs(5);

/// Which listener a case is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    Capture,
    /// Placeholders `@@PORT@@`, `@@TOKEN@@`, `@@ID:<case>@@` and `@@EVIL@@` are filled in first.
    Inspector,
}

/// How the bytes of a case are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    /// All at once.
    Whole,
    /// All at once, then the body part again and again until the server answers or closes.
    Endless,
    /// One byte per [`TRICKLE`], head included.
    TrickleHead,
    /// The head at once, then the body one byte per [`TRICKLE`].
    TrickleBody,
}

/// What the server must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    /// Status of the (only) response; `None`: the connection is closed without a response.
    status: Option<u16>,
    /// Rows stored by the case.
    rows: usize,
}

/// Answered `status` and stored as one row with that status.
const fn recorded(status: u16) -> Expect {
    Expect {
        status: Some(status),
        rows: 1,
    }
}

/// Answered `status`, nothing stored.
const fn refused(status: u16) -> Expect {
    Expect {
        status: Some(status),
        rows: 0,
    }
}

/// Closed without an answer, nothing stored.
const CLOSED: Expect = Expect {
    status: None,
    rows: 0,
};

/// Extra checks on top of [`Expect`].
#[derive(Debug, Clone, Copy)]
enum Check {
    /// The stored body is exactly the bytes after the head in the file.
    BodyExact,
    /// The stored body is exactly this.
    BodyIs(&'static [u8]),
    /// The stored body is the first [`MAX_BODY`] bytes, flagged truncated.
    Truncated,
    /// The stored path (and query) are exactly what the request line says.
    TargetExact,
    /// The server closed the connection after its answer.
    Closes,
    /// The response body is exactly this.
    ResponseBody(&'static str),
    /// The stored kind.
    Kind(&'static str),
    /// The stored TaskSid and ReservationSid.
    Sids(Option<&'static str>, Option<&'static str>),
    /// No SID column is filled.
    NoSids,
    /// The stored signature verdict.
    Signature(&'static str),
    /// A 303 whose Location stays on the inspector's origin.
    LocalRedirect,
    /// The request the replay sent (recorded by the capture listener) has none of these headers.
    ReplaySent { without: &'static [&'static str] },
    /// The detail page of the stored request shows this text (HTML-escaped as needed).
    DetailShows(&'static str),
    /// The detail page of the stored request is at most this many bytes.
    DetailAtMost(usize),
    /// The stored request is flagged (its `error`) with this text.
    Flagged(&'static str),
}

struct Case {
    file: &'static str,
    /// Payload classes of security-reference §3.3 the case covers.
    classes: &'static [u8],
    listener: Listener,
    send: Send,
    expect: Expect,
    checks: &'static [Check],
}

const fn c(file: &'static str, classes: &'static [u8], expect: Expect) -> Case {
    Case {
        file,
        classes,
        listener: Listener::Capture,
        send: Send::Whole,
        expect,
        checks: &[],
    }
}

const fn i(file: &'static str, classes: &'static [u8], expect: Expect) -> Case {
    Case {
        listener: Listener::Inspector,
        ..c(file, classes, expect)
    }
}

impl Case {
    const fn send(self, send: Send) -> Self {
        Case { send, ..self }
    }
    const fn checks(self, checks: &'static [Check]) -> Self {
        Case { checks, ..self }
    }
}

use Check::*;

const FORBIDDEN: Expect = refused(403);

/// Every file of `tests/data/corpus/`, in the order they are sent.
const CASES: &[Case] = &[
    // Markup in every rendered field (classes 1–5, 7).
    c("c01-script-in-form-fields", &[1, 5], recorded(200)).checks(&[
        BodyExact,
        Kind("assignment"),
        Sids(Some(TASK), Some(RESERVATION)),
    ]),
    c(
        "c02-markup-in-event-type-and-worker",
        &[1, 2],
        recorded(204),
    )
    .checks(&[BodyExact, Kind("event")]),
    c("c03-textarea-and-pre-breakout-body", &[1], recorded(200)).checks(&[BodyExact]),
    c("c04-header-value-attribute-breakout", &[2], recorded(200)),
    c("c05-header-name-every-tchar", &[2], recorded(200)),
    c("c06-header-name-markup", &[2], refused(400)),
    c("c07-path-and-query-markup-encoded", &[3], recorded(200)).checks(&[TargetExact]),
    c("c08-path-markup-raw", &[3], refused(400)),
    c("c09-query-markup-raw", &[3], refused(400)),
    c("c10-quotes-in-path", &[3], recorded(200)).checks(&[TargetExact]),
    c("c11-javascript-and-data-urls", &[4], recorded(200)).checks(&[BodyExact]),
    c("c12-json-closes-script-block", &[5], recorded(204)).checks(&[
        BodyExact,
        Kind("event"),
        Sids(Some(TASK), None),
    ]),
    c("c13-html-content-type", &[7], recorded(200)).checks(&[BodyExact]),
    c("c14-svg-content-type", &[7], recorded(200)).checks(&[BodyExact]),
    // Bytes that are not text (8–10).
    c("c15-invalid-utf8-form", &[8], recorded(200)).checks(&[BodyExact, NoSids]),
    c("c16-lone-surrogate-json", &[8], recorded(200)).checks(&[BodyExact, Kind("other")]),
    c("c17-obs-text-header-values", &[9, 10], recorded(200)),
    c("c18-control-characters-in-body", &[10], recorded(204))
        .checks(&[BodyExact, DetailShows("a\\u{0}b\\u{7}c\\u{1b}[31mred")]),
    c("c19-control-character-in-header-value", &[10], refused(400)),
    c("c20-bidi-and-zero-width", &[10], recorded(200)).checks(&[
        BodyExact,
        DetailShows("\\u{202e}gnp.exe\\u{200d}\\u{200b}\\u{2066}"),
    ]),
    // Framing and size (11–17).
    c("c21-body-over-limit-honest-length", &[11], recorded(413)).checks(&[Truncated, Closes]),
    c("c22-endless-chunked", &[12], recorded(413))
        .send(Send::Endless)
        .checks(&[Truncated, Closes]),
    c("c23-content-length-short-stall", &[13], recorded(408))
        .checks(&[BodyIs(b"0123456789"), Closes]),
    c("c24-content-length-10mib-stall", &[13], recorded(408))
        .checks(&[BodyIs(b"0123456789"), Closes]),
    c("c25-content-length-long", &[13], recorded(200)).checks(&[BodyIs(b"0123456789"), Closes]),
    c("c26-content-length-then-chunked", &[14], recorded(200)).checks(&[BodyIs(b"hello"), Closes]),
    c("c27-chunked-then-content-length", &[14], recorded(200)).checks(&[BodyIs(b"hello"), Closes]),
    c("c28-two-content-lengths", &[14], refused(400)).checks(&[Closes]),
    c("c29-content-length-plus", &[14], refused(400)).checks(&[Closes]),
    c("c30-chunked-then-identity", &[14], refused(400)).checks(&[Closes]),
    c("c31-huge-chunk-size", &[14], recorded(400)).checks(&[Closes]),
    c("c32-chunk-extension-64kib", &[14], recorded(400)).checks(&[Closes]),
    c("c33-one-header-of-1mib", &[15], refused(431)).checks(&[Closes]),
    c("c34-uri-of-100kb", &[15], refused(414)).checks(&[Closes]),
    c("c35-101-headers", &[16], refused(431)).checks(&[Closes]),
    c("c36-10000-headers", &[16], refused(431)).checks(&[Closes]),
    c("c37-slowloris-head", &[17], CLOSED)
        .send(Send::TrickleHead)
        .checks(&[Closes]),
    c("c38-slowloris-body", &[17], recorded(408))
        .send(Send::TrickleBody)
        .checks(&[Closes]),
    // Encodings and parameters (18–21).
    c("c39-malformed-percent-encoding", &[18], recorded(200)).checks(&[
        BodyExact,
        TargetExact,
        NoSids,
    ]),
    c("c40-duplicate-and-odd-keys", &[19], recorded(200)).checks(&[
        BodyExact,
        Kind("assignment"),
        Sids(Some(TASK), Some(RESERVATION)),
    ]),
    c("c41-100000-parameters", &[19], recorded(200))
        .checks(&[BodyExact, DetailAtMost(2 * 1024 * 1024)]),
    c("c42-json-nested-100000", &[20], recorded(200)).checks(&[BodyExact]),
    c(
        "c43-json-huge-number-and-duplicate-keys",
        &[20],
        recorded(200),
    )
    .checks(&[BodyExact]),
    c("c44-gzip-bomb", &[21], recorded(200)).checks(&[BodyExact]),
    // Paths, proxies, header injection, hop-by-hop (22–25).
    c("c45-traversal-dotdot", &[22], recorded(200)).checks(&[TargetExact]),
    c("c46-traversal-encoded", &[22], recorded(200)).checks(&[TargetExact]),
    c("c47-traversal-mixed", &[22], recorded(200)).checks(&[TargetExact]),
    c("c48-traversal-double-encoded", &[22], recorded(200)).checks(&[TargetExact]),
    c("c49-traversal-backslash", &[22], recorded(200)).checks(&[TargetExact]),
    c("c50-absolute-form", &[23], recorded(400)).checks(&[BodyExact]),
    c("c51-connect", &[23], recorded(400)),
    c("c52-inspector-route-on-capture-port", &[23], recorded(200)).checks(&[ResponseBody("{}")]),
    c("c53-crlf-encoded-in-path", &[24], recorded(200)).checks(&[TargetExact]),
    c("c54-header-name-with-space", &[24], refused(400)),
    c("c55-obs-fold", &[24], refused(400)),
    c("c56-nul-in-header-value", &[24], refused(400)),
    c("c57-hop-by-hop-headers", &[25], recorded(204)).checks(&[BodyExact]),
    // SIDs and signatures (26–27).
    c("c58-wrong-format-sids", &[26], recorded(200)).checks(&[Kind("assignment"), NoSids]),
    c("c59-forged-signature", &[27], recorded(200)).checks(&[Signature("invalid")]),
    // Odd but legal request lines.
    c("c60-quote-and-backtick-in-method", &[3], recorded(200)),
    c("c61-bare-lf-line-endings", &[14], recorded(200)).checks(&[BodyIs(b"a=b")]),
    c("c62-http10-without-host", &[3, 28], recorded(200)).checks(&[TargetExact]),
    c("c63-arabic-letter-mark", &[10], recorded(204)).checks(&[DetailShows("a\\u{61c}b")]),
    // Event Streams batches (issue 15): markup in every event field, and broken batches —
    // recorded, answered 200, flagged.
    c("c64-cloudevents-markup-in-fields", &[1, 5], recorded(200)).checks(&[
        BodyExact,
        Kind("event"),
        Sids(Some(TASK), Some(RESERVATION)),
    ]),
    c("c65-cloudevents-invalid-json", &[20], recorded(200)).checks(&[
        BodyExact,
        Kind("other"),
        Flagged("not valid JSON"),
    ]),
    c("c66-cloudevents-not-objects", &[20], recorded(200))
        .checks(&[BodyExact, Flagged("is not an object")]),
    c("c67-cloudevents-missing-type", &[20], recorded(200)).checks(&[
        BodyExact,
        NoSids,
        Flagged("has no type"),
    ]),
    c("c68-cloudevents-nested-100000", &[20], recorded(200))
        .checks(&[BodyExact, Flagged("recursion limit")]),
    c("c69-cloudevents-10000-events", &[19], recorded(200))
        .checks(&[BodyExact, Flagged("only the first 1000")]),
    // The inspector: hostile Host and Origin (28), replay edits (24, 25, 29, 6), SIDs in action
    // routes (26), export file names (30), the token redirect.
    i("i01-host-evil-example", &[28], FORBIDDEN),
    i("i02-host-localhost-suffix", &[28], FORBIDDEN),
    i("i03-host-nip-io", &[28], FORBIDDEN),
    i("i04-host-userinfo-at-evil", &[28], FORBIDDEN),
    i("i05-host-uppercase", &[28], FORBIDDEN),
    i("i06-host-trailing-dot", &[28], FORBIDDEN),
    i("i07-host-zero-address", &[28], FORBIDDEN),
    i("i08-host-decimal-ip", &[28], FORBIDDEN),
    i("i09-host-other-port", &[28], FORBIDDEN),
    i("i10-host-latin1-bytes", &[28], FORBIDDEN),
    i("i11-host-ipv6-loopback-allowed", &[28], refused(200)),
    i("i12-host-twice", &[28], FORBIDDEN),
    i("i13-no-host-http10", &[28], FORBIDDEN),
    i("i14-origin-null", &[28], FORBIDDEN),
    i("i15-origin-localhost-other-port", &[28], FORBIDDEN),
    i("i16-origin-127-other-port", &[28], FORBIDDEN),
    i("i17-origin-lan", &[28], FORBIDDEN),
    i("i18-origin-https-same-host", &[28], FORBIDDEN),
    i("i19-sec-fetch-site-cross-site", &[28], FORBIDDEN),
    i("i20-no-token", &[28], FORBIDDEN),
    i("i21-replay-crlf-in-header-value", &[24], refused(400)),
    i("i22-replay-crlf-injected-header", &[24], refused(400)),
    i("i23-replay-nul-in-header-value", &[24], refused(400)),
    i("i24-replay-space-in-header-name", &[24], refused(400)),
    i("i25-replay-crlf-in-path", &[24], refused(400)),
    i("i26-replay-to-metadata-address", &[29], refused(400)),
    i("i27-replay-to-file-url", &[29], refused(400)),
    i("i28-replay-to-ipv4-mapped", &[29], refused(400)),
    // The hostile server answers with markup in its status line, headers and body; the replay
    // record is rendered in the browser with the rest.
    i("i29-replay-to-hostile-server", &[6], recorded(201)),
    // Replayed to the capture listener: one record, the request it received, marked as the
    // replay (#12: it no longer doubles as a new callback).
    i(
        "i30-replay-drops-hop-by-hop",
        &[25],
        Expect {
            status: Some(201),
            rows: 1,
        },
    )
    .checks(&[ReplaySent {
        without: &[
            "Connection",
            "Keep-Alive",
            "Proxy-Authorization",
            "Proxy-Connection",
            "TE",
            "X-Secret",
            "Transfer-Encoding",
        ],
    }]),
    i("i31-action-sid-traversal", &[26], refused(400)),
    i("i32-action-sid-31-hex", &[26], refused(400)),
    i("i33-action-sid-lowercase-prefix", &[26], refused(400)),
    i("i34-action-sid-arabic-digit", &[26], refused(400)),
    i("i35-task-sid-encoded-slash", &[26], refused(400)),
    i("i36-export-file-name", &[30], refused(200)),
    i("i37-token-redirect-protocol-relative", &[28], refused(303)).checks(&[LocalRedirect]),
    i("i38-token-redirect-backslash", &[28], refused(303)).checks(&[LocalRedirect]),
    // Full-text search is fed captured-looking text from links; a NUL must not break it.
    i("i39-search-with-nul-api", &[10, 18], refused(200)),
    i("i40-search-with-nul-page", &[10, 18], refused(200)),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus")
}

fn read_case(file: &str) -> Vec<u8> {
    let path = corpus_dir().join(format!("{file}.http"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where the head of a raw request ends (after the blank line), for CRLF or bare-LF files.
fn head_end(bytes: &[u8]) -> usize {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(bytes.len()),
    }
}

/// The request target of the request line.
fn request_target(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
    String::from_utf8(target.to_vec()).expect("ASCII request target")
}

/// What came back on one connection.
struct Exchange {
    response: Vec<u8>,
    /// The server closed (or reset) the connection within [`EXCHANGE_WITHIN`].
    closed: bool,
}

impl Exchange {
    fn status(&self) -> Option<u16> {
        (!self.response.is_empty()).then(|| first_status(&self.response))
    }

    /// How many responses arrived (a smuggled second request would make two).
    fn responses(&self) -> usize {
        let text = String::from_utf8_lossy(&self.response);
        usize::from(text.starts_with("HTTP/1.")) + text.matches("\nHTTP/1.").count()
    }

    fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.response);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    fn body(&self) -> &[u8] {
        &self.response[head_end(&self.response)..]
    }
}

/// Sends `bytes` on a fresh connection the way `send` says, reading concurrently (so an answer
/// sent before the server closes is seen even if our writes then fail), until the server closes
/// the connection or [`EXCHANGE_WITHIN`] passes.
async fn exchange(addr: SocketAddr, bytes: &[u8], send: Send) -> Exchange {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let answered = Arc::new(AtomicBool::new(false));
    let deadline = tokio::time::Instant::now() + EXCHANGE_WITHIN;
    let reader = {
        let answered = Arc::clone(&answered);
        tokio::spawn(async move {
            let mut out = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            let closed = loop {
                match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
                    Err(_) => break false,
                    Ok(Ok(0)) | Ok(Err(_)) => break true,
                    Ok(Ok(n)) => {
                        out.extend_from_slice(&buf[..n]);
                        answered.store(true, Ordering::SeqCst);
                    }
                }
            };
            (out, closed)
        })
    };
    let done = |answered: &AtomicBool, reader: &tokio::task::JoinHandle<_>| {
        answered.load(Ordering::SeqCst) || reader.is_finished()
    };
    // Writes may fail once the server has answered and closed; that is part of the test.
    let split = head_end(bytes);
    match send {
        Send::Whole => {
            let _ = wr.write_all(bytes).await;
        }
        Send::Endless => {
            let body = &bytes[split..];
            let mut ok = wr.write_all(bytes).await.is_ok();
            while ok && !done(&answered, &reader) && tokio::time::Instant::now() < deadline {
                ok = matches!(
                    tokio::time::timeout(Duration::from_millis(200), wr.write_all(body)).await,
                    Ok(Ok(())) | Err(_)
                );
            }
        }
        Send::TrickleHead | Send::TrickleBody => {
            let start = if send == Send::TrickleBody {
                if wr.write_all(&bytes[..split]).await.is_err() {
                    return finish(reader, wr).await;
                }
                split
            } else {
                0
            };
            for byte in &bytes[start..] {
                if done(&answered, &reader) || wr.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(TRICKLE).await;
            }
        }
    }
    finish(reader, wr).await
}

/// Waits for the reader; the write half is dropped only afterwards, because dropping it sends
/// FIN, which would turn a stalled body into a broken one.
async fn finish(
    reader: tokio::task::JoinHandle<(Vec<u8>, bool)>,
    wr: tokio::net::tcp::OwnedWriteHalf,
) -> Exchange {
    let (response, closed) = reader.await.expect("reader task");
    drop(wr);
    Exchange { response, closed }
}

/// The corpus app: small body limit and short deadlines, signature checks on.
async fn corpus_app() -> TestApp {
    spawn_app_with(|c| {
        c.capture.max_body = MAX_BODY;
        c.capture.body_read_timeout = BODY_READ_TIMEOUT;
        c.capture_limits.header_read_timeout = HEADER_READ_TIMEOUT;
        c.capture.signature_token = Some(AuthToken::new("corpus-auth-token"));
    })
    .await
}

/// A loopback server that answers every request with markup in its status line, headers and
/// body (class 6: a hostile replay target).
async fn hostile_target() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
                let body = "<script>window.__xss='i29';document.title='XSS-i29';alert('i29')\
                            </script><img src=x onerror=\"window.__xss='i29'\">";
                let answer = format!(
                    "HTTP/1.1 404 <script>alert('i29')</script>\r\n\
                     X-Evil: \"><img src=x onerror=\"window.__xss='i29'\">\r\n\
                     Location: javascript:alert('i29')\r\n\
                     Content-Type: text/html\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// A normal callback on its own connection (a fresh client: the corpus app's head deadline
/// would close pooled idle connections under a shared client).
async fn alive(app: &TestApp, after: &str) {
    let client = crate::helpers::http_builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let response = client
        .post(app.url("/corpus-alive"))
        .form(&[("EventType", "task.created"), ("After", after)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer to a normal request after {after}: {e}"));
    assert_eq!(response.status(), 204, "normal request after {after}");
}

/// Stored requests with an id above `after`, oldest first.
async fn rows_after(app: &TestApp, after: i64) -> Vec<StoredRequest> {
    let mut rows: Vec<StoredRequest> = app
        .latest(8)
        .await
        .into_iter()
        .filter(|r| r.summary.id > after)
        .collect();
    rows.reverse();
    rows
}

async fn last_id(app: &TestApp) -> i64 {
    app.latest(1).await.first().map_or(0, |r| r.summary.id)
}

/// Runs the cases, in order, against `app`, checking each. Returns the ids of every row stored
/// on the way, by case.
async fn run_cases(
    app: &TestApp,
    evil: SocketAddr,
    cases: &[&Case],
    ids: &mut Vec<(&'static str, i64)>,
) {
    for case in cases {
        let mut bytes = read_case(case.file);
        let addr = match case.listener {
            Listener::Capture => app.addr,
            Listener::Inspector => {
                bytes = fill_placeholders(&bytes, app, evil, ids);
                app.inspector
            }
        };
        let before = last_id(app).await;
        let started = Instant::now();
        let exchange = exchange(addr, &bytes, case.send).await;
        let what = format!("{} (classes {:?})", case.file, case.classes);
        let shown = String::from_utf8_lossy(&exchange.response[..exchange.response.len().min(300)])
            .into_owned();

        match case.expect.status {
            Some(status) => {
                assert_eq!(exchange.status(), Some(status), "{what}: {shown}");
                assert_eq!(exchange.responses(), 1, "{what}: one answer only: {shown}");
            }
            None => {
                assert!(
                    exchange.response.is_empty(),
                    "{what}: expected no answer, got {shown}"
                );
                assert!(exchange.closed, "{what}: connection left open");
            }
        }
        let rows = rows_after(app, before).await;
        assert_eq!(
            rows.len(),
            case.expect.rows,
            "{what}: rows stored: {:?}",
            rows.iter()
                .map(|r| (&r.summary.method, &r.summary.path))
                .collect::<Vec<_>>()
        );
        if case.listener == Listener::Capture
            && let (Some(status), Some(row)) = (case.expect.status, rows.first())
        {
            assert_eq!(row.summary.status, status, "{what}: stored status");
        }
        for row in &rows {
            ids.push((case.file, row.summary.id));
        }
        for check in case.checks {
            run_check(check, case, &bytes, &exchange, &rows, app, &what).await;
        }
        alive(app, case.file).await;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{what}: took {:?}",
            started.elapsed()
        );
    }
}

fn fill_placeholders(
    bytes: &[u8],
    app: &TestApp,
    evil: SocketAddr,
    ids: &[(&'static str, i64)],
) -> Vec<u8> {
    let mut text = bytes.to_vec();
    let mut replace = |from: &str, to: &str| {
        let from = from.as_bytes();
        let mut out = Vec::with_capacity(text.len());
        let mut rest = &text[..];
        while let Some(p) = rest.windows(from.len()).position(|w| w == from) {
            out.extend_from_slice(&rest[..p]);
            out.extend_from_slice(to.as_bytes());
            rest = &rest[p + from.len()..];
        }
        out.extend_from_slice(rest);
        text = out;
    };
    replace("@@PORT@@", &app.inspector.port().to_string());
    replace("@@TOKEN@@", INSPECTOR_TOKEN);
    replace("@@EVIL@@", &format!("http://{evil}/hostile"));
    for (file, id) in ids {
        let key = file.split('-').next().unwrap_or_default();
        replace(&format!("@@ID:{key}@@"), &id.to_string());
    }
    assert!(
        !text.windows(2).any(|w| w == b"@@"),
        "unfilled placeholder in {}",
        String::from_utf8_lossy(&text)
    );
    // Fix the declared length after filling placeholders in a JSON body.
    let split = head_end(&text);
    let body_len = text.len() - split;
    let head = String::from_utf8_lossy(&text[..split]).into_owned();
    let mut fixed = Vec::with_capacity(text.len());
    for line in head.split_inclusive("\r\n") {
        if line.to_ascii_lowercase().starts_with("content-length:") {
            fixed.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
        } else {
            fixed.extend_from_slice(line.as_bytes());
        }
    }
    fixed.extend_from_slice(&text[split..]);
    fixed
}

async fn run_check(
    check: &Check,
    case: &Case,
    bytes: &[u8],
    exchange: &Exchange,
    rows: &[StoredRequest],
    app: &TestApp,
    what: &str,
) {
    let row = || {
        rows.first()
            .unwrap_or_else(|| panic!("{what}: {check:?} needs a stored row"))
    };
    match *check {
        BodyExact => assert!(
            row().body == bytes[head_end(bytes)..],
            "{what}: body not stored byte for byte ({} bytes stored)",
            row().body.len()
        ),
        BodyIs(expected) => assert_eq!(row().body, expected, "{what}: stored body"),
        Truncated => {
            assert!(row().summary.body_truncated, "{what}: truncated flag");
            assert_eq!(row().body.len(), MAX_BODY, "{what}: stored length");
        }
        TargetExact => {
            let s = &row().summary;
            let stored = match &s.query {
                Some(q) => format!("{}?{q}", s.path),
                None => s.path.clone(),
            };
            assert_eq!(stored, request_target(bytes), "{what}: stored target");
        }
        Closes => assert!(exchange.closed, "{what}: connection left open"),
        ResponseBody(expected) => assert_eq!(
            String::from_utf8_lossy(exchange.body()),
            expected,
            "{what}: response body"
        ),
        Kind(kind) => assert_eq!(row().summary.kind.as_str(), kind, "{what}: kind"),
        Flagged(text) => {
            let error = row().summary.error.clone().unwrap_or_default();
            assert!(error.contains(text), "{what}: flagged {text:?}: {error:?}");
        }
        Sids(task, reservation) => {
            let s = &row().summary;
            assert_eq!(
                s.task_sid.as_ref().map(|s| s.as_str()),
                task,
                "{what}: TaskSid"
            );
            assert_eq!(
                s.reservation_sid.as_ref().map(|s| s.as_str()),
                reservation,
                "{what}: ReservationSid"
            );
        }
        NoSids => {
            let s = &row().summary;
            let sids = [
                s.account_sid.as_ref().map(|s| s.as_str()),
                s.workspace_sid.as_ref().map(|s| s.as_str()),
                s.task_sid.as_ref().map(|s| s.as_str()),
                s.reservation_sid.as_ref().map(|s| s.as_str()),
                s.worker_sid.as_ref().map(|s| s.as_str()),
            ];
            assert!(sids.iter().all(|s| s.is_none()), "{what}: SIDs {sids:?}");
        }
        Signature(verdict) => assert_eq!(
            row().summary.signature.as_str(),
            verdict,
            "{what}: signature"
        ),
        LocalRedirect => {
            let location = exchange.header("location").unwrap_or_default();
            assert!(
                location.starts_with('/')
                    && !location.starts_with("//")
                    && !location.starts_with("/\\"),
                "{what}: redirect leaves the inspector's origin: Location: {location}"
            );
        }
        ReplaySent { without } => {
            // The capture listener's record of what it received, marked as the replay.
            let sent = rows
                .iter()
                .find(|r| {
                    r.summary.replay_of.is_some() && !r.summary.remote_addr.starts_with("replay of")
                })
                .unwrap_or_else(|| panic!("{what}: the capture listener recorded no replay"));
            let names: Vec<&str> = sent.headers.iter().map(|h| h.name.as_str()).collect();
            for name in without {
                assert!(
                    !names.iter().any(|n| n.eq_ignore_ascii_case(name)),
                    "{what}: replay sent {name}: {names:?}"
                );
            }
        }
        DetailAtMost(limit) => {
            let page = app
                .inspector_get(&format!("/requests/{}", row().summary.id))
                .await;
            assert_eq!(page.status(), 200, "{what}: detail page");
            let size = page.bytes().await.unwrap().len();
            assert!(
                size <= limit,
                "{what}: detail page is {size} bytes (limit {limit}) for a {}-byte body",
                row().body.len()
            );
        }
        DetailShows(text) => {
            let page = app
                .inspector_get(&format!("/requests/{}", row().summary.id))
                .await;
            assert_eq!(page.status(), 200, "{what}: detail page");
            let html = page.text().await.unwrap();
            assert!(
                html.contains(text),
                "{what}: detail page does not show {text:?} (case {})",
                case.file
            );
        }
    }
}

/// Script run in the page: everything that would show a payload escaped from its text.
const INERT_JS: &str = r#"
const bad = [];
for (const el of document.querySelectorAll("*")) {
  for (const a of Array.from(el.attributes)) {
    const name = a.name.toLowerCase();
    if (name.startsWith("on")) bad.push(el.tagName + "[" + a.name + "]");
    const url = ["href", "src", "action", "formaction", "xlink:href", "data"].includes(name);
    if (url && /^\s*(javascript|vbscript):/i.test(a.value)) bad.push(el.tagName + "[" + name + "=" + a.value.slice(0, 40) + "]");
    if (url && name !== "src" && /^\s*data:/i.test(a.value)) bad.push(el.tagName + "[" + name + "=data:]");
  }
}
for (const s of Array.from(document.scripts)) {
  if (!s.src || !s.src.endsWith("/static/app.js")) bad.push("script " + (s.src || s.textContent.slice(0, 60)));
}
for (const sel of ["iframe", "object", "embed", "base", "frame", "meta[http-equiv]", "form:not([action^='/'])"]) {
  for (const el of document.querySelectorAll(sel)) bad.push(sel + " " + el.outerHTML.slice(0, 80));
}
for (const a of Array.from(document.links)) {
  if (!/^https?:/.test(a.href)) bad.push("link " + a.href.slice(0, 60));
}
return {
  xss: window.__xss === undefined ? null : String(window.__xss),
  title: document.title,
  bad: bad,
  text: document.body ? document.body.innerText.length : 0,
};
"#;

/// Asserts that nothing from the corpus ran or became markup on the current page.
async fn assert_inert(browser: &Browser, what: &str) {
    // Give onerror/onload handlers a moment to fire if any slipped through.
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Ok(text) = browser.client.get_alert_text().await {
        panic!("a dialog opened on {what}: {text:?}");
    }
    let report = browser
        .client
        .execute(INERT_JS, vec![])
        .await
        .unwrap_or_else(|e| panic!("inspect {what}: {e}"));
    assert_eq!(
        report["xss"],
        serde_json::Value::Null,
        "script ran on {what}"
    );
    let title = report["title"].as_str().unwrap_or_default();
    assert!(
        !title.starts_with("XSS-") && title.ends_with("taskhook"),
        "title changed on {what}: {title:?}"
    );
    assert_eq!(
        report["bad"],
        serde_json::json!([]),
        "markup from a capture on {what}"
    );
}

async fn open(browser: &Browser, app: &TestApp, path: &str) {
    browser
        .client
        .goto(&app.inspector_url(path))
        .await
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("main"))
        .await
        .unwrap_or_else(|e| panic!("{path} did not render: {e}"));
}

#[test]
fn every_corpus_file_has_a_row_in_the_table_and_every_class_is_covered() {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("tests/data/corpus")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".http").map(str::to_owned))
        .collect();
    files.sort();
    let mut table: Vec<String> = CASES.iter().map(|c| c.file.to_owned()).collect();
    table.sort();
    assert_eq!(files, table, "tests/data/corpus/*.http and CASES differ");
    for class in 1..=30u8 {
        assert!(
            CASES.iter().any(|c| c.classes.contains(&class)),
            "no corpus case for class {class} of security-reference §3.3"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_cases_are_recorded_or_refused_and_inert_in_the_browser() {
    let app = corpus_app().await;
    let evil = hostile_target().await;
    let browser = Browser::start().await;
    let (capture, inspector): (Vec<&Case>, Vec<&Case>) =
        CASES.iter().partition(|c| c.listener == Listener::Capture);

    // Live update: the list is open while every capture case arrives.
    if let Some(browser) = &browser {
        open(browser, &app, &format!("/?token={INSPECTOR_TOKEN}")).await;
        browser
            .client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css("#live-status.on"))
            .await
            .expect("live updates connect");
        assert_inert(browser, "the empty list").await;
    }
    let mut ids = Vec::new();
    run_cases(&app, evil, &capture, &mut ids).await;
    if let Some(browser) = &browser {
        let newest = last_id(&app).await;
        browser
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(&format!(
                "#requests tbody tr[data-id='{newest}']"
            )))
            .await
            .expect("every live row arrives");
        assert_inert(browser, "the list after live updates").await;
        let text = browser
            .client
            .find(Locator::Css("#requests"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("</span><img src=x onerror="),
            "payloads shown as text on live rows"
        );
    }

    run_cases(&app, evil, &inspector, &mut ids).await;

    // First render of every page that shows captured data.
    if let Some(browser) = &browser {
        open(browser, &app, "/?limit=1000").await;
        assert_inert(browser, "the list (first render)").await;
        let text = browser
            .client
            .find(Locator::Css("#requests"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("</span><img src=x onerror="),
            "payloads shown as text on the first render"
        );
        for page in [
            "/reservations".to_owned(),
            "/workers".to_owned(),
            format!("/tasks/{TASK}"),
            "/?q=script".to_owned(),
        ] {
            open(browser, &app, &page).await;
            assert_inert(browser, &page).await;
        }
        for (file, id) in &ids {
            let page = format!("/requests/{id}");
            open(browser, &app, &page).await;
            assert_inert(browser, &format!("{page} ({file})")).await;
        }
        browser.screenshot("corpus-last-detail").await;
    }
    alive(&app, "the whole corpus").await;
    if let Some(browser) = browser {
        browser.close().await;
    }
}

/// Starts the real binary on `db` with the test inspector token; returns it with its capture
/// and inspector base URLs.
async fn start_server(db: &Path) -> (tokio::process::Child, String, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--inspector",
            "127.0.0.1:0",
            "--inspector-token",
            INSPECTOR_TOKEN,
            "--db",
        ])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn taskhook");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut capture, mut inspector) = (None, None);
    while capture.is_none() || inspector.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("address lines within 10 s")
            .unwrap()
            .expect("address lines");
        if let Some(url) = line.strip_prefix("capture: ") {
            capture = Some(url.to_owned());
        } else if let Some(url) = line.strip_prefix("inspector: ") {
            inspector = Some(url.split("/?").next().unwrap().to_owned());
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, capture.unwrap(), inspector.unwrap())
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `p` in 0..=100 of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The flood measurement of docs/reliability.md (run on demand, in release mode):
///
/// ```sh
/// cargo test --release --test integration -- --ignored flood --nocapture
/// ```
///
/// Sends `TASKHOOK_FLOOD_REQUESTS` (100,000) TaskRouter-shaped callbacks as fast as possible
/// over `TASKHOOK_FLOOD_CONNECTIONS` (64) keep-alive connections to the real binary, while one
/// client reads the inspector list (`/api/requests`, then `/`) in a loop; prints the list
/// latencies during the flood and acked-vs-stored, and fails if an acknowledged callback is
/// missing or any answer is neither 2xx nor 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: cargo test --release --test integration -- --ignored flood"]
async fn flood_of_callbacks_while_the_inspector_list_is_read() {
    use std::sync::atomic::AtomicUsize;
    let total = env_or("TASKHOOK_FLOOD_REQUESTS", 100_000);
    let connections = env_or("TASKHOOK_FLOOD_CONNECTIONS", 64);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("flood.db");
    let (mut child, capture, inspector) = start_server(&db).await;

    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let flooding = Arc::new(AtomicBool::new(true));
    let client = crate::helpers::http_builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..connections {
        let (client, capture, next, refused) = (
            client.clone(),
            capture.clone(),
            next.clone(),
            refused.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let id = format!("flood-{n}");
                let body = format!(
                    "AccountSid={ACCOUNT}&WorkspaceSid={WORKSPACE}&TaskSid={TASK}\
                     &ReservationSid={RESERVATION}&WorkerSid={WORKER}\
                     &TaskAttributes=%7B%22selected_language%22%3A%22es%22%7D&Id={id}"
                );
                let t = Instant::now();
                let response = client
                    .post(format!("{capture}/assignment"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await;
                match response.map(|r| r.status().as_u16()) {
                    Ok(200..=299) => {
                        latencies.push(t.elapsed());
                        acked.push(n);
                    }
                    Ok(503) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("callback {id}: {other:?}"),
                }
            }
            (acked, latencies)
        }));
    }

    let reader = {
        let flooding = flooding.clone();
        let inspector = inspector.clone();
        tokio::spawn(async move {
            let client = crate::helpers::http_client();
            let (mut api, mut page) = (Vec::new(), Vec::new());
            while flooding.load(Ordering::Relaxed) {
                for (path, into) in [("/api/requests", &mut api), ("/", &mut page)] {
                    let t = Instant::now();
                    let response = client
                        .get(format!("{inspector}{path}"))
                        .bearer_auth(INSPECTOR_TOKEN)
                        .send()
                        .await
                        .expect("inspector answers during the flood");
                    assert_eq!(response.status(), 200, "GET {path}");
                    let _ = response.bytes().await.expect("inspector body");
                    into.push(t.elapsed());
                }
            }
            (api, page)
        })
    };

    let mut acked = Vec::new();
    let mut ack_latencies = Vec::new();
    for sender in senders {
        let (ids, latencies) = sender.await.unwrap();
        acked.extend(ids);
        ack_latencies.extend(latencies);
    }
    let elapsed = started.elapsed();
    flooding.store(false, Ordering::Relaxed);
    let (mut api, mut page) = reader.await.unwrap();

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops")
        .unwrap();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn.prepare("SELECT body FROM requests").unwrap();
    let stored: std::collections::HashSet<usize> = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .filter_map(|body| {
            form_urlencoded::parse(&body.unwrap())
                .find(|(k, _)| k == "Id")
                .and_then(|(_, v)| v.strip_prefix("flood-")?.parse().ok())
        })
        .collect();
    let lost = acked.iter().filter(|n| !stored.contains(n)).count();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();

    api.sort();
    page.sort();
    ack_latencies.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    eprintln!(
        "flood: {total} callbacks over {connections} connections in {:.1} s ({:.0}/s); \
         acked {}, refused 503 {}, stored {}, lost {lost}; integrity {integrity}",
        elapsed.as_secs_f64(),
        acked.len() as f64 / elapsed.as_secs_f64(),
        acked.len(),
        refused.load(Ordering::Relaxed),
        stored.len(),
    );
    eprintln!(
        "flood: time to ack p50 {} p99 {} max {}",
        ms(percentile(&ack_latencies, 50.0)),
        ms(percentile(&ack_latencies, 99.0)),
        ms(percentile(&ack_latencies, 100.0)),
    );
    for (name, samples) in [("GET /", &page), ("GET /api/requests", &api)] {
        eprintln!(
            "flood: {name} during the flood: {} reads, p50 {} p99 {} max {}",
            samples.len(),
            ms(percentile(samples, 50.0)),
            ms(percentile(samples, 99.0)),
            ms(percentile(samples, 100.0)),
        );
    }
    assert_eq!(lost, 0, "acknowledged callbacks missing from the database");
    assert_eq!(integrity, "ok");
    assert!(!page.is_empty(), "the list was read during the flood");
}

/// `tests/data/fuzz-regressions/guard/open-redirect-protocol-relative`: the `guard` fuzz target
/// decodes it to `GET //?token=<token>` with an allowlisted Host, which answered
/// `303 Location: //` before `6d3ab8e`.
#[tokio::test]
async fn fuzz_regression_guard_open_redirect_protocol_relative() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz-regressions/guard/open-redirect-protocol-relative");
    assert!(input.exists(), "{} is kept", input.display());
    let app = spawn_app().await;
    let request = format!(
        "GET //?token={INSPECTOR_TOKEN} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        app.inspector.port()
    );
    let exchange = exchange(app.inspector, request.as_bytes(), Send::Whole).await;
    assert_eq!(exchange.status(), Some(303));
    assert_eq!(exchange.header("location").as_deref(), Some("/"));
}
