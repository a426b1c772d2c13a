//! The records the sim keeps (Workspace, Activity, TaskChannel, Worker, TaskQueue, Workflow,
//! Task, Reservation), what a transition sends out ([`Outgoing`]), and the inputs and failures
//! of the REST operations. Plain data: the rules live in the sibling modules.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::super::expr::Expr;

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
    pub const RESCINDED: &str = "rescinded";
    pub const WRAPPING: &str = "wrapping";
    pub const COMPLETED: &str = "completed";
}

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
    pub updated: OffsetDateTime,
}

pub struct TaskChannel {
    pub sid: String,
    pub friendly_name: String,
    pub unique_name: String,
    pub channel_optimized_routing: Option<bool>,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
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
    /// Worker Channel settings changed through the API; a channel not listed has TaskRouter's
    /// defaults (capacity 1, available).
    pub channel_settings: Vec<ChannelSetting>,
}

/// A worker's capacity and availability on one TaskChannel (multitasking).
pub struct ChannelSetting {
    pub channel_sid: String,
    pub capacity: u32,
    pub available: bool,
    pub updated: OffsetDateTime,
}

pub struct TaskQueue {
    pub sid: String,
    pub friendly_name: String,
    pub target: Expr,
    pub assignment_activity_sid: Option<String>,
    pub reservation_activity_sid: Option<String>,
    pub max_reserved_workers: u32,
    /// `FIFO` or `LIFO`.
    pub task_order: String,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

/// One `task_routing.filters[]` entry: a task whose attributes match `expression` works
/// through `targets` (routing steps) in order.
#[derive(Clone)]
pub struct Filter {
    pub friendly_name: String,
    pub expression: Expr,
    /// Never empty. Shared with the tasks routed through them (see [`Step`]).
    pub targets: Arc<[Target]>,
}

/// One routing step (a filter's `targets[]` entry, or the `default_filter`).
#[derive(Clone, Debug)]
pub struct Target {
    pub queue_sid: String,
    /// The worker-side `expression` (`worker.x HAS task.y`), if any.
    pub expression: Option<Expr>,
    /// Overrides the task's priority while it is in this step.
    pub priority: Option<i64>,
    /// Seconds; counted on the task's age, summed over the steps before (see `routing`).
    pub timeout: Option<u64>,
    /// Which eligible worker is reserved first; empty: the one available longest.
    pub order_by: Vec<OrderBy>,
    /// Evaluated on entering the step when no reservation was made at once: true skips it.
    pub skip_if: Option<Expr>,
}

/// One `order_by` clause: `worker.english_level DESC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    /// The attribute path under the worker's attributes (`english_level`, `skills.fr`).
    pub path: Vec<String>,
    pub descending: bool,
}

/// Where a task is in its Workflow: which filter (or the default filter), which step, and
/// the step's deadline. The targets are the ones the task was routed with (shared, not
/// copied), so a Workflow updated meanwhile does not pull a step out from under a waiting
/// task.
#[derive(Clone, Debug)]
pub struct Step {
    /// Index into the Workflow's filters; `None` for the default filter.
    pub filter: Option<usize>,
    pub filter_name: String,
    pub targets: Arc<[Target]>,
    /// Index into `targets`.
    pub index: usize,
    /// Counts every step entered, so a timer started for an earlier step is recognised.
    pub seq: u64,
    /// Sum of the timeouts of the steps entered so far and not skipped, in seconds.
    pub budget: u64,
    /// When the filter's steps began: the step's deadline is `started + budget`.
    pub started: OffsetDateTime,
    /// Entered a step with `skip_if`; evaluated once the first offer round is over.
    pub skip_pending: bool,
}

