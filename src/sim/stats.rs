//! TaskRouter's Statistics resources computed from the sim's real state: real-time figures
//! (tasks by status and priority, longest waiting task, workers per Activity, eligible and
//! available workers) from the tasks and workers as they are now, cumulative figures
//! (reservations and tasks created, accepted, rejected, timed out, canceled, completed, moved;
//! wait durations; time spent per Activity) from the Workspace's events in the window asked
//! for (`StartDate` / `EndDate` / `Minutes`, 15 minutes by default as TaskRouter does).

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::expr::Subject;
use super::state::{Event, Fail, State, Task, TaskQueue, TaskStatus, Worker, age, iso, now};

/// The time window and channel a statistics request asks about.
pub struct Window {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// A TaskChannel SID or unique name.
    pub channel: Option<String>,
}

impl Window {
    /// From the query: `StartDate` / `EndDate` (ISO 8601), `Minutes`, `TaskChannel`.
    pub fn from_query(params: &[(String, String)]) -> Result<Self, Fail> {
        let field = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
        };
        let date = |name: &str| -> Result<Option<OffsetDateTime>, Fail> {
            match field(name) {
                None => Ok(None),
                Some(text) => {
                    OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                        .map(Some)
                        .map_err(|_| Fail::Invalid(format!("{name} must be an ISO 8601 date-time")))
                }
            }
        };
        let end = date("EndDate")?.unwrap_or_else(now);
        let start = match (date("StartDate")?, field("Minutes")) {
            (Some(start), _) => start,
            (None, Some(minutes)) => {
                let minutes: i64 =
                    minutes.parse().ok().filter(|m| *m >= 0).ok_or_else(|| {
                        Fail::Invalid("Minutes must be a positive integer".into())
                    })?;
                end - time::Duration::minutes(minutes)
            }
            (None, None) => end - time::Duration::minutes(15),
        };
        Ok(Self {
            start,
            end,
            channel: field("TaskChannel").filter(|c| !c.is_empty()),
        })
    }
}

fn param<'e>(event: &'e Event, name: &str) -> Option<&'e str> {
    event
        .params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What a statistics request is about.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    Workspace,
    Queue(&'a str),
    Workflow(&'a str),
    Worker(&'a str),
}

impl Scope<'_> {
    fn event_matches(self, event: &Event) -> bool {
        match self {
            Scope::Workspace => true,
            Scope::Queue(sid) => param(event, "TaskQueueSid") == Some(sid),
            Scope::Workflow(sid) => param(event, "WorkflowSid") == Some(sid),
            Scope::Worker(sid) => param(event, "WorkerSid") == Some(sid),
        }
    }

    fn task_matches(self, task: &Task) -> bool {
        match self {
            Scope::Workspace | Scope::Worker(_) => true,
            Scope::Queue(sid) => task.queue_sid.as_deref() == Some(sid),
            Scope::Workflow(sid) => task.workflow_sid == sid,
        }
    }
}

pub struct Stats<'a> {
    pub state: &'a State,
    pub window: &'a Window,
}

/// `{avg, min, max, total}` of whole seconds.
fn durations(values: &[i64]) -> Value {
    let total: i64 = values.iter().sum();
    json!({
        "avg": if values.is_empty() { 0 } else { total / values.len() as i64 },
        "min": values.iter().copied().min().unwrap_or(0),
        "max": values.iter().copied().max().unwrap_or(0),
        "total": total,
    })
}

