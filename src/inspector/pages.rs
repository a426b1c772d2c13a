//! The HTML pages: the request list, one request, reservations, one task's story.
//! Handlers are thin: parse the query, one store read, build the view, render.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use super::view::{self, BodyView, Field};
use super::{Failure, InspectorState, ListQuery};
use crate::export::curl_command;
use crate::store::TaskHistory;
use crate::store::models::now_micros;
use crate::store::models::{Action, RequestSummary, Reservation, StoredRequest};
use crate::taskrouter::sid::{self, is_sid};

/// Rows per page.
const PAGE_SIZE: usize = 100;

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
}

impl Ctx {
    fn new(state: &InspectorState, nav: &'static str) -> Self {
        Self {
            nav,
            csrf: state.csrf.clone(),
            has_credentials: state.actions.client.has_credentials(),
            reservation_timeout_us: state.reservation_timeout_us,
            storage_error: state.store.write_error().map(|e| view::visible(&e)),
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
    /// Only validated SIDs (prefix + 32 hex) reach here, so they are safe in a URL as is.
    pub fn new(sid: &str) -> Self {
        let href = match sid.get(..2) {
            Some(sid::TASK) => format!("/tasks/{sid}"),
            Some(sid::RESERVATION) => format!("/?reservation_sid={sid}"),
            Some(sid::WORKER) => format!("/?worker_sid={sid}"),
            _ => format!("/?q={sid}"),
        };
        Self {
            full: sid.to_owned(),
            short: view::short_sid(sid),
            href,
        }
    }
}

fn sid_view(sid: &Option<String>) -> Option<SidView> {
    sid.as_deref().map(SidView::new)
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

fn action_view(a: &Action, now: i64) -> ActionView {
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
        action: a.action.clone(),
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

fn decision_view(
    r: &Reservation,
    latest: Option<&Action>,
    timeout_us: i64,
    back: &str,
    now: i64,
) -> DecisionView {
    DecisionView {
        reservation: r.reservation_sid.clone(),
        task: r.task_sid.clone().unwrap_or_default(),
        workspace: r.workspace_sid.clone().unwrap_or_default(),
        status: r.status.clone(),
        pending: r.status == "pending",
        deadline_us: r.offered_at_us.map(|t| t + timeout_us),
        latest: latest.map(|a| action_view(a, now)),
        back: back.to_owned(),
        show_status: false,
    }
}

/// Reservations and their latest actions for `sids`, for building decision controls.
async fn decisions(
    state: &InspectorState,
    sids: Vec<String>,
    back: &str,
) -> Result<Vec<DecisionView>, Failure> {
    let (reservations, latest) = state
        .store
        .read(move |r| Ok((r.reservations_by_sid(&sids)?, r.latest_actions(&sids)?)))
        .await?;
    let now = now_micros();
    Ok(reservations
        .iter()
        .map(|r| {
            let action = latest
                .iter()
                .find(|a| a.reservation_sid.as_deref() == Some(r.reservation_sid.as_str()));
            decision_view(r, action, state.reservation_timeout_us, back, now)
        })
        .collect())
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
    pub kind: &'static str,
    pub status: u16,
    pub status_class: &'static str,
    pub task: Option<SidView>,
    pub reservation: Option<SidView>,
    pub worker: Option<SidView>,
    pub signature: String,
    pub replay_of: Option<i64>,
    /// Accept/Reject controls, on assignment callbacks.
    pub decision: Option<DecisionView>,
}

fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        400..=499 => "warn",
        _ => "err",
    }
}

fn row_view(s: &RequestSummary, now: i64) -> RowView {
    RowView {
        id: s.id,
        received_at: s.received_at.clone(),
        received_at_us: s.received_at_us,
        relative: view::relative_time(s.received_at_us, now),
        method: view::visible(&s.method),
        path: view::visible(&s.path),
        query: s.query.as_deref().map(view::visible),
        label: view::visible(s.event_type.as_deref().unwrap_or(s.kind.as_str())),
        kind: s.kind.as_str(),
        status: s.status,
        status_class: status_class(s.status),
        task: sid_view(&s.task_sid),
        reservation: sid_view(&s.reservation_sid),
        worker: sid_view(&s.worker_sid),
        signature: s.signature.clone(),
        replay_of: s.replay_of,
        decision: None,
    }
}

/// Attaches decision controls to the assignment-callback rows among `rows`.
async fn with_decisions(
    state: &InspectorState,
    rows: &mut [RowView],
    back: &str,
) -> Result<(), Failure> {
    let sids: Vec<String> = rows
        .iter()
        .filter(|r| r.kind == "assignment")
        .filter_map(|r| r.reservation.as_ref().map(|s| s.full.clone()))
        .collect();
    if sids.is_empty() {
        return Ok(());
    }
    let found = decisions(state, sids, back).await?;
    for row in rows.iter_mut().filter(|r| r.kind == "assignment") {
        if let Some(sid) = &row.reservation {
            row.decision = found
                .iter()
                .find(|d| d.reservation == sid.full)
                .cloned()
                .map(|d| DecisionView {
                    show_status: true,
                    ..d
                });
        }
    }
    Ok(())
}

/// Renders a page; a template error becomes a logged 500, never a panic.
fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<RowView>,
    filters: ListQuery,
    /// Query string for the next (older) page, if there may be one.
    older: Option<String>,
    /// Live rows are prepended only on the newest page.
    live: bool,
    /// "1,234 requests · 3.2 MiB · since … · keeping …"
    kept: String,
}

pub async fn list(
    State(state): State<Arc<InspectorState>>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    let filter = query.to_filter(PAGE_SIZE);
    let (rows, stats) = state
        .store
        .read(move |r| Ok((r.list_requests(&filter)?, r.stats()?)))
        .await?;
    let kept = format!(
        "{} requests · {}{} · {}",
        stats.requests,
        view::size(stats.bytes),
        stats
            .oldest_at
            .map(|t| format!(" · since {t}"))
            .unwrap_or_default(),
        state.store.retention().describe()
    );
    let now = now_micros();
    let older = (rows.len() == PAGE_SIZE)
        .then(|| rows.last().map(|last| query.with_before(last.id)))
        .flatten();
    let mut views: Vec<RowView> = rows.iter().map(|s| row_view(s, now)).collect();
    with_decisions(&state, &mut views, "/").await?;
    let page = ListPage {
        ctx: Ctx::new(&state, "requests"),
        live: query.before.is_none(),
        rows: views,
        kept,
        filters: query,
        older,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "detail.html")]
struct DetailPage {
    ctx: Ctx,
    row: RowView,
    remote_addr: String,
    http_version: String,
    duration: String,
    body_size: String,
    body_truncated: bool,
    error: Option<String>,
    fields: Vec<Field>,
    headers: Vec<(String, String)>,
    body: BodyView,
    response_status: u16,
    response_headers: Vec<(String, String)>,
    response_body: BodyView,
    curl: Option<String>,
    copy_body: bool,
    signature_reason: Option<String>,
    decision: Option<DecisionView>,
    actions: Vec<ActionView>,
    /// Form fields not shown in the table (beyond MAX_FIELDS).
    fields_hidden: usize,
    replay: ReplayView,
    replays: Vec<RowView>,
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

fn replay_view(state: &InspectorState, request: &StoredRequest) -> ReplayView {
    let s = &request.summary;
    let headers = request
        .headers
        .iter()
        .filter(|h| {
            !matches!(
                h.name.to_ascii_lowercase().as_str(),
                "host" | "content-length"
            )
        })
        .map(|h| format!("{}: {}", h.name, String::from_utf8_lossy(&h.value)))
        .collect::<Vec<_>>()
        .join("\n");
    let is_form = crate::taskrouter::callback::is_form(view::content_type(&request.headers));
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

pub async fn detail(
    State(state): State<Arc<InspectorState>>,
    Path(id): Path<i64>,
) -> Result<Response, Failure> {
    let request: StoredRequest = state
        .store
        .read(move |r| r.get_request(id))
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no request {id}")))?;
    let s = &request.summary;
    let now = now_micros();
    let back = format!("/requests/{id}");
    let (decision, actions) = match &s.reservation_sid {
        Some(wr) => {
            let decision = decisions(&state, vec![wr.clone()], &back)
                .await?
                .pop()
                .map(|d| DecisionView {
                    show_status: true,
                    ..d
                });
            let sid = wr.clone();
            let actions = state
                .store
                .read(move |r| r.actions(Some(&sid), None))
                .await?;
            (
                decision,
                actions.iter().map(|a| action_view(a, now)).collect(),
            )
        }
        None => (None, Vec::new()),
    };
    let replays = state.store.read(move |r| r.replays_of(id)).await?;
    let fields = view::form_fields(&request);
    let page = DetailPage {
        replay: replay_view(&state, &request),
        replays: replays.iter().map(|r| row_view(r, now)).collect(),
        signature_reason: request.signature_reason.clone(),
        decision,
        actions,
        ctx: Ctx::new(&state, "requests"),
        row: row_view(s, now),
        remote_addr: s.remote_addr.clone(),
        http_version: request.http_version.clone(),
        duration: view::gap(s.duration_us),
        body_size: view::size(s.body_size),
        body_truncated: s.body_truncated,
        error: s.error.clone(),
        fields_hidden: if fields.len() == view::MAX_FIELDS {
            view::form_field_count(&request.body) - view::MAX_FIELDS
        } else {
            0
        },
        fields,
        headers: request.headers.iter().map(view::header_text).collect(),
        body: view::body_view(&request.body),
        response_status: request.response.status,
        response_headers: request
            .response
            .headers
            .iter()
            .map(view::header_text)
            .collect(),
        response_body: view::body_view(&request.response.body),
        // Copy buttons carry their text in the page; past MAX_COPY the page would balloon, so
        // large bodies are copied from the raw API or exported instead.
        curl: (request.body.len() <= view::MAX_COPY)
            .then(|| curl_command(&request, &state.capture_base)),
        copy_body: request.body.len() <= view::MAX_COPY,
    };
    Ok(render(&page))
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
        status: r.status.clone(),
        status_at: r.status_at.clone(),
        last_request_id: r.last_request_id,
        decision: None,
    }
}

/// Reservation rows with their decision controls.
fn reservation_views(
    rows: &[Reservation],
    found: &[DecisionView],
    now: i64,
) -> Vec<ReservationView> {
    rows.iter()
        .map(|r| {
            let mut view = reservation_view(r, now);
            view.decision = found
                .iter()
                .find(|d| d.reservation == r.reservation_sid)
                .cloned();
            view
        })
        .collect()
}

#[derive(Template)]
#[template(path = "reservations.html")]
struct ReservationsPage {
    ctx: Ctx,
    reservations: Vec<ReservationView>,
}

pub async fn reservations(State(state): State<Arc<InspectorState>>) -> Result<Response, Failure> {
    let rows = state.store.read(|r| r.list_reservations(None, 500)).await?;
    let now = now_micros();
    let found = decisions(
        &state,
        rows.iter().map(|r| r.reservation_sid.clone()).collect(),
        "/reservations",
    )
    .await?;
    let page = ReservationsPage {
        ctx: Ctx::new(&state, "reservations"),
        reservations: reservation_views(&rows, &found, now),
    };
    Ok(render(&page))
}

/// One milestone of a task's life, placed on the timeline picture.
#[derive(Debug, Clone)]
pub struct Step {
    pub label: String,
    pub class: &'static str,
    pub at: String,
    pub request_id: i64,
    /// Centre of the dot in the picture's coordinates.
    pub x: u32,
    /// Time since the previous step, drawn between the two dots.
    pub gap: Option<String>,
    pub gap_x: u32,
}

/// Width of the timeline picture's coordinate system.
const TIMELINE_WIDTH: u32 = 1000;

/// The milestone an event marks in a task's life, if any.
fn milestone(s: &RequestSummary) -> Option<(&'static str, &'static str)> {
    if s.kind == crate::store::models::Kind::Assignment {
        return Some(("reserved", "pending"));
    }
    Some(match s.event_type.as_deref()? {
        "task.created" => ("created", "neutral"),
        "reservation.created" => ("reserved", "pending"),
        "reservation.accepted" => ("accepted", "ok"),
        "reservation.rejected" => ("rejected", "warn"),
        "reservation.timeout" => ("timed out", "warn"),
        "reservation.canceled" => ("reservation canceled", "warn"),
        "reservation.rescinded" => ("rescinded", "warn"),
        "task.wrapup" => ("wrapping", "neutral"),
        "task.completed" => ("completed", "ok"),
        "task.canceled" => ("canceled", "err"),
        "task.deleted" | "task.system-deleted" => ("deleted", "neutral"),
        _ => return None,
    })
}

/// Milestones in order, repeated consecutive ones folded, placed evenly on the picture.
fn steps(history: &TaskHistory) -> Vec<Step> {
    let mut found: Vec<(&str, &str, &RequestSummary)> = Vec::new();
    for s in &history.requests {
        if s.replay_of.is_some() {
            continue;
        }
        if let Some((label, class)) = milestone(s)
            && found.last().is_none_or(|(last, _, _)| *last != label)
        {
            found.push((label, class, s));
        }
    }
    let n = found.len() as u32;
    let margin = 60;
    let spacing = if n > 1 {
        (TIMELINE_WIDTH - 2 * margin) / (n - 1)
    } else {
        0
    };
    let mut out: Vec<Step> = Vec::with_capacity(found.len());
    for (i, (label, class, s)) in found.iter().enumerate() {
        let x = if n == 1 {
            TIMELINE_WIDTH / 2
        } else {
            margin + spacing * i as u32
        };
        let gap = i
            .checked_sub(1)
            .map(|p| view::gap(s.received_at_us - found[p].2.received_at_us));
        out.push(Step {
            label: (*label).to_owned(),
            class,
            at: s.received_at.clone(),
            request_id: s.id,
            x,
            gap,
            gap_x: x.saturating_sub(spacing / 2),
        });
    }
    out
}

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage {
    ctx: Ctx,
    task: SidView,
    steps: Vec<Step>,
    timeline_width: u32,
    rows: Vec<RowView>,
    reservations: Vec<ReservationView>,
    actions: Vec<ActionView>,
    /// For the Complete / Cancel forms.
    workspace: String,
}

pub async fn task(
    State(state): State<Arc<InspectorState>>,
    Path(task_sid): Path<String>,
) -> Result<Response, Failure> {
    if !is_sid(&task_sid, sid::TASK) {
        return Err(Failure::BadRequest(
            "not a TaskSid (WT + 32 hex digits)".into(),
        ));
    }
    let sid = task_sid.clone();
    let history = state
        .store
        .read(move |r| r.task_history(&sid, 2000))
        .await?;
    if history.requests.is_empty() && history.reservations.is_empty() {
        return Err(Failure::NotFound(format!(
            "nothing recorded for task {task_sid}"
        )));
    }
    let now = now_micros();
    let back = format!("/tasks/{task_sid}");
    let found = decisions(
        &state,
        history
            .reservations
            .iter()
            .map(|r| r.reservation_sid.clone())
            .collect(),
        &back,
    )
    .await?;
    let workspace = history
        .requests
        .iter()
        .find_map(|r| r.workspace_sid.clone())
        .unwrap_or_default();
    let page = TaskPage {
        workspace,
        actions: history
            .actions
            .iter()
            .map(|a| action_view(a, now))
            .collect(),
        ctx: Ctx::new(&state, "requests"),
        task: SidView::new(&task_sid),
        steps: steps(&history),
        timeline_width: TIMELINE_WIDTH,
        rows: history.requests.iter().map(|s| row_view(s, now)).collect(),
        reservations: reservation_views(&history.reservations, &found, now),
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub ctx: Ctx,
    pub status: u16,
    pub message: String,
}

/// The HTML answer for a failed page.
pub fn error_page(status: StatusCode, message: String) -> Response {
    let mut response = render(&ErrorPage {
        ctx: Ctx::default(),
        status: status.as_u16(),
        message,
    });
    *response.status_mut() = status;
    response
}
