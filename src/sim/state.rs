//! The sim's world and its rules: one seeded Workspace with its Activities, Workers, TaskQueues,
//! Workflows, Tasks and Reservations, and every transition of the task lifecycle (reference
//! §3.6 "State machine"). Nothing here does I/O or touches a clock other than reading it: a
//! transition appends the callbacks it causes to [`State::outbox`] and the timers it starts or
//! ends to [`State::new_timers`] / [`State::ended_timers`]; `super::Shared` sends and spawns them
//! after the transition, under the same lock, so callbacks leave in the order things happened.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::expr::{Expr, Subject};

/// A task's `assignment_status` (reference §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Pending,
    Reserved,
    Assigned,
    Wrapping,
    Completed,
    Canceled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Reserved => "reserved",
            TaskStatus::Assigned => "assigned",
            TaskStatus::Wrapping => "wrapping",
            TaskStatus::Completed => "completed",
            TaskStatus::Canceled => "canceled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            TaskStatus::Pending,
            TaskStatus::Reserved,
            TaskStatus::Assigned,
            TaskStatus::Wrapping,
            TaskStatus::Completed,
            TaskStatus::Canceled,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// Reservation statuses the sim produces (reference §3.3 enum).
pub mod reservation_status {
    pub const PENDING: &str = "pending";
    pub const ACCEPTED: &str = "accepted";
    pub const REJECTED: &str = "rejected";
    pub const TIMEOUT: &str = "timeout";
    pub const CANCELED: &str = "canceled";
    pub const WRAPPING: &str = "wrapping";
    pub const COMPLETED: &str = "completed";
}
use reservation_status as rs;

pub struct Workspace {
    pub sid: String,
    pub friendly_name: String,
    pub event_callback_url: Option<String>,
    pub events_filter: Option<String>,
    pub default_activity_sid: String,
    pub timeout_activity_sid: String,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

pub struct Activity {
    pub sid: String,
    pub friendly_name: String,
    pub available: bool,
    pub created: OffsetDateTime,
}

pub struct TaskChannel {
    pub sid: String,
    pub friendly_name: String,
    pub unique_name: String,
    pub created: OffsetDateTime,
}

pub struct Worker {
    pub sid: String,
    pub friendly_name: String,
    pub activity_sid: String,
    /// As sent (a JSON object).
    pub attributes: String,
    pub attrs: Value,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
    pub status_changed: OffsetDateTime,
    pub version: u64,
}

pub struct TaskQueue {
    pub sid: String,
    pub friendly_name: String,
    pub target: Expr,
    pub assignment_activity_sid: Option<String>,
    pub reservation_activity_sid: Option<String>,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

/// One `task_routing.filters[]` entry; only its first target is used.
#[derive(Clone)]
pub struct Filter {
    pub friendly_name: String,
    pub expression: Expr,
    pub queue_sid: String,
    /// The target's worker-side `expression` (`worker.x HAS task.y`), if any.
    pub target_expression: Option<Expr>,
}

pub struct Workflow {
    pub sid: String,
    pub friendly_name: String,
    pub assignment_callback_url: Option<String>,
    pub fallback_assignment_callback_url: Option<String>,
    pub reservation_timeout: Duration,
    /// As sent / seeded (JSON).
    pub configuration: String,
    pub filters: Vec<Filter>,
    pub default_queue_sid: Option<String>,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

pub struct Task {
    pub sid: String,
    pub attributes: String,
    pub attrs: Value,
    pub status: TaskStatus,
    pub priority: i64,
    pub reason: Option<String>,
    pub queue_sid: Option<String>,
    pub target_expression: Option<Expr>,
    pub workflow_sid: String,
    pub channel_sid: String,
    pub timeout: u64,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
    pub queue_entered: Option<OffsetDateTime>,
    /// Workers who rejected this task; it is not offered to them again.
    pub rejected_by: Vec<String>,
    pub version: u64,
}

pub struct Reservation {
    pub sid: String,
    pub task_sid: String,
    pub worker_sid: String,
    pub status: &'static str,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
    /// The worker's activity before the reservation: used on reject without an activity and
    /// on cancel.
    pub previous_activity_sid: String,
}

/// A callback to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An event callback to the Workspace's EventCallbackUrl (reference §2).
    Event {
        url: String,
        params: Vec<(String, String)>,
    },
    /// An assignment callback to the Workflow's AssignmentCallbackUrl (reference §1.2).
    Assignment {
        reservation_sid: String,
        url: String,
        fallback_url: Option<String>,
        params: Vec<(String, String)>,
    },
}

/// What an assignment callback's answer asked for (reference §1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Accept,
    Reject { activity_sid: Option<String> },
}

/// Why a request could not be applied. The REST layer turns it into TaskRouter's error JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// 404 / 20404.
    NotFound,
    /// 400 / 20001 with this message.
    Invalid(String),
}

type Params = Vec<(String, String)>;

/// Inputs of Task create (reference §3.6).
#[derive(Debug, Default)]
pub struct NewTask {
    pub attributes: Option<String>,
    pub priority: Option<String>,
    pub timeout: Option<String>,
    pub workflow_sid: Option<String>,
    pub task_channel: Option<String>,
}

#[derive(Debug, Default)]
pub struct TaskChanges {
    pub attributes: Option<String>,
    pub assignment_status: Option<String>,
    pub reason: Option<String>,
    pub priority: Option<String>,
}

#[derive(Debug, Default)]
pub struct NewWorker {
    pub friendly_name: Option<String>,
    pub activity_sid: Option<String>,
    pub attributes: Option<String>,
}

#[derive(Debug, Default)]
pub struct WorkerChanges {
    pub friendly_name: Option<String>,
    pub activity_sid: Option<String>,
    pub attributes: Option<String>,
    pub reject_pending_reservations: bool,
}

/// `None`: leave as is; `Some("")`: clear (Twilio clears a URL set to the empty string).
#[derive(Debug, Default)]
pub struct WorkspaceChanges {
    pub friendly_name: Option<String>,
    pub event_callback_url: Option<String>,
    pub events_filter: Option<String>,
    pub default_activity_sid: Option<String>,
    pub timeout_activity_sid: Option<String>,
}

#[derive(Debug, Default)]
pub struct WorkflowChanges {
    pub friendly_name: Option<String>,
    pub assignment_callback_url: Option<String>,
    pub fallback_assignment_callback_url: Option<String>,
    pub task_reservation_timeout: Option<String>,
    pub configuration: Option<String>,
}

/// Longest Workflow TaskReservationTimeout (reference §1.1).
pub const MAX_RESERVATION_TIMEOUT: Duration = Duration::from_secs(86_400);
/// Task `Timeout` default and maximum (reference §3.6).
const DEFAULT_TASK_TIMEOUT: u64 = 86_400;
const MAX_TASK_TIMEOUT: u64 = 1_209_600;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `2026-11-28T10:50:02Z`.
pub fn iso(at: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.format(&format).unwrap_or_default()
}

/// Lowercase hex of `n` random bytes.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen in practice): still unique within this process.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut x = (now().unix_timestamp_nanos() as u64)
            ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        for byte in &mut bytes {
            // SplitMix64 step.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *byte = (z ^ (z >> 31)) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new SID: `prefix` + 32 lowercase hex digits.
pub fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(16))
}

/// A callback URL from a request: empty clears it; otherwise absolute http(s).
pub fn callback_url(name: &str, value: &str) -> Result<Option<String>, Fail> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            Ok(Some(value.to_owned()))
        }
        _ => Err(Fail::Invalid(format!(
            "{name} must be an absolute http or https URL"
        ))),
    }
}

