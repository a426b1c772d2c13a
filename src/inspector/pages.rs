//! The HTML pages: the request list, one request, reservations, one task's story.
//! Handlers are thin: parse the query, one store read, build the view, render.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use super::view::{self, BodyView, Field};
use super::{Failure, InspectorState, ListQuery};
use crate::export::curl_command;
use crate::store::TaskHistory;
use crate::store::models::{RequestSummary, Reservation, StoredRequest};
use crate::taskrouter::sid::{self, is_sid};

/// Rows per page.
const PAGE_SIZE: usize = 100;

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
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
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
    }
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
    nav: &'static str,
    rows: Vec<RowView>,
    filters: ListQuery,
    /// Query string for the next (older) page, if there may be one.
    older: Option<String>,
    /// Live rows are prepended only on the newest page.
    live: bool,
}

pub async fn list(
    State(state): State<Arc<InspectorState>>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    let filter = query.to_filter(PAGE_SIZE);
    let rows = state.store.read(move |r| r.list_requests(&filter)).await?;
    let now = now_us();
    let older = (rows.len() == PAGE_SIZE)
        .then(|| rows.last().map(|last| query.with_before(last.id)))
        .flatten();
    let page = ListPage {
        nav: "requests",
        live: query.before.is_none(),
        rows: rows.iter().map(|s| row_view(s, now)).collect(),
        filters: query,
        older,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "detail.html")]
struct DetailPage {
    nav: &'static str,
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
    curl: String,
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
    let page = DetailPage {
        nav: "requests",
        row: row_view(s, now_us()),
        remote_addr: s.remote_addr.clone(),
        http_version: request.http_version.clone(),
        duration: view::gap(s.duration_us),
        body_size: view::size(s.body_size),
        body_truncated: s.body_truncated,
        error: s.error.clone(),
        fields: view::form_fields(&request),
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
        curl: curl_command(&request, &state.capture_base),
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
    }
}

#[derive(Template)]
#[template(path = "reservations.html")]
struct ReservationsPage {
    nav: &'static str,
    reservations: Vec<ReservationView>,
}

pub async fn reservations(State(state): State<Arc<InspectorState>>) -> Result<Response, Failure> {
    let rows = state.store.read(|r| r.list_reservations(None, 500)).await?;
    let now = now_us();
    let page = ReservationsPage {
        nav: "reservations",
        reservations: rows.iter().map(|r| reservation_view(r, now)).collect(),
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
    nav: &'static str,
    task: SidView,
    steps: Vec<Step>,
    timeline_width: u32,
    rows: Vec<RowView>,
    reservations: Vec<ReservationView>,
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
    let now = now_us();
    let page = TaskPage {
        nav: "requests",
        task: SidView::new(&task_sid),
        steps: steps(&history),
        timeline_width: TIMELINE_WIDTH,
        rows: history.requests.iter().map(|s| row_view(s, now)).collect(),
        reservations: history
            .reservations
            .iter()
            .map(|r| reservation_view(r, now))
            .collect(),
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub nav: &'static str,
    pub status: u16,
    pub message: String,
}

/// The HTML answer for a failed page.
pub fn error_page(status: StatusCode, message: String) -> Response {
    let mut response = render(&ErrorPage {
        nav: "",
        status: status.as_u16(),
        message,
    });
    *response.status_mut() = status;
    response
}
