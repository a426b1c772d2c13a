//! The view models the templates render: one struct per thing a page shows (a request row, a
//! reservation with its Accept/Reject controls, a recorded REST call, the replay editor), built
//! from store rows by pure functions. Handlers in [`super::pages`] only load and pick.

use super::InspectorState;
use super::view;
use crate::store::models::{Action, RequestSummary, Reservation, StoredRequest};
use crate::taskrouter::sid::{Prefix, Sid};
use crate::taskrouter::signature::{Verdict, is_form};
use crate::taskrouter::status::Kind;
use crate::wire;

/// What every page's layout needs.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// Which top-level tab is current.
    pub nav: &'static str,
    /// The per-run CSRF token the forms carry.
    pub csrf: String,
    /// Whether Accept/Reject can work (TaskRouter credentials are configured).
    pub has_credentials: bool,
    /// For the countdown on rows that arrive live.
    pub reservation_timeout_us: i64,
    /// The last write failure, shown as a banner until writes succeed again.
    pub storage_error: Option<String>,
    /// Where the countdown's length comes from (the Workflow, or the flag).
    pub timeout_source: String,
    /// What assignment callbacks get now: hold, accept, reject, or an instruction's name.
    pub responder: String,
    /// The public URL (`--public-url` or the tunnel found), for the top bar.
    pub public_url: Option<String>,
}

impl Ctx {
    pub fn new(state: &InspectorState, nav: &'static str) -> Self {
        Self {
            nav,
            csrf: state.csrf.clone(),
            has_credentials: state.actions.client.has_credentials(),
            reservation_timeout_us: state.directory.timeout().us,
            storage_error: state.store.write_error().map(|e| view::visible(&e)),
            timeout_source: state.directory.timeout().source,
            responder: view::visible(&state.responder.assignment().name()),
            public_url: state.public_url.borrow().as_ref().map(|p| p.url.clone()),
        }
    }
}

/// A SID with its short form and where clicking it leads.
#[derive(Debug, Clone)]
pub struct SidView {
    pub full: String,
    pub short: String,
    /// A task's page, or the request list filtered by this SID.
    pub href: String,
}

impl SidView {
    /// A typed SID holds only a prefix and hex digits, so it is safe in a URL as is.
    pub fn new<P: Prefix>(sid: &Sid<P>) -> Self {
        let href = match P::PREFIX {
            "WT" => format!("/tasks/{sid}"),
            "WR" => format!("/?reservation_sid={sid}"),
            "WK" => format!("/?worker_sid={sid}"),
            _ => format!("/?q={sid}"),
        };
        Self {
            full: sid.to_string(),
            short: view::short_sid(sid.as_str()),
            href,
        }
    }
}

fn sid_view<P: Prefix>(sid: &Option<Sid<P>>) -> Option<SidView> {
    sid.as_ref().map(SidView::new)
}

/// A recorded REST call, as shown next to its reservation or task.
#[derive(Debug, Clone)]
pub struct ActionView {
    pub action: String,
    pub at: String,
    pub relative: String,
    pub ok: bool,
    /// "Alice · accepted", "task completed", or TaskRouter's error.
    pub text: String,
    pub more_info: Option<String>,
    pub method: String,
    pub url: String,
    pub params: String,
}

pub fn action_view(a: &Action, now: i64) -> ActionView {
    let body: Option<serde_json::Value> = a
        .response_body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok());
    let field = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let ok = a.response_status.is_some_and(|s| (200..300).contains(&s));
    let text = if ok {
        match (
            field("worker_name"),
            field("reservation_status"),
            field("assignment_status"),
        ) {
            (Some(worker), Some(status), _) => format!("{worker} · {status}"),
            (None, Some(status), _) => status,
            (_, _, Some(task)) => format!("task {task}"),
            _ => "done".to_owned(),
        }
    } else {
        a.error.clone().unwrap_or_else(|| "failed".to_owned())
    };
    ActionView {
        action: a.action.to_string(),
        at: a.at.clone(),
        relative: view::relative_time(a.at_us, now),
        ok,
        text: view::visible(&text),
        more_info: field("more_info").filter(|u| u.starts_with("https://")),
        method: a.method.clone(),
        url: a.url.clone(),
        params: a.params.clone(),
    }
}

