//! The floor server and the load generator: a bare hyper server that reads the body and
//! answers `200 {}`, and N keep-alive HTTP/1.1 connections (hyper's client connection API, one
//! request in flight per connection) that send callbacks for a fixed time and record the
//! latency of each.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use taskhook::store::models::NewRequest;
use taskhook::store::writer::Writer;
use taskhook::taskrouter::callback::{Params, derive, search_text};
use taskhook::wire::{Header, RecordedResponse};

use crate::callbacks::{STEPS, Step, Template, WORKERS, request_headers, stored_headers};

/// The floor: accepts connections forever, reads each body, answers `200 {}`.
pub async fn floor(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                let _ = req.into_body().collect().await;
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(StatusCode::OK)
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from_static(b"{}")))
                        .expect("static response"),
                )
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Assignment-callback templates, one per worker.
pub struct Callbacks {
    templates: Vec<Template>,
    /// Next task number; every request gets a fresh one, so every SID is unique.
    next: AtomicU64,
    step: usize,
    /// When set, each acknowledged request's TaskSid and the moment its answer arrived (for
    /// the stored → visible measurement).
    acks: Option<std::sync::Mutex<Vec<(u64, Instant)>>>,
}

impl Callbacks {
    /// Assignment callbacks whose task numbers start at `first`.
    pub fn assignments(first: u64) -> Self {
        Self {
            templates: (0..WORKERS)
                .map(|w| Template::new(Step::Assignment, w))
                .collect(),
            next: AtomicU64::new(first),
            step: STEPS
                .iter()
                .position(|s| *s == Step::Assignment)
                .expect("assignment is a step"),
            acks: None,
        }
    }

    /// Like [`Callbacks::assignments`], also logging when each one was acknowledged.
    pub fn logged_assignments(first: u64) -> Self {
        Self {
            acks: Some(std::sync::Mutex::default()),
            ..Self::assignments(first)
        }
    }

    /// The acknowledgements logged: (task number, when its answer arrived).
    pub fn take_acks(&self) -> Vec<(u64, Instant)> {
        self.acks
            .as_ref()
            .map(|log| std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    }

    pub fn body_len(&self) -> usize {
        self.templates[0].body.len()
    }

    fn request(&self) -> (u64, Request<Full<Bytes>>) {
        let task = self.next.fetch_add(1, Ordering::Relaxed);
        let template = &self.templates[(task % WORKERS as u64) as usize];
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(template.step.path());
        for (name, value) in request_headers(task, self.step) {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(template.fill(task, now))))
            .expect("valid request");
        (task, request)
    }
}

impl Callbacks {
    /// What capture hands the store writer for the next callback: the same parsing and
    /// derivation (taskhook's own functions), no HTTP.
    fn new_request(&self) -> NewRequest {
        let task = self.next.fetch_add(1, Ordering::Relaxed);
        let template = &self.templates[(task % WORKERS as u64) as usize];
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let body = template.fill(task, now.as_secs());
        let headers: Vec<Header> = stored_headers(task, self.step, body.len());
        let content_type: &[u8] = b"application/x-www-form-urlencoded; charset=utf-8";
        let params = Params::collect(None, Some(content_type), "POST", &body);
        let path = template.step.path();
        NewRequest {
            received_at_us: now.as_micros() as i64,
            remote_addr: "127.0.0.1:40000".to_owned(),
            method: "POST".to_owned(),
            path: path.to_owned(),
            query: None,
            http_version: "HTTP/1.1".to_owned(),
            headers,
            body_size: body.len() as u64,
            body_truncated: false,
            response: RecordedResponse {
                status: 200,
                headers: vec![Header::new("Content-Type", b"application/json".to_vec())],
                body: b"{}".to_vec(),
            },
            duration_us: 30,
            derived: derive(&params),
            signature: taskhook::taskrouter::signature::Verdict::Unchecked,
            signature_reason: None,
            replay_of: None,
            error: None,
            search_text: search_text(path, &params, true, &body),
            body,
        }
    }
}

/// Like [`run`], but `concurrency` tasks hand rows straight to the store writer, each waiting
/// for its commit: what the writer alone sustains, without HTTP.
pub async fn run_writer(
    writer: Writer,
    concurrency: usize,
    callbacks: Arc<Callbacks>,
    warmup: Duration,
    measure: Duration,
) -> LoadResult {
    let start = Instant::now() + Duration::from_millis(20);
    let window_start = start + warmup;
    let end = window_start + measure;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let callbacks = Arc::clone(&callbacks);
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = LoadResult::default();
            tokio::time::sleep_until(start.into()).await;
            while Instant::now() < end {
                let request = callbacks.new_request();
                let sent = Instant::now();
                let result = writer.insert(request).await;
                let done = Instant::now();
                match result {
                    Ok(_) => out.acked += 1,
                    Err(e) => {
                        out.failed += 1;
                        out.first_error.get_or_insert(e.message);
                    }
                }
                if done >= window_start && done <= end {
                    out.in_window += 1;
                }
                if sent >= window_start && done <= end {
                    out.latencies
                        .push(done.duration_since(sent).as_nanos() as u64);
                }
            }
            out
        }));
    }
    drop(writer);
    collect(tasks, measure).await
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<LoadResult>>, measure: Duration) -> LoadResult {
    let mut total = LoadResult {
        window: measure,
        ..LoadResult::default()
    };
    for task in tasks {
        let part = task.await.expect("load task");
        total.acked += part.acked;
        total.failed += part.failed;
        total.in_window += part.in_window;
        total.latencies.extend(part.latencies);
        total.first_error = total.first_error.or(part.first_error);
    }
    total.latencies.sort_unstable();
    total
}

