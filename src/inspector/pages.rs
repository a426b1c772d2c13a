//! The HTML pages: the request list, one request, reservations, one task's story.
//! Handlers are thin: parse the query, one store read, build the view, render.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use super::diff::DiffView;
use super::error::{Failure, ParsedPath};
use super::timeline::{self, Step, TIMELINE_WIDTH};
use super::view::{self, BodyView, Field};
use super::view_models::{
    ActionView, Ctx, DecisionView, ReplayView, ReservationView, RowView, SidView, action_view,
    decision_view, replay_view, reservation_views, row_view,
};
use super::{InspectorState, ListQuery};
use crate::export::curl_command;
use crate::store::models::{StoredRequest, now_micros};
use crate::taskrouter::sid::{ReservationSid, TaskSid};
use crate::taskrouter::status::Kind;

/// Rows per page.
const PAGE_SIZE: usize = 100;

/// Reservations and their latest actions for `sids`, for building decision controls.
async fn decisions(
    state: &InspectorState,
    sids: Vec<ReservationSid>,
    back: &str,
) -> Result<Vec<DecisionView>, Failure> {
    let (reservations, latest) = state
        .store
        .read(move |r| Ok((r.reservations_by_sid(&sids)?, r.latest_actions(&sids)?)))
        .await?;
    let now = now_micros();
    // Pending ones need the real timeout for their countdown: the Workflow's, when it can be read.
    if reservations.iter().any(|r| r.status.is_pending()) {
        state.directory.snapshot(state, false).await;
    }
    let timeout_us = state.directory.timeout().us;
    Ok(reservations
        .iter()
        .map(|r| {
            let action = latest
                .iter()
                .find(|a| a.reservation_sid.as_ref() == Some(&r.reservation_sid));
            decision_view(r, action, timeout_us, back, now)
        })
        .collect())
}

/// Attaches decision controls to the assignment-callback rows among `rows`.
async fn with_decisions(
    state: &InspectorState,
    rows: &mut [RowView],
    back: &str,
) -> Result<(), Failure> {
    let sids: Vec<ReservationSid> = rows
        .iter()
        .filter(|r| r.kind == Kind::Assignment)
        .filter_map(|r| r.reservation.as_ref())
        .filter_map(|s| ReservationSid::parse_opt(&s.full))
        .collect();
    if sids.is_empty() {
        return Ok(());
    }
    let found = decisions(state, sids, back).await?;
    for row in rows.iter_mut().filter(|r| r.kind == Kind::Assignment) {
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

/// Fills in the TaskRouter names of `rows` from the first bytes of their bodies.
pub(crate) async fn with_names(
    state: &InspectorState,
    rows: &mut [RowView],
) -> Result<(), Failure> {
    let ids: Vec<i64> = rows
        .iter()
        .filter(|r| r.kind != Kind::Other)
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let bodies = state
        .store
        .read(move |r| r.body_prefixes(&ids, super::view_models::NAMES_PREFIX))
        .await?;
    let snapshot = state.directory.snapshot(state, false).await;
    for (id, body) in bodies {
        if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
            row.names = super::view_models::names(&body, &snapshot);
        }
    }
    Ok(())
}

/// Renders a page; a template error becomes a logged 500, never a panic.
pub(crate) fn render(page: &impl Template) -> Response {
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
    /// The request in the split-view pane, for `/?open=ID` (a shared or reloaded selection).
    open: Option<DetailView>,
    /// For the empty list: the URL TaskRouter should call (the public one once known), and a
    /// one-line curl that sends a callback-shaped request to this capture listener.
    capture_url: String,
    try_curl: String,
}

pub async fn list(
    State(state): State<Arc<InspectorState>>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    let query = query.normalized();
    let filter = query.to_filter(PAGE_SIZE)?;
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
    with_names(&state, &mut views).await?;
    let open = match query
        .open
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        Some(o) => {
            let id = o.parse().map_err(|_| {
                Failure::BadRequest(format!("open must be a request number, not {o:?}"))
            })?;
            Some(detail_view(&state, id, None, false).await?)
        }
        None => None,
    };
    let capture_url = state
        .public_url
        .borrow()
        .as_ref()
        .map(|p| p.url.clone())
        .unwrap_or_else(|| state.capture_base.clone());
    let page = ListPage {
        try_curl: format!(
            "curl -sS {}/events -d EventType=task.created -d TaskSid=WT00000000000000000000000000000000",
            state.capture_base
        ),
        capture_url: view::visible(&capture_url),
        open,
        ctx: Ctx::new(&state, "requests"),
        live: query.before.is_none(),
        rows: views,
        kept,
        filters: query,
        older,
    };
    Ok(render(&page))
}

