//! Classifies a captured request as an assignment callback, an event callback or something
//! else, and pulls out EventType and the SIDs (reference §1.2, §2).
//!
//! TaskRouter sends form-encoded parameters; the same names are also looked up in a JSON object
//! body and in the query string, so hand-made test requests are recognised too. The first value
//! of a repeated key wins, which is also the one shown first in the inspector.

use crate::taskrouter::cloudevents::{self, Batch};
use crate::taskrouter::sid::{AccountSid, ReservationSid, TaskSid, WorkerSid, WorkspaceSid};
use crate::taskrouter::signature::is_form;
use crate::taskrouter::status::{Kind, ReservationStatus};

/// Longest EventType kept in the indexed column; real ones are under 40 characters.
const MAX_EVENT_TYPE: usize = 100;

/// Parameters found in a request, in the order they were found.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Collects parameters from the query string and, depending on `content_type` and
    /// `method`, the body (form-encoded as TaskRouter sends them, or a JSON object).
    pub fn collect(
        query: Option<&str>,
        content_type: Option<&[u8]>,
        method: &str,
        body: &[u8],
    ) -> Self {
        let mut params = Vec::new();
        let is_json = content_type.is_some_and(|ct| {
            String::from_utf8_lossy(ct)
                .to_ascii_lowercase()
                .contains("json")
        });
        if is_json {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
                for (key, value) in map {
                    if let serde_json::Value::String(s) = value {
                        params.push((key, s));
                    }
                }
            }
        } else if is_form(content_type, method) {
            params.extend(form_urlencoded::parse(body).into_owned());
        }
        if let Some(query) = query {
            params.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
        }
        Self(params)
    }

    /// The first non-empty value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name` that is a well-formed SID of the expected kind.
    fn sid<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.first(name).and_then(|v| v.parse().ok())
    }
}

/// The TaskRouter facts pulled out of a request's raw bytes; stored in indexed columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub kind: Kind,
    pub event_type: Option<String>,
    pub account_sid: Option<AccountSid>,
    pub workspace_sid: Option<WorkspaceSid>,
    pub task_sid: Option<TaskSid>,
    pub reservation_sid: Option<ReservationSid>,
    pub worker_sid: Option<WorkerSid>,
    /// `WorkerName`, when the callback carries it (event callbacks do).
    pub worker_name: Option<String>,
    /// What this callback says about its reservation's status (`pending` for an assignment
    /// callback, `accepted` for `reservation.accepted`, ...).
    pub reservation_status: Option<ReservationStatus>,
    /// The CloudEvents an Event Streams body carried (`None` when the body is not one).
    pub batch: Option<Batch>,
}

/// Derives kind, EventType and the SIDs from a request's parameters.
pub fn derive(params: &Params) -> Derived {
    let event_type = params
        .first("EventType")
        .map(|e| e.chars().take(MAX_EVENT_TYPE).collect::<String>());
    let kind = if event_type.is_some() {
        Kind::Event
    } else if params.first("ReservationSid").is_some() {
        Kind::Assignment
    } else {
        Kind::Other
    };
    Derived {
        account_sid: params.sid("AccountSid"),
        workspace_sid: params.sid("WorkspaceSid"),
        task_sid: params.sid("TaskSid"),
        reservation_sid: params.sid("ReservationSid"),
        worker_sid: params.sid("WorkerSid"),
        worker_name: params
            .first("WorkerName")
            .map(|n| n.chars().take(MAX_EVENT_TYPE).collect()),
        reservation_status: match kind {
            Kind::Assignment => Some(ReservationStatus::Pending),
            Kind::Event => event_type
                .as_deref()
                .and_then(ReservationStatus::from_event),
            Kind::Other => None,
        },
        event_type,
        kind,
        batch: None,
    }
}

