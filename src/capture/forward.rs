//! Forward mode (`--forward URL`): the capture listener becomes a recording reverse proxy in
//! front of the developer's own app, like the ngrok agent. Each request is sent on to the app,
//! the app's answer goes back to TaskRouter, and both sides are recorded.
//!
//! Per RFC 9110 §7.6.1 hop-by-hop headers (and any named in `Connection`) are not forwarded;
//! `X-Forwarded-For/-Proto/-Host` are added; the original `Host` is kept unless
//! `--forward-host-rewrite`. Connections to the app are pooled. An app that is down answers
//! 502, one slower than `--forward-timeout` 504, both with a short JSON error that is recorded.

use std::net::SocketAddr;
use std::time::Duration;

use crate::store::models::{Header, RecordedResponse};

use super::responder::json_error;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the framing
/// headers the next hop recomputes.
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

/// True for headers that must not be passed on by a proxy or a replay, including those the
/// `Connection` header of this message names.
pub fn is_hop_by_hop(name: &str, headers: &[Header]) -> bool {
    let lower = name.to_ascii_lowercase();
    HOP_BY_HOP.contains(&lower.as_str())
        || headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(lower.as_bytes()))
}

/// Most bytes of an upstream response body kept and passed back.
pub const MAX_RESPONSE_BODY: usize = 10 * 1024 * 1024;

/// Reads a response body up to `cap` bytes; the flag says whether more was cut off.
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

/// The forward target and how to reach it.
#[derive(Debug, Clone)]
pub struct Forwarder {
    /// `scheme://host[:port]`, no trailing slash.
    base: String,
    authority: String,
    host_rewrite: bool,
    timeout: Duration,
    http: reqwest::Client,
}

/// What came back from the app (or why nothing did).
pub struct Forwarded {
    pub response: RecordedResponse,
    pub error: Option<String>,
}

impl Forwarder {
    pub fn new(base: &reqwest::Url, host_rewrite: bool, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| format!("cannot build the forward client: {e}"))?;
        let authority = match (base.host_str(), base.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err("--forward needs a host".into()),
        };
        Ok(Self {
            base: base.as_str().trim_end_matches('/').to_owned(),
            authority,
            host_rewrite,
            timeout,
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one captured request on to the app.
    pub async fn forward(
        &self,
        method: &str,
        target: &str,
        headers: &[Header],
        body: &[u8],
        remote: SocketAddr,
    ) -> Forwarded {
        let url = format!("{}{}", self.base, target);
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return failed(400, "method cannot be forwarded".into());
        };
        let mut request = self.http.request(method, &url);
        let original_host = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("host"))
            .map(|h| h.value.clone());
        for header in headers {
            let lower = header.name.to_ascii_lowercase();
            if is_hop_by_hop(&header.name, headers)
                || lower == "host"
                || lower.starts_with("x-forwarded-")
            {
                continue;
            }
            request = request.header(header.name.as_str(), header.value.as_slice());
        }
        let host = match (&original_host, self.host_rewrite) {
            (Some(host), false) => host.clone(),
            _ => self.authority.clone().into_bytes(),
        };
        request = request
            .header(reqwest::header::HOST, host)
            .header("X-Forwarded-For", remote.ip().to_string())
            .header("X-Forwarded-Proto", "http")
            .body(body.to_vec());
        if let Some(host) = original_host {
            request = request.header("X-Forwarded-Host", host);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_timeout() => {
                return failed(
                    504,
                    format!(
                        "the app did not answer within {:?} (--forward-timeout)",
                        self.timeout
                    ),
                );
            }
            Err(err) => {
                return failed(
                    502,
                    format!(
                        "could not reach the app at {}: {}",
                        self.base,
                        root_cause(&err)
                    ),
                );
            }
        };
        let status = response.status().as_u16();
        let headers = response_headers(&response);
        match read_capped(response, MAX_RESPONSE_BODY).await {
            Ok((body, truncated)) => Forwarded {
                response: RecordedResponse {
                    status,
                    headers,
                    body,
                },
                error: truncated
                    .then(|| format!("the app's answer was cut at {MAX_RESPONSE_BODY} bytes")),
            },
            Err(err) if err.is_timeout() => failed(
                504,
                format!("the app's answer did not finish within {:?}", self.timeout),
            ),
            Err(err) => failed(
                502,
                format!("the app's answer broke off: {}", root_cause(&err)),
            ),
        }
    }
}

fn failed(status: u16, message: String) -> Forwarded {
    Forwarded {
        response: json_error(status, &message),
        error: Some(message),
    }
}

/// The innermost cause of an error (reqwest's own message repeats the URL).
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
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
}
