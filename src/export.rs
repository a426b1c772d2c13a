//! Turning stored requests into things other tools take: the JSON detail shape (API and JSON
//! lines), HAR 1.2 for browser devtools, and curl commands that re-send a request exactly.
//! Exports are written one request at a time ([`Exporter`]), so an export of a gigabyte of
//! bodies holds one body in memory, not all of them.

use base64::Engine;
use serde::Serialize;
use serde_json::json;

use crate::store::models::{RequestSummary, StoredRequest};
use crate::store::{RequestFilter, Store, StoreError};
use crate::wire::Header;

/// Bytes as JSON: text when they are UTF-8, else base64, with the encoding named.
#[derive(Serialize)]
pub struct BytesJson {
    #[serde(rename = "body")]
    data: String,
    #[serde(rename = "body_encoding")]
    encoding: &'static str,
}

fn encode(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), "utf8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "base64",
        ),
    }
}

fn bytes(data: &[u8]) -> BytesJson {
    let (data, encoding) = encode(data);
    BytesJson { data, encoding }
}

#[derive(Serialize)]
pub struct HeaderJson {
    name: String,
    value: String,
    /// "utf8", or "base64" for values with non-UTF-8 bytes.
    encoding: &'static str,
}

fn headers_json(headers: &[Header]) -> Vec<HeaderJson> {
    headers
        .iter()
        .map(|h| {
            let (value, encoding) = encode(&h.value);
            HeaderJson {
                name: h.name.clone(),
                value,
                encoding,
            }
        })
        .collect()
}

#[derive(Serialize)]
pub struct ResponseJson {
    status: u16,
    headers: Vec<HeaderJson>,
    #[serde(flatten)]
    body: BytesJson,
}

/// One request in full: `GET /api/requests/{id}` and each line of a JSON-lines export.
#[derive(Serialize)]
pub struct RequestDetail {
    #[serde(flatten)]
    summary: RequestSummary,
    http_version: String,
    headers: Vec<HeaderJson>,
    #[serde(flatten)]
    body: BytesJson,
    response: ResponseJson,
    signature_reason: Option<String>,
    /// The CloudEvents of an Event Streams batch, each with its `duplicate_of`.
    events: Vec<crate::store::events::StreamEvent>,
}

impl From<StoredRequest> for RequestDetail {
    fn from(r: StoredRequest) -> Self {
        RequestDetail {
            http_version: r.http_version,
            headers: headers_json(&r.headers),
            body: bytes(&r.body),
            response: ResponseJson {
                status: r.response.status,
                headers: headers_json(&r.response.headers),
                body: bytes(&r.response.body),
            },
            signature_reason: r.signature_reason,
            events: r.events,
            summary: r.summary,
        }
    }
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// HAR 1.2 (browser devtools, Charles, Proxyman…), oldest first.
    Har,
    /// One JSON object per line, the API's detail shape, oldest first.
    Jsonl,
    /// A bash script that re-sends each request with curl, oldest first.
    Curl,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Har => "application/json",
            Format::Jsonl => "application/x-ndjson",
            Format::Curl => "text/x-shellscript",
        }
    }

    /// The download's file name (fixed parts only, never captured data).
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Har => "taskhook.har",
            Format::Jsonl => "taskhook.jsonl",
            Format::Curl => "taskhook.sh",
        }
    }
}

/// Writes an export one request at a time, so memory holds one request however large the
/// export: [`Exporter::start`], then [`Exporter::entry`] per request oldest first, then
/// [`Exporter::finish`].
pub struct Exporter {
    format: Format,
    base: String,
    entries: usize,
}

impl Exporter {
    /// An export addressed to `base` (e.g. `http://127.0.0.1:8088`).
    pub fn new(format: Format, base: &str) -> Self {
        Self {
            format,
            base: base.trim_end_matches('/').to_owned(),
            entries: 0,
        }
    }

    pub fn start(&self) -> Vec<u8> {
        match self.format {
            Format::Har => format!(
                "{{\"log\":{{\"version\":\"1.2\",\"creator\":{},\"pages\":[],\"entries\":[",
                json!({"name": "taskhook", "version": env!("CARGO_PKG_VERSION")})
            )
            .into_bytes(),
            Format::Jsonl => Vec::new(),
            Format::Curl => b"#!/usr/bin/env bash\n# Exported by taskhook: each command re-sends one recorded request.\nset -e\n".to_vec(),
        }
    }

