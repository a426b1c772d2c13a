//! The capture listener's service: every request, any method and path, is read (within the
//! body limit), classified, answered by the [`responder`] and stored. The response is sent only
//! after the store writer has committed the row; if it cannot be stored the caller gets 503
//! with `Retry-After`, never a 2xx.
//!
//! Header names keep their original case and arrival order through [`raw_head`], which re-reads
//! each request head from the bytes seen on the connection.

pub mod budget;
pub mod forward;
pub mod raw_head;
pub mod responder;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::Instrument;

use crate::server::Slot;
use crate::store::models::{NewRequest, now_micros};
use crate::store::writer::Writer;
use crate::taskrouter::callback::analyze;
use crate::taskrouter::signature::{self, AuthToken, Check, Verdict};
use crate::taskrouter::status::Kind;
use crate::tunnel::PublicUrl;
use crate::wire::{self, Header, RecordedResponse, json_error};
use budget::{Budget, Share};
use raw_head::{RawHeader, RecordingIo, Tape};
use responder::Responder;

/// Settings of the capture service.
#[derive(Debug, Clone)]
pub struct CaptureSettings {
    pub responder: Responder,
    /// Most body bytes stored; a larger body gets 413 and its first `max_body` bytes are kept.
    pub max_body: usize,
    /// A body must arrive completely within this time after the head.
    pub body_read_timeout: Duration,
    /// TWILIO_AUTH_TOKEN; without it every request is `unchecked`.
    pub signature_token: Option<AuthToken>,
    /// `--public-url`: the base URL TaskRouter signs; else the tunnel's URL once found (see
    /// [`crate::tunnel`]); else X-Forwarded-Proto + the Host header.
    pub public_url: Option<String>,
    /// `--forward`: send every request on to the user's app and answer with its response.
    pub forward: Option<forward::Forwarder>,
    /// `--max-in-flight`: most body bytes all connections together hold before they are
    /// stored (see [`budget`]).
    pub max_in_flight: usize,
    /// Recognises this run's replays (recorded with `replay_of`, changing no state).
    pub replay_mark: crate::replay::ReplayMark,
}

/// The capture service shared by all connections of the capture listener.
pub struct Capture {
    settings: CaptureSettings,
    writer: Writer,
    budget: Budget,
    /// `--public-url` or the tunnel found; read for every signature check.
    public_url: watch::Receiver<Option<PublicUrl>>,
}

/// The most bytes a connection's tape holds: a head plus what hyper reads along with it (its
/// read buffer grows to ~400 KiB). Body bytes that come later are never taped.
const TAPE_CAP: usize = 1024 * 1024;

impl Capture {
    pub fn new(
        settings: CaptureSettings,
        writer: Writer,
        public_url: watch::Receiver<Option<PublicUrl>>,
    ) -> Arc<Self> {
        let budget = Budget::new(settings.max_in_flight);
        Arc::new(Self {
            settings,
            writer,
            budget,
            public_url,
        })
    }

