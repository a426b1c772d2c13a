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

use crate::wire::{
    Header, MAX_RESPONSE_BODY, RecordedResponse, client_builder, is_hop_by_hop, json_error,
    read_capped, response_headers, root_cause,
};

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

/// Why a forward target cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ForwardSetupError {
    #[error("--forward needs a host")]
    NoHost,
    #[error("cannot build the forward client")]
    Client(#[source] reqwest::Error),
}

/// What came back from the app (or why nothing did).
pub struct Forwarded {
    pub response: RecordedResponse,
    pub error: Option<String>,
}

impl Forwarder {
    pub fn new(
        base: &reqwest::Url,
        host_rewrite: bool,
        timeout: Duration,
    ) -> Result<Self, ForwardSetupError> {
        let http = client_builder(timeout.min(Duration::from_secs(5)), timeout)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(ForwardSetupError::Client)?;
        let authority = match (base.host_str(), base.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(ForwardSetupError::NoHost),
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
