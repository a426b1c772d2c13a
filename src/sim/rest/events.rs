//! The Events resource: every event the Workspace has had (the same ones its event callbacks
//! carry), newest first as TaskRouter lists them, with the list filters of the spec.

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::super::json::Render;
use super::super::state::{Event, Fail};
use super::{Authed, SharedState, answer, field, list};

/// The value of the event parameter `name`, if the event has it.
fn param<'e>(event: &'e Event, name: &str) -> Option<&'e str> {
    event
        .params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub async fn list_events(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    list(&shared, &uri, raw, "events", |world, base, params| {
        let state = world.get(&ws)?;
        let parse_date = |name: &str| -> Result<Option<time::OffsetDateTime>, Fail> {
            match field(params, name) {
                None => Ok(None),
                Some(text) => time::OffsetDateTime::parse(
                    text.trim(),
                    &time::format_description::well_known::Rfc3339,
                )
                .map(Some)
                .map_err(|_| Fail::Invalid(format!("{name} must be an ISO 8601 date-time"))),
            }
        };
        let start = parse_date("StartDate")?;
        let end = parse_date("EndDate")?;
        let minutes = match field(params, "Minutes") {
            Some(m) => Some(
                m.trim()
                    .parse::<i64>()
                    .map_err(|_| Fail::Invalid("Minutes must be an integer".into()))?,
            ),
            None => None,
        };
        let since = minutes.map(|m| super::super::state::now() - time::Duration::minutes(m));
        let event_types: Vec<String> = field(params, "EventType")
            .map(|t| t.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default();
        // Filters on a resource SID match the event's own field of that name.
        let by_field: Vec<(&str, String)> = [
            ("ReservationSid", "ReservationSid"),
            ("TaskQueueSid", "TaskQueueSid"),
            ("TaskSid", "TaskSid"),
            ("WorkerSid", "WorkerSid"),
            ("WorkflowSid", "WorkflowSid"),
            ("TaskChannel", "TaskChannelUniqueName"),
            ("Sid", "Sid"),
        ]
        .into_iter()
        .filter_map(|(query, event_field)| field(params, query).map(|v| (event_field, v)))
        .collect();
        let render = Render { state, base };
        Ok(state
            .events
            .iter()
            .rev()
            .filter(|e| event_types.is_empty() || event_types.contains(&e.event_type))
            .filter(|e| start.is_none_or(|s| e.at >= s))
            .filter(|e| end.is_none_or(|s| e.at <= s))
            .filter(|e| since.is_none_or(|s| e.at >= s))
            .filter(|e| {
                by_field.iter().all(|(name, wanted)| {
                    param(e, name) == Some(wanted.as_str())
                        || (*name == "TaskChannelUniqueName"
                            && param(e, "TaskChannelSid") == Some(wanted.as_str()))
                })
            })
            .map(|e| render.event(e))
            .collect())
    })
}

pub async fn fetch_event(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let event = state
            .events
            .iter()
            .find(|e| e.sid == sid)
            .ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.event(event))
    })
}