/// One request as its detail shows it, on its own page or in the list's split-view pane.
pub struct DetailView {
    /// On its own page (heading `h1`) rather than in the list's pane (`h2`).
    page: bool,
    /// Heading levels of the tab panels and of what is inside them (2 and 3 on the page).
    h_panel: u8,
    h_sub: u8,
    row: RowView,
    remote_addr: String,
    http_version: String,
    duration: String,
    body_size: String,
    body_truncated: bool,
    /// Bytes the sender sent, when more than were stored (over `--max-body`).
    body_seen: Option<String>,
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
    /// An Event Streams batch's CloudEvents.
    events: Vec<crate::store::events::StreamEvent>,
    /// The TaskRouter facts the Summary tab leads with, from the callback's own fields.
    task_status: Option<String>,
    task_attributes: Option<String>,
    activity: Option<String>,
    /// Against a replay's original, or the request asked for (`?against=ID`).
    diff: Option<DiffView>,
}

/// Which request a detail is compared with, from `?against=ID`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DetailQuery {
    against: Option<String>,
}

impl DetailQuery {
    /// A malformed number is a clear 400, not a silently missing diff.
    fn against(&self) -> Result<Option<i64>, Failure> {
        match self
            .against
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            None => Ok(None),
            Some(a) => a.trim_start_matches('#').parse().map(Some).map_err(|_| {
                Failure::BadRequest(format!("against must be a request number, not {a:?}"))
            }),
        }
    }
}

/// Loads and builds a request's detail; `against` picks what its Diff tab compares it with
/// (a replay's original by default).
pub(crate) async fn detail_view(
    state: &InspectorState,
    id: i64,
    against: Option<i64>,
    page: bool,
) -> Result<DetailView, Failure> {
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
            let decision = decisions(state, vec![wr.clone()], &back)
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
    let diff = match against
        .map(|a| (a, "asked for"))
        .or(s.replay_of.map(|o| (o, "the original it replays")))
    {
        Some((other, reason)) if other != id => {
            let before = state
                .store
                .read(move |r| r.get_request(other))
                .await?
                .ok_or_else(|| Failure::NotFound(format!("no request {other} to compare with")))?;
            Some(super::diff::diff(&before, &request, reason))
        }
        _ => None,
    };
    let fields = view::form_fields(&request);
    let field = |name: &str| fields.iter().find(|f| f.name == name);
    let mut row = row_view(s, now);
    with_names(state, std::slice::from_mut(&mut row)).await?;
    let form = crate::taskrouter::signature::is_form(
        crate::wire::content_type(&request.headers),
        &s.method,
    );
    Ok(DetailView {
        page,
        h_panel: if page { 2 } else { 3 },
        h_sub: if page { 3 } else { 4 },
        diff,
        task_status: field("TaskAssignmentStatus").map(|f| f.shown.clone()),
        task_attributes: field("TaskAttributes").and_then(|f| f.pretty.clone()),
        activity: field("WorkerActivityName").map(|f| f.shown.clone()),
        events: request.events.clone(),
        replay: replay_view(state, &request),
        replays: replays.iter().map(|r| row_view(r, now)).collect(),
        signature_reason: request.signature_reason.clone(),
        decision,
        actions,
        row,
        remote_addr: s.remote_addr.clone(),
        http_version: request.http_version.clone(),
        duration: view::gap(s.duration_us),
        body_size: format!(
            "{} ({} bytes)",
            view::size(request.body.len() as u64),
            view::thousands(request.body.len() as u64)
        ),
        body_seen: (s.body_size > request.body.len() as u64).then(|| view::thousands(s.body_size)),
        body_truncated: s.body_truncated,
        error: s.error.clone(),
        fields_hidden: if fields.len() == view::MAX_FIELDS {
            view::form_field_count(&request.body) - view::MAX_FIELDS
        } else {
            0
        },
        headers: request.headers.iter().map(view::header_text).collect(),
        body: view::body_view(&request.body, form),
        response_status: request.response.status,
        response_headers: request
            .response
            .headers
            .iter()
            .map(view::header_text)
            .collect(),
        response_body: view::body_view(&request.response.body, false),
        // Copy buttons carry their text in the page; past MAX_COPY the page would balloon, so
        // large bodies are copied from the raw API or exported instead.
        curl: (request.body.len() <= view::MAX_COPY)
            .then(|| curl_command(&request, &state.capture_base)),
        copy_body: request.body.len() <= view::MAX_COPY,
        fields,
    })
}