    pub fn entry(&mut self, r: &StoredRequest) -> Vec<u8> {
        let first = self.entries == 0;
        self.entries += 1;
        match self.format {
            Format::Har => {
                let mut out = if first { Vec::new() } else { b",".to_vec() };
                // Serializing plain structs of strings and numbers into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, &har::Entry::new(r, &self.base));
                out
            }
            Format::Jsonl => {
                let mut out = Vec::new();
                let _ = serde_json::to_writer(&mut out, &RequestDetail::from(r.clone()));
                out.push(b'\n');
                out
            }
            Format::Curl => format!(
                "\n# #{} {}\n{}\n",
                r.summary.id,
                r.summary.received_at,
                curl_command(r, &self.base)
            )
            .into_bytes(),
        }
    }

    pub fn finish(&self) -> Vec<u8> {
        match self.format {
            Format::Har => b"]}}\n".to_vec(),
            Format::Jsonl | Format::Curl => Vec::new(),
        }
    }

    /// A whole export of `requests` (any order; written oldest first) in memory: for tests and
    /// small exports.
    pub fn all(format: Format, requests: &[StoredRequest], base: &str) -> Vec<u8> {
        let mut ordered: Vec<&StoredRequest> = requests.iter().collect();
        ordered.sort_by_key(|r| r.summary.id);
        let mut exporter = Self::new(format, base);
        let mut out = exporter.start();
        for r in ordered {
            out.extend(exporter.entry(r));
        }
        out.extend(exporter.finish());
        out
    }
}

/// The ids an export of `filter` covers, oldest first (the newest `filter.limit` matches).
fn export_ids(store: &Store, filter: &RequestFilter) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<i64> = store
        .read_blocking(|r| r.list_requests(filter))?
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.reverse();
    Ok(ids)
}

/// Writes the export of `filter` to `out`, reading one request at a time (each read its own
/// short transaction, so a long export never pins the WAL). Blocking: for the CLI, or inside
/// `spawn_blocking`.
pub fn write_export(
    store: &Store,
    filter: &RequestFilter,
    format: Format,
    base: &str,
    mut out: impl std::io::Write,
) -> Result<(), ExportError> {
    let mut exporter = Exporter::new(format, base);
    out.write_all(&exporter.start())?;
    for id in export_ids(store, filter)? {
        // A row deleted meanwhile (retention, Clear all) is skipped, not an error.
        if let Some(request) = store.read_blocking(|r| r.get_request(id))? {
            out.write_all(&exporter.entry(&request))?;
        }
    }
    out.write_all(&exporter.finish())?;
    out.flush()?;
    Ok(())
}

