//! Turning stored requests into things other tools take: the JSON detail shape (API and JSON
//! lines), HAR 1.2 for browser devtools, and curl commands that re-send a request exactly.

use base64::Engine;
use serde::Serialize;
use serde_json::{Value, json};

use crate::store::models::{Header, RequestSummary, StoredRequest};

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
            summary: r.summary,
        }
    }
}

/// HAR 1.2 of `requests`, oldest first, addressed to `base`. Bodies that are not UTF-8 are
/// base64 with `"encoding": "base64"` (the spec's field for response content, used for request
/// bodies too), so bytes round-trip.
pub fn har(requests: &[StoredRequest], base: &str) -> Value {
    let mut ordered: Vec<&StoredRequest> = requests.iter().collect();
    ordered.sort_by_key(|r| r.summary.id);
    let entries: Vec<Value> = ordered.iter().map(|r| har_entry(r, base)).collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "taskhook", "version": env!("CARGO_PKG_VERSION")},
            "pages": [],
            "entries": entries,
        }
    })
}

fn har_headers(headers: &[Header]) -> Vec<Value> {
    headers
        .iter()
        .map(|h| json!({"name": h.name, "value": String::from_utf8_lossy(&h.value)}))
        .collect()
}

fn mime_type(headers: &[Header]) -> String {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        .unwrap_or_default()
}

/// A HAR body object: `text`, plus `encoding` when the bytes are not UTF-8.
fn har_body(body: &[u8], mut object: Value) -> Value {
    let (text, encoding) = encode(body);
    object["text"] = json!(text);
    if encoding == "base64" {
        object["encoding"] = json!("base64");
    }
    object
}

fn har_entry(r: &StoredRequest, base: &str) -> Value {
    let s = &r.summary;
    let url = match &s.query {
        Some(q) => format!("{base}{}?{q}", s.path),
        None => format!("{base}{}", s.path),
    };
    let query: Vec<Value> = s
        .query
        .as_deref()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect()
        })
        .unwrap_or_default();
    let mut request = json!({
        "method": s.method,
        "url": url,
        "httpVersion": r.http_version,
        "cookies": [],
        "headers": har_headers(&r.headers),
        "queryString": query,
        "headersSize": -1,
        "bodySize": r.body.len(),
    });
    if !r.body.is_empty() {
        request["postData"] = har_body(&r.body, json!({"mimeType": mime_type(&r.headers)}));
    }
    let content = har_body(
        &r.response.body,
        json!({"size": r.response.body.len(), "mimeType": mime_type(&r.response.headers)}),
    );
    let status_text = http::StatusCode::from_u16(s.status)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or("");
    let wait_ms = s.duration_us as f64 / 1000.0;
    json!({
        "startedDateTime": s.received_at,
        "time": wait_ms,
        "request": request,
        "response": {
            "status": s.status,
            "statusText": status_text,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": har_headers(&r.response.headers),
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": r.response.body.len(),
        },
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": wait_ms, "receive": 0},
        "_taskhook": {
            "id": s.id,
            "kind": s.kind,
            "event_type": s.event_type,
            "signature": s.signature,
            "replay_of": s.replay_of,
        },
    })
}

/// One JSON line per request: the API's detail shape.
pub fn jsonl(requests: &[StoredRequest]) -> String {
    let mut out = String::new();
    for r in requests {
        if let Ok(line) = serde_json::to_string(&RequestDetail::from(r.clone())) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// A bash script of curl commands re-sending `requests` (oldest first) to `base`.
pub fn curl_script(requests: &[StoredRequest], base: &str) -> String {
    let mut ordered: Vec<&StoredRequest> = requests.iter().collect();
    ordered.sort_by_key(|r| r.summary.id);
    let mut out = String::from(
        "#!/usr/bin/env bash\n# Exported by taskhook: each command re-sends one recorded request.\nset -e\n",
    );
    for r in ordered {
        out.push_str(&format!(
            "\n# #{} {}\n",
            r.summary.id, r.summary.received_at
        ));
        out.push_str(&curl_command(r, base));
        out.push('\n');
    }
    out
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