/// [`derive`], plus the CloudEvents of an Event Streams body.
///
/// A batch stays one request (recorded byte-exact, acknowledged as a whole); its events are
/// indexed under it. The request's own columns hold what every TaskRouter event of the batch
/// agrees on, so a one-event batch (the common case) lists and filters exactly like an event
/// callback, and a mixed batch shows no misleading single SID.
pub fn derive_request(params: &Params, content_type: Option<&[u8]>, body: &[u8]) -> Derived {
    let mut derived = derive(params);
    let Some(batch) = cloudevents::parse(content_type, body) else {
        return derived;
    };
    if derived.kind == Kind::Other {
        let tr: Vec<_> = batch
            .events
            .iter()
            .filter(|e| e.event_type.is_some())
            .collect();
        fn common<T: Clone + PartialEq>(
            events: &[&cloudevents::CloudEvent],
            f: impl Fn(&cloudevents::CloudEvent) -> Option<T>,
        ) -> Option<T> {
            let first = f(events.first()?)?;
            events
                .iter()
                .all(|e| f(e).as_ref() == Some(&first))
                .then_some(first)
        }
        if !tr.is_empty() {
            derived.kind = Kind::Event;
            derived.event_type = common(&tr, |e| e.event_type.clone());
            derived.account_sid = common(&tr, |e| e.account_sid.clone());
            derived.workspace_sid = common(&tr, |e| e.workspace_sid.clone());
            derived.task_sid = common(&tr, |e| e.task_sid.clone());
            derived.reservation_sid = common(&tr, |e| e.reservation_sid.clone());
            derived.worker_sid = common(&tr, |e| e.worker_sid.clone());
            derived.worker_name = common(&tr, |e| e.worker_name.clone());
            // Reservation state is moved per event (in event-time order) by the store, not
            // by the request.
            derived.reservation_status = None;
        }
    }
    derived.batch = Some(batch);
    derived
}

