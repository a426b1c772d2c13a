//! The buttons' routes. Each action exists twice: as JSON for scripts and the page's JavaScript
//! (`POST /api/reservations/{WR}/accept` with `Content-Type: application/json`), and as a plain
//! HTML form (`POST /reservations/{WR}/accept`, carrying the per-run CSRF token) that answers
//! 303 back to the page, where the result is shown from the audit trail.
//!
//! Cross-site requests never get here (the guard refuses foreign Origins and Sec-Fetch-Site);
//! the JSON routes also refuse any other content type, which a cross-site form cannot send.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::InspectorState;
use super::error::{Failure, ParsedForm, ParsedJson, ParsedPath};
use crate::actions::{Outcome, ReservationInput};
use crate::taskrouter::sid::{ReservationSid, TaskSid, WorkspaceSid};
use crate::taskrouter::status::ActionKind;

/// Body of `POST /api/tasks/{WT}/complete|cancel`.
#[derive(Debug, Default, Deserialize)]
pub struct TaskInput {
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub workspace_sid: Option<WorkspaceSid>,
}

async fn run_reservation(
    state: &InspectorState,
    reservation: &ReservationSid,
    action: ActionKind,
    input: &ReservationInput,
) -> Result<Outcome, Failure> {
    if !action.on_reservation() {
        return Err(Failure::NotFound(format!(
            "{action} is an action on a task, not a reservation"
        )));
    }
    Ok(state
        .actions
        .on_reservation(action, reservation, input)
        .await?)
}

async fn run_task(
    state: &InspectorState,
    task: &TaskSid,
    action: ActionKind,
    input: TaskInput,
) -> Result<Outcome, Failure> {
    if action.task_status().is_none() {
        return Err(Failure::NotFound(format!(
            "{action} is an action on a reservation, not a task"
        )));
    }
    let reason = input.reason.unwrap_or_default();
    Ok(state
        .actions
        .finish_task(action, task, input.workspace_sid, &reason)
        .await?)
}

/// JSON answer: TaskRouter's JSON on success; otherwise the one error shape carrying
/// TaskRouter's status, code, message and more_info (502), or why nothing was sent.
fn json_answer(result: Result<Outcome, Failure>) -> Result<Response, Failure> {
    let outcome = result?;
    if outcome.ok {
        let mut body = outcome.taskrouter.unwrap_or_else(|| json!({}));
        // TaskRouter's JSON as it came, plus why the click did not do what it meant.
        if let (Some(warning), Some(map)) = (outcome.warning, body.as_object_mut()) {
            map.insert(
                "taskhook_warning".into(),
                serde_json::Value::String(warning),
            );
        }
        Ok(Json(body).into_response())
    } else {
        Err(Failure::from_outcome(outcome))
    }
}

pub async fn reservation_json(
    State(state): State<Arc<InspectorState>>,
    ParsedPath((reservation, action)): ParsedPath<(ReservationSid, ActionKind)>,
    ParsedJson(input): ParsedJson<ReservationInput>,
) -> Result<Response, Failure> {
    json_answer(run_reservation(&state, &reservation, action, &input).await)
}

pub async fn task_json(
    State(state): State<Arc<InspectorState>>,
    ParsedPath((task, action)): ParsedPath<(TaskSid, ActionKind)>,
    ParsedJson(input): ParsedJson<TaskInput>,
) -> Result<Response, Failure> {
    json_answer(run_task(&state, &task, action, input).await)
}

/// Fields of the HTML forms.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    task_sid: Option<TaskSid>,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    workspace_sid: Option<WorkspaceSid>,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    worker_activity_sid: Option<crate::taskrouter::sid::ActivitySid>,
    #[serde(default)]
    reason: Option<String>,
    /// Where to go afterwards: a local path only.
    #[serde(default)]
    back: Option<String>,
}

/// Refuses a form whose CSRF token is not this run's.
pub fn check_csrf(state: &InspectorState, token: &str) -> Result<(), Failure> {
    if bool::from(state.csrf.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(Failure::Forbidden(
            "invalid CSRF token; reload the page".into(),
        ))
    }
}

/// A local path to return to; anything else (another origin, `//host`) becomes `/`.
fn back_to(back: Option<&str>) -> String {
    match back {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Results that reached TaskRouter are in the audit trail, which the page shows: back to it.
fn form_answer(result: Result<Outcome, Failure>, back: &str) -> Result<Response, Failure> {
    match result {
        Ok(_) | Err(Failure::TaskRouter(_)) => Ok(Redirect::to(back).into_response()),
        Err(err) => Err(err),
    }
}

pub async fn reservation_form(
    State(state): State<Arc<InspectorState>>,
    ParsedPath((reservation, action)): ParsedPath<(ReservationSid, ActionKind)>,
    ParsedForm(form): ParsedForm<ActionForm>,
) -> Result<Response, Failure> {
    check_csrf(&state, &form.csrf)?;
    let input = ReservationInput {
        task_sid: form.task_sid.clone(),
        workspace_sid: form.workspace_sid.clone(),
        worker_activity_sid: form.worker_activity_sid.clone(),
    };
    let back = back_to(form.back.as_deref());
    form_answer(
        run_reservation(&state, &reservation, action, &input).await,
        &back,
    )
}

pub async fn task_form(
    State(state): State<Arc<InspectorState>>,
    ParsedPath((task, action)): ParsedPath<(TaskSid, ActionKind)>,
    ParsedForm(form): ParsedForm<ActionForm>,
) -> Result<Response, Failure> {
    check_csrf(&state, &form.csrf)?;
    let back = back_to(form.back.as_deref());
    let input = TaskInput {
        reason: form.reason,
        workspace_sid: form.workspace_sid,
    };
    form_answer(run_task(&state, &task, action, input).await, &back)
}

#[cfg(test)]
mod tests {
    use super::back_to;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(back_to(Some("/tasks/WT1?x=1")), "/tasks/WT1?x=1");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(back_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(back_to(None), "/");
    }
}
