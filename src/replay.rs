//! Replaying a stored request: to the user's app (the forward target), to its original path on
//! the capture listener, or to a URL the user typed — exactly as it came, or edited — and
//! re-signed for its new URL so the app's X-Twilio-Signature check passes (reference §4: a
//! signature only holds for the exact URL and parameters it was made over).
//!
//! A replay is recorded as a new request linked to the original (`replay_of`), with the target's
//! answer. A replay to the capture listener carries [`REPLAY_HEADER`] with this run's
//! [`ReplayMark`], so the capture listener records it as the replay (once, marked, changing no
//! reservation or task state) rather than as a new callback. Replay is not an SSRF proxy: targets are loopback addresses, the forward target and
//! hosts named with `--allow-replay-to`; http(s) only; redirects are not followed; response
//! bodies are capped; header names and values are validated (no CR/LF); `Content-Length` and
//! `Host` are recomputed.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::store::models::{NewRequest, RequestSummary, StoredRequest, now_micros};
use crate::store::writer::Writer;
use crate::store::{Store, StoreError};
use crate::taskrouter::callback::analyze;
use crate::taskrouter::signature::{self, AuthToken};
use crate::wire::{
    self, Header, MAX_RESPONSE_BODY, RecordedResponse, client_builder, is_hop_by_hop, json_error,
    read_capped, response_headers, root_cause,
};

/// What may be changed in a replay; everything absent is sent as captured.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplayEdits {
    /// Target: a base URL (`http://127.0.0.1:8080`) or a full URL with path and query.
    pub to: Option<String>,
    pub method: Option<String>,
    /// Path, optionally with `?query`.
    pub path: Option<String>,
    /// The complete header list to send, in order (replaces the captured one).
    pub headers: Option<Vec<HeaderEdit>>,
    /// The body to send, as text.
    pub body: Option<String>,
    /// Re-sign for the new URL (default true when an Auth Token is configured).
    pub resign: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HeaderEdit {
    pub name: String,
    pub value: String,
}

/// Why a replay was refused before anything was sent.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no request {0}")]
    NotFound(i64),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the replay was sent but could not be recorded: {0}")]
    Record(String),
}

/// Names the original on a replay sent to the capture listener: `X-Taskhook-Replay: ID MARK`.
pub const REPLAY_HEADER: &str = "X-Taskhook-Replay";

/// A per-run secret that proves a request on the capture listener is this taskhook's replay
/// (anyone on the tunnel could send the header, but not the mark). `Debug` hides it.
#[derive(Clone)]
pub struct ReplayMark(std::sync::Arc<str>);

impl std::fmt::Debug for ReplayMark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplayMark(…)")
    }
}

impl ReplayMark {
    pub fn random() -> Self {
        Self(
            crate::inspector::guard::InspectorToken::random()
                .expose()
                .into(),
        )
    }

    /// The header a replay of request `id` carries.
    pub fn header(&self, id: i64) -> Header {
        Header::new(REPLAY_HEADER, format!("{id} {}", self.0).into_bytes())
    }

    /// The original's id when `headers` carry this run's mark.
    pub fn replay_of(&self, headers: &[Header]) -> Option<i64> {
        use subtle::ConstantTimeEq;
        let value = wire::header(headers, REPLAY_HEADER)?;
        let text = std::str::from_utf8(value).ok()?;
        let (id, mark) = text.trim().split_once(' ')?;
        bool::from(mark.as_bytes().ct_eq(self.0.as_bytes()))
            .then(|| id.parse().ok())
            .flatten()
    }
}

/// Where replays may go and how they are signed.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// `http://HOST:PORT` of the capture listener: the default target.
    pub capture_base: String,
    /// `--forward`: the default target when set.
    pub forward_base: Option<String>,
    /// `--allow-replay-to`: more hosts a replay may go to.
    pub allowed_hosts: Vec<String>,
    /// TWILIO_AUTH_TOKEN, for re-signing.
    pub token: Option<AuthToken>,
    /// Shared with the capture listener, which records marked replays as replays.
    pub mark: ReplayMark,
}

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub method: String,
    pub url: String,
    /// In order, Host first; no hop-by-hop headers, no Content-Length.
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    /// Whether X-Twilio-Signature was computed for `url`.
    pub resigned: bool,
}

impl ReplayConfig {
    /// The default target: the forward target, else the capture listener.
    pub fn default_target(&self) -> &str {
        self.forward_base.as_deref().unwrap_or(&self.capture_base)
    }

    /// Targets the page offers.
    pub fn targets(&self) -> Vec<String> {
        let mut targets = vec![self.default_target().to_owned()];
        if self.forward_base.is_some() {
            targets.push(self.capture_base.clone());
        }
        targets
    }

