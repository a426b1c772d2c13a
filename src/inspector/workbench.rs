//! The workbench: the rest of the quickstart loop without leaving the inspector — the
//! Workspace's workers and their activities (`/workers`, `GET /api/workers`,
//! `POST /api/workers/{WK}/activity`), a new task (`POST /api/tasks`), what assignment
//! callbacks are answered with (`GET/PUT /api/responder`), and the pending reservations every
//! page pins under its top bar (`GET /api/tray`).
//!
//! Names (workers, queues) and the Workflow's `TaskReservationTimeout` come from TaskRouter's
//! REST API and are cached for [`DIRECTORY_TTL`], failures included, so a page never waits on
//! TaskRouter more than once per interval; a worker change made here drops the cache.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use super::InspectorState;
use super::actions::check_csrf;
use super::error::{Failure, ParsedForm, ParsedJson, ParsedPath};
use super::view;
use super::view_models::{ActionView, Ctx, SidView, action_view};
use crate::actions::{NewTaskInput, Outcome};
use crate::capture::responder::AssignmentReply;
use crate::store::models::{Reservation, now_micros};
use crate::taskrouter::client::{
    ActivityJson, ChannelJson, Client, ListOf, QueueJson, RestError, WorkerJson, WorkflowJson,
    WorkspaceJson,
};
use crate::taskrouter::sid::{ReservationSid, TaskSid, WorkerSid, WorkflowSid, WorkspaceSid};
use crate::taskrouter::status::{ActionKind, ReservationStatus};

/// How long names and timeouts read from TaskRouter are trusted.
pub const DIRECTORY_TTL: Duration = Duration::from_secs(30);

/// What TaskRouter said about the Workspace at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub workspace: Option<WorkspaceSid>,
    pub workspace_json: Option<WorkspaceJson>,
    pub workers: Vec<WorkerJson>,
    pub activities: Vec<ActivityJson>,
    pub workflows: Vec<WorkflowJson>,
    pub queues: Vec<QueueJson>,
    pub channels: Vec<ChannelJson>,
    /// The workflow tasks go to (and whose timeout the countdowns use).
    pub workflow: Option<WorkflowSid>,
    /// Why the lists are missing or incomplete.
    pub error: Option<String>,
}

impl Snapshot {
    pub fn worker_name(&self, sid: &str) -> Option<&str> {
        self.workers
            .iter()
            .find(|w| w.sid == sid)
            .map(|w| w.friendly_name.as_str())
    }

    pub fn queue_name(&self, sid: &str) -> Option<&str> {
        self.queues
            .iter()
            .find(|q| q.sid == sid)
            .map(|q| q.friendly_name.as_str())
    }

    /// The reservation timeout in seconds from the Workflow, and which Workflow said so.
    pub fn workflow_timeout(&self) -> Option<(u64, &WorkflowJson)> {
        let workflow = match &self.workflow {
            Some(sid) => self.workflows.iter().find(|w| &w.sid == sid)?,
            None => match self.workflows.as_slice() {
                [only] => only,
                _ => return None,
            },
        };
        workflow.task_reservation_timeout.map(|t| (t, workflow))
    }
}

/// The countdown's length and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Timeout {
    pub us: i64,
    /// "Workflow Default Fifo Workflow (WW…): TaskReservationTimeout 120 s" or the flag.
    pub source: String,
    pub from_workflow: bool,
}

/// The cached [`Snapshot`] and the timeout it implies.
pub struct Directory {
    cached: tokio::sync::Mutex<Option<(Instant, Arc<Snapshot>)>>,
    timeout: Mutex<Timeout>,
    fallback_us: i64,
}

impl Directory {
    pub fn new(fallback_us: i64) -> Self {
        Self {
            cached: tokio::sync::Mutex::new(None),
            timeout: Mutex::new(fallback(fallback_us)),
            fallback_us,
        }
    }

