//! Event Streams batches: a webhook sink receives a JSON array of CloudEvents 1.0 (or one
//! CloudEvent object), `type` `com.twilio.taskrouter.X` carrying the TaskRouter event `X` with
//! its fields in snake_case under `data.payload` (`task_sid`, `reservation_sid`, `worker_sid`,
//! `workspace_sid`, `eventtype`, `worker_name`, `timestamp`, ...).
//!
//! Parsing is total: any byte string gives either "not a CloudEvents body" or a [`Batch`] with
//! the events that could be read and a `problem` saying what could not (invalid JSON, an item
//! that is not an object or has no `type`, too many events). Nothing here panics; serde_json's
//! recursion limit turns a deeply nested payload into a parse error, not a stack overflow.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::taskrouter::sid::{AccountSid, ReservationSid, TaskSid, WorkerSid, WorkspaceSid};
use crate::taskrouter::status::ReservationStatus;

/// The prefix of every TaskRouter CloudEvent type.
pub const TASKROUTER_TYPE_PREFIX: &str = "com.twilio.taskrouter.";

/// Most events of one batch that are indexed. Event Streams batches are far smaller; past this a
/// batch is still stored whole (byte-exact) and flagged, but only these events are split out,
/// which bounds the work one request can make the writer do.
pub const MAX_EVENTS: usize = 1000;

/// Longest string kept from an event (types, ids, names): real ones are well under this.
const MAX_FIELD: usize = 200;

/// One CloudEvent of a batch, reduced to what is indexed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudEvent {
    /// Position in the batch, from 0.
    pub seq: u32,
    /// The CloudEvent `id`: what deduplication keys on.
    pub id: Option<String>,
    /// The CloudEvent `type`, as sent.
    #[serde(rename = "type")]
    pub ce_type: String,
    pub source: Option<String>,
    /// `X` of `com.twilio.taskrouter.X`; `None` for other event types.
    pub event_type: Option<String>,
    pub account_sid: Option<AccountSid>,
    pub workspace_sid: Option<WorkspaceSid>,
    pub task_sid: Option<TaskSid>,
    pub reservation_sid: Option<ReservationSid>,
    pub worker_sid: Option<WorkerSid>,
    pub worker_name: Option<String>,
    /// What this event says about its reservation (TaskRouter events only).
    pub reservation_status: Option<ReservationStatus>,
    /// When the event happened (µs since the epoch): `data.payload.timestamp`, else `time`.
    pub time_us: Option<i64>,
}

/// What a CloudEvents body held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    pub events: Vec<CloudEvent>,
    /// Items in the body (may exceed `events.len()` when some were unreadable or over the cap).
    pub items: usize,
    /// Why the batch is not a clean CloudEvents batch, when it is not.
    pub problem: Option<String>,
}

impl Batch {
    /// True when at least one event is a TaskRouter event.
    pub fn has_taskrouter(&self) -> bool {
        self.events.iter().any(|e| e.event_type.is_some())
    }
}

/// The CloudEvents attributes read; everything else is left in the raw body.
#[derive(Deserialize)]
struct Raw {
    specversion: Option<serde_json::Value>,
    #[serde(rename = "type")]
    ce_type: Option<serde_json::Value>,
    id: Option<serde_json::Value>,
    source: Option<serde_json::Value>,
    time: Option<serde_json::Value>,
    data: Option<serde_json::Value>,
}

/// True for the CloudEvents media types (structured mode, single and batch).
fn is_cloudevents_type(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|ct| {
        let ct = String::from_utf8_lossy(ct).to_ascii_lowercase();
        ct.contains("application/cloudevents")
    })
}

/// Whether a body that did not parse still looks like a CloudEvents batch: it opens with an
/// array or object and names `specversion` early on. Catches truncated and over-deep batches
/// sent as plain `application/json`.
fn looks_like_cloudevents(body: &[u8]) -> bool {
    let head = &body[..body.len().min(2048)];
    let start = head.iter().find(|b| !b.is_ascii_whitespace());
    matches!(start, Some(b'[' | b'{')) && head.windows(13).any(|w| w == b"\"specversion\"")
}