/// Accept / Reject / Refresh controls for one reservation.
#[derive(Debug, Clone)]
pub struct DecisionView {
    pub reservation: String,
    pub task: String,
    pub workspace: String,
    pub status: String,
    pub pending: bool,
    /// When TaskRouter will time the reservation out (µs since the epoch), if known.
    pub deadline_us: Option<i64>,
    pub latest: Option<ActionView>,
    /// The page to come back to after a form post.
    pub back: String,
    /// Show the status next to the buttons (pages without a status column).
    pub show_status: bool,
}

pub fn decision_view(
    r: &Reservation,
    latest: Option<&Action>,
    timeout_us: i64,
    back: &str,
    now: i64,
) -> DecisionView {
    DecisionView {
        reservation: r.reservation_sid.to_string(),
        task: r
            .task_sid
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        workspace: r
            .workspace_sid
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        status: r.status.to_string(),
        pending: r.status.is_pending(),
        deadline_us: r.offered_at_us.map(|t| t + timeout_us),
        latest: latest.map(|a| action_view(a, now)),
        back: back.to_owned(),
        show_status: false,
    }
}

/// One row of the request list.
#[derive(Debug, Clone)]
pub struct RowView {
    pub id: i64,
    pub received_at: String,
    pub received_at_us: i64,
    pub relative: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// EventType for events, else the kind.
    pub label: String,
    pub kind: Kind,
    pub status: u16,
    pub status_class: &'static str,
    pub task: Option<SidView>,
    pub reservation: Option<SidView>,
    pub worker: Option<SidView>,
    pub signature: Verdict,
    pub replay_of: Option<i64>,
    /// A replay whose original was deleted before it was stored says so (no link left).
    pub replay_note: Option<String>,
    /// Accept/Reject controls, on assignment callbacks.
    pub decision: Option<DecisionView>,
    /// Path and query as a list cell shows them: one line, cut at [`MAX_CELL`] characters
    /// (the full value is on the detail page).
    pub cell: String,
    /// Path and query cut at [`MAX_TITLE`] only: the hover text of the one-line cell, which CSS
    /// narrows to the column's width.
    pub cell_full: String,
    /// Worker, queue, task label and EventDescription, where the callback carries them.
    pub names: Names,
}

/// Longest path-and-query a list cell shows.
pub const MAX_CELL: usize = 160;
/// Longest hover text of a cut cell.
pub const MAX_TITLE: usize = 1000;

/// TaskRouter names a row shows next to its SIDs.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Names {
    pub worker_name: Option<String>,
    pub queue_name: Option<String>,
    pub task_label: Option<String>,
    /// `EventDescription`, SIDs shortened, cut at 90 characters.
    pub description: Option<String>,
}

/// How much of a body is read for [`names`]: TaskRouter's callbacks are a few KiB.
pub const NAMES_PREFIX: usize = 16 * 1024;

/// Names from a callback's form fields (its first [`NAMES_PREFIX`] bytes), with the
/// Workspace's lists for what the callback carries only as SIDs.
pub fn names(body: &[u8], snapshot: &super::workbench::Snapshot) -> Names {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let cut = |text: &str, max: usize| view::truncate(&view::visible(text), max);
    let worker_name = field("WorkerName")
        .map(str::to_owned)
        .or_else(|| {
            field("WorkerSid")
                .and_then(|w| snapshot.worker_name(w))
                .map(str::to_owned)
        })
        .map(|n| cut(&n, 40));
    let queue_name = field("TaskQueueName")
        .map(str::to_owned)
        .or_else(|| {
            field("TaskQueueSid")
                .and_then(|q| snapshot.queue_name(q))
                .map(str::to_owned)
        })
        .map(|n| cut(&n, 40));
    let task_label = field("TaskAttributes")
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
        .as_ref()
        .and_then(super::workbench::task_label);
    let description = field("EventDescription").map(|d| {
        let short: Vec<String> = d
            .split(' ')
            .map(|word| {
                let bare = word.trim_end_matches(['.', ',']);
                if bare.len() == 34 && bare.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit) {
                    word.replacen(bare, &view::short_sid(bare), 1)
                } else {
                    word.to_owned()
                }
            })
            .collect();
        cut(&short.join(" "), 90)
    });
    Names {
        worker_name,
        queue_name,
        task_label,
        description,
    }
}

pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        400..=499 => "warn",
        _ => "err",
    }
}