    /// The countdown length as last learned (the `--reservation-timeout` fallback until then).
    pub fn timeout(&self) -> Timeout {
        self.timeout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops the cache: the next read asks TaskRouter again.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// The snapshot, read again when older than [`DIRECTORY_TTL`] (or when `fresh`).
    pub async fn snapshot(&self, state: &InspectorState, fresh: bool) -> Arc<Snapshot> {
        let mut cached = self.cached.lock().await;
        if let Some((at, snapshot)) = cached.as_ref()
            && !fresh
            && at.elapsed() < DIRECTORY_TTL
        {
            return snapshot.clone();
        }
        let snapshot = Arc::new(load(state).await);
        let timeout = match snapshot.workflow_timeout() {
            Some((secs, workflow)) => Timeout {
                us: secs as i64 * 1_000_000,
                source: format!(
                    "Workflow {} ({}): TaskReservationTimeout {secs} s",
                    view::visible(&workflow.friendly_name),
                    workflow.sid
                ),
                from_workflow: true,
            },
            None => fallback(self.fallback_us),
        };
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner) = timeout;
        *cached = Some((Instant::now(), snapshot.clone()));
        snapshot
    }
}

fn fallback(us: i64) -> Timeout {
    Timeout {
        us,
        source: format!(
            "--reservation-timeout {} s (the Workflow's TaskReservationTimeout is not known)",
            us / 1_000_000
        ),
        from_workflow: false,
    }
}

/// Reads the Workspace's lists in parallel. Never fails: what could not be read is empty and
/// the reason is kept.
async fn load(state: &InspectorState) -> Snapshot {
    let actions = &state.actions;
    if !actions.client.has_credentials() {
        return Snapshot {
            error: Some(RestError::NoCredentials.to_string()),
            ..Snapshot::default()
        };
    }
    let workspace = match actions.workspace(None).await {
        Ok(ws) => ws,
        Err(err) => {
            return Snapshot {
                error: Some(err.to_string()),
                ..Snapshot::default()
            };
        }
    };
    let client = &actions.client;
    let fetch_ws = Client::fetch_workspace_call(&workspace);
    let (ws, workers, activities, workflows, queues, channels, recorded) = tokio::join!(
        client.send(&fetch_ws),
        client.list::<WorkerJson>(&workspace, ListOf::Workers),
        client.list::<ActivityJson>(&workspace, ListOf::Activities),
        client.list::<WorkflowJson>(&workspace, ListOf::Workflows),
        client.list::<QueueJson>(&workspace, ListOf::TaskQueues),
        client.list::<ChannelJson>(&workspace, ListOf::TaskChannels),
        actions.recorded_workflow(),
    );
    let mut errors: Vec<String> = Vec::new();
    fn take<T>(errors: &mut Vec<String>, name: &str, r: Result<Vec<T>, RestError>) -> Vec<T> {
        r.unwrap_or_else(|e| {
            errors.push(format!("{name}: {e}"));
            Vec::new()
        })
    }
    let workers = take(&mut errors, "Workers", workers);
    let activities = take(&mut errors, "Activities", activities);
    let workflows = take(&mut errors, "Workflows", workflows);
    let queues = take(&mut errors, "TaskQueues", queues);
    let channels = take(&mut errors, "TaskChannels", channels);
    Snapshot {
        workspace_json: ws
            .ok()
            .and_then(|r| serde_json::from_value::<WorkspaceJson>(r.body).ok()),
        workspace: Some(workspace),
        workers,
        activities,
        workflow: recorded.ok().flatten(),
        workflows,
        queues,
        channels,
        error: errors.into_iter().next(),
    }
}

/// True for the events after which the cached names may be wrong.
pub fn changes_names(summary: &crate::store::models::RequestSummary) -> bool {
    summary.replay_of.is_none()
        && summary.event_type.as_deref().is_some_and(|e| {
            ["worker.", "task-queue.", "workflow.", "activity."]
                .iter()
                .any(|p| e.starts_with(p))
        })
}

