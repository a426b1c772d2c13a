//! Plain data types that cross the store boundary: what the capture path hands to the writer
//! ([`NewRequest`]) and what readers get back ([`StoredRequest`], [`RequestSummary`]).
//! No rusqlite type appears here, so callers never depend on SQL.

use serde::Serialize;
use time::OffsetDateTime;

use crate::taskrouter::callback::Derived;
use crate::taskrouter::sid::{AccountSid, ReservationSid, TaskSid, WorkerSid, WorkspaceSid};
use crate::taskrouter::signature::Verdict;
use crate::taskrouter::status::{ActionKind, Kind, ReservationStatus};
use crate::wire::{Header, RecordedResponse};

/// Encodes headers as the block stored in SQLite: `Name: value\r\n` per header, in order.
///
/// Header names are tokens and values never contain CR or LF (hyper and httparse refuse
/// both), so the block can always be split back into the same list.
pub fn encode_headers(headers: &[Header]) -> Vec<u8> {
    let mut block = Vec::with_capacity(
        headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + 4)
            .sum(),
    );
    for header in headers {
        block.extend_from_slice(header.name.as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(&header.value);
        block.extend_from_slice(b"\r\n");
    }
    block
}

/// Splits a stored header block back into headers. Lines that do not parse are skipped.
pub fn decode_headers(block: &[u8]) -> Vec<Header> {
    block
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).into_owned();
            let value = line[colon + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&line[colon + 1..]);
            Some(Header::new(name, value))
        })
        .collect()
}

/// Everything the writer stores for one request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Microseconds since the Unix epoch.
    pub received_at_us: i64,
    pub remote_addr: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub http_version: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    pub body_size: u64,
    pub body_truncated: bool,
    pub response: RecordedResponse,
    pub duration_us: i64,
    pub derived: Derived,
    pub signature: Verdict,
    /// Why the signature was judged invalid, when it was.
    pub signature_reason: Option<String>,
    pub replay_of: Option<i64>,
    pub error: Option<String>,
    /// What full-text search matches for this request (decoded fields, body text).
    pub search_text: String,
}

/// A stored request's list view: the fields of `GET /api/requests` and `taskhook requests --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestSummary {
    pub id: i64,
    /// RFC 3339, UTC, microsecond precision.
    pub received_at: String,
    /// Microseconds since the Unix epoch, for clients that do arithmetic.
    pub received_at_us: i64,
    pub remote_addr: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub kind: Kind,
    pub event_type: Option<String>,
    pub account_sid: Option<AccountSid>,
    pub workspace_sid: Option<WorkspaceSid>,
    pub task_sid: Option<TaskSid>,
    pub reservation_sid: Option<ReservationSid>,
    pub worker_sid: Option<WorkerSid>,
    pub signature: Verdict,
    pub replay_of: Option<i64>,
    /// Set on a replay whose original was deleted before the replay was stored (the link is
    /// then gone): which request it replayed.
    pub replay_note: Option<String>,
    pub body_size: u64,
    pub body_truncated: bool,
    pub duration_us: i64,
    pub error: Option<String>,
}

/// A stored request with everything that was captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    pub summary: RequestSummary,
    pub signature_reason: Option<String>,
    /// The CloudEvents an Event Streams batch carried, in batch order (empty otherwise).
    pub events: Vec<super::events::StreamEvent>,
    pub http_version: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    pub response: RecordedResponse,
}

/// A reservation as last seen in callbacks and actions (`GET /api/reservations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    pub reservation_sid: ReservationSid,
    pub task_sid: Option<TaskSid>,
    pub workspace_sid: Option<WorkspaceSid>,
    pub worker_sid: Option<WorkerSid>,
    pub worker_name: Option<String>,
    /// RFC 3339 time of the assignment callback, when one was seen.
    pub offered_at: Option<String>,
    pub offered_at_us: Option<i64>,
    pub status: ReservationStatus,
    pub status_at: String,
    pub first_request_id: i64,
    pub last_request_id: i64,
}

/// A TaskRouter REST call about to be recorded in the audit trail. Never holds credentials.
#[derive(Debug, Clone)]
pub struct NewAction {
    pub at_us: i64,
    pub action: ActionKind,
    pub method: &'static str,
    /// Without userinfo.
    pub url: String,
    /// The form body sent.
    pub params: String,
    pub workspace_sid: Option<WorkspaceSid>,
    pub task_sid: Option<TaskSid>,
    pub reservation_sid: Option<ReservationSid>,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub duration_us: i64,
    /// What the call established about the reservation, applied in the same transaction.
    pub reservation_update: Option<ReservationUpdate>,
}

/// A reservation's state as TaskRouter reported it in a REST answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationUpdate {
    pub status: ReservationStatus,
    pub worker_name: Option<String>,
}

/// A recorded REST call (`actions` in the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub id: i64,
    pub at: String,
    pub at_us: i64,
    pub action: ActionKind,
    pub method: String,
    pub url: String,
    pub params: String,
    pub workspace_sid: Option<WorkspaceSid>,
    pub task_sid: Option<TaskSid>,
    pub reservation_sid: Option<ReservationSid>,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub duration_us: i64,
}

/// Now, in microseconds since the Unix epoch (the unit every stored time uses).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Formats microseconds since the epoch as RFC 3339 UTC with microseconds.
pub fn format_micros(us: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block_round_trips_case_order_repeats_and_raw_bytes() {
        let headers = vec![
            Header::new("X-Twilio-Signature", b"abc=".to_vec()),
            Header::new("x-lower", b"".to_vec()),
            Header::new("X-Twilio-Signature", vec![0xff, b':', b' ', 0x00, b'z']),
        ];
        assert_eq!(decode_headers(&encode_headers(&headers)), headers);
    }

    #[test]
    fn micros_format_as_rfc3339_utc() {
        assert_eq!(
            format_micros(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