/// Everything read out of one request's raw parts: its TaskRouter facts and its search text.
///
/// The capture path, replays and the indexer's crash recovery (rows acknowledged but not yet
/// indexed when the process died) all derive through here, so a row rebuilt from its raw
/// record is indexed exactly as it would have been the first time.
pub fn analyze(
    method: &str,
    path: &str,
    query: Option<&str>,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> (Derived, String) {
    let params = Params::collect(query, content_type, method, body);
    let derived = derive_request(&params, content_type, body);
    let text = search_text(path, &params, is_form(content_type, method), body);
    // The decoded parameters can be as large as the body; only what was derived is kept.
    (derived, text)
}

/// Most body text indexed for full-text search.
const MAX_SEARCH_BODY: usize = 64 * 1024;

/// The text full-text search sees: the path, every decoded parameter, and for bodies that
/// are not form-encoded the body itself as (lossy) text — at most [`MAX_SEARCH_BODY`] bytes
/// after the path, so a 1 MiB body costs one copy in memory while it waits to be stored, not
/// two.
pub fn search_text(path: &str, params: &Params, body_is_form: bool, body: &[u8]) -> String {
    let limit = path.len() + MAX_SEARCH_BODY;
    let mut text = String::with_capacity(limit.min(path.len() + body.len() + 64));
    text.push_str(path);
    let mut push = |piece: &str| {
        let room = limit.saturating_sub(text.len());
        let mut end = piece.len().min(room);
        while !piece.is_char_boundary(end) {
            end -= 1;
        }
        text.push_str(&piece[..end]);
    };
    for (key, value) in &params.0 {
        push(" ");
        push(key);
        push(" ");
        push(value);
    }
    if !body_is_form {
        push(" ");
        push(&String::from_utf8_lossy(
            &body[..body.len().min(MAX_SEARCH_BODY)],
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_bounded_whatever_the_body_holds() {
        let body = format!("Big={}&EventType=task.created", "é".repeat(400_000));
        let params = Params::collect(None, FORM, "POST", body.as_bytes());
        let text = search_text("/events", &params, true, body.as_bytes());
        assert!(
            text.len() <= "/events".len() + MAX_SEARCH_BODY,
            "{}",
            text.len()
        );
        assert!(text.starts_with("/events Big éé"));
        let small = Params::collect(None, FORM, "POST", b"EventType=task.created");
        assert_eq!(
            search_text("/e", &small, true, b"EventType=task.created"),
            "/e EventType task.created"
        );
    }

    const FORM: Option<&[u8]> = Some(b"application/x-www-form-urlencoded; charset=utf-8");
    const WT: &str = "WT0123456789abcdef0123456789abcdef";
    const WR: &str = "WR0123456789abcdef0123456789abcdef";

    #[test]
    fn assignment_callback_has_reservation_and_no_event_type() {
        let body = format!("TaskSid={WT}&ReservationSid={WR}&TaskAttributes=%7B%7D");
        let d = derive(&Params::collect(None, FORM, "POST", body.as_bytes()));
        assert_eq!(d.kind, Kind::Assignment);
        assert_eq!(d.task_sid.as_ref().map(|s| s.as_str()), Some(WT));
        assert_eq!(d.reservation_sid.as_ref().map(|s| s.as_str()), Some(WR));
    }

    #[test]
    fn event_type_makes_an_event_even_with_a_reservation() {
        let body = format!("EventType=reservation.accepted&ReservationSid={WR}");
        let d = derive(&Params::collect(None, FORM, "POST", body.as_bytes()));
        assert_eq!(d.kind, Kind::Event);
        assert_eq!(d.event_type.as_deref(), Some("reservation.accepted"));
    }

    #[test]
    fn malformed_sids_are_not_extracted() {
        let body = "TaskSid=WT..%2F..%2FAccounts&ReservationSid=WRshort";
        let d = derive(&Params::collect(None, FORM, "POST", body.as_bytes()));
        assert_eq!(
            d.kind,
            Kind::Assignment,
            "still looks like an assignment callback"
        );
        assert_eq!(d.task_sid, None);
        assert_eq!(d.reservation_sid, None);
    }

    #[test]
    fn json_bodies_and_query_strings_are_read_too() {
        let json = format!(r#"{{"EventType":"task.created","TaskSid":"{WT}","n":[1]}}"#);
        let d = derive(&Params::collect(
            None,
            Some(b"application/json"),
            "POST",
            json.as_bytes(),
        ));
        assert_eq!(
            (d.kind, d.task_sid.as_ref().map(|s| s.as_str())),
            (Kind::Event, Some(WT))
        );

        let query = format!("ReservationSid={WR}");
        let d = derive(&Params::collect(
            Some(&query),
            Some(b"text/plain"),
            "POST",
            b"<ignored>",
        ));
        assert_eq!(d.reservation_sid.as_ref().map(|s| s.as_str()), Some(WR));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        for body in [
            &b"%zz=%&&&=a=b=c"[..],
            b"\xc3\x28=\xff",
            b"",
            b"\0\0",
            b"{\"a\":",
        ] {
            for ct in [FORM, Some(b"application/json"), None] {
                let d = derive(&Params::collect(Some("%"), ct, "POST", body));
                assert_eq!(d.kind, Kind::Other);
            }
        }
    }

    #[test]
    fn reservation_events_and_assignments_report_a_status() {
        let assignment = derive(&Params::collect(
            None,
            FORM,
            "POST",
            format!("ReservationSid={WR}").as_bytes(),
        ));
        assert_eq!(
            assignment.reservation_status,
            Some(ReservationStatus::Pending)
        );
        let body = format!("EventType=reservation.timeout&ReservationSid={WR}&WorkerName=Alice");
        let timeout = derive(&Params::collect(None, FORM, "POST", body.as_bytes()));
        assert_eq!(timeout.reservation_status, Some(ReservationStatus::Timeout));
        assert_eq!(timeout.worker_name.as_deref(), Some("Alice"));
        let task = derive(&Params::collect(
            None,
            FORM,
            "POST",
            b"EventType=task.created",
        ));
        assert_eq!(task.reservation_status, None);
    }

    #[test]
    fn search_text_has_decoded_fields_and_non_form_bodies() {
        let form = Params::collect(
            None,
            FORM,
            "POST",
            b"TaskAttributes=%7B%22selected_language%22%3A%22es%22%7D",
        );
        let text = search_text("/cb", &form, true, b"ignored");
        assert!(text.contains("selected_language"), "{text}");
        assert!(!text.contains("ignored"));
        let json = Params::default();
        assert!(search_text("/j", &json, false, b"{\"x\":\"Alice\"}").contains("Alice"));
    }

    #[test]
    fn first_of_repeated_keys_wins() {
        let other = "WTffffffffffffffffffffffffffffffff";
        let body = format!("TaskSid={WT}&TaskSid={other}");
        let d = derive(&Params::collect(None, FORM, "POST", body.as_bytes()));
        assert_eq!(d.task_sid.as_ref().map(|s| s.as_str()), Some(WT));
    }
}