    /// The IO wrapper and hyper service for one accepted connection.
    pub fn connection(
        self: &Arc<Self>,
        stream: TcpStream,
        remote: SocketAddr,
        slot: &Arc<Slot>,
    ) -> (TokioIo<RecordingIo<TcpStream>>, CaptureService) {
        let tape = Tape::new(TAPE_CAP);
        let io = TokioIo::new(RecordingIo::new(stream, tape.clone()));
        let service = CaptureService {
            capture: Arc::clone(self),
            tape,
            remote,
            slot: Arc::clone(slot),
        };
        (io, service)
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
        tape: &Tape,
        remote: SocketAddr,
        slot: &Arc<Slot>,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let received_at_us = now_micros();
        let (parts, body) = req.into_parts();
        let target = parts.uri.to_string();
        let mut headers: Vec<Header> = match tape.take_head(parts.method.as_str(), &target) {
            Some(head) => head.headers.into_iter().map(Header::from).collect(),
            None => headers_from_map(&parts.headers),
        };
        strip_inspector_cookies(&mut headers);

        // A capture listener is not a proxy: absolute-form targets and CONNECT are recorded
        // and refused, never forwarded (the mitmweb CVE-2025-23217 path).
        let not_origin_form = parts.method == Method::CONNECT || parts.uri.authority().is_some();
        let (path, query) = if not_origin_form {
            (target.clone(), None)
        } else {
            (
                parts.uri.path().to_owned(),
                parts.uri.query().map(str::to_owned),
            )
        };

        // Held until the row is stored (or refused) and its buffers are gone.
        let mut share = self.budget.share();
        let declared = declared_length(&parts.headers).map(|n| n.min(self.settings.max_body));
        let read = if share.grow_to(declared.unwrap_or(0)) {
            let limits = BodyLimits {
                max_body: self.settings.max_body,
                timeout: self.settings.body_read_timeout,
                declared,
            };
            read_body(body, &limits, &mut share).await
        } else {
            BodyRead::refused(self.budget.limit())
        };
        if read.failure.is_none() {
            tape.finish_body();
        } else {
            tape.abandon();
        }
        // The request is here (or refused): from now on this connection waits on us, not on
        // its client, and is not closed to make room for another.
        let _working = slot.working();

        let content_type = wire::content_type(&headers);
        let method = parts.method.as_str();
        let (derived, search_text) =
            analyze(method, &path, query.as_deref(), content_type, &read.bytes);
        let mut forward_error = None;
        let response = match (&read.failure, not_origin_form, &self.settings.forward) {
            (Some(failure), _, _) => {
                let mut refused = json_error(failure.status(), &failure.to_string());
                if failure.status() == 503 {
                    refused
                        .headers
                        .push(Header::new("Retry-After", b"1".to_vec()));
                }
                refused
            }
            (None, true, _) => json_error(
                400,
                "taskhook records callbacks; absolute-form and CONNECT requests are not proxied",
            ),
            (None, false, Some(forwarder)) => {
                let forwarded = forwarder
                    .forward(
                        parts.method.as_str(),
                        &target,
                        &headers,
                        &read.bytes,
                        remote,
                    )
                    .await;
                forward_error = forwarded.error;
                forwarded.response
            }
            // An Event Streams batch is answered 200 `{}` (the sink's documented success)
            // rather than an event callback's 204.
            (None, false, None) if derived.batch.is_some() => {
                self.settings.responder.respond(Kind::Other)
            }
            (None, false, None) => self.settings.responder.respond(derived.kind),
        };
        let error = read
            .failure
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| {
                not_origin_form.then(|| "absolute-form or CONNECT request refused".to_owned())
            })
            .or(forward_error)
            // A broken Event Streams batch is stored and answered like any request; the flag
            // says what could not be read out of it.
            .or_else(|| {
                derived
                    .batch
                    .as_ref()
                    .and_then(|b| b.problem.clone())
                    .map(|p| format!("CloudEvents: {p}"))
            });
        let check = self.check_signature(&parts.method, &target, &headers, content_type, &read);
        let close = read.failure.is_some();
        let replay_of = self.settings.replay_mark.replay_of(&headers);
        let request = NewRequest {
            received_at_us,
            remote_addr: remote.to_string(),
            method: parts.method.to_string(),
            path,
            query,
            http_version: format!("{:?}", parts.version),
            headers,
            body: read.bytes,
            body_size: read.seen,
            body_truncated: matches!(read.failure, Some(BodyFailure::TooLarge { .. })),
            response: response.clone(),
            duration_us: started.elapsed().as_micros() as i64,
            derived,
            signature: check.verdict,
            signature_reason: check.reason,
            replay_of,
            error,
            search_text,
        };

        let span = tracing::Span::current();
        span.record("status", response.status);
        span.record("duration_us", started.elapsed().as_micros() as u64);
        match self.writer.insert(request).await {
            Ok(id) => {
                span.record("id", id);
                tracing::debug!("captured");
                to_hyper(&response, close)
            }
            Err(err) => {
                tracing::warn!(error = %err, "request not stored; answering 503");
                let mut refused = to_hyper(
                    &json_error(503, &format!("not stored: {}", err.message)),
                    close,
                );
                refused
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                refused
            }
        }
    }
}