/// Keeps the cached names current: a worker, queue or workflow event drops the cache, so the
/// next page or tray shows what TaskRouter says now. Ends with the store's broadcast.
pub fn follow_events(state: std::sync::Weak<InspectorState>, store: &crate::store::Store) {
    let mut rx = store.subscribe();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(summary) => {
                    let Some(state) = state.upgrade() else { return };
                    if changes_names(&summary) {
                        state.directory.invalidate().await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(state) = state.upgrade() {
                        state.directory.invalidate().await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// A pending reservation as the "Needs you" tray shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TrayItem {
    pub reservation_sid: ReservationSid,
    pub task_sid: Option<TaskSid>,
    pub workspace_sid: Option<WorkspaceSid>,
    pub worker_sid: Option<WorkerSid>,
    pub worker_name: Option<String>,
    pub task_label: Option<String>,
    pub queue_name: Option<String>,
    pub offered_at_us: Option<i64>,
    pub deadline_us: Option<i64>,
    /// Where the request that offered it is.
    pub request_id: i64,
    /// Dequeue/conference answered to a task without `call_sid` (TaskRouter's 40140/40142).
    pub warning: Option<String>,
}

/// How long after its deadline an unanswered pending reservation stays in the tray (no
/// `reservation.timeout` event came, e.g. no EventCallbackUrl): long enough to notice.
const TRAY_GRACE_US: i64 = 60_000_000;

/// A short label for a task from its attributes: `name`/`label`/`type` when present, else
/// the first few `key: value` pairs.
pub fn task_label(attributes: &Value) -> Option<String> {
    let map = attributes.as_object()?;
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    for key in ["name", "label", "friendly_name", "title", "type"] {
        if let Some(text) = map.get(key).and_then(scalar) {
            return Some(view::truncate(&view::visible(&text), 60));
        }
    }
    let pairs: Vec<String> = map
        .iter()
        .filter_map(|(k, v)| scalar(v).map(|v| format!("{k}: {v}")))
        .take(3)
        .collect();
    (!pairs.is_empty()).then(|| view::truncate(&view::visible(&pairs.join(", ")), 60))
}

/// The pending reservations, newest first, with names.
pub async fn tray_items(state: &InspectorState) -> Result<Vec<TrayItem>, Failure> {
    let snapshot = state.directory.snapshot(state, false).await;
    let timeout = state.directory.timeout();
    let now = now_micros();
    let pending: Vec<Reservation> = state
        .store
        .read(|r| r.list_reservations(None, 200))
        .await?
        .into_iter()
        .filter(|r| r.status == ReservationStatus::Pending)
        .filter(|r| {
            r.offered_at_us
                .is_none_or(|t| t + timeout.us + TRAY_GRACE_US > now)
        })
        .take(20)
        .collect();
    let ids: Vec<i64> = pending.iter().map(|r| r.first_request_id).collect();
    let requests = state
        .store
        .read(move |r| {
            ids.iter()
                .map(|id| r.get_request(*id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let reply = state.responder.assignment();
    Ok(pending
        .into_iter()
        .zip(requests)
        .map(|(r, request)| {
            let fields: Vec<(String, String)> = request
                .as_ref()
                .map(|req| form_urlencoded::parse(&req.body).into_owned().collect())
                .unwrap_or_default();
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, v)| k == name && !v.is_empty())
                    .map(|(_, v)| v.clone())
            };
            let attributes: Option<Value> =
                field("TaskAttributes").and_then(|a| serde_json::from_str(&a).ok());
            let worker_name = r
                .worker_sid
                .as_ref()
                .and_then(|w| snapshot.worker_name(w.as_str()))
                .map(str::to_owned)
                .or_else(|| r.worker_name.clone())
                .or_else(|| field("WorkerName"))
                .map(|n| view::truncate(&view::visible(&n), 40));
            let queue_name = field("TaskQueueSid").map(|q| {
                snapshot
                    .queue_name(&q)
                    .map(|n| view::truncate(&view::visible(n), 40))
                    .unwrap_or_else(|| view::short_sid(&q))
            });
            TrayItem {
                task_label: attributes.as_ref().and_then(task_label),
                warning: reply.warning_for(attributes.as_ref()),
                deadline_us: r.offered_at_us.map(|t| t + timeout.us),
                offered_at_us: r.offered_at_us,
                request_id: r.first_request_id,
                reservation_sid: r.reservation_sid,
                task_sid: r.task_sid,
                workspace_sid: r.workspace_sid,
                worker_sid: r.worker_sid,
                worker_name,
                queue_name,
            }
        })
        .collect())
}

/// `GET /api/tray`: `{"pending": [...], "timeout": {...}, "responder": ...}`.
pub async fn tray_json(State(state): State<Arc<InspectorState>>) -> Result<Response, Failure> {
    let items = tray_items(&state).await?;
    Ok(Json(json!({
        "pending": items,
        "timeout": state.directory.timeout(),
        "responder": state.responder.assignment().to_value(),
        "now_us": now_micros(),
    }))
    .into_response())
}

/// One worker in `GET /api/workers`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerEntry {
    pub worker_sid: WorkerSid,
    pub friendly_name: String,
    pub activity_name: Option<String>,
    pub activity_sid: Option<String>,
    pub available: bool,
    /// Parsed from TaskRouter's JSON string (the string itself when it is not JSON).
    pub attributes: Value,
    pub date_status_changed: Option<String>,
    /// Set when a `reservation.timeout` moved this worker to the Workspace's timeout activity
    /// and it is still there.
    pub timed_out: Option<TimedOut>,
}

/// Why a worker sits in the timeout activity.
#[derive(Debug, Clone, Serialize)]
pub struct TimedOut {
    pub reservation_sid: ReservationSid,
    pub task_sid: Option<TaskSid>,
    pub activity_name: String,
    /// The one-click way back: the Workspace's first available activity.
    pub back_to: Option<String>,
    pub back_to_sid: Option<String>,
}

async fn worker_entries(
    state: &InspectorState,
    snapshot: &Snapshot,
) -> Result<Vec<WorkerEntry>, Failure> {
    // The newest reservation per worker tells whether a timeout put it where it is.
    let reservations = state.store.read(|r| r.list_reservations(None, 500)).await?;
    let timeout_activity = snapshot
        .workspace_json
        .as_ref()
        .and_then(|w| w.timeout_activity_sid.clone());
    let back = snapshot.activities.iter().find(|a| a.available);
    Ok(snapshot
        .workers
        .iter()
        .map(|w| {
            let latest = reservations
                .iter()
                .find(|r| r.worker_sid.as_ref() == Some(&w.sid));
            let in_timeout_activity =
                timeout_activity.is_some() && w.activity_sid.as_ref() == timeout_activity.as_ref();
            let timed_out = match latest {
                Some(r) if in_timeout_activity && r.status == ReservationStatus::Timeout => {
                    Some(TimedOut {
                        reservation_sid: r.reservation_sid.clone(),
                        task_sid: r.task_sid.clone(),
                        activity_name: w.activity_name.clone().unwrap_or_default(),
                        back_to: back.map(|a| a.friendly_name.clone()),
                        back_to_sid: back.map(|a| a.sid.to_string()),
                    })
                }
                _ => None,
            };
            WorkerEntry {
                worker_sid: w.sid.clone(),
                friendly_name: w.friendly_name.clone(),
                activity_name: w.activity_name.clone(),
                activity_sid: w.activity_sid.as_ref().map(ToString::to_string),
                available: w.available,
                attributes: w
                    .attributes
                    .as_deref()
                    .map(|a| serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.into())))
                    .unwrap_or(Value::Null),
                date_status_changed: w.date_status_changed.clone(),
                timed_out,
            }
        })
        .collect())
}

/// `GET /api/workers`: fresh from TaskRouter.
pub async fn workers_json(State(state): State<Arc<InspectorState>>) -> Result<Response, Failure> {
    let snapshot = state.directory.snapshot(&state, true).await;
    if snapshot.workers.is_empty()
        && let Some(error) = &snapshot.error
    {
        return Err(Failure::Conflict(error.clone()));
    }
    let workers = worker_entries(&state, &snapshot).await?;
    Ok(Json(json!({
        "workers": workers,
        "activities": snapshot.activities,
        "workspace_sid": snapshot.workspace,
        "timeout_activity_sid": snapshot.workspace_json.as_ref().and_then(|w| w.timeout_activity_sid.clone()),
    }))
    .into_response())
}

/// Body of `POST /api/workers/{WK}/activity`.
#[derive(Debug, Deserialize)]
pub struct ActivityInput {
    /// An Activity's name (`Idle`) or SID (`WA…`).
    pub activity: String,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub workspace_sid: Option<WorkspaceSid>,
}

/// TaskRouter's JSON on success (with `taskhook_warning` when there is one), else the one
/// error shape.
fn answer(outcome: Outcome, status: StatusCode) -> Result<Response, Failure> {
    if !outcome.ok {
        return Err(Failure::from_outcome(outcome));
    }
    let mut body = outcome.taskrouter.unwrap_or_else(|| json!({}));
    if let (Some(warning), Some(map)) = (outcome.warning, body.as_object_mut()) {
        map.insert("taskhook_warning".into(), Value::String(warning));
    }
    Ok((status, Json(body)).into_response())
}

pub async fn activity_json(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(worker): ParsedPath<WorkerSid>,
    ParsedJson(input): ParsedJson<ActivityInput>,
) -> Result<Response, Failure> {
    let outcome = state
        .actions
        .set_activity(input.workspace_sid, &worker, &input.activity)
        .await?;
    state.directory.invalidate().await;
    answer(outcome, StatusCode::OK)
}

/// Body of `POST /api/tasks`, lenient about numbers sent as strings (HTML forms send text).
#[derive(Debug, Deserialize)]
pub struct TaskBody {
    #[serde(default)]
    pub attributes: Value,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub workflow_sid: Option<WorkflowSid>,
    #[serde(default, deserialize_with = "number")]
    pub priority: Option<i64>,
    #[serde(default, deserialize_with = "number")]
    pub timeout: Option<i64>,
    #[serde(default)]
    pub task_channel: Option<String>,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub workspace_sid: Option<WorkspaceSid>,
}

/// A whole number, given as a number or as text; empty text means none.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected a whole number")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a whole number"))),
        Some(_) => Err(serde::de::Error::custom("expected a whole number")),
    }
}