/// Reads `body` as a CloudEvents batch, or says it is not one (`None`).
pub fn parse(content_type: Option<&[u8]>, body: &[u8]) -> Option<Batch> {
    let declared = is_cloudevents_type(content_type);
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(err) if declared || looks_like_cloudevents(body) => {
            return Some(Batch {
                problem: Some(format!("CloudEvents batch is not valid JSON: {err}")),
                ..Batch::default()
            });
        }
        Err(_) => return None,
    };
    let (items, single) = match value {
        serde_json::Value::Array(items) => (items, false),
        object @ serde_json::Value::Object(_) => (vec![object], true),
        _ if declared => {
            return Some(Batch {
                problem: Some("CloudEvents body is neither an array nor an object".into()),
                ..Batch::default()
            });
        }
        _ => return None,
    };
    let is_event = |v: &serde_json::Value| v.get("specversion").is_some();
    // A plain JSON body is a batch only if it carries CloudEvents; an empty array or an array
    // of other objects is just JSON.
    if !declared && !items.iter().any(is_event) {
        return None;
    }
    let mut batch = Batch {
        items: items.len(),
        ..Batch::default()
    };
    let mut problems: Vec<String> = Vec::new();
    if items.is_empty() {
        problems.push("empty CloudEvents batch".into());
    }
    for (seq, item) in items.into_iter().enumerate() {
        if batch.events.len() >= MAX_EVENTS {
            problems.push(format!(
                "batch of {} events: only the first {MAX_EVENTS} are indexed",
                batch.items
            ));
            break;
        }
        let label = if single {
            "the CloudEvent".to_owned()
        } else {
            format!("event {seq}")
        };
        if !item.is_object() {
            problems.push(format!("{label} is not an object"));
            continue;
        }
        let raw: Raw = match serde_json::from_value(item) {
            Ok(raw) => raw,
            Err(err) => {
                problems.push(format!("{label}: {err}"));
                continue;
            }
        };
        if raw.specversion.is_none() {
            problems.push(format!("{label} has no specversion"));
        }
        let Some(ce_type) = raw.ce_type.as_ref().and_then(short_string) else {
            problems.push(format!("{label} has no type"));
            continue;
        };
        batch.events.push(event(seq as u32, ce_type, &raw));
    }
    if !problems.is_empty() {
        // Many broken items give one line per kind of fault, not thousands.
        problems.dedup_by(|a, b| a.split(' ').skip(2).eq(b.split(' ').skip(2)));
        problems.truncate(5);
        batch.problem = Some(problems.join("; "));
    }
    Some(batch)
}

fn event(seq: u32, ce_type: String, raw: &Raw) -> CloudEvent {
    let payload = raw
        .data
        .as_ref()
        .and_then(|d| d.get("payload"))
        .filter(|p| p.is_object());
    let field = |name: &str| payload.and_then(|p| p.get(name)).and_then(short_string);
    let event_type = ce_type
        .strip_prefix(TASKROUTER_TYPE_PREFIX)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        // The payload's own name for it, when the type does not carry one.
        .or_else(|| {
            ce_type
                .starts_with("com.twilio.taskrouter")
                .then(|| field("eventtype"))
                .flatten()
        });
    let is_taskrouter = event_type.is_some();
    let time_us = payload
        .and_then(|p| p.get("timestamp"))
        .and_then(time_of)
        .or_else(|| raw.time.as_ref().and_then(time_of));
    CloudEvent {
        seq,
        id: raw.id.as_ref().and_then(short_string),
        source: raw.source.as_ref().and_then(short_string),
        reservation_status: event_type
            .as_deref()
            .and_then(ReservationStatus::from_event),
        // SIDs are read only from TaskRouter events: another product's `task_sid` means
        // something else and must not move TaskRouter state.
        account_sid: is_taskrouter
            .then(|| sid_of(payload, "account_sid"))
            .flatten(),
        workspace_sid: is_taskrouter
            .then(|| sid_of(payload, "workspace_sid"))
            .flatten(),
        task_sid: is_taskrouter.then(|| sid_of(payload, "task_sid")).flatten(),
        reservation_sid: is_taskrouter
            .then(|| sid_of(payload, "reservation_sid"))
            .flatten(),
        worker_sid: is_taskrouter
            .then(|| sid_of(payload, "worker_sid"))
            .flatten(),
        worker_name: is_taskrouter.then(|| field("worker_name")).flatten(),
        event_type,
        ce_type,
        time_us,
    }
}

/// A well-formed SID of the expected kind from the payload.
fn sid_of<T: std::str::FromStr>(payload: Option<&serde_json::Value>, name: &str) -> Option<T> {
    payload
        .and_then(|p| p.get(name))
        .and_then(serde_json::Value::as_str)
        .and_then(|v| v.parse().ok())
}