/// The export of `filter` as a stream of chunks for an HTTP response: a blocking task writes
/// into a channel of a few chunks, so at most a few requests are in memory at once whatever
/// the export's size. A failure mid-way ends the stream with an error (the download breaks
/// off rather than ending as if complete).
pub fn stream_export(
    store: Store,
    filter: RequestFilter,
    format: Format,
    base: String,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let sink = ChannelWriter { tx: tx.clone() };
        if let Err(err) = write_export(&store, &filter, format, &base, sink) {
            tracing::warn!(error = %err, "export stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other(err.to_string())));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    })
}

/// Each write becomes one chunk on the channel; a closed channel (the client went away) stops
/// the export.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.tx
            .blocking_send(Ok(bytes::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export")]
    Write(#[from] std::io::Error),
}

/// HAR 1.2 as typed structs (the spec's names, camelCase). Bodies that are not UTF-8 are base64
/// with `"encoding": "base64"` (the spec's field for response content, used for request bodies
/// too), so bytes round-trip.
mod har {
    use serde::Serialize;

    use super::encode;
    use crate::store::models::StoredRequest;
    use crate::taskrouter::signature::Verdict;
    use crate::taskrouter::status::Kind;
    use crate::wire::{self, Header};

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Entry<'a> {
        started_date_time: &'a str,
        time: f64,
        request: Request<'a>,
        response: Response,
        cache: Empty,
        timings: Timings,
        #[serde(rename = "_taskhook")]
        taskhook: Extra<'a>,
    }

    #[derive(Serialize)]
    struct Empty {}

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Request<'a> {
        method: &'a str,
        url: String,
        http_version: &'a str,
        cookies: [Empty; 0],
        headers: Vec<NameValue>,
        query_string: Vec<NameValue>,
        headers_size: i64,
        body_size: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        post_data: Option<Content>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Response {
        status: u16,
        status_text: &'static str,
        http_version: &'static str,
        cookies: [Empty; 0],
        headers: Vec<NameValue>,
        content: Content,
        #[serde(rename = "redirectURL")]
        redirect_url: &'static str,
        headers_size: i64,
        body_size: usize,
    }

    #[derive(Serialize)]
    struct NameValue {
        name: String,
        value: String,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Content {
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<usize>,
        mime_type: String,
        text: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        encoding: Option<&'static str>,
    }

    #[derive(Serialize)]
    struct Timings {
        blocked: i8,
        dns: i8,
        connect: i8,
        ssl: i8,
        send: u8,
        wait: f64,
        receive: u8,
    }

    #[derive(Serialize)]
    struct Extra<'a> {
        id: i64,
        kind: Kind,
        event_type: Option<&'a str>,
        signature: Verdict,
        replay_of: Option<i64>,
    }

    fn headers(headers: &[Header]) -> Vec<NameValue> {
        headers
            .iter()
            .map(|h| NameValue {
                name: h.name.clone(),
                value: String::from_utf8_lossy(&h.value).into_owned(),
            })
            .collect()
    }

    fn content(body: &[u8], headers: &[Header], size: Option<usize>) -> Content {
        let (text, encoding) = encode(body);
        Content {
            size,
            mime_type: wire::content_type(headers)
                .map(|ct| String::from_utf8_lossy(ct).into_owned())
                .unwrap_or_default(),
            text,
            encoding: (encoding == "base64").then_some("base64"),
        }
    }

    impl<'a> Entry<'a> {
        pub fn new(r: &'a StoredRequest, base: &str) -> Self {
            let s = &r.summary;
            let url = match &s.query {
                Some(q) => format!("{base}{}?{q}", s.path),
                None => format!("{base}{}", s.path),
            };
            let query_string = s
                .query
                .as_deref()
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .map(|(name, value)| NameValue {
                            name: name.into_owned(),
                            value: value.into_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let wait_ms = s.duration_us as f64 / 1000.0;
            Entry {
                started_date_time: &s.received_at,
                time: wait_ms,
                request: Request {
                    method: &s.method,
                    url,
                    http_version: &r.http_version,
                    cookies: [],
                    headers: headers(&r.headers),
                    query_string,
                    headers_size: -1,
                    body_size: r.body.len(),
                    post_data: (!r.body.is_empty()).then(|| content(&r.body, &r.headers, None)),
                },
                response: Response {
                    status: s.status,
                    status_text: http::StatusCode::from_u16(s.status)
                        .ok()
                        .and_then(|c| c.canonical_reason())
                        .unwrap_or(""),
                    http_version: "HTTP/1.1",
                    cookies: [],
                    headers: headers(&r.response.headers),
                    content: content(
                        &r.response.body,
                        &r.response.headers,
                        Some(r.response.body.len()),
                    ),
                    redirect_url: "",
                    headers_size: -1,
                    body_size: r.response.body.len(),
                },
                cache: Empty {},
                timings: Timings {
                    blocked: -1,
                    dns: -1,
                    connect: -1,
                    ssl: -1,
                    send: 0,
                    wait: wait_ms,
                    receive: 0,
                },
                taskhook: Extra {
                    id: s.id,
                    kind: s.kind,
                    event_type: s.event_type.as_deref(),
                    signature: s.signature,
                    replay_of: s.replay_of,
                },
            }
        }
    }
}

/// Headers curl computes itself, or that would be wrong for the new target.
const SKIPPED: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];

/// A shell command that re-sends `request` to `base` (e.g. `http://127.0.0.1:8088`).
///
/// Every captured value is quoted with bash's `$'…'` form, in which only `\xHH` escapes and
/// plain printable ASCII appear, so no captured byte can end the quote or run a command
/// (mitmproxy's 2019 "export as curl" injection).
pub fn curl_command(request: &StoredRequest, base: &str) -> String {
    let s = &request.summary;
    let mut url = format!("{base}{}", s.path);
    if let Some(query) = &s.query {
        url.push('?');
        url.push_str(query);
    }
    let mut parts = vec![
        "curl".to_owned(),
        "-sS".to_owned(),
        "-X".to_owned(),
        quote(s.method.as_bytes()),
        quote(url.as_bytes()),
    ];
    for header in &request.headers {
        if SKIPPED.contains(&header.name.to_ascii_lowercase().as_str()) {
            continue;
        }
        let mut line = header.name.as_bytes().to_vec();
        line.extend_from_slice(b": ");
        line.extend_from_slice(&header.value);
        parts.push("-H".to_owned());
        parts.push(quote(&line));
    }
    if !request.body.is_empty() {
        parts.push("--data-binary".to_owned());
        parts.push(quote(&request.body));
    }
    parts.join(" ")
}

/// bash ANSI-C quoting: `$'…'` with everything outside safe printable ASCII as `\xHH`.
fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push_str("$'");
    for &b in bytes {
        if (b.is_ascii_alphanumeric() || b" -_./:=&?%+,;@~*()[]{}<>#|".contains(&b)) && b != b'\'' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_no_way_out_of_the_string() {
        assert_eq!(quote(b"a'b"), "$'a\\x27b'");
        assert_eq!(
            quote(b"$(rm -rf /)`x`\\"),
            "$'\\x24(rm -rf /)\\x60x\\x60\\x5c'"
        );
        assert_eq!(quote(b"\xff\0\n"), "$'\\xff\\x00\\x0a'");
    }
}