impl Step {
    pub fn target(&self) -> &Target {
        &self.targets[self.index]
    }
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
    pub default_target: Option<Target>,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

impl Workflow {
    /// True when any routing step, the default filter's included, names this queue.
    pub fn routes_to(&self, queue_sid: &str) -> bool {
        self.default_target
            .iter()
            .chain(self.filters.iter().flat_map(|f| f.targets.iter()))
            .any(|t| t.queue_sid == queue_sid)
    }
}

pub struct Task {
    pub sid: String,
    pub attributes: String,
    pub attrs: Value,
    pub status: TaskStatus,
    pub priority: i64,
    pub reason: Option<String>,
    pub queue_sid: Option<String>,
    /// The Workflow routing step the task is in; `None` outside a Workflow (a fixed queue)
    /// or when no filter matched.
    pub step: Option<Step>,
    pub workflow_sid: String,
    pub channel_sid: String,
    pub timeout: u64,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
    pub queue_entered: Option<OffsetDateTime>,
    /// Workers who rejected this task; it is not offered to them again.
    pub rejected_by: Vec<String>,
    pub version: u64,
    /// `RoutingTarget`: a Worker (offered to that worker only), a TaskQueue or a Workflow.
    pub routing_target: Option<String>,
    /// `TaskQueueSid`, or a `RoutingTarget` naming a queue: the task goes straight there.
    pub fixed_queue: Option<String>,
    /// `IgnoreCapacity`: offered even when the worker's channel is full.
    pub ignore_capacity: bool,
    /// `VirtualStartTime` (default: creation): the task's age, and its place in the queue.
    pub virtual_start: OffsetDateTime,
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

/// What a timer is for; the sim keeps one running timer per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The reservation's timeout (the Workflow's TaskReservationTimeout).
    Reservation(String),
    /// The task's TTL (its `Timeout`).
    TaskTtl(String),
    /// The end of the task's Workflow routing step number `seq` (see `Step::seq`).
    Step { task_sid: String, seq: u64 },
}

/// A callback to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An event callback to the Workspace's EventCallbackUrl (reference §2).
    Event {
        url: String,
        params: Vec<(String, String)>,
    },
    /// An Event Streams batch (a JSON array of CloudEvents) to a webhook sink.
    Stream { url: String, body: Vec<u8> },
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
    Reject {
        activity_sid: Option<String>,
    },
    /// dequeue, call, redirect, conference (see [`super::voice`]).
    Voice(super::voice::Voice),
}

/// Why a request could not be applied. The REST layer turns it into TaskRouter's error JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// 404 / 20404.
    NotFound,
    /// 400 / 20001 with this message.
    Invalid(String),
    /// 412: the request's `If-Match` names a version that is no longer current.
    Stale(String),
    /// 400 with TaskRouter's own code (a voice instruction it would refuse, 401xx).
    Refused { code: u32, message: String },
}

pub(super) type Params = Vec<(String, String)>;

/// Inputs of Task create (reference §3.6).
#[derive(Debug, Default)]
pub struct NewTask {
    pub attributes: Option<String>,
    pub priority: Option<String>,
    pub timeout: Option<String>,
    pub workflow_sid: Option<String>,
    pub task_channel: Option<String>,
    pub task_queue_sid: Option<String>,
    pub routing_target: Option<String>,
    pub ignore_capacity: Option<String>,
    pub virtual_start_time: Option<String>,
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
    /// `ReEvaluateTasks` (update only): the Workflow's pending tasks are routed again from
    /// its first filter.
    pub re_evaluate_tasks: bool,
}

/// Longest Workflow TaskReservationTimeout (reference §1.1).
pub const MAX_RESERVATION_TIMEOUT: Duration = Duration::from_secs(86_400);
/// Task `Timeout` default and maximum (reference §3.6).
pub(super) const DEFAULT_TASK_TIMEOUT: u64 = 86_400;
pub(super) const MAX_TASK_TIMEOUT: u64 = 1_209_600;

/// One Events resource entry: the event callback's parameters, kept whether or not a callback
/// URL is set (the Events resource lists every event of the Workspace).
pub struct Event {
    pub sid: String,
    pub event_type: String,
    pub resource_type: String,
    pub resource_sid: String,
    pub description: String,
    pub at: OffsetDateTime,
    pub params: Vec<(String, String)>,
}