impl From<TaskBody> for NewTaskInput {
    fn from(b: TaskBody) -> Self {
        NewTaskInput {
            attributes: b.attributes,
            workflow_sid: b.workflow_sid,
            priority: b.priority,
            timeout: b.timeout,
            task_channel: b.task_channel,
            workspace_sid: b.workspace_sid,
        }
    }
}

pub async fn create_task_json(
    State(state): State<Arc<InspectorState>>,
    ParsedJson(body): ParsedJson<TaskBody>,
) -> Result<Response, Failure> {
    let outcome = state.actions.create_task(&body.into()).await?;
    answer(outcome, StatusCode::CREATED)
}

/// Body of `PUT /api/responder`.
#[derive(Debug, Deserialize)]
pub struct ResponderInput {
    pub assignment: Value,
}

fn responder_body(state: &InspectorState, warning: Option<String>) -> Value {
    let reply = state.responder.assignment();
    json!({
        "assignment": reply.to_value(),
        "instructions": crate::capture::responder::INSTRUCTIONS,
        "warning": warning,
    })
}

pub async fn responder_get(State(state): State<Arc<InspectorState>>) -> Json<Value> {
    Json(responder_body(&state, None))
}

/// Switches the responder and records the switch; the warning says when the newest pending
/// task cannot take the instruction.
async fn switch(state: &InspectorState, value: &Value) -> Result<Option<String>, Failure> {
    let reply = AssignmentReply::from_value(value).map_err(Failure::BadRequest)?;
    let before = state.responder.set_assignment(reply.clone()).to_value();
    let after = reply.to_value();
    state.actions.record_responder(&before, &after).await?;
    let newest = tray_items(state)
        .await
        .ok()
        .and_then(|t| t.into_iter().next());
    Ok(match newest {
        Some(item) => item.warning,
        None => reply
            .warning_for(None)
            .map(|w| w.replace(" for this task", " unless the task has call_sid")),
    })
}

