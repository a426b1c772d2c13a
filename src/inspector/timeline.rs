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
pub fn steps(history: &TaskHistory) -> Vec<Step> {
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