#[derive(Template)]
#[template(path = "detail.html")]
struct DetailPage {
    ctx: Ctx,
    d: DetailView,
}

pub async fn detail(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(id): ParsedPath<i64>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, Failure> {
    let d = detail_view(&state, id, query.against()?, true).await?;
    Ok(render(&DetailPage {
        ctx: Ctx::new(&state, "requests"),
        d,
    }))
}

/// The detail alone, for the list's split-view pane (fetched, then shown without a page load).
#[derive(Template)]
#[template(path = "panel.html")]
struct PanelFragment {
    ctx: Ctx,
    d: DetailView,
}

pub async fn panel(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(id): ParsedPath<i64>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, Failure> {
    let d = detail_view(&state, id, query.against()?, false).await?;
    Ok(render(&PanelFragment {
        ctx: Ctx::new(&state, "requests"),
        d,
    }))
}

/// One list row alone, for a pinned request that is not on the page the list shows (it is
/// older than the page, or newer than an older page): app.js puts it on top with the other pins.
#[derive(Template)]
#[template(path = "row.html")]
struct RowFragment {
    ctx: Ctx,
    r: RowView,
}

pub async fn row(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(id): ParsedPath<i64>,
) -> Result<Response, Failure> {
    let summary = state
        .store
        .read(move |r| r.get_request(id))
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no request {id}")))?
        .summary;
    let mut rows = vec![row_view(&summary, now_micros())];
    with_decisions(&state, &mut rows, "/").await?;
    with_names(&state, &mut rows).await?;
    let r = rows
        .pop()
        .ok_or_else(|| Failure::NotFound(format!("no request {id}")))?;
    Ok(render(&RowFragment {
        ctx: Ctx::new(&state, "requests"),
        r,
    }))
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

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage {
    ctx: Ctx,
    task: SidView,
    steps: Vec<Step>,
    /// Another task's timeline beside this one (`?compare=WT…`): the same scenario before and
    /// after a change.
    compare: Option<(SidView, Vec<Step>)>,
    timeline_width: u32,
    rows: Vec<RowView>,
    reservations: Vec<ReservationView>,
    actions: Vec<ActionView>,
    /// For the Complete / Cancel forms.
    workspace: String,
    /// The task's assignment status as the recorded callbacks tell it.
    task_status: Option<String>,
    /// Its Event Streams CloudEvents in event-time order (stream_events.html).
    events: Vec<crate::store::events::StreamEvent>,
}

impl TaskPage {
    /// Which task actions fit the status: Complete and Wrap up for an assigned task, Cancel for
    /// a pending or reserved one; all of them when the status is not known.
    fn fits(&self, action: &&str) -> bool {
        match (self.task_status.as_deref(), *action) {
            (None, _) => true,
            (Some(s), "complete" | "wrapup") => {
                s == "assigned" || (s == "wrapping" && *action == "complete")
            }
            (Some(s), "cancel") => s == "pending" || s == "reserved",
            _ => true,
        }
    }
}

/// A task's assignment status from its callbacks (replays never count).
fn task_status(history: &crate::store::TaskHistory) -> Option<String> {
    let mut status = None;
    for s in history.requests.iter().filter(|s| s.replay_of.is_none()) {
        let next = if s.kind == Kind::Assignment {
            Some("reserved")
        } else {
            match s.event_type.as_deref() {
                Some("task.created") => Some("pending"),
                Some("reservation.created") => Some("reserved"),
                Some("reservation.accepted") => Some("assigned"),
                Some(
                    "reservation.rejected"
                    | "reservation.timeout"
                    | "reservation.rescinded"
                    | "reservation.canceled",
                ) if status != Some("assigned") => Some("pending"),
                Some("task.wrapup") => Some("wrapping"),
                Some("task.completed") => Some("completed"),
                Some("task.canceled") => Some("canceled"),
                _ => None,
            }
        };
        if let Some(n) = next {
            status = Some(n);
        }
    }
    status.map(str::to_owned)
}

/// `?compare=WT…` on a task's page.
#[derive(Debug, Default, serde::Deserialize)]
pub struct TaskQuery {
    compare: Option<String>,
}

pub async fn task(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(task_sid): ParsedPath<TaskSid>,
    Query(query): Query<TaskQuery>,
) -> Result<Response, Failure> {
    let compare = match query
        .compare
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(c) => {
            let other: TaskSid = c
                .parse()
                .map_err(|e| Failure::BadRequest(format!("compare: {e}")))?;
            let sid = other.clone();
            let history = state
                .store
                .read(move |r| r.task_history(&sid, 2000))
                .await?;
            if history.requests.is_empty() {
                return Err(Failure::NotFound(format!(
                    "nothing recorded for task {other} to compare with"
                )));
            }
            Some((SidView::new(&other), timeline::steps(&history)))
        }
    };
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
        .find_map(|r| r.workspace_sid.as_ref().map(ToString::to_string))
        .unwrap_or_default();
    let page = TaskPage {
        task_status: task_status(&history),
        events: history.events.clone(),
        workspace,
        actions: history
            .actions
            .iter()
            .map(|a| action_view(a, now))
            .collect(),
        ctx: Ctx::new(&state, "requests"),
        task: SidView::new(&task_sid),
        steps: timeline::steps(&history),
        compare,
        timeline_width: TIMELINE_WIDTH,
        rows: {
            let mut rows: Vec<RowView> =
                history.requests.iter().map(|s| row_view(s, now)).collect();
            with_names(&state, &mut rows).await?;
            rows
        },
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

/// Which stored bytes a download is: the request's body or the response's.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    Request,
    Response,
}

/// The exact stored bytes of a body, as a file download. Never rendered: whatever the sender
/// declared, it goes out as `application/octet-stream` with `nosniff` and `attachment`, so no
/// browser runs or shows it as a page of the inspector's origin.
pub async fn body_bytes(state: &InspectorState, id: i64, part: Part) -> Result<Response, Failure> {
    let request: StoredRequest = state
        .store
        .read(move |r| r.get_request(id))
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no request {id}")))?;
    let (bytes, name) = match part {
        Part::Request => (request.body, format!("taskhook-{id}-request-body.bin")),
        Part::Response => (
            request.response.body,
            format!("taskhook-{id}-response-body.bin"),
        ),
    };
    Ok((
        [
            (
                http::header::CONTENT_TYPE,
                "application/octet-stream".to_owned(),
            ),
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn request_body(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(id): ParsedPath<i64>,
) -> Result<Response, Failure> {
    body_bytes(&state, id, Part::Request).await
}

pub async fn response_body(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(id): ParsedPath<i64>,
) -> Result<Response, Failure> {
    body_bytes(&state, id, Part::Response).await
}

/// Which text of a body a large body's tab fetches (see [`view::LAZY_OVER`]).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shown {
    Raw,
    Hex,
}

/// The Raw or Hex tab of a body as text, exactly what the page would have carried (the shown
/// part, control characters made visible). Plain text with `nosniff`: never run or rendered as
/// markup, and the page sets it with `textContent`.
async fn shown_text(
    state: &InspectorState,
    id: i64,
    part: Part,
    shown: Shown,
) -> Result<Response, Failure> {
    let request: StoredRequest = state
        .store
        .read(move |r| r.get_request(id))
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no request {id}")))?;
    let bytes = match part {
        Part::Request => &request.body,
        Part::Response => &request.response.body,
    };
    let text = match shown {
        Shown::Raw => view::raw_text(bytes),
        Shown::Hex => view::hex_text(bytes),
    };
    Ok((
        [
            (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response())
}

pub async fn request_body_shown(
    State(state): State<Arc<InspectorState>>,
    ParsedPath((id, shown)): ParsedPath<(i64, Shown)>,
) -> Result<Response, Failure> {
    shown_text(&state, id, Part::Request, shown).await
}

pub async fn response_body_shown(
    State(state): State<Arc<InspectorState>>,
    ParsedPath((id, shown)): ParsedPath<(i64, Shown)>,
) -> Result<Response, Failure> {
    shown_text(&state, id, Part::Response, shown).await
}