pub fn row_view(s: &RequestSummary, now: i64) -> RowView {
    RowView {
        id: s.id,
        received_at: s.received_at.clone(),
        received_at_us: s.received_at_us,
        relative: view::relative_time(s.received_at_us, now),
        method: view::visible(&s.method),
        path: view::visible(&s.path),
        query: s.query.as_deref().map(view::visible),
        label: view::visible(s.event_type.as_deref().unwrap_or(s.kind.as_str())),
        kind: s.kind,
        status: s.status,
        status_class: status_class(s.status),
        task: sid_view(&s.task_sid),
        reservation: sid_view(&s.reservation_sid),
        worker: sid_view(&s.worker_sid),
        signature: s.signature,
        replay_of: s.replay_of,
        replay_note: s.replay_note.as_deref().map(view::visible),
        decision: None,
        cell: view::truncate(&full_cell(s), MAX_CELL),
        cell_full: view::truncate(&full_cell(s), MAX_TITLE),
        names: Names::default(),
    }
}

fn full_cell(s: &RequestSummary) -> String {
    match &s.query {
        Some(q) => view::visible(&format!("{}?{q}", s.path)),
        None => view::visible(&s.path),
    }
}

/// What the replay controls on a detail page need.
#[derive(Debug, Clone)]
pub struct ReplayView {
    pub targets: Vec<String>,
    /// An Auth Token is configured, so replays are re-signed.
    pub can_resign: bool,
    pub method: String,
    pub path: String,
    /// `Name: value` per line, without Host and Content-Length.
    pub headers: String,
    /// The body as editable text, when it is UTF-8 and not a form.
    pub body: Option<String>,
    /// Form fields as editable pairs, when the body is form-encoded.
    pub fields: Vec<(String, String)>,
    pub binary_body: bool,
}

pub fn replay_view(state: &InspectorState, request: &StoredRequest) -> ReplayView {
    let s = &request.summary;
    let headers = request
        .headers
        .iter()
        .filter(|h| {
            !matches!(
                h.name.to_ascii_lowercase().as_str(),
                "host" | "content-length" | "x-taskhook-replay"
            )
        })
        .map(|h| format!("{}: {}", h.name, String::from_utf8_lossy(&h.value)))
        .collect::<Vec<_>>()
        .join("\n");
    let is_form = is_form(wire::content_type(&request.headers), &s.method);
    let text = std::str::from_utf8(&request.body).ok();
    // Past MAX_FIELDS the key/value table would be unusable; the body is edited as text.
    let fields: Vec<(String, String)> = if is_form
        && text.is_some()
        && !request.body.is_empty()
        && view::form_field_count(&request.body) <= view::MAX_FIELDS
    {
        form_urlencoded::parse(&request.body).into_owned().collect()
    } else {
        Vec::new()
    };
    ReplayView {
        targets: state.replayer.config.targets(),
        can_resign: state.replayer.config.token.is_some(),
        method: s.method.clone(),
        path: match &s.query {
            Some(q) => format!("{}?{q}", s.path),
            None => s.path.clone(),
        },
        headers,
        body: if fields.is_empty() && request.body.len() <= view::MAX_COPY {
            text.map(str::to_owned)
        } else {
            None
        },
        binary_body: text.is_none() || request.body.len() > view::MAX_COPY,
        fields,
    }
}

/// One reservation row.
#[derive(Debug, Clone)]
pub struct ReservationView {
    pub reservation: SidView,
    pub task: Option<SidView>,
    pub worker: Option<SidView>,
    pub worker_name: Option<String>,
    pub offered_at: Option<String>,
    pub offered_relative: Option<String>,
    pub status: String,
    pub status_at: String,
    pub last_request_id: i64,
    pub decision: Option<DecisionView>,
}

fn reservation_view(r: &Reservation, now: i64) -> ReservationView {
    ReservationView {
        reservation: SidView::new(&r.reservation_sid),
        task: sid_view(&r.task_sid),
        worker: sid_view(&r.worker_sid),
        worker_name: r.worker_name.as_deref().map(view::visible),
        offered_at: r.offered_at.clone(),
        offered_relative: r.offered_at_us.map(|t| view::relative_time(t, now)),
        status: r.status.to_string(),
        status_at: r.status_at.clone(),
        last_request_id: r.last_request_id,
        decision: None,
    }
}

/// Reservation rows with their decision controls.
pub fn reservation_views(
    rows: &[Reservation],
    found: &[DecisionView],
    now: i64,
) -> Vec<ReservationView> {
    rows.iter()
        .map(|r| {
            let mut view = reservation_view(r, now);
            view.decision = found
                .iter()
                .find(|d| r.reservation_sid == d.reservation.as_str())
                .cloned();
            view
        })
        .collect()
}