pub async fn responder_put(
    State(state): State<Arc<InspectorState>>,
    ParsedJson(input): ParsedJson<ResponderInput>,
) -> Result<Json<Value>, Failure> {
    let warning = switch(&state, &input.assignment).await?;
    Ok(Json(responder_body(&state, warning)))
}

/// The workbench forms' fields (one struct: each form sends the ones it has).
#[derive(Debug, Deserialize)]
pub struct WorkbenchForm {
    csrf: String,
    #[serde(default)]
    activity: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    instruction: Option<String>,
    #[serde(default)]
    attributes: Option<String>,
    #[serde(default)]
    workflow_sid: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    task_channel: Option<String>,
}

pub async fn activity_form(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(worker): ParsedPath<WorkerSid>,
    ParsedForm(form): ParsedForm<WorkbenchForm>,
) -> Result<Response, Failure> {
    check_csrf(&state, &form.csrf)?;
    state
        .actions
        .set_activity(None, &worker, form.activity.as_deref().unwrap_or(""))
        .await?;
    state.directory.invalidate().await;
    Ok(Redirect::to("/workers").into_response())
}

pub async fn create_task_form(
    State(state): State<Arc<InspectorState>>,
    ParsedForm(form): ParsedForm<WorkbenchForm>,
) -> Result<Response, Failure> {
    check_csrf(&state, &form.csrf)?;
    let parse_num = |v: &Option<String>| -> Result<Option<i64>, Failure> {
        match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Failure::BadRequest(format!("{v:?} is not a whole number"))),
        }
    };
    let input = NewTaskInput {
        attributes: Value::String(form.attributes.clone().unwrap_or_default()),
        workflow_sid: match form.workflow_sid.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(s.parse().map_err(|e| Failure::BadRequest(format!("{e}")))?),
        },
        priority: parse_num(&form.priority)?,
        timeout: parse_num(&form.timeout)?,
        task_channel: form.task_channel.clone(),
        workspace_sid: None,
    };
    state.actions.create_task(&input).await?;
    Ok(Redirect::to("/workers").into_response())
}