/// Cookies are not scoped by port: a browser that opens the capture URL sends it the
/// inspector's `taskhook_PORT` cookie, which holds the inspector token. It is removed here,
/// before anything is stored, shown, exported or forwarded; other cookies stay byte-exact, and a
/// Cookie header left empty is dropped.
fn strip_inspector_cookies(headers: &mut Vec<Header>) {
    const PREFIX: &[u8] = b"taskhook_";
    headers.retain_mut(|header| {
        if !header.name.eq_ignore_ascii_case("cookie") {
            return true;
        }
        let is_inspector = |pair: &&[u8]| pair.trim_ascii_start().starts_with(PREFIX);
        if !header.value.split(|&b| b == b';').any(|p| is_inspector(&p)) {
            return true;
        }
        let kept: Vec<&[u8]> = header
            .value
            .split(|&b| b == b';')
            .filter(|p| !is_inspector(p))
            .map(<[u8]>::trim_ascii)
            .collect();
        header.value = kept.join(&b"; "[..]);
        !header.value.is_empty()
    });
}

/// The hyper service of one capture connection.
pub struct CaptureService {
    capture: Arc<Capture>,
    tape: Tape,
    remote: SocketAddr,
    slot: Arc<Slot>,
}

impl hyper::service::Service<Request<Incoming>> for CaptureService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let capture = Arc::clone(&self.capture);
        let tape = self.tape.clone();
        let remote = self.remote;
        // One span per request: every line logged while handling it (and the store's work for
        // it) carries the method and path; `id`, `status` and `duration_us` are filled in when
        // known. The path is attacker-controlled, so it is recorded with Debug (escaped).
        let span = tracing::info_span!(
            "capture",
            method = %req.method(),
            path = ?req.uri().path(),
            id = tracing::field::Empty,
            status = tracing::field::Empty,
            duration_us = tracing::field::Empty,
        );
        let slot = Arc::clone(&self.slot);
        Box::pin(
            async move { Ok(capture.handle(req, &tape, remote, &slot).await) }.instrument(span),
        )
    }
}

impl Capture {
    /// X-Twilio-Signature verdict for a request (reference §4), against the URL TaskRouter
    /// called: `--public-url` or the tunnel's URL + the request target, else the scheme of the
    /// last `X-Forwarded-Proto` (what a tunnel sets; http when absent) + Host + target. Never
    /// `X-Forwarded-Host`: ngrok passes it through from the sender.
    fn check_signature(
        &self,
        method: &Method,
        target: &str,
        headers: &[Header],
        content_type: Option<&[u8]>,
        read: &BodyRead,
    ) -> Check {
        let header_value = |name: &str| wire::header(headers, name);
        if read.failure.is_some() && self.settings.signature_token.is_some() {
            return Check {
                verdict: Verdict::Invalid,
                reason: Some("the body was not received whole, so it cannot be checked".into()),
            };
        }
        let public = self.public_url.borrow().clone();
        let (url, from) = match public {
            Some(public) => (format!("{}{target}", public.url), public.via.to_string()),
            None => {
                let host = header_value("host")
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                match forwarded_proto(headers) {
                    Some(scheme) => (
                        format!("{scheme}://{host}{target}"),
                        "X-Forwarded-Proto and Host".to_owned(),
                    ),
                    None => (
                        format!("http://{host}{target}"),
                        "the Host header (no --public-url, no tunnel found)".to_owned(),
                    ),
                }
            }
        };
        let mut check = signature::verify(
            self.settings.signature_token.as_ref(),
            header_value(signature::HEADER),
            &url,
            content_type,
            &read.bytes,
            method.as_str(),
        );
        if check.verdict == Verdict::Invalid
            && let Some(reason) = &mut check.reason
        {
            reason.push_str(&format!(" [URL from {from}]"));
        }
        check
    }
}

/// The scheme the client used, as the last proxy in front of us says: the last element of the
/// last `X-Forwarded-Proto` header (earlier ones may come from the sender), http or https only.
fn forwarded_proto(headers: &[Header]) -> Option<&'static str> {
    let last = headers
        .iter()
        .rev()
        .find(|h| h.name.eq_ignore_ascii_case("x-forwarded-proto"))?;
    let value = last.value.rsplit(|&b| b == b',').next()?.trim_ascii();
    if value.eq_ignore_ascii_case(b"https") {
        Some("https")
    } else if value.eq_ignore_ascii_case(b"http") {
        Some("http")
    } else {
        None
    }
}

