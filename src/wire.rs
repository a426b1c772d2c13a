//! HTTP as it is on the wire, shared by everything that receives or sends requests (capture,
//! forward, replay, export) so that none of them owns the others' helpers: a header with its
//! original case and raw bytes, header lookup, the hop-by-hop set, capped body reads, the root
//! cause of a transport error, the one JSON error body, and the outbound HTTP client settings.

use std::time::Duration;

use serde::Serialize;

/// One header as it arrived: the name with its original case, the raw value bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The first value of header `name` (ASCII case-insensitive), as raw bytes.
pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_slice())
}

/// The request's `Content-Type`, as raw bytes.
pub fn content_type(headers: &[Header]) -> Option<&[u8]> {
    header(headers, "content-type")
}

/// A response as sent (or about to be sent): status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResponse {
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus
/// `Content-Length`, which the next hop recomputes.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// True when `name` is hop-by-hop: in the fixed set or named by a `Connection` header of
/// `headers`.
pub fn is_hop_by_hop(name: &str, headers: &[Header]) -> bool {
    let lower = name.to_ascii_lowercase();
    HOP_BY_HOP.contains(&lower.as_str())
        || headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(lower.as_bytes()))
}

/// Most bytes of an answer kept from a forward target or a replay target.
pub const MAX_RESPONSE_BODY: usize = 10 * 1024 * 1024;

/// Reads at most `cap` bytes of a response body; `true` when more was sent (and dropped).
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            return Ok((body, true));
        }
    }
    Ok((body, false))
}

/// Response headers worth passing back and recording (hop-by-hop ones dropped).
pub fn response_headers(response: &reqwest::Response) -> Vec<Header> {
    response
        .headers()
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .map(|(name, value)| Header::new(name.as_str(), value.as_bytes()))
        .collect()
}

/// The innermost cause of an error: reqwest's top-level text ("error sending request") hides
/// the useful part ("connection refused").
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The one JSON error shape every taskhook listener answers with:
/// `{"error": {"status", "code"?, "message", "more_info"?}}`. TaskRouter's own errors pass
/// through inside it with their code and more_info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
}

impl ErrorBody {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            code: None,
            message: message.into(),
            more_info: None,
        }
    }

    /// `{"error": {...}}` as bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::json!({ "error": self })
            .to_string()
            .into_bytes()
    }
}

fn json_content_type() -> Vec<Header> {
    vec![Header::new("Content-Type", b"application/json".to_vec())]
}

/// A JSON response with `status` and `body`.
pub fn json_response(status: u16, body: Vec<u8>) -> RecordedResponse {
    RecordedResponse {
        status,
        headers: json_content_type(),
        body,
    }
}

/// A JSON error response in the one shape ([`ErrorBody`]).
pub fn json_error(status: u16, message: &str) -> RecordedResponse {
    json_response(status, ErrorBody::new(status, message).to_json())
}

/// Makes ring the process's rustls provider. reqwest is built without a default one (see
/// Cargo.toml: aws-lc-rs needs a C toolchain and cmake); installing twice is harmless, so every
/// client builder calls this.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The settings every outbound client shares (TaskRouter REST, forward, replay): rustls with
/// the ring provider, a connect timeout, a total timeout, and no redirects (a redirect could
/// carry credentials or a replay to a host that was never allowed).
pub fn client_builder(connect: Duration, total: Duration) -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(total)
        .redirect(reqwest::redirect::Policy::none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_include_those_named_in_connection() {
        let headers = vec![
            Header::new("Connection", b"keep-alive, X-Secret-Hop".to_vec()),
            Header::new("X-Secret-Hop", b"1".to_vec()),
        ];
        for name in [
            "Connection",
            "Transfer-Encoding",
            "Proxy-Authorization",
            "x-secret-hop",
            "Content-Length",
        ] {
            assert!(is_hop_by_hop(name, &headers), "{name}");
        }
        assert!(!is_hop_by_hop("X-Twilio-Signature", &headers));
    }

    #[test]
    fn header_lookup_ignores_case_and_takes_the_first() {
        let headers = vec![
            Header::new("content-TYPE", b"a".to_vec()),
            Header::new("Content-Type", b"b".to_vec()),
        ];
        assert_eq!(content_type(&headers), Some(&b"a"[..]));
        assert_eq!(header(&headers, "host"), None);
    }

    #[test]
    fn errors_have_one_shape() {
        let body: serde_json::Value =
            serde_json::from_slice(&json_error(503, "not stored").body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"status": 503, "message": "not stored"}})
        );
    }
}