/// What one load run measured.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Requests answered with a 2xx (acknowledged), over the whole run including warm-up.
    pub acked: u64,
    /// Non-2xx answers and transport errors.
    pub failed: u64,
    /// Answers completed inside the measurement window.
    pub in_window: u64,
    pub window: Duration,
    /// Latency of each request started inside the window, sorted, in nanoseconds.
    pub latencies: Vec<u64>,
    /// First failure, for the report.
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.in_window as f64 / self.window.as_secs_f64()
    }

    /// Latency at quantile `q` (0..1), in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        quantile(&self.latencies, q) as f64 / 1000.0
    }
}

/// Nearest-rank quantile of sorted values.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `connections` keep-alive connections against `addr`, each sending one request at a
/// time: `warmup` unmeasured, then `measure` measured. Requests started before the end are
/// always finished, so `acked` is exact.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    callbacks: Arc<Callbacks>,
    warmup: Duration,
    measure: Duration,
) -> LoadResult {
    let start = Instant::now() + Duration::from_millis(20);
    let window_start = start + warmup;
    let end = window_start + measure;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let callbacks = Arc::clone(&callbacks);
        tasks.push(tokio::spawn(async move {
            connection(addr, callbacks, start, window_start, end).await
        }));
    }
    collect(tasks, measure).await
}

async fn connect(
    addr: SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn connection(
    addr: SocketAddr,
    callbacks: Arc<Callbacks>,
    start: Instant,
    window_start: Instant,
    end: Instant,
) -> LoadResult {
    let mut out = LoadResult::default();
    let fail = |out: &mut LoadResult, message: String| {
        out.failed += 1;
        out.first_error.get_or_insert(message);
    };
    let mut sender = match connect(addr).await {
        Ok(sender) => sender,
        Err(e) => {
            fail(&mut out, e);
            return out;
        }
    };
    tokio::time::sleep_until(start.into()).await;
    loop {
        if Instant::now() >= end {
            break;
        }
        let (task, request) = callbacks.request();
        if let Err(e) = sender.ready().await {
            fail(&mut out, format!("connection closed: {e}"));
            break;
        }
        let sent = Instant::now();
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(e) => {
                fail(&mut out, format!("request failed: {e}"));
                break;
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await;
        let done = Instant::now();
        match body {
            Ok(_) if status.is_success() => {
                out.acked += 1;
                if let Some(log) = &callbacks.acks {
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((task, done));
                }
            }
            Ok(body) => fail(
                &mut out,
                format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&body.to_bytes())
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
            ),
            Err(e) => fail(&mut out, format!("body: {e}")),
        }
        if done >= window_start && done <= end {
            out.in_window += 1;
        }
        if sent >= window_start && done <= end {
            out.latencies
                .push(done.duration_since(sent).as_nanos() as u64);
        }
    }
    out
}

/// A keep-alive GET client for the inspector (Bearer token, the Host the guard accepts).
pub struct Getter {
    addr: SocketAddr,
    token: String,
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl Getter {
    pub async fn new(addr: SocketAddr, token: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn);
        Ok(Self {
            addr,
            token: token.to_owned(),
            sender,
        })
    }

    /// GETs `path`; returns the time to the last body byte and the body. Non-200 is an error.
    pub async fn get(&mut self, path: &str) -> Result<(Duration, Bytes), String> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::HOST, self.addr.to_string())
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?
            .to_bytes();
        let elapsed = started.elapsed();
        if status != StatusCode::OK {
            return Err(format!(
                "GET {path}: {status} {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        }
        Ok((elapsed, body))
    }
}

/// Reads the inspector's live stream (`GET /live`, Server-Sent Events) until `until`, noting
/// when each request's row arrived, by its TaskSid.
pub async fn watch_live(
    addr: SocketAddr,
    token: String,
    until: Instant,
) -> Result<std::collections::HashMap<String, Instant>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let request = Request::builder()
        .method(Method::GET)
        .uri("/live")
        .header(header::HOST, addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, "text/event-stream")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("GET /live: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("GET /live: {}", response.status()));
    }
    let mut body = response.into_body();
    let mut seen = std::collections::HashMap::new();
    let mut pending = Vec::new();
    loop {
        let frame = match tokio::time::timeout_at(until.into(), body.frame()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(frame)) => frame.map_err(|e| format!("/live: {e}"))?,
        };
        let at = Instant::now();
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.extend_from_slice(data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Some(json) = line.strip_prefix(b"data:") else {
                continue;
            };
            if let Ok(row) = serde_json::from_slice::<serde_json::Value>(json.trim_ascii())
                && let Some(task) = row["task_sid"].as_str()
            {
                seen.insert(task.to_owned(), at);
            }
        }
    }
    Ok(seen)
}