/// A JSON string (or number, for ids) cut to [`MAX_FIELD`] characters.
fn short_string(v: &serde_json::Value) -> Option<String> {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then(|| s.chars().take(MAX_FIELD).collect())
}

/// An RFC 3339 string, or a Unix time number (milliseconds when it is that large, else
/// seconds), as µs since the epoch.
fn time_of(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::String(s) => {
            if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
                return i64::try_from(t.unix_timestamp_nanos() / 1000).ok();
            }
            s.parse::<f64>().ok().and_then(epoch_us)
        }
        serde_json::Value::Number(n) => n.as_f64().and_then(epoch_us),
        _ => None,
    }
}

fn epoch_us(n: f64) -> Option<i64> {
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    // 1e11 seconds is the year 5138; anything larger is milliseconds.
    let us = if n > 1e11 { n * 1e3 } else { n * 1e6 };
    (us < 1e17).then_some(us as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WT: &str = "WT0123456789abcdef0123456789abcdef";
    const WR: &str = "WR0123456789abcdef0123456789abcdef";

    fn accepted() -> String {
        format!(
            r#"[{{"specversion":"1.0","type":"com.twilio.taskrouter.reservation.accepted","id":"EZ1","source":"/v1/Workspaces","time":"2026-01-01T00:00:00Z","data":{{"name":"reservation.accepted","payload":{{"task_sid":"{WT}","reservation_sid":"{WR}","worker_name":"Alice","timestamp":1767225601000}}}}}}]"#
        )
    }

    #[test]
    fn a_taskrouter_batch_gives_its_event_and_sids() {
        let b = parse(Some(b"application/json"), accepted().as_bytes()).unwrap();
        assert_eq!(b.problem, None);
        let e = &b.events[0];
        assert_eq!(e.event_type.as_deref(), Some("reservation.accepted"));
        assert_eq!(e.task_sid.as_ref().map(|s| s.as_str()), Some(WT));
        assert_eq!(e.reservation_status, Some(ReservationStatus::Accepted));
        assert_eq!(e.worker_name.as_deref(), Some("Alice"));
        // The payload's timestamp (ms) wins over `time`.
        assert_eq!(e.time_us, Some(1_767_225_601_000_000));
    }

    #[test]
    fn plain_json_is_not_a_batch_but_declared_garbage_is_flagged() {
        assert_eq!(parse(Some(b"application/json"), b"[1,2]"), None);
        assert_eq!(
            parse(Some(b"application/json"), b"{\"EventType\":\"x\"}"),
            None
        );
        assert_eq!(parse(None, b"not json"), None);
        let b = parse(Some(b"application/cloudevents-batch+json"), b"{oops").unwrap();
        assert!(b.problem.unwrap().contains("not valid JSON"));
        let b = parse(Some(b"application/cloudevents-batch+json"), b"[1]").unwrap();
        assert_eq!(b.problem.as_deref(), Some("event 0 is not an object"));
    }

    #[test]
    fn missing_type_and_other_products_are_kept_apart() {
        let body = br#"[{"specversion":"1.0","id":"a"},{"specversion":"1.0","type":"com.twilio.messaging.message.sent","data":{"payload":{"task_sid":"WT0123456789abcdef0123456789abcdef"}}}]"#;
        let b = parse(None, body).unwrap();
        assert_eq!(b.problem.as_deref(), Some("event 0 has no type"));
        assert_eq!(b.events.len(), 1);
        assert_eq!(b.events[0].event_type, None);
        assert_eq!(b.events[0].task_sid, None);
        assert!(!b.has_taskrouter());
    }

    #[test]
    fn huge_and_deep_batches_are_bounded() {
        let one = r#"{"specversion":"1.0","type":"com.twilio.eventstreams.test-event"}"#;
        let body = format!("[{}]", vec![one; MAX_EVENTS + 5].join(","));
        let b = parse(None, body.as_bytes()).unwrap();
        assert_eq!(b.events.len(), MAX_EVENTS);
        assert!(b.problem.unwrap().contains("only the first"));
        let deep = format!(
            r#"[{{"specversion":"1.0","type":"x","data":{}1{}}}]"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let b = parse(None, deep.as_bytes()).unwrap();
        assert!(b.problem.unwrap().contains("recursion limit"));
    }
}