impl From<RawHeader> for Header {
    fn from(raw: RawHeader) -> Self {
        Header::new(raw.name, raw.value)
    }
}

/// Fallback when the raw head could not be re-read: hyper's lowercased names, in map order.
fn headers_from_map(map: &HeaderMap) -> Vec<Header> {
    map.iter()
        .map(|(name, value)| Header::new(name.as_str(), value.as_bytes()))
        .collect()
}

/// Why a body was not read completely.
#[derive(Debug, thiserror::Error)]
enum BodyFailure {
    #[error(
        "body larger than the {limit}-byte limit (--max-body); the first {limit} bytes were kept"
    )]
    TooLarge { limit: usize },
    #[error("body not received within {0:?}")]
    Timeout(Duration),
    #[error("body could not be read: {0}")]
    Broken(String),
    #[error(
        "taskhook is holding {limit} bytes of request bodies not yet stored (--max-in-flight); retry shortly"
    )]
    OverBudget { limit: usize },
}

impl BodyFailure {
    fn status(&self) -> u16 {
        match self {
            BodyFailure::TooLarge { .. } => 413,
            BodyFailure::Timeout(_) => 408,
            BodyFailure::Broken(_) => 400,
            BodyFailure::OverBudget { .. } => 503,
        }
    }
}

struct BodyRead {
    /// At most `max_body` bytes, in arrival order.
    bytes: Vec<u8>,
    /// Bytes received, including any beyond the limit.
    seen: u64,
    failure: Option<BodyFailure>,
}

impl BodyRead {
    /// Not read at all: the in-flight budget cannot hold it.
    fn refused(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            seen: 0,
            failure: Some(BodyFailure::OverBudget { limit }),
        }
    }
}

struct BodyLimits {
    max_body: usize,
    timeout: Duration,
    /// `Content-Length`, capped at `max_body`: the buffer is sized once, no doubling.
    declared: Option<usize>,
}

/// The body length a request declares, when it is framed by `Content-Length` alone.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        return None;
    }
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads the body frame by frame, counting as it goes, so a chunked body without a declared
/// length cannot grow past the limit either (hyper itself has no body limit). Every byte kept
/// is first taken from the in-flight budget (`share`).
async fn read_body(mut body: Incoming, limits: &BodyLimits, share: &mut Share) -> BodyRead {
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let mut read = BodyRead {
        bytes: Vec::with_capacity(limits.declared.unwrap_or(0)),
        seen: 0,
        failure: None,
    };
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                read.failure = Some(BodyFailure::Timeout(limits.timeout));
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => {
                read.failure = Some(BodyFailure::Broken(err.to_string()));
                break;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry no body bytes
        };
        read.seen += data.len() as u64;
        let room = limits.max_body.saturating_sub(read.bytes.len());
        let keep = &data[..data.len().min(room)];
        if !share.grow_to(read.bytes.len() + keep.len()) {
            read.failure = Some(BodyFailure::OverBudget {
                limit: share.budget_limit(),
            });
            break;
        }
        read.bytes.extend_from_slice(keep);
        if read.seen > limits.max_body as u64 {
            read.failure = Some(BodyFailure::TooLarge {
                limit: limits.max_body,
            });
            break;
        }
    }
    read
}

/// Turns a recorded response into the hyper response actually sent.
fn to_hyper(response: &RecordedResponse, close: bool) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(response.body.clone())));
    *out.status_mut() = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    for header in &response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(&header.value),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    if close {
        // The body was not read to its end, so the connection cannot carry another request.
        out.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inspector_cookie_never_stays_in_a_captured_request() {
        let mut headers = vec![
            Header::new("Host", b"x".to_vec()),
            Header::new("Cookie", b"a=1; taskhook_4040=secret; b=2".to_vec()),
            Header::new("cookie", b"taskhook_55123=secret".to_vec()),
            Header::new("COOKIE", b"session=keep".to_vec()),
        ];
        strip_inspector_cookies(&mut headers);
        assert_eq!(
            headers,
            vec![
                Header::new("Host", b"x".to_vec()),
                Header::new("Cookie", b"a=1; b=2".to_vec()),
                Header::new("COOKIE", b"session=keep".to_vec()),
            ]
        );
    }
}