    fn host_allowed(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback =
            bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let forward = self
            .forward_base
            .as_deref()
            .and_then(|f| reqwest::Url::parse(f).ok())
            .is_some_and(|f| f.host_str() == Some(host));
        loopback
            || forward
            || self
                .allowed_hosts
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(bare))
    }

    /// Builds the outgoing request for `original` with `edits`. Pure; every refusal is an error.
    pub fn build(
        &self,
        original: &StoredRequest,
        edits: &ReplayEdits,
    ) -> Result<Outgoing, ReplayError> {
        let s = &original.summary;
        let refuse = |m: String| Err(ReplayError::Refused(m));
        let target = edits
            .to
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(self.default_target());
        let Ok(target_url) = reqwest::Url::parse(target) else {
            return refuse(format!("{target:?} is not a URL (use http://HOST:PORT)"));
        };
        if !matches!(target_url.scheme(), "http" | "https") {
            return refuse(format!(
                "replays go over http or https only, not {}:",
                target_url.scheme()
            ));
        }
        if !target_url.username().is_empty() || target_url.password().is_some() {
            return refuse("the target may not carry credentials".into());
        }
        if !self.host_allowed(&target_url) {
            return refuse(format!(
                "{} is not an allowed replay target: loopback addresses and the forward target only, unless --allow-replay-to names it",
                target_url.host_str().unwrap_or("?")
            ));
        }
        let original_target = match &s.query {
            Some(q) => format!("{}?{q}", s.path),
            None => s.path.clone(),
        };
        let path_and_query = match edits
            .path
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(path) => path.to_owned(),
            None if target_url.path() != "/" || target_url.query().is_some() => String::new(),
            None => original_target,
        };
        if !path_and_query.is_empty() && !path_and_query.starts_with('/') {
            return refuse("the path must start with /".into());
        }
        if path_and_query
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ')
        {
            return refuse("the path may not contain spaces or control characters".into());
        }
        let base = target_url.as_str().trim_end_matches('/');
        let url = if path_and_query.is_empty() {
            target_url.to_string()
        } else {
            format!("{base}{path_and_query}")
        };
        if reqwest::Url::parse(&url).is_err() {
            return refuse(format!("{url:?} is not a valid URL"));
        }

        let method = edits
            .method
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(&s.method)
            .to_ascii_uppercase();
        if http::Method::from_bytes(method.as_bytes()).is_err() || method == "CONNECT" {
            return refuse(format!("{method:?} is not a method a replay can send"));
        }
        let body = edits
            .body
            .as_ref()
            .map(|b| b.clone().into_bytes())
            .unwrap_or_else(|| original.body.clone());
        let source: Vec<Header> = match &edits.headers {
            Some(list) => list
                .iter()
                .map(|h| Header::new(h.name.trim(), h.value.as_bytes()))
                .collect(),
            None => original.headers.clone(),
        };
        for header in &source {
            if http::HeaderName::from_bytes(header.name.as_bytes()).is_err() {
                return refuse(format!("{:?} is not a valid header name", header.name));
            }
            if http::HeaderValue::from_bytes(&header.value).is_err() {
                return refuse(format!(
                    "the value of {} contains CR, LF or another forbidden byte",
                    header.name
                ));
            }
        }
        let authority = match (target_url.host_str(), target_url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        };
        let mut headers = vec![Header::new("Host", authority.into_bytes())];
        headers.extend(
            source
                .iter()
                .filter(|h| {
                    !h.name.eq_ignore_ascii_case("host") && !is_hop_by_hop(&h.name, &source)
                })
                .cloned(),
        );
        let resign = edits.resign.unwrap_or(true);
        let mut resigned = false;
        if let (Some(token), true) = (&self.token, resign) {
            let content_type = wire::content_type(&headers).map(<[u8]>::to_vec);
            let value =
                signature::sign_request(token, &url, content_type.as_deref(), &body, &method);
            match headers
                .iter_mut()
                .find(|h| h.name.eq_ignore_ascii_case(signature::HEADER))
            {
                Some(existing) => existing.value = value.into_bytes(),
                None => headers.push(Header::new(signature::HEADER, value.into_bytes())),
            }
            resigned = true;
        }
        Ok(Outgoing {
            method,
            url,
            headers,
            body,
            resigned,
        })
    }
}

/// Sends replays and records them.
#[derive(Clone)]
pub struct Replayer {
    pub config: ReplayConfig,
    store: Store,
    writer: Writer,
    http: reqwest::Client,
}

impl Replayer {
    pub fn new(config: ReplayConfig, store: Store, writer: Writer) -> Result<Self, reqwest::Error> {
        let http = client_builder(Duration::from_secs(5), Duration::from_secs(30)).build()?;
        Ok(Self {
            config,
            store,
            writer,
            http,
        })
    }

