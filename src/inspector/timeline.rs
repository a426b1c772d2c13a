//! A task's life as milestones on a picture: created → reserved → accepted → completed, with
//! the time between them. Replays never count (they re-send old callbacks).

use super::view;
use crate::store::TaskHistory;
use crate::store::models::RequestSummary;
use crate::taskrouter::status::Kind;

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
pub const TIMELINE_WIDTH: u32 = 1000;

/// The milestone an event marks in a task's life, if any.
fn milestone(s: &RequestSummary) -> Option<(&'static str, &'static str)> {
    if s.kind == Kind::Assignment {
        return Some(("reserved", "pending"));
    }
    milestone_of(s.event_type.as_deref()?)
}

/// The milestone an event type marks (event callbacks and Event Streams events alike).
fn milestone_of(event_type: &str) -> Option<(&'static str, &'static str)> {
    Some(match event_type {
        "task.created" => ("created", "neutral"),
        "reservation.created" => ("reserved", "pending"),
        "reservation.accepted" => ("accepted", "ok"),
        "reservation.rejected" => ("rejected", "warn"),
        "reservation.timeout" => ("timed out", "warn"),
        "reservation.canceled" => ("reservation canceled", "warn"),
        "reservation.rescinded" => ("rescinded", "warn"),
        // A Workflow step timed out or was skipped: the task went on to another queue.
        "task-queue.moved" => ("moved", "neutral"),
        "task.wrapup" => ("wrapping", "neutral"),
        "task.completed" => ("completed", "ok"),
        "task.canceled" => ("canceled", "err"),
        "task.deleted" | "task.system-deleted" => ("deleted", "neutral"),
        _ => return None,
    })
}

/// One milestone before placement: label, class, request id, time (text and µs).
type Found = (&'static str, &'static str, i64, String, i64);

/// Milestones in order, repeated consecutive ones folded, placed evenly on the picture.
///
/// Event Streams events count by their own time (they arrive in no order), re-deliveries
/// not at all; the requests that carried them are not counted again.
pub fn steps(history: &TaskHistory) -> Vec<Step> {
    let batches: std::collections::HashSet<i64> =
        history.events.iter().map(|e| e.request_id).collect();
    let mut all: Vec<Found> = Vec::new();
    for s in &history.requests {
        if s.replay_of.is_some() || batches.contains(&s.id) {
            continue;
        }
        if let Some((label, class)) = milestone(s) {
            all.push((label, class, s.id, s.received_at.clone(), s.received_at_us));
        }
    }
    for e in &history.events {
        if e.duplicate_of.is_some() {
            continue;
        }
        let at_us = e.event_time_us.or_else(|| {
            history
                .requests
                .iter()
                .find(|r| r.id == e.request_id)
                .map(|r| r.received_at_us)
        });
        if let (Some((label, class)), Some(at_us)) =
            (e.event_type.as_deref().and_then(milestone_of), at_us)
        {
            let at = e.event_time.clone().unwrap_or_default();
            all.push((label, class, e.request_id, at, at_us));
        }
    }
    if !history.events.is_empty() {
        // Stable: callbacks keep their arrival order among equal times.
        all.sort_by_key(|f| f.4);
    }
    let mut found: Vec<Found> = Vec::new();
    for f in all {
        if found.last().is_none_or(|last| last.0 != f.0) {
            found.push(f);
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
    for (i, (label, class, request_id, at, at_us)) in found.iter().enumerate() {
        let x = if n == 1 {
            TIMELINE_WIDTH / 2
        } else {
            margin + spacing * i as u32
        };
        let gap = i.checked_sub(1).map(|p| view::gap(at_us - found[p].4));
        out.push(Step {
            label: (*label).to_owned(),
            class,
            at: at.clone(),
            request_id: *request_id,
            x,
            gap,
            gap_x: x.saturating_sub(spacing / 2),
        });
    }
    out
}