impl Stats<'_> {
    fn channel_matches_event(&self, event: &Event) -> bool {
        self.window.channel.as_deref().is_none_or(|c| {
            param(event, "TaskChannelSid") == Some(c)
                || param(event, "TaskChannelUniqueName") == Some(c)
        })
    }

    fn channel_matches_task(&self, task: &Task) -> bool {
        self.window.channel.as_deref().is_none_or(|c| {
            task.channel_sid == c
                || self
                    .state
                    .channel(&task.channel_sid)
                    .is_some_and(|ch| ch.unique_name == c)
        })
    }

    fn events(&self, scope: Scope<'_>) -> impl Iterator<Item = &Event> {
        self.state.events.iter().filter(move |e| {
            e.at >= self.window.start
                && e.at <= self.window.end
                && scope.event_matches(e)
                && self.channel_matches_event(e)
        })
    }

    fn count(&self, scope: Scope<'_>, event_type: &str) -> usize {
        self.events(scope)
            .filter(|e| e.event_type == event_type)
            .count()
    }

    /// `TaskAge` of each `event_type` event: how long the task had waited.
    fn waits(&self, scope: Scope<'_>, event_type: &str) -> Vec<i64> {
        self.events(scope)
            .filter(|e| e.event_type == event_type)
            .filter_map(|e| param(e, "TaskAge").and_then(|a| a.parse().ok()))
            .collect()
    }

    fn reservation_counts(&self, scope: Scope<'_>) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for (field, event) in [
            ("reservations_created", "reservation.created"),
            ("reservations_accepted", "reservation.accepted"),
            ("reservations_rejected", "reservation.rejected"),
            ("reservations_timed_out", "reservation.timeout"),
            ("reservations_canceled", "reservation.canceled"),
            ("reservations_rescinded", "reservation.rescinded"),
        ] {
            out.insert(field.into(), json!(self.count(scope, event)));
        }
        out.insert("start_time".into(), json!(iso(self.window.start)));
        out.insert("end_time".into(), json!(iso(self.window.end)));
        out
    }

    /// Workspace, TaskQueue and Workflow cumulative statistics (their fields differ a little).
    pub fn cumulative(&self, scope: Scope<'_>) -> serde_json::Map<String, Value> {
        let mut out = self.reservation_counts(scope);
        let accepted = self.waits(scope, "reservation.accepted");
        let canceled = self.waits(scope, "task.canceled");
        let avg = durations(&accepted)["avg"].clone();
        out.insert("avg_task_acceptance_time".into(), avg);
        out.insert("split_by_wait_time".into(), Value::Null);
        out.insert("wait_duration_until_accepted".into(), durations(&accepted));
        out.insert("wait_duration_until_canceled".into(), durations(&canceled));
        for (field, event) in [
            ("tasks_canceled", "task.canceled"),
            ("tasks_completed", "task.completed"),
            ("tasks_deleted", "task.deleted"),
            ("tasks_moved", "task-queue.moved"),
        ] {
            out.insert(field.into(), json!(self.count(scope, event)));
        }
        match scope {
            Scope::Workspace => {
                out.insert(
                    "tasks_created".into(),
                    json!(self.count(scope, "task.created")),
                );
                out.insert(
                    "tasks_timed_out_in_workflow".into(),
                    json!(self.count(scope, "workflow.timeout")),
                );
            }
            Scope::Queue(_) => {
                // A task escalated into the queue (`task-queue.moved` names the queue entered)
                // entered it too.
                let entered =
                    self.count(scope, "task-queue.entered") + self.count(scope, "task-queue.moved");
                out.insert("tasks_entered".into(), json!(entered));
                out.insert(
                    "wait_duration_in_queue_until_accepted".into(),
                    durations(&accepted),
                );
            }
            Scope::Workflow(_) => {
                out.insert(
                    "tasks_entered".into(),
                    json!(self.count(scope, "workflow.entered")),
                );
                out.insert(
                    "tasks_timed_out_in_workflow".into(),
                    json!(self.count(scope, "workflow.timeout")),
                );
            }
            Scope::Worker(_) => {}
        }
        out
    }

    fn live_tasks(&self, scope: Scope<'_>) -> Vec<&Task> {
        self.state
            .tasks
            .iter()
            .filter(|t| {
                matches!(
                    t.status,
                    TaskStatus::Pending
                        | TaskStatus::Reserved
                        | TaskStatus::Assigned
                        | TaskStatus::Wrapping
                )
            })
            .filter(|t| scope.task_matches(t) && self.channel_matches_task(t))
            .collect()
    }

    fn activity_statistics<'w>(&self, workers: impl Iterator<Item = &'w Worker> + Clone) -> Value {
        Value::Array(
            self.state
                .activities
                .iter()
                .map(|a| {
                    json!({
                        "sid": a.sid,
                        "friendly_name": a.friendly_name,
                        "workers": workers.clone().filter(|w| w.activity_sid == a.sid).count(),
                    })
                })
                .collect(),
        )
    }

    /// Workspace, TaskQueue and Workflow real-time statistics.
    pub fn realtime(&self, scope: Scope<'_>) -> serde_json::Map<String, Value> {
        let tasks = self.live_tasks(scope);
        let mut by_status = serde_json::Map::new();
        for status in [
            TaskStatus::Pending,
            TaskStatus::Reserved,
            TaskStatus::Assigned,
            TaskStatus::Wrapping,
        ] {
            let n = tasks.iter().filter(|t| t.status == status).count();
            by_status.insert(status.as_str().into(), json!(n));
        }
        let mut by_priority = serde_json::Map::new();
        for task in &tasks {
            let entry = by_priority
                .entry(task.priority.to_string())
                .or_insert(json!(0));
            *entry = json!(entry.as_u64().unwrap_or(0) + 1);
        }
        let waiting = tasks
            .iter()
            .filter(|t| matches!(t.status, TaskStatus::Pending | TaskStatus::Reserved))
            .max_by_key(|t| (age(t), std::cmp::Reverse(t.created)));
        let mut out = serde_json::Map::new();
        out.insert(
            "longest_task_waiting_age".into(),
            json!(waiting.map(|t| age(t)).unwrap_or(0)),
        );
        out.insert(
            "longest_task_waiting_sid".into(),
            json!(waiting.map(|t| t.sid.clone())),
        );
        out.insert("tasks_by_priority".into(), Value::Object(by_priority));
        out.insert("tasks_by_status".into(), Value::Object(by_status));
        out.insert("total_tasks".into(), json!(tasks.len()));
        match scope {
            Scope::Workspace => {
                out.insert(
                    "activity_statistics".into(),
                    self.activity_statistics(self.state.workers.iter()),
                );
                out.insert("total_workers".into(), json!(self.state.workers.len()));
            }
            Scope::Queue(sid) => {
                let queue = self.state.queue(sid);
                let eligible = move |w: &&Worker| {
                    queue.is_some_and(|q: &TaskQueue| q.target.matches(Subject::of(&w.attrs)))
                };
                let workers = self.state.workers.iter().filter(eligible);
                out.insert(
                    "activity_statistics".into(),
                    self.activity_statistics(workers.clone()),
                );
                out.insert(
                    "total_eligible_workers".into(),
                    json!(workers.clone().count()),
                );
                out.insert(
                    "total_available_workers".into(),
                    json!(workers.filter(|w| self.state.worker_available(w)).count()),
                );
                let in_queue = |t: &&&Task| {
                    t.status == TaskStatus::Pending || t.status == TaskStatus::Reserved
                };
                let longest = tasks
                    .iter()
                    .filter(in_queue)
                    .filter_map(|t| t.queue_entered.map(|at| (t, (now() - at).whole_seconds())))
                    .max_by_key(|(_, seconds)| *seconds);
                out.insert(
                    "longest_relative_task_age_in_queue".into(),
                    json!(longest.map(|(_, s)| s.max(0)).unwrap_or(0)),
                );
                out.insert(
                    "longest_relative_task_sid_in_queue".into(),
                    json!(longest.map(|(t, _)| t.sid.clone())),
                );
            }
            Scope::Workflow(_) | Scope::Worker(_) => {}
        }
        out
    }

    /// Workers cumulative statistics: time spent per Activity (from `worker.activity.update`
    /// events) and reservation counts, for every worker or one.
    pub fn workers_cumulative(&self, scope: Scope<'_>) -> serde_json::Map<String, Value> {
        let mut out = self.reservation_counts(scope);
        let spent: Vec<(&str, i64)> = self
            .events(scope)
            .filter(|e| e.event_type == "worker.activity.update")
            .filter_map(|e| {
                Some((
                    param(e, "WorkerPreviousActivitySid")?,
                    param(e, "WorkerTimeInPreviousActivity")?.parse().ok()?,
                ))
            })
            .collect();
        let durations_by_activity: Vec<Value> = self
            .state
            .activities
            .iter()
            .map(|a| {
                let values: Vec<i64> = spent
                    .iter()
                    .filter(|(sid, _)| *sid == a.sid)
                    .map(|(_, s)| *s)
                    .collect();
                let mut entry = durations(&values);
                entry["sid"] = json!(a.sid);
                entry["friendly_name"] = json!(a.friendly_name);
                entry
            })
            .collect();
        out.insert(
            "activity_durations".into(),
            Value::Array(durations_by_activity),
        );
        out
    }

    pub fn workers_realtime(&self) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        out.insert(
            "activity_statistics".into(),
            self.activity_statistics(self.state.workers.iter()),
        );
        out.insert("total_workers".into(), json!(self.state.workers.len()));
        out
    }
}