    /// Replays request `id` with `edits`; returns the new request's summary.
    pub async fn replay(
        &self,
        id: i64,
        edits: &ReplayEdits,
    ) -> Result<RequestSummary, ReplayError> {
        let original = self
            .store
            .read(move |r| r.get_request(id))
            .await?
            .ok_or(ReplayError::NotFound(id))?;
        let mut outgoing = self.config.build(&original, edits)?;
        let to_capture = outgoing
            .url
            .strip_prefix(&self.config.capture_base)
            .is_some_and(|rest| rest.starts_with('/'));
        // A replay of a replay names the request it re-sends, not the first one.
        outgoing
            .headers
            .retain(|h| !h.name.eq_ignore_ascii_case(REPLAY_HEADER));
        if to_capture {
            outgoing.headers.push(self.config.mark.header(id));
        }
        let received_at_us = now_micros();
        let started = Instant::now();
        let (response, error) = self.send(&outgoing).await;
        if to_capture && error.is_none() {
            // Acknowledged means stored: the capture listener's record of this replay is
            // committed by now, so it is the one record (the newest replay of `id` since we sent).
            let recorded = self
                .store
                .read(move |r| r.replays_of(id))
                .await?
                .into_iter()
                .rev()
                .find(|r| r.received_at_us >= received_at_us);
            if let Some(summary) = recorded {
                return Ok(summary);
            }
        }
        let record = self.record(
            id,
            &outgoing,
            response,
            error,
            received_at_us,
            started.elapsed(),
        );
        let summary_id = self
            .writer
            .insert(record)
            .await
            .map_err(|e| ReplayError::Record(e.message))?;
        self.store
            .read(move |r| r.get_request(summary_id))
            .await?
            .map(|r| r.summary)
            .ok_or(ReplayError::NotFound(summary_id))
    }

    async fn send(&self, outgoing: &Outgoing) -> (RecordedResponse, Option<String>) {
        let Ok(method) = reqwest::Method::from_bytes(outgoing.method.as_bytes()) else {
            return (json_error(400, "bad method"), Some("bad method".into()));
        };
        let mut request = self
            .http
            .request(method, &outgoing.url)
            .body(outgoing.body.clone());
        for header in &outgoing.headers {
            request = request.header(header.name.as_str(), header.value.as_slice());
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response_headers(&response);
                match read_capped(response, MAX_RESPONSE_BODY).await {
                    Ok((body, truncated)) => (
                        RecordedResponse {
                            status,
                            headers,
                            body,
                        },
                        truncated
                            .then(|| format!("the answer was cut at {MAX_RESPONSE_BODY} bytes")),
                    ),
                    Err(err) => {
                        let message = format!("the answer broke off: {}", root_cause(&err));
                        (
                            RecordedResponse {
                                status,
                                headers,
                                body: Vec::new(),
                            },
                            Some(message),
                        )
                    }
                }
            }
            Err(err) => {
                let message = if err.is_timeout() {
                    "the target did not answer within 30 s".to_owned()
                } else {
                    format!("could not reach {}: {}", outgoing.url, root_cause(&err))
                };
                (json_error(502, &message), Some(message))
            }
        }
    }

    fn record(
        &self,
        original: i64,
        outgoing: &Outgoing,
        response: RecordedResponse,
        error: Option<String>,
        received_at_us: i64,
        elapsed: Duration,
    ) -> NewRequest {
        let parsed = reqwest::Url::parse(&outgoing.url).ok();
        let path = parsed
            .as_ref()
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        let query = parsed.as_ref().and_then(|u| u.query().map(str::to_owned));
        let content_type = wire::content_type(&outgoing.headers);
        let (derived, search_text) = analyze(
            &outgoing.method,
            &path,
            query.as_deref(),
            content_type,
            &outgoing.body,
        );
        let header = wire::header(&outgoing.headers, signature::HEADER);
        let check = signature::verify(
            self.config.token.as_ref(),
            header,
            &outgoing.url,
            content_type,
            &outgoing.body,
            &outgoing.method,
        );
        NewRequest {
            received_at_us,
            remote_addr: format!("replay of #{original}"),
            method: outgoing.method.clone(),
            search_text,
            path,
            query,
            http_version: "HTTP/1.1".into(),
            headers: outgoing.headers.clone(),
            body: outgoing.body.clone(),
            body_size: outgoing.body.len() as u64,
            body_truncated: false,
            response,
            duration_us: elapsed.as_micros() as i64,
            derived,
            signature: check.verdict,
            signature_reason: check.reason,
            replay_of: Some(original),
            error,
        }
    }
}