/// Attributes from a request: a JSON object.
fn attributes(value: &str) -> Result<(String, Value), Fail> {
    match serde_json::from_str::<Value>(value) {
        Ok(parsed @ Value::Object(_)) => Ok((value.to_owned(), parsed)),
        _ => Err(Fail::Invalid(
            "Attributes must be a valid JSON object".to_owned(),
        )),
    }
}

fn integer(name: &str, value: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, Fail> {
    match value.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(Fail::Invalid(format!(
            "{name} must be an integer from {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

/// Seconds for a JSON answer / callback, rounded up so a sub-second test timeout shows as 1.
pub fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The Workflow `Configuration` JSON (task_routing filters and default_filter).
fn routing(
    configuration: &str,
    queue_exists: impl Fn(&str) -> bool,
) -> Result<(Vec<Filter>, Option<String>), Fail> {
    let bad = |why: String| Fail::Invalid(format!("Invalid Workflow Configuration: {why}"));
    let value: Value =
        serde_json::from_str(configuration).map_err(|e| bad(format!("not JSON ({e})")))?;
    let routing = value
        .get("task_routing")
        .ok_or_else(|| bad("missing task_routing".into()))?;
    let queue = |target: &Value| -> Result<String, Fail> {
        let sid = target
            .get("queue")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a target has no queue".into()))?;
        if queue_exists(sid) {
            Ok(sid.to_owned())
        } else {
            Err(bad(format!(
                "TaskQueue {sid} does not exist in this Workspace"
            )))
        }
    };
    let mut filters = Vec::new();
    let listed = match routing.get("filters") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(bad("filters must be a list".into())),
    };
    for (i, filter) in listed.iter().enumerate() {
        let expression = filter
            .get("expression")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("filter {i} has no expression")))?;
        let expression =
            Expr::parse(expression).map_err(|e| bad(format!("filter {i} expression: {e}")))?;
        let target = filter
            .get("targets")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .ok_or_else(|| bad(format!("filter {i} has no targets")))?;
        let target_expression = match target.get("expression").and_then(Value::as_str) {
            Some(text) => Some(
                Expr::parse(text).map_err(|e| bad(format!("filter {i} target expression: {e}")))?,
            ),
            None => None,
        };
        filters.push(Filter {
            friendly_name: filter
                .get("filter_friendly_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            expression,
            queue_sid: queue(target)?,
            target_expression,
        });
    }
    let default_queue = match routing.get("default_filter") {
        None | Some(Value::Null) => None,
        Some(target) => Some(queue(target)?),
    };
    Ok((filters, default_queue))
}

/// Everything the sim knows.
pub struct State {
    pub account_sid: String,
    pub workspace: Workspace,
    pub activities: Vec<Activity>,
    pub channels: Vec<TaskChannel>,
    pub workers: Vec<Worker>,
    pub queues: Vec<TaskQueue>,
    pub workflows: Vec<Workflow>,
    /// In creation order.
    pub tasks: Vec<Task>,
    /// In creation order.
    pub reservations: Vec<Reservation>,
    /// Callbacks caused by the last transitions, oldest first.
    pub outbox: Vec<Outgoing>,
    /// Reservation timers to start: reservation SID and duration.
    pub new_timers: Vec<(String, Duration)>,
    /// Reservations that left `pending`: their timers are no longer needed.
    pub ended_timers: Vec<String>,
}

/// Some seeded SIDs, for the unit tests.
#[cfg_attr(not(test), allow(dead_code))]
pub struct Seeded {
    pub offline: String,
    pub idle: String,
    pub alice: String,
    pub bob: String,
    pub spanish_queue: String,
}

impl State {
    /// The quickstart Workspace (reference issue 6): Activities Offline, Idle, Busy, Reserved;
    /// Alice (en, es) Idle and Bob (en) Offline; a Spanish queue (`languages HAS "es"`) and an
    /// English queue (`languages HAS "en"`), both assigning Busy and reserving Reserved; one
    /// Workflow sending `selected_language == "es"` to the Spanish queue and everything else to
    /// the English one. TimeoutActivity: Offline.
    pub fn seed(
        account_sid: String,
        reservation_timeout: Duration,
        assignment_callback_url: Option<String>,
        event_callback_url: Option<String>,
    ) -> (Self, Seeded) {
        let at = now();
        let activity = |name: &str, available: bool| Activity {
            sid: new_sid("WA"),
            friendly_name: name.to_owned(),
            available,
            created: at,
        };
        let activities = vec![
            activity("Offline", false),
            activity("Idle", true),
            activity("Busy", false),
            activity("Reserved", false),
        ];
        let [offline, idle, busy, reserved] = [0, 1, 2, 3].map(|i| activities[i].sid.clone());
        let channels = ["default", "voice", "sms", "chat", "video", "email"]
            .into_iter()
            .map(|unique| TaskChannel {
                sid: new_sid("TC"),
                friendly_name: match unique {
                    "default" => "Default".to_owned(),
                    "sms" => "SMS".to_owned(),
                    other => {
                        let mut name = other.to_owned();
                        name[..1].make_ascii_uppercase();
                        name
                    }
                },
                unique_name: unique.to_owned(),
                created: at,
            })
            .collect();
        let worker = |name: &str, attributes: &str, activity: &str| Worker {
            sid: new_sid("WK"),
            friendly_name: name.to_owned(),
            activity_sid: activity.to_owned(),
            attributes: attributes.to_owned(),
            attrs: serde_json::from_str(attributes).unwrap_or(Value::Null),
            created: at,
            updated: at,
            status_changed: at,
            version: 0,
        };
        let workers = vec![
            worker("Alice", r#"{"languages":["en","es"]}"#, &idle),
            worker("Bob", r#"{"languages":["en"]}"#, &offline),
        ];
        let queue = |name: &str, target: &str| TaskQueue {
            sid: new_sid("WQ"),
            friendly_name: name.to_owned(),
            // A constant, covered by the unit tests.
            target: Expr::parse(target).expect("seeded target expression parses"),
            assignment_activity_sid: Some(busy.clone()),
            reservation_activity_sid: Some(reserved.clone()),
            created: at,
            updated: at,
        };
        let queues = vec![
            queue("Customer Care Requests - Spanish", r#"languages HAS "es""#),
            queue("Customer Care Requests - English", r#"languages HAS "en""#),
        ];
        let (spanish, english) = (queues[0].sid.clone(), queues[1].sid.clone());
        let configuration = serde_json::json!({
            "task_routing": {
                "filters": [
                    {
                        "filter_friendly_name": "Language - Spanish",
                        "expression": "selected_language==\"es\"",
                        "targets": [{"queue": spanish, "timeout": reservation_timeout.as_secs().max(1)}]
                    },
                    {
                        "filter_friendly_name": "Language - English",
                        "expression": "selected_language==\"en\"",
                        "targets": [{"queue": english}]
                    }
                ],
                "default_filter": {"queue": english}
            }
        })
        .to_string();
        let (filters, default_queue_sid) =
            routing(&configuration, |sid| sid == spanish || sid == english).unwrap_or_default();
        let workflow = Workflow {
            sid: new_sid("WW"),
            friendly_name: "Incoming Customer Care Requests".to_owned(),
            assignment_callback_url,
            fallback_assignment_callback_url: None,
            reservation_timeout,
            configuration,
            filters,
            default_queue_sid,
            created: at,
            updated: at,
        };
        let seeded = Seeded {
            offline: offline.clone(),
            idle,
            alice: workers[0].sid.clone(),
            bob: workers[1].sid.clone(),
            spanish_queue: spanish,
        };
        let state = State {
            account_sid,
            workspace: Workspace {
                sid: new_sid("WS"),
                friendly_name: "Quickstart".to_owned(),
                event_callback_url,
                events_filter: None,
                default_activity_sid: offline.clone(),
                timeout_activity_sid: offline,
                created: at,
                updated: at,
            },
            activities,
            channels,
            workers,
            queues,
            workflows: vec![workflow],
            tasks: Vec::new(),
            reservations: Vec::new(),
            outbox: Vec::new(),
            new_timers: Vec::new(),
            ended_timers: Vec::new(),
        };
        (state, seeded)
    }

    // -----------------------------------------------------------------------------------------
    // Lookups

    pub fn activity(&self, sid: &str) -> Option<&Activity> {
        self.activities.iter().find(|a| a.sid == sid)
    }

    pub fn activity_name(&self, sid: &str) -> String {
        self.activity(sid)
            .map(|a| a.friendly_name.clone())
            .unwrap_or_default()
    }

    pub fn worker_index(&self, sid: &str) -> Option<usize> {
        self.workers.iter().position(|w| w.sid == sid)
    }

    pub fn task_index(&self, sid: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.sid == sid)
    }

    pub fn reservation_index(&self, sid: &str) -> Option<usize> {
        self.reservations.iter().position(|r| r.sid == sid)
    }

    pub fn queue(&self, sid: &str) -> Option<&TaskQueue> {
        self.queues.iter().find(|q| q.sid == sid)
    }

    pub fn workflow(&self, sid: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.sid == sid)
    }

    pub fn channel(&self, sid: &str) -> Option<&TaskChannel> {
        self.channels.iter().find(|c| c.sid == sid)
    }

    pub fn worker_available(&self, worker: &Worker) -> bool {
        self.activity(&worker.activity_sid)
            .is_some_and(|a| a.available)
    }

    fn known_activity(&self, name: &str, sid: &str) -> Result<String, Fail> {
        match self.activity(sid.trim()) {
            Some(activity) => Ok(activity.sid.clone()),
            None => Err(Fail::Invalid(format!(
                "{name} {sid} is not an Activity of Workspace {}",
                self.workspace.sid
            ))),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Event callbacks (reference §2)

    fn emit(
        &mut self,
        event_type: &str,
        description: String,
        resource: (&str, &str),
        fields: Params,
    ) {
        let Some(url) = self.workspace.event_callback_url.clone() else {
            return;
        };
        if let Some(filter) = &self.workspace.events_filter
            && !filter.split(',').any(|t| t.trim() == event_type)
        {
            return;
        }
        let at = now();
        let millis = at.unix_timestamp_nanos() / 1_000_000;
        let mut params: Params = vec![
            ("EventType".into(), event_type.into()),
            ("AccountSid".into(), self.account_sid.clone()),
            ("WorkspaceSid".into(), self.workspace.sid.clone()),
            ("WorkspaceName".into(), self.workspace.friendly_name.clone()),
            ("EventDescription".into(), description),
            ("ResourceType".into(), resource.0.into()),
            ("ResourceSid".into(), resource.1.into()),
            ("Timestamp".into(), at.unix_timestamp().to_string()),
            ("TimestampMs".into(), millis.to_string()),
            ("Sid".into(), new_sid("EV")),
        ];
        params.extend(fields);
        self.outbox.push(Outgoing::Event { url, params });
    }

    /// The "Task" field group, plus the task's channel.
    fn task_fields(&self, ti: usize) -> Params {
        let task = &self.tasks[ti];
        let mut fields: Params = vec![
            ("TaskSid".into(), task.sid.clone()),
            ("TaskAttributes".into(), task.attributes.clone()),
            ("TaskAge".into(), age(task).to_string()),
            ("TaskPriority".into(), task.priority.to_string()),
            ("TaskAssignmentStatus".into(), task.status.as_str().into()),
            ("TaskVersion".into(), task.version.to_string()),
            (
                "TaskDateCreated".into(),
                task.created.unix_timestamp().to_string(),
            ),
        ];
        match (task.status, &task.reason) {
            (TaskStatus::Canceled, Some(reason)) => {
                fields.push(("TaskCanceledReason".into(), reason.clone()));
            }
            (TaskStatus::Completed, Some(reason)) => {
                fields.push(("TaskCompletedReason".into(), reason.clone()));
            }
            _ => {}
        }
        if let Some(channel) = self.channel(&task.channel_sid) {
            fields.push(("TaskChannelSid".into(), channel.sid.clone()));
            fields.push(("TaskChannelUniqueName".into(), channel.unique_name.clone()));
        }
        fields
    }

    /// The "Worker" field group.
    fn worker_fields(&self, wi: usize) -> Params {
        let worker = &self.workers[wi];
        vec![
            ("WorkerSid".into(), worker.sid.clone()),
            ("WorkerName".into(), worker.friendly_name.clone()),
            ("WorkerAttributes".into(), worker.attributes.clone()),
            ("WorkerActivitySid".into(), worker.activity_sid.clone()),
            (
                "WorkerActivityName".into(),
                self.activity_name(&worker.activity_sid),
            ),
            ("WorkerVersion".into(), worker.version.to_string()),
        ]
    }

    /// TaskQueueSid / TaskQueueName / TaskQueueTargetExpression and WorkflowSid / WorkflowName.
    fn routing_fields(&self, ti: usize) -> Params {
        let task = &self.tasks[ti];
        let mut fields = Params::new();
        if let Some(queue) = task.queue_sid.as_deref().and_then(|q| self.queue(q)) {
            fields.push(("TaskQueueSid".into(), queue.sid.clone()));
            fields.push(("TaskQueueName".into(), queue.friendly_name.clone()));
            fields.push((
                "TaskQueueTargetExpression".into(),
                queue.target.source().to_owned(),
            ));
        }
        if let Some(workflow) = self.workflow(&task.workflow_sid) {
            fields.push(("WorkflowSid".into(), workflow.sid.clone()));
            fields.push(("WorkflowName".into(), workflow.friendly_name.clone()));
        }
        fields
    }

    fn emit_task(&mut self, event_type: &str, ti: usize, description: String) {
        let mut fields = self.task_fields(ti);
        fields.extend(self.routing_fields(ti));
        let sid = self.tasks[ti].sid.clone();
        self.emit(event_type, description, ("Task", &sid), fields);
    }

    fn emit_reservation(&mut self, event_type: &str, ri: usize, verb: &str) {
        let reservation = &self.reservations[ri];
        let (Some(ti), Some(wi)) = (
            self.task_index(&reservation.task_sid),
            self.worker_index(&reservation.worker_sid),
        ) else {
            return;
        };
        let sid = reservation.sid.clone();
        let mut fields = self.task_fields(ti);
        fields.extend(self.worker_fields(wi));
        fields.extend(self.routing_fields(ti));
        fields.push(("ReservationSid".into(), sid.clone()));
        let description = format!(
            "Reservation {sid} {verb} for Worker {} and Task {}",
            self.workers[wi].friendly_name, self.tasks[ti].sid
        );
        self.emit(event_type, description, ("Reservation", &sid), fields);
    }

    fn emit_worker(&mut self, event_type: &str, wi: usize, description: String, extra: Params) {
        let mut fields = self.worker_fields(wi);
        fields.extend(extra);
        let sid = self.workers[wi].sid.clone();
        self.emit(event_type, description, ("Worker", &sid), fields);
    }

    // -----------------------------------------------------------------------------------------
    // Workers

    /// Moves a worker to `activity_sid` and sends `worker.activity.update` if it changed.
    fn set_worker_activity(&mut self, wi: usize, activity_sid: &str) {
        if self.workers[wi].activity_sid == activity_sid {
            return;
        }
        let at = now();
        let worker = &mut self.workers[wi];
        let previous = std::mem::replace(&mut worker.activity_sid, activity_sid.to_owned());
        let spent = at - worker.status_changed;
        worker.status_changed = at;
        worker.updated = at;
        worker.version += 1;
        let name = worker.friendly_name.clone();
        let extra = vec![
            ("WorkerPreviousActivitySid".into(), previous.clone()),
            (
                "WorkerPreviousActivityName".into(),
                self.activity_name(&previous),
            ),
            (
                "WorkerTimeInPreviousActivity".into(),
                spent.whole_seconds().max(0).to_string(),
            ),
            (
                "WorkerTimeInPreviousActivityMs".into(),
                spent.whole_milliseconds().max(0).to_string(),
            ),
        ];
        let description = format!(
            "Worker {name} updated to {} Activity",
            self.activity_name(activity_sid)
        );
        self.emit_worker("worker.activity.update", wi, description, extra);
    }

    pub fn create_worker(&mut self, input: NewWorker) -> Result<String, Fail> {
        let friendly_name = input
            .friendly_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                Fail::Invalid("Missing required parameter FriendlyName in the post body".into())
            })?;
        if self
            .workers
            .iter()
            .any(|w| w.friendly_name == friendly_name)
        {
            return Err(Fail::Invalid(format!(
                "Worker with FriendlyName {friendly_name} already exists in Workspace {}",
                self.workspace.sid
            )));
        }
        let activity_sid = match input.activity_sid.as_deref() {
            Some(sid) => self.known_activity("ActivitySid", sid)?,
            None => self.workspace.default_activity_sid.clone(),
        };
        let (attributes, attrs) = attributes(input.attributes.as_deref().unwrap_or("{}"))?;
        let at = now();
        let sid = new_sid("WK");
        self.workers.push(Worker {
            sid: sid.clone(),
            friendly_name,
            activity_sid,
            attributes,
            attrs,
            created: at,
            updated: at,
            status_changed: at,
            version: 0,
        });
        let wi = self.workers.len() - 1;
        let description = format!("Worker {} created", self.workers[wi].friendly_name);
        self.emit_worker("worker.created", wi, description, Vec::new());
        self.route();
        Ok(sid)
    }

    pub fn update_worker(&mut self, sid: &str, changes: WorkerChanges) -> Result<(), Fail> {
        let wi = self.worker_index(sid).ok_or(Fail::NotFound)?;
        // Validate everything before changing anything.
        let activity = match changes.activity_sid.as_deref() {
            Some(activity) => Some(self.known_activity("ActivitySid", activity)?),
            None => None,
        };
        let attributes = match changes.attributes.as_deref() {
            Some(value) => Some(attributes(value)?),
            None => None,
        };
        if let Some(name) = changes.friendly_name.filter(|n| !n.trim().is_empty()) {
            let worker = &mut self.workers[wi];
            worker.friendly_name = name;
            worker.updated = now();
            worker.version += 1;
        }
        if let Some((text, parsed)) = attributes {
            let worker = &mut self.workers[wi];
            worker.attributes = text;
            worker.attrs = parsed;
            worker.updated = now();
            worker.version += 1;
            let description = format!("Worker {} attributes updated", worker.friendly_name);
            self.emit_worker("worker.attributes.update", wi, description, Vec::new());
        }
        if let Some(activity) = activity {
            let unavailable = !self.activity(&activity).is_some_and(|a| a.available);
            if unavailable && changes.reject_pending_reservations {
                let pending: Vec<usize> = self
                    .reservations
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.worker_sid == sid && r.status == rs::PENDING)
                    .map(|(i, _)| i)
                    .collect();
                for ri in pending {
                    self.reject(ri, Some(activity.clone()));
                }
            }
            self.set_worker_activity(wi, &activity);
        }
        self.route();
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Workspace and Workflow

    pub fn update_workspace(&mut self, changes: WorkspaceChanges) -> Result<(), Fail> {
        let event_callback_url = match changes.event_callback_url.as_deref() {
            Some(url) => Some(callback_url("EventCallbackUrl", url)?),
            None => None,
        };
        let default_activity = match changes.default_activity_sid.as_deref() {
            Some(sid) => Some(self.known_activity("DefaultActivitySid", sid)?),
            None => None,
        };
        let timeout_activity = match changes.timeout_activity_sid.as_deref() {
            Some(sid) => Some(self.known_activity("TimeoutActivitySid", sid)?),
            None => None,
        };
        let workspace = &mut self.workspace;
        if let Some(name) = changes.friendly_name.filter(|n| !n.trim().is_empty()) {
            workspace.friendly_name = name;
        }
        if let Some(url) = event_callback_url {
            workspace.event_callback_url = url;
        }
        if let Some(filter) = changes.events_filter {
            let filter = filter.trim();
            workspace.events_filter = (!filter.is_empty()).then(|| filter.to_owned());
        }
        if let Some(sid) = default_activity {
            workspace.default_activity_sid = sid;
        }
        if let Some(sid) = timeout_activity {
            workspace.timeout_activity_sid = sid;
        }
        workspace.updated = now();
        let sid = workspace.sid.clone();
        let description = format!("Workspace {} updated", workspace.friendly_name);
        self.emit(
            "workspace.updated",
            description,
            ("Workspace", &sid),
            Vec::new(),
        );
        Ok(())
    }

    pub fn update_workflow(&mut self, sid: &str, changes: WorkflowChanges) -> Result<(), Fail> {
        let index = self
            .workflows
            .iter()
            .position(|w| w.sid == sid)
            .ok_or(Fail::NotFound)?;
        let assignment = match changes.assignment_callback_url.as_deref() {
            Some(url) => Some(callback_url("AssignmentCallbackUrl", url)?),
            None => None,
        };
        let fallback = match changes.fallback_assignment_callback_url.as_deref() {
            Some(url) => Some(callback_url("FallbackAssignmentCallbackUrl", url)?),
            None => None,
        };
        let timeout = match changes.task_reservation_timeout.as_deref() {
            Some(value) => {
                let max = MAX_RESERVATION_TIMEOUT.as_secs() as i64;
                Some(Duration::from_secs(
                    integer("TaskReservationTimeout", value, 1..=max)? as u64,
                ))
            }
            None => None,
        };
        let routing = match changes.configuration.as_deref() {
            Some(configuration) => {
                let queues: Vec<String> = self.queues.iter().map(|q| q.sid.clone()).collect();
                let parsed = routing(configuration, |q| queues.iter().any(|s| s == q))?;
                Some((configuration.to_owned(), parsed))
            }
            None => None,
        };
        let workflow = &mut self.workflows[index];
        if let Some(name) = changes.friendly_name.filter(|n| !n.trim().is_empty()) {
            workflow.friendly_name = name;
        }
        if let Some(url) = assignment {
            workflow.assignment_callback_url = url;
        }
        if let Some(url) = fallback {
            workflow.fallback_assignment_callback_url = url;
        }
        if let Some(timeout) = timeout {
            workflow.reservation_timeout = timeout;
        }
        if let Some((configuration, (filters, default_queue))) = routing {
            workflow.configuration = configuration;
            workflow.filters = filters;
            workflow.default_queue_sid = default_queue;
        }
        workflow.updated = now();
        let fields = vec![
            ("WorkflowSid".into(), workflow.sid.clone()),
            ("WorkflowName".into(), workflow.friendly_name.clone()),
        ];
        let description = format!("Workflow {} updated", workflow.friendly_name);
        let sid = workflow.sid.clone();
        self.emit("workflow.updated", description, ("Workflow", &sid), fields);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Tasks

    pub fn create_task(&mut self, input: NewTask) -> Result<String, Fail> {
        let (attributes, attrs) = attributes(input.attributes.as_deref().unwrap_or("{}"))?;
        let priority = match input.priority.as_deref() {
            Some(value) => integer("Priority", value, 0..=i64::from(i32::MAX))?,
            None => 0,
        };
        let timeout = match input.timeout.as_deref() {
            Some(value) => integer("Timeout", value, 1..=MAX_TASK_TIMEOUT as i64)? as u64,
            None => DEFAULT_TASK_TIMEOUT,
        };
        let workflow_sid = match input.workflow_sid.as_deref() {
            Some(sid) => self
                .workflow(sid.trim())
                .map(|w| w.sid.clone())
                .ok_or_else(|| {
                    Fail::Invalid(format!(
                        "WorkflowSid {sid} is not a Workflow of Workspace {}",
                        self.workspace.sid
                    ))
                })?,
            None => match self.workflows.as_slice() {
                [only] => only.sid.clone(),
                _ => {
                    return Err(Fail::Invalid(
                        "WorkflowSid is required when the Workspace has more than one Workflow"
                            .into(),
                    ));
                }
            },
        };
        let channel = input.task_channel.as_deref().unwrap_or("default").trim();
        let channel_sid = self
            .channels
            .iter()
            .find(|c| c.sid == channel || c.unique_name == channel)
            .map(|c| c.sid.clone())
            .ok_or_else(|| Fail::Invalid(format!("TaskChannel {channel} does not exist")))?;
        let at = now();
        let sid = new_sid("WT");
        self.tasks.push(Task {
            sid: sid.clone(),
            attributes,
            attrs,
            status: TaskStatus::Pending,
            priority,
            reason: None,
            queue_sid: None,
            target_expression: None,
            workflow_sid,
            channel_sid,
            timeout,
            created: at,
            updated: at,
            queue_entered: None,
            rejected_by: Vec::new(),
            version: 0,
        });
        let ti = self.tasks.len() - 1;
        self.emit_task("task.created", ti, format!("Task {sid} created"));
        self.enter_workflow(ti);
        self.route();
        Ok(sid)
    }

    /// Evaluates the task against its Workflow's filters and puts it in the matched queue.
    fn enter_workflow(&mut self, ti: usize) {
        let task = &self.tasks[ti];
        let Some(workflow) = self.workflow(&task.workflow_sid) else {
            return;
        };
        let subject = Subject::of(&task.attrs);
        let matched = workflow
            .filters
            .iter()
            .find(|f| f.expression.matches(subject))
            .map(|f| {
                (
                    f.friendly_name.clone(),
                    f.queue_sid.clone(),
                    f.target_expression.clone(),
                )
            })
            .or_else(|| {
                workflow
                    .default_queue_sid
                    .clone()
                    .map(|q| ("Default Filter".to_owned(), q, None))
            });
        let workflow_name = workflow.friendly_name.clone();
        let sid = task.sid.clone();
        let first_time = task.queue_entered.is_none();
        if first_time {
            self.emit_task(
                "workflow.entered",
                ti,
                format!("Task {sid} entered Workflow {workflow_name}"),
            );
        }
        let Some((filter_name, queue_sid, target_expression)) = matched else {
            tracing::warn!(task = %sid, "task matched no Workflow filter and there is no default filter; it stays pending");
            return;
        };
        let moved = self.tasks[ti].queue_sid.as_deref() != Some(queue_sid.as_str());
        let task = &mut self.tasks[ti];
        task.target_expression = target_expression;
        if !moved {
            return;
        }
        task.queue_sid = Some(queue_sid.clone());
        task.queue_entered = Some(now());
        let mut fields = self.task_fields(ti);
        fields.extend(self.routing_fields(ti));
        fields.push(("WorkflowFilterName".into(), filter_name.clone()));
        self.emit(
            "workflow.target-matched",
            format!("Task {sid} matched Workflow filter {filter_name}"),
            ("Task", &sid),
            fields,
        );
        let queue_name = self
            .queue(&queue_sid)
            .map(|q| q.friendly_name.clone())
            .unwrap_or_default();
        let event = if first_time {
            "task-queue.entered"
        } else {
            "task-queue.moved"
        };
        self.emit_task(
            event,
            ti,
            format!("Task {sid} entered TaskQueue {queue_name}"),
        );
    }

    /// Offers every pending task, highest priority then oldest first, to the available worker
    /// that has been available longest and matches the task's queue (and target expression).
    pub fn route(&mut self) {
        let mut order: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| {
                self.tasks[i].status == TaskStatus::Pending && self.tasks[i].queue_sid.is_some()
            })
            .collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.tasks[a], &self.tasks[b]);
            b.priority
                .cmp(&a.priority)
                .then(a.queue_entered.cmp(&b.queue_entered))
        });
        for ti in order {
            if let Some(wi) = self.pick_worker(ti) {
                self.reserve(ti, wi);
            }
        }
    }

    fn pick_worker(&self, ti: usize) -> Option<usize> {
        let task = &self.tasks[ti];
        let queue = self.queue(task.queue_sid.as_deref()?)?;
        (0..self.workers.len())
            .filter(|&wi| {
                let worker = &self.workers[wi];
                self.worker_available(worker)
                    && !task.rejected_by.contains(&worker.sid)
                    && !self
                        .reservations
                        .iter()
                        .any(|r| r.worker_sid == worker.sid && r.status == rs::PENDING)
                    && queue.target.matches(Subject {
                        own: &worker.attrs,
                        worker: Some(&worker.attrs),
                        task: Some(&task.attrs),
                    })
                    && task.target_expression.as_ref().is_none_or(|e| {
                        e.matches(Subject {
                            own: &worker.attrs,
                            worker: Some(&worker.attrs),
                            task: Some(&task.attrs),
                        })
                    })
            })
            .min_by_key(|&wi| (self.workers[wi].status_changed, wi))
    }

    /// Creates a pending reservation: worker to the queue's reservation activity, task
    /// `reserved`, `reservation.created`, the assignment callback, the reservation timer.
    fn reserve(&mut self, ti: usize, wi: usize) {
        let at = now();
        let sid = new_sid("WR");
        let reservation_activity = self.tasks[ti]
            .queue_sid
            .as_deref()
            .and_then(|q| self.queue(q))
            .and_then(|q| q.reservation_activity_sid.clone());
        let task = &mut self.tasks[ti];
        task.status = TaskStatus::Reserved;
        task.updated = at;
        task.version += 1;
        let worker = &self.workers[wi];
        self.reservations.push(Reservation {
            sid: sid.clone(),
            task_sid: task.sid.clone(),
            worker_sid: worker.sid.clone(),
            status: rs::PENDING,
            created: at,
            updated: at,
            previous_activity_sid: worker.activity_sid.clone(),
        });
        let ri = self.reservations.len() - 1;
        self.emit_reservation("reservation.created", ri, "created");
        if let Some(activity) = reservation_activity {
            self.set_worker_activity(wi, &activity);
        }
        let task = &self.tasks[ti];
        let worker = &self.workers[wi];
        let Some(workflow) = self.workflows.iter().find(|w| w.sid == task.workflow_sid) else {
            return;
        };
        self.new_timers
            .push((sid.clone(), workflow.reservation_timeout));
        if let Some(url) = workflow.assignment_callback_url.clone() {
            // Every documented parameter (reference §1.2), in the documented order.
            let params: Params = vec![
                ("Timestamp".into(), at.unix_timestamp().to_string()),
                ("AccountSid".into(), self.account_sid.clone()),
                ("WorkspaceSid".into(), self.workspace.sid.clone()),
                ("WorkflowSid".into(), workflow.sid.clone()),
                (
                    "TaskQueueSid".into(),
                    task.queue_sid.clone().unwrap_or_default(),
                ),
                ("WorkerSid".into(), worker.sid.clone()),
                ("WorkerAttributes".into(), worker.attributes.clone()),
                ("TaskSid".into(), task.sid.clone()),
                ("TaskAttributes".into(), task.attributes.clone()),
                ("TaskAge".into(), age(task).to_string()),
                ("TaskPriority".into(), task.priority.to_string()),
                ("ReservationSid".into(), sid.clone()),
            ];
            self.outbox.push(Outgoing::Assignment {
                reservation_sid: sid,
                url,
                fallback_url: workflow.fallback_assignment_callback_url.clone(),
                params,
            });
        }
    }

    fn end_reservation(&mut self, ri: usize, status: &'static str) {
        let reservation = &mut self.reservations[ri];
        reservation.status = status;
        reservation.updated = now();
        self.ended_timers.push(reservation.sid.clone());
    }

    /// Accept: worker to the queue's assignment activity, task `assigned`.
    fn accept(&mut self, ri: usize) {
        self.end_reservation(ri, rs::ACCEPTED);
        let reservation = &self.reservations[ri];
        let (Some(ti), Some(wi)) = (
            self.task_index(&reservation.task_sid),
            self.worker_index(&reservation.worker_sid),
        ) else {
            return;
        };
        let task = &mut self.tasks[ti];
        task.status = TaskStatus::Assigned;
        task.updated = now();
        task.version += 1;
        self.emit_reservation("reservation.accepted", ri, "accepted");
        let assignment_activity = self.tasks[ti]
            .queue_sid
            .as_deref()
            .and_then(|q| self.queue(q))
            .and_then(|q| q.assignment_activity_sid.clone());
        if let Some(activity) = assignment_activity {
            self.set_worker_activity(wi, &activity);
        }
    }

    /// Reject: worker to `activity` (else back to its activity before the reservation), task
    /// back to `pending` and offered to someone else.
    fn reject(&mut self, ri: usize, activity: Option<String>) {
        self.end_reservation(ri, rs::REJECTED);
        let reservation = &self.reservations[ri];
        let activity = activity.unwrap_or_else(|| reservation.previous_activity_sid.clone());
        let worker_sid = reservation.worker_sid.clone();
        let (Some(ti), Some(wi)) = (
            self.task_index(&reservation.task_sid),
            self.worker_index(&reservation.worker_sid),
        ) else {
            return;
        };
        let task = &mut self.tasks[ti];
        task.status = TaskStatus::Pending;
        task.updated = now();
        task.version += 1;
        task.rejected_by.push(worker_sid);
        self.emit_reservation("reservation.rejected", ri, "rejected");
        self.set_worker_activity(wi, &activity);
        self.route();
    }

    /// The reservation timer fired: if still pending, `reservation.timeout`, worker to the
    /// Workspace's TimeoutActivity, task back to `pending` and re-routed.
    pub fn timeout_reservation(&mut self, sid: &str) {
        let Some(ri) = self.reservation_index(sid) else {
            return;
        };
        if self.reservations[ri].status != rs::PENDING {
            return;
        }
        self.end_reservation(ri, rs::TIMEOUT);
        let reservation = &self.reservations[ri];
        let (Some(ti), Some(wi)) = (
            self.task_index(&reservation.task_sid),
            self.worker_index(&reservation.worker_sid),
        ) else {
            return;
        };
        let task = &mut self.tasks[ti];
        task.status = TaskStatus::Pending;
        task.updated = now();
        task.version += 1;
        self.emit_reservation("reservation.timeout", ri, "timed out");
        let activity = self.workspace.timeout_activity_sid.clone();
        self.set_worker_activity(wi, &activity);
        self.route();
    }

    /// REST update of a reservation (`ReservationStatus`, `WorkerActivitySid`).
    pub fn update_reservation(
        &mut self,
        sid: &str,
        status: Option<&str>,
        worker_activity_sid: Option<&str>,
    ) -> Result<(), Fail> {
        let ri = self.reservation_index(sid).ok_or(Fail::NotFound)?;
        let Some(wanted) = status.map(str::trim) else {
            return Ok(());
        };
        let current = self.reservations[ri].status;
        if current != rs::PENDING {
            // TaskRouter's wording (twilio-php issue 342, reference §3.9).
            return Err(Fail::Invalid(format!(
                "Reservation {sid} is already in state [{current}] and cannot be updated to [{wanted}]"
            )));
        }
        match wanted {
            rs::ACCEPTED => self.accept(ri),
            rs::REJECTED => {
                let activity = match worker_activity_sid.filter(|a| !a.trim().is_empty()) {
                    Some(activity) => Some(self.known_activity("WorkerActivitySid", activity)?),
                    None => None,
                };
                self.reject(ri, activity);
            }
            other => {
                return Err(Fail::Invalid(format!(
                    "ReservationStatus [{other}] is not supported by the local TaskRouter for a pending reservation; use accepted or rejected"
                )));
            }
        }
        Ok(())
    }

    /// Applies an assignment callback's answer. Problems are logged the way TaskRouter
    /// reports them in the Debugger, and leave the reservation as it is.
    pub fn apply_instruction(&mut self, sid: &str, instruction: Instruction) {
        let Some(ri) = self.reservation_index(sid) else {
            return;
        };
        let current = self.reservations[ri].status;
        if current != rs::PENDING {
            tracing::warn!(reservation = %sid, status = current, "assignment instruction ignored: the reservation is no longer pending");
            return;
        }
        match instruction {
            Instruction::Accept => self.accept(ri),
            Instruction::Reject { activity_sid } => match activity_sid {
                Some(activity) if self.activity(&activity).is_none() => {
                    tracing::warn!(reservation = %sid, activity_sid = %activity, code = 40100, "reject instruction has an invalid activity_sid; the reservation stays pending");
                }
                activity => self.reject(ri, activity),
            },
        }
    }

    pub fn update_task(&mut self, sid: &str, changes: TaskChanges) -> Result<(), Fail> {
        let ti = self.task_index(sid).ok_or(Fail::NotFound)?;
        if changes.attributes.is_some() && changes.assignment_status.is_some() {
            // Reference §3.6: a status change and an attributes change need two requests.
            return Err(Fail::Invalid(
                "Attributes and AssignmentStatus cannot be updated in the same request".into(),
            ));
        }
        let attributes = match changes.attributes.as_deref() {
            Some(value) => Some(attributes(value)?),
            None => None,
        };
        let priority = match changes.priority.as_deref() {
            Some(value) => Some(integer("Priority", value, 0..=i64::from(i32::MAX))?),
            None => None,
        };
        if let Some(wanted) = changes.assignment_status.as_deref().map(str::trim) {
            self.change_status(ti, wanted, changes.reason)?;
        }
        if attributes.is_some() || priority.is_some() {
            let task = &mut self.tasks[ti];
            if let Some((text, parsed)) = attributes {
                task.attributes = text;
                task.attrs = parsed;
            }
            if let Some(priority) = priority {
                task.priority = priority;
            }
            task.updated = now();
            task.version += 1;
            self.emit_task("task.updated", ti, format!("Task {sid} updated"));
            if self.tasks[ti].status == TaskStatus::Pending {
                self.enter_workflow(ti);
            }
            self.route();
        }
        Ok(())
    }

    fn change_status(
        &mut self,
        ti: usize,
        wanted: &str,
        reason: Option<String>,
    ) -> Result<(), Fail> {
        let task = &self.tasks[ti];
        let (sid, current) = (task.sid.clone(), task.status);
        let refuse = |why: &str| {
            Fail::Invalid(format!(
                "Cannot {why} task {sid} in workspace {} for account {} because it is {}.",
                self.workspace.sid,
                self.account_sid,
                match why {
                    "cancel" => "not pending or reserved",
                    "complete" => "not assigned or wrapping",
                    "wrap up" => "not assigned",
                    _ => "in another state",
                }
            ))
        };
        match TaskStatus::parse(wanted) {
            Some(TaskStatus::Canceled) => {
                if !matches!(current, TaskStatus::Pending | TaskStatus::Reserved) {
                    return Err(refuse("cancel"));
                }
                self.release_pending_reservations(ti);
                self.finish(ti, TaskStatus::Canceled, reason);
                self.emit_task("task.canceled", ti, format!("Task {sid} canceled"));
                self.route();
            }
            Some(TaskStatus::Completed) => {
                if !matches!(current, TaskStatus::Assigned | TaskStatus::Wrapping) {
                    return Err(refuse("complete"));
                }
                self.finish(ti, TaskStatus::Completed, reason);
                self.emit_task("task.completed", ti, format!("Task {sid} completed"));
                for ri in self.reservations_of(&sid, &[rs::ACCEPTED, rs::WRAPPING]) {
                    self.end_reservation(ri, rs::COMPLETED);
                    self.emit_reservation("reservation.completed", ri, "completed");
                }
            }
            Some(TaskStatus::Wrapping) => {
                if current != TaskStatus::Assigned {
                    return Err(refuse("wrap up"));
                }
                self.finish(ti, TaskStatus::Wrapping, reason);
                self.emit_task("task.wrapup", ti, format!("Task {sid} wrapping up"));
                for ri in self.reservations_of(&sid, &[rs::ACCEPTED]) {
                    self.end_reservation(ri, rs::WRAPPING);
                    self.emit_reservation("reservation.wrapup", ri, "wrapping up");
                }
            }
            _ => {
                return Err(Fail::Invalid(format!(
                    "AssignmentStatus [{wanted}] cannot be set; use canceled, completed or wrapping"
                )));
            }
        }
        Ok(())
    }

    fn finish(&mut self, ti: usize, status: TaskStatus, reason: Option<String>) {
        let task = &mut self.tasks[ti];
        task.status = status;
        if reason.is_some() {
            task.reason = reason;
        }
        task.updated = now();
        task.version += 1;
    }

    fn reservations_of(&self, task_sid: &str, statuses: &[&str]) -> Vec<usize> {
        self.reservations
            .iter()
            .enumerate()
            .filter(|(_, r)| r.task_sid == task_sid && statuses.contains(&r.status))
            .map(|(i, _)| i)
            .collect()
    }

    /// Cancels the task's pending reservations and puts their workers back where they were.
    fn release_pending_reservations(&mut self, ti: usize) {
        let sid = self.tasks[ti].sid.clone();
        for ri in self.reservations_of(&sid, &[rs::PENDING]) {
            self.end_reservation(ri, rs::CANCELED);
            self.emit_reservation("reservation.canceled", ri, "canceled");
            let previous = self.reservations[ri].previous_activity_sid.clone();
            if let Some(wi) = self.worker_index(&self.reservations[ri].worker_sid) {
                self.set_worker_activity(wi, &previous);
            }
        }
    }

    pub fn delete_task(&mut self, sid: &str) -> Result<(), Fail> {
        let ti = self.task_index(sid).ok_or(Fail::NotFound)?;
        self.release_pending_reservations(ti);
        self.emit_task("task.deleted", ti, format!("Task {sid} deleted"));
        self.tasks.remove(ti);
        self.reservations.retain(|r| r.task_sid != sid);
        self.route();
        Ok(())
    }
}

/// Whole seconds since the task was created.
pub fn age(task: &Task) -> i64 {
    (now() - task.created).whole_seconds().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const EVENTS: &str = "http://127.0.0.1:9/events";
    const ASSIGN: &str = "http://127.0.0.1:9/assignment";

    fn seeded() -> (State, Seeded) {
        State::seed(
            AC.into(),
            Duration::from_secs(120),
            Some(ASSIGN.into()),
            Some(EVENTS.into()),
        )
    }

    fn event_types(state: &mut State) -> Vec<String> {
        state
            .outbox
            .drain(..)
            .map(|o| match o {
                Outgoing::Event { params, .. } => params[0].1.clone(),
                Outgoing::Assignment { .. } => "ASSIGNMENT".into(),
            })
            .collect()
    }

    fn task(state: &mut State, attributes: &str) -> String {
        state
            .create_task(NewTask {
                attributes: Some(attributes.into()),
                ..NewTask::default()
            })
            .unwrap()
    }

    fn pending_reservation(state: &State, task: &str) -> String {
        state
            .reservations
            .iter()
            .find(|r| r.task_sid == task && r.status == rs::PENDING)
            .map(|r| r.sid.clone())
            .expect("a pending reservation")
    }

    fn activity_of(state: &State, worker: &str) -> String {
        let wi = state.worker_index(worker).unwrap();
        state.activity_name(&state.workers[wi].activity_sid)
    }

    #[test]
    fn quickstart_task_reserves_alice_and_accept_makes_her_busy() {
        let (mut state, seeded) = seeded();
        let wt = task(&mut state, r#"{"selected_language":"es"}"#);
        assert_eq!(
            event_types(&mut state),
            [
                "task.created",
                "workflow.entered",
                "workflow.target-matched",
                "task-queue.entered",
                "reservation.created",
                "worker.activity.update",
                "ASSIGNMENT"
            ]
        );
        let ti = state.task_index(&wt).unwrap();
        assert_eq!(state.tasks[ti].status, TaskStatus::Reserved);
        assert_eq!(
            state.tasks[ti].queue_sid.as_deref(),
            Some(seeded.spanish_queue.as_str())
        );
        assert_eq!(activity_of(&state, &seeded.alice), "Reserved");
        let wr = pending_reservation(&state, &wt);
        assert_eq!(state.new_timers.len(), 1);

        state
            .update_reservation(&wr, Some("accepted"), None)
            .unwrap();
        assert_eq!(
            event_types(&mut state),
            ["reservation.accepted", "worker.activity.update"]
        );
        assert_eq!(state.tasks[ti].status, TaskStatus::Assigned);
        assert_eq!(activity_of(&state, &seeded.alice), "Busy");
        assert_eq!(state.ended_timers, std::slice::from_ref(&wr));

        let again = state.update_reservation(&wr, Some("accepted"), None);
        assert_eq!(
            again,
            Err(Fail::Invalid(format!(
                "Reservation {wr} is already in state [accepted] and cannot be updated to [accepted]"
            )))
        );

        state
            .update_task(
                &wt,
                TaskChanges {
                    assignment_status: Some("completed".into()),
                    reason: Some("done".into()),
                    ..TaskChanges::default()
                },
            )
            .unwrap();
        assert_eq!(
            event_types(&mut state),
            ["task.completed", "reservation.completed"]
        );
        assert_eq!(activity_of(&state, &seeded.alice), "Busy", "kept");
    }

    #[test]
    fn assignment_callback_carries_every_documented_parameter() {
        let (mut state, _) = seeded();
        task(&mut state, r#"{"selected_language":"es"}"#);
        let assignment = state
            .outbox
            .iter()
            .find_map(|o| match o {
                Outgoing::Assignment { params, url, .. } => Some((url.clone(), params.clone())),
                _ => None,
            })
            .unwrap();
        assert_eq!(assignment.0, ASSIGN);
        let names: Vec<&str> = assignment.1.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Timestamp",
                "AccountSid",
                "WorkspaceSid",
                "WorkflowSid",
                "TaskQueueSid",
                "WorkerSid",
                "WorkerAttributes",
                "TaskSid",
                "TaskAttributes",
                "TaskAge",
                "TaskPriority",
                "ReservationSid"
            ]
        );
        assert!(assignment.1.iter().all(|(_, v)| !v.is_empty()));
    }

    #[test]
    fn reject_moves_the_worker_and_offers_the_task_to_someone_else() {
        let (mut state, seeded) = seeded();
        state
            .update_worker(
                &seeded.bob,
                WorkerChanges {
                    activity_sid: Some(seeded.idle.clone()),
                    ..WorkerChanges::default()
                },
            )
            .unwrap();
        // Bob has been idle for less time than Alice, so Alice gets the English task first.
        let wt = task(&mut state, r#"{"selected_language":"en"}"#);
        let first = pending_reservation(&state, &wt);
        assert_eq!(
            state.reservations[state.reservation_index(&first).unwrap()].worker_sid,
            seeded.alice
        );
        state.outbox.clear();
        state
            .update_reservation(&first, Some("rejected"), Some(&seeded.offline))
            .unwrap();
        assert_eq!(
            event_types(&mut state),
            [
                "reservation.rejected",
                "worker.activity.update",
                "reservation.created",
                "worker.activity.update",
                "ASSIGNMENT"
            ]
        );
        assert_eq!(activity_of(&state, &seeded.alice), "Offline");
        let second = pending_reservation(&state, &wt);
        assert_eq!(
            state.reservations[state.reservation_index(&second).unwrap()].worker_sid,
            seeded.bob
        );
    }

    #[test]
    fn reject_without_activity_restores_the_previous_one_and_never_reoffers() {
        let (mut state, seeded) = seeded();
        let wt = task(&mut state, r#"{"selected_language":"es"}"#);
        let wr = pending_reservation(&state, &wt);
        state
            .update_reservation(&wr, Some("rejected"), None)
            .unwrap();
        assert_eq!(activity_of(&state, &seeded.alice), "Idle");
        let ti = state.task_index(&wt).unwrap();
        assert_eq!(
            state.tasks[ti].status,
            TaskStatus::Pending,
            "nobody else speaks es"
        );
        assert!(state.reservations.iter().all(|r| r.status != rs::PENDING));
        // A new task still reaches Alice.
        let other = task(&mut state, r#"{"selected_language":"es"}"#);
        pending_reservation(&state, &other);
    }

    #[test]
    fn timeout_sends_the_worker_to_the_timeout_activity_and_becoming_idle_reroutes() {
        let (mut state, seeded) = seeded();
        let wt = task(&mut state, r#"{"selected_language":"es"}"#);
        let wr = pending_reservation(&state, &wt);
        state.outbox.clear();
        state.timeout_reservation(&wr);
        assert_eq!(
            event_types(&mut state),
            ["reservation.timeout", "worker.activity.update"]
        );
        assert_eq!(activity_of(&state, &seeded.alice), "Offline");
        state.timeout_reservation(&wr);
        assert!(state.outbox.is_empty(), "a second firing does nothing");
        state
            .update_worker(
                &seeded.alice,
                WorkerChanges {
                    activity_sid: Some(seeded.idle.clone()),
                    ..WorkerChanges::default()
                },
            )
            .unwrap();
        assert_ne!(pending_reservation(&state, &wt), wr);
    }

    #[test]
    fn cancel_and_complete_check_the_task_state() {
        let (mut state, seeded) = seeded();
        let wt = task(&mut state, r#"{"selected_language":"es"}"#);
        let complete = |state: &mut State| {
            state.update_task(
                &wt,
                TaskChanges {
                    assignment_status: Some("completed".into()),
                    ..TaskChanges::default()
                },
            )
        };
        assert!(
            matches!(complete(&mut state), Err(Fail::Invalid(m)) if m.contains("not assigned"))
        );
        state.outbox.clear();
        state
            .update_task(
                &wt,
                TaskChanges {
                    assignment_status: Some("canceled".into()),
                    reason: Some("caller hung up".into()),
                    ..TaskChanges::default()
                },
            )
            .unwrap();
        let outbox = std::mem::take(&mut state.outbox);
        let canceled = outbox
            .iter()
            .find_map(|o| match o {
                Outgoing::Event { params, .. } if params[0].1 == "task.canceled" => Some(params),
                _ => None,
            })
            .unwrap();
        assert!(canceled.contains(&("TaskCanceledReason".into(), "caller hung up".into())));
        assert_eq!(activity_of(&state, &seeded.alice), "Idle", "released");
        let cancel_again = state.update_task(
            &wt,
            TaskChanges {
                assignment_status: Some("canceled".into()),
                ..TaskChanges::default()
            },
        );
        assert!(
            matches!(cancel_again, Err(Fail::Invalid(m)) if m.starts_with(&format!("Cannot cancel task {wt} in workspace")))
        );
    }

    #[test]
    fn events_filter_and_missing_url_limit_event_callbacks() {
        let (mut state, _) = seeded();
        state
            .update_workspace(WorkspaceChanges {
                events_filter: Some("task.created, reservation.created".into()),
                ..WorkspaceChanges::default()
            })
            .unwrap();
        state.outbox.clear();
        task(&mut state, "{}");
        assert_eq!(
            event_types(&mut state),
            ["task.created", "reservation.created", "ASSIGNMENT"]
        );
        state
            .update_workspace(WorkspaceChanges {
                event_callback_url: Some(String::new()),
                ..WorkspaceChanges::default()
            })
            .unwrap();
        task(&mut state, "{}");
        assert!(event_types(&mut state).is_empty(), "no worker, no URL");
    }

    #[test]
    fn bad_input_is_refused_before_anything_changes() {
        let (mut state, seeded) = seeded();
        for bad in ["[1]", "not json", "\"s\""] {
            assert!(
                state
                    .create_task(NewTask {
                        attributes: Some(bad.into()),
                        ..NewTask::default()
                    })
                    .is_err()
            );
        }
        assert!(
            state
                .create_task(NewTask {
                    priority: Some("-1".into()),
                    ..NewTask::default()
                })
                .is_err()
        );
        assert!(
            state
                .update_worker(
                    &seeded.alice,
                    WorkerChanges {
                        activity_sid: Some("WAnope".into()),
                        attributes: Some("{}".into()),
                        ..WorkerChanges::default()
                    },
                )
                .is_err()
        );
        assert_eq!(state.workers[0].version, 0, "attributes untouched");
        assert_eq!(
            state.update_workflow("WWnope", WorkflowChanges::default()),
            Err(Fail::NotFound)
        );
        let wf = state.workflows[0].sid.clone();
        for (timeout, ok) in [("0", false), ("86401", false), ("x", false), ("30", true)] {
            let result = state.update_workflow(
                &wf,
                WorkflowChanges {
                    task_reservation_timeout: Some(timeout.into()),
                    ..WorkflowChanges::default()
                },
            );
            assert_eq!(result.is_ok(), ok, "{timeout}");
        }
        assert!(
            state
                .update_workflow(
                    &wf,
                    WorkflowChanges {
                        configuration: Some(r#"{"task_routing":{"filters":[{"expression":"a ==","targets":[{"queue":"WQx"}]}]}}"#.into()),
                        ..WorkflowChanges::default()
                    },
                )
                .is_err()
        );
        assert!(
            state
                .update_workspace(WorkspaceChanges {
                    event_callback_url: Some("ftp://x".into()),
                    ..WorkspaceChanges::default()
                })
                .is_err()
        );
    }

    #[test]
    fn sids_are_prefix_plus_32_lowercase_hex() {
        let sid = new_sid("WT");
        assert!(crate::taskrouter::sid::is_sid(&sid, "WT"));
        assert!(
            sid[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_eq!(
            iso(time::macros::datetime!(2026-11-28 10:50:02 UTC)),
            "2026-11-28T10:50:02Z"
        );
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
    }
}