pub async fn responder_form(
    State(state): State<Arc<InspectorState>>,
    ParsedForm(form): ParsedForm<WorkbenchForm>,
) -> Result<Response, Failure> {
    check_csrf(&state, &form.csrf)?;
    let value = match form.mode.as_deref().unwrap_or("hold") {
        "instruction" => serde_json::from_str(form.instruction.as_deref().unwrap_or(""))
            .map_err(|e| Failure::BadRequest(format!("the instruction is not JSON: {e}")))?,
        mode => Value::String(mode.to_owned()),
    };
    switch(&state, &value).await?;
    Ok(Redirect::to("/workers").into_response())
}

/// One worker row on the page.
#[derive(Debug, Clone)]
pub struct WorkerRow {
    pub sid: SidView,
    pub name: String,
    pub activity: String,
    pub activity_sid: String,
    pub available: bool,
    pub attributes: String,
    pub timed_out: Option<TimedOut>,
    pub timed_out_reservation: Option<SidView>,
}

#[derive(Template)]
#[template(path = "workers.html")]
struct WorkersPage {
    ctx: Ctx,
    workers: Vec<WorkerRow>,
    activities: Vec<ActivityJson>,
    workflows: Vec<WorkflowJson>,
    channels: Vec<ChannelJson>,
    default_workflow: String,
    error: Option<String>,
    responder_mode: String,
    responder_instruction: String,
    responder_warning: Option<String>,
    history: Vec<ActionView>,
    timeout: Timeout,
}

pub async fn page(State(state): State<Arc<InspectorState>>) -> Result<Response, Failure> {
    let snapshot = state.directory.snapshot(&state, true).await;
    let workers = worker_entries(&state, &snapshot).await?;
    let now = now_micros();
    let history = state
        .store
        .read(|r| {
            r.recent_actions(
                &[
                    ActionKind::SetActivity,
                    ActionKind::CreateTask,
                    ActionKind::Responder,
                ],
                10,
            )
        })
        .await?
        .iter()
        .map(|a| action_view(a, now))
        .collect();
    let reply = state.responder.assignment();
    let value = reply.to_value();
    let (responder_mode, responder_instruction) = match &value {
        Value::String(s) => (s.clone(), String::new()),
        other => (
            "instruction".to_owned(),
            serde_json::to_string_pretty(other).unwrap_or_default(),
        ),
    };
    let newest = tray_items(&state)
        .await
        .ok()
        .and_then(|t| t.into_iter().next());
    let page = WorkersPage {
        ctx: Ctx::new(&state, "workers"),
        workers: workers
            .into_iter()
            .map(|w| WorkerRow {
                sid: SidView::new(&w.worker_sid),
                name: view::visible(&w.friendly_name),
                activity: view::visible(w.activity_name.as_deref().unwrap_or("?")),
                activity_sid: w.activity_sid.unwrap_or_default(),
                available: w.available,
                attributes: view::truncate(&view::visible(&w.attributes.to_string()), 120),
                timed_out_reservation: w
                    .timed_out
                    .as_ref()
                    .map(|t| SidView::new(&t.reservation_sid)),
                timed_out: w.timed_out,
            })
            .collect(),
        activities: snapshot
            .activities
            .iter()
            .map(|a| ActivityJson {
                friendly_name: view::visible(&a.friendly_name),
                ..a.clone()
            })
            .collect(),
        workflows: snapshot
            .workflows
            .iter()
            .map(|w| WorkflowJson {
                friendly_name: view::visible(&w.friendly_name),
                ..w.clone()
            })
            .collect(),
        channels: snapshot.channels.clone(),
        default_workflow: snapshot
            .workflow
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| match snapshot.workflows.as_slice() {
                [only] => Some(only.sid.to_string()),
                _ => None,
            })
            .unwrap_or_default(),
        error: snapshot.error.as_deref().map(view::visible),
        responder_mode,
        responder_instruction,
        responder_warning: newest.and_then(|i| i.warning),
        history,
        timeout: state.directory.timeout(),
    };
    Ok(super::pages::render(&page))
}
