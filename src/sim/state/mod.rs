//! The sim's world and its rules: one seeded Workspace with its Activities, Workers, TaskQueues,
//! Workflows, Tasks and Reservations, and every transition of the task lifecycle (reference
//! §3.6 "State machine"). Nothing here does I/O or touches a clock other than reading it: a
//! transition appends the callbacks it causes to [`State::outbox`] and the timers it starts or
//! ends to [`State::new_timers`] / [`State::ended_timers`]; `super::Shared` sends and spawns them
//! after the transition, under the same lock, so callbacks leave in the order things happened.
//!
//! Rooms: [`model`] (the records and inputs), `routing` (Workflow configuration, queue
//! matching, offering reservations), `events` (building callback parameters), `resources`
//! (Workers, Workspace, Workflow changes), `lifecycle` (task and reservation transitions,
//! timeouts). This file holds the [`State`] itself, the seed, lookups and value parsing.

mod channels;
mod crud;
mod events;
mod lifecycle;
pub mod model;
mod resources;
mod routing;
#[cfg(test)]
mod tests;
pub mod voice;
mod world;

pub use channels::WorkerChannel;
pub use crud::QueueInput;
pub use world::{NewWorkspace, World};

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::expr::Expr;
pub use model::*;
use routing::routing;

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
    hex::encode(bytes)
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
pub(super) fn attributes(value: &str) -> Result<(String, Value), Fail> {
    match serde_json::from_str::<Value>(value) {
        Ok(parsed @ Value::Object(_)) => Ok((value.to_owned(), parsed)),
        _ => Err(Fail::Invalid(
            "Attributes must be a valid JSON object".to_owned(),
        )),
    }
}

pub(super) fn integer(
    name: &str,
    value: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, Fail> {
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
    /// Every event so far, oldest first, at most [`MAX_EVENTS`].
    pub events: std::collections::VecDeque<Event>,
    /// Callbacks caused by the last transitions, oldest first.
    pub outbox: Vec<Outgoing>,
    /// Every event emitted since the last flush, (EventType, callback fields), for Event
    /// Streams subscriptions (see `sim::streams`).
    pub stream_outbox: Vec<(String, Params)>,
    /// Timers to start, and their durations.
    pub new_timers: Vec<(Timer, Duration)>,
    /// Reservations that left `pending` and tasks that ended: their timers are not needed.
    pub ended_timers: Vec<Timer>,
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
            updated: at,
        };
        let activities = vec![
            activity("Offline", false),
            activity("Idle", true),
            activity("Busy", false),
            activity("Reserved", false),
        ];
        let [offline, idle, busy, reserved] = [0, 1, 2, 3].map(|i| activities[i].sid.clone());
        let channels = standard_channels(at);
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
            channel_settings: Vec::new(),
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
            max_reserved_workers: 1,
            task_order: "FIFO".to_owned(),
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
                        "targets": [{"queue": spanish}]
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
        let (filters, default_target) =
            routing(&configuration, |sid| sid == spanish || sid == english).unwrap_or_default();
        let workflow = Workflow {
            sid: new_sid("WW"),
            friendly_name: "Incoming Customer Care Requests".to_owned(),
            assignment_callback_url,
            fallback_assignment_callback_url: None,
            reservation_timeout,
            configuration,
            filters,
            default_target,
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
            events: std::collections::VecDeque::new(),
            outbox: Vec::new(),
            stream_outbox: Vec::new(),
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

    pub(super) fn known_activity(&self, name: &str, sid: &str) -> Result<String, Fail> {
        match self.activity(sid.trim()) {
            Some(activity) => Ok(activity.sid.clone()),
            None => Err(Fail::Invalid(format!(
                "{name} {sid} is not an Activity of Workspace {}",
                self.workspace.sid
            ))),
        }
    }
}

/// The TaskChannels every Workspace starts with.
pub(super) fn standard_channels(at: OffsetDateTime) -> Vec<TaskChannel> {
    ["default", "voice", "sms", "chat", "video", "email"]
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
            channel_optimized_routing: None,
            created: at,
            updated: at,
        })
        .collect()
}

/// The Events resource keeps this many events per Workspace (oldest dropped first).
pub const MAX_EVENTS: usize = 10_000;

/// Whole seconds since the task was created.
pub fn age(task: &Task) -> i64 {
    (now() - task.created).whole_seconds().max(0)
}
