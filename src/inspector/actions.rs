//! The buttons' routes. Each action exists twice: as JSON for scripts and the page's JavaScript
//! (`POST /api/reservations/{WR}/accept` with `Content-Type: application/json`), and as a plain
//! HTML form (`POST /reservations/{WR}/accept`, carrying the per-run CSRF token) that answers
//! 303 back to the page, where the result is shown from the audit trail.
//!
//! Cross-site requests never get here (the guard refuses foreign Origins and Sec-Fetch-Site);
//! the JSON routes also refuse any other content type, which a cross-site form cannot send.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::InspectorState;
use crate::actions::{ActionError, Outcome, ReservationInput};
use crate::replay::{HeaderEdit, ReplayEdits, ReplayError};
use crate::taskrouter::client::RestError;

/// Body of `POST /api/tasks/{WT}/complete|cancel`.
#[derive(Debug, Default, Deserialize)]
pub struct TaskInput {
    pub reason: Option<String>,
    pub workspace_sid: Option<String>,
}

async fn run_reservation(
    state: &InspectorState,
    reservation: &str,
    action: &str,
    input: &ReservationInput,
) -> Option<Result<Outcome, ActionError>> {
    let actions = &state.actions;
    Some(match action {
        "accept" => actions.accept(reservation, input).await,
        "reject" => actions.reject(reservation, input).await,
        "refresh" => actions.refresh(reservation, input).await,
        _ => return None,
    })
}

async fn run_task(
    state: &InspectorState,
    task: &str,
    action: &str,
    input: TaskInput,
) -> Option<Result<Outcome, ActionError>> {
    let name = match action {
        "complete" => "complete",
        "cancel" => "cancel",
        _ => return None,
    };
    let reason = input.reason.unwrap_or_default();
    Some(
        state
            .actions
            .finish_task(name, task, input.workspace_sid, &reason)
            .await,
    )
}

/// JSON answer: TaskRouter's JSON on success; otherwise an error carrying TaskRouter's status,
/// code, message and more_info (502), or why nothing was sent (400 / 409).
fn json_answer(result: Option<Result<Outcome, ActionError>>) -> Response {
    match result {
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such action"})),
        )
            .into_response(),
        Some(Ok(outcome)) if outcome.ok => {
            Json(outcome.taskrouter.unwrap_or_else(|| json!({}))).into_response()
        }
        Some(Ok(outcome)) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({
                "error": outcome.error,
                "summary": outcome.summary,
                "taskrouter": outcome.taskrouter,
                "reservation_status": outcome.reservation_status,
            })),
        )
            .into_response(),
        Some(Err(err)) => {
            let status = match &err {
                ActionError::Rest(RestError::NoCredentials) => StatusCode::CONFLICT,
                ActionError::Rest(_) | ActionError::Lookup(_) => StatusCode::BAD_REQUEST,
                ActionError::Store(_) | ActionError::Audit(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, Json(json!({"error": {"message": err.to_string()}}))).into_response()
        }
    }
}

pub async fn reservation_json(
    State(state): State<Arc<InspectorState>>,
    Path((reservation, action)): Path<(String, String)>,
    Json(input): Json<ReservationInput>,
) -> Response {
    json_answer(run_reservation(&state, &reservation, &action, &input).await)
}

pub async fn task_json(
    State(state): State<Arc<InspectorState>>,
    Path((task, action)): Path<(String, String)>,
    Json(input): Json<TaskInput>,
) -> Response {
    json_answer(run_task(&state, &task, &action, input).await)
}

/// Fields of the HTML forms.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    task_sid: Option<String>,
    #[serde(default)]
    workspace_sid: Option<String>,
    #[serde(default)]
    worker_activity_sid: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    /// Where to go afterwards: a local path only.
    #[serde(default)]
    back: Option<String>,
}

/// `None` when `token` is this run's CSRF token, else the page to answer with.
fn refuse_bad_csrf(state: &InspectorState, token: &str) -> Option<Response> {
    if bool::from(state.csrf.as_bytes().ct_eq(token.as_bytes())) {
        None
    } else {
        Some(super::pages::error_page(
            StatusCode::FORBIDDEN,
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

fn form_answer(result: Option<Result<Outcome, ActionError>>, back: &str) -> Response {
    match result {
        None => (StatusCode::NOT_FOUND, "no such action").into_response(),
        // Results that reached TaskRouter are in the audit trail, which the page shows.
        Some(Ok(_)) | Some(Err(ActionError::Rest(RestError::Twilio { .. }))) => {
            Redirect::to(back).into_response()
        }
        Some(Err(err)) => super::pages::error_page(
            match err {
                ActionError::Rest(RestError::NoCredentials) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            },
            err.to_string(),
        ),
    }
}

pub async fn reservation_form(
    State(state): State<Arc<InspectorState>>,
    Path((reservation, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refused) = refuse_bad_csrf(&state, &form.csrf) {
        return refused;
    }
    let input = ReservationInput {
        task_sid: form.task_sid.clone(),
        workspace_sid: form.workspace_sid.clone(),
        worker_activity_sid: form.worker_activity_sid.clone(),
    };
    let back = back_to(form.back.as_deref());
    form_answer(
        run_reservation(&state, &reservation, &action, &input).await,
        &back,
    )
}

pub async fn task_form(
    State(state): State<Arc<InspectorState>>,
    Path((task, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refused) = refuse_bad_csrf(&state, &form.csrf) {
        return refused;
    }
    let back = back_to(form.back.as_deref());
    let input = TaskInput {
        reason: form.reason,
        workspace_sid: form.workspace_sid,
    };
    form_answer(run_task(&state, &task, &action, input).await, &back)
}

/// `POST /requests/clear` (form, with the CSRF token and the confirmation box ticked).
pub async fn clear_form(
    State(state): State<Arc<InspectorState>>,
    body: axum::body::Bytes,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(refused) = refuse_bad_csrf(&state, get("csrf").unwrap_or("")) {
        return refused;
    }
    if get("confirm") != Some("yes") {
        return super::pages::error_page(StatusCode::BAD_REQUEST, "tick the box to confirm".into());
    }
    match state.actions.writer.clear_all().await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(err) => super::pages::error_page(StatusCode::SERVICE_UNAVAILABLE, err.message),
    }
}

/// `POST /api/requests/clear` with `{"confirm": true}` → `{"deleted": N}`.
pub async fn clear_json(
    State(state): State<Arc<InspectorState>>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if body.get("confirm") != Some(&serde_json::Value::Bool(true)) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "send {\"confirm\": true}"}})),
        )
            .into_response();
    }
    match state.actions.writer.clear_all().await {
        Ok(deleted) => Json(json!({"deleted": deleted})).into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"message": err.message}})),
        )
            .into_response(),
    }
}

fn replay_answer(result: Result<crate::store::models::RequestSummary, ReplayError>) -> Response {
    match result {
        Ok(summary) => (StatusCode::CREATED, Json(summary)).into_response(),
        Err(err) => {
            let status = match err {
                ReplayError::NotFound(_) => StatusCode::NOT_FOUND,
                ReplayError::Refused(_) => StatusCode::BAD_REQUEST,
                ReplayError::Store(_) | ReplayError::Record(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, Json(json!({"error": {"message": err.to_string()}}))).into_response()
        }
    }
}

/// `POST /api/requests/{id}/replay` with `{"to"?, "method"?, "path"?, "headers"?, "body"?, "resign"?}`
/// → 201 and the new request's record.
pub async fn replay_json(
    State(state): State<Arc<InspectorState>>,
    Path(id): Path<i64>,
    Json(edits): Json<ReplayEdits>,
) -> Response {
    replay_answer(state.replayer.replay(id, &edits).await)
}

/// The replay forms. The body is read by hand because the key/value editor repeats
/// `field_name` / `field_value`, which serde's form support cannot collect in order.
pub async fn replay_form(
    State(state): State<Arc<InspectorState>>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(refused) = refuse_bad_csrf(&state, &get("csrf").unwrap_or_default()) {
        return refused;
    }
    let edits = match edits_from_form(&pairs) {
        Ok(edits) => edits,
        Err(message) => return super::pages::error_page(StatusCode::BAD_REQUEST, message),
    };
    match state.replayer.replay(id, &edits).await {
        Ok(summary) => Redirect::to(&format!("/requests/{}", summary.id)).into_response(),
        Err(ReplayError::NotFound(_)) => {
            super::pages::error_page(StatusCode::NOT_FOUND, format!("no request {id}"))
        }
        Err(err) => super::pages::error_page(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

/// Reads the "Replay with changes" editor: target, method, path, headers (one `Name: value`
/// per line), and the body as text or as repeated `field_name`/`field_value` pairs.
fn edits_from_form(pairs: &[(String, String)]) -> Result<ReplayEdits, String> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
    };
    let headers = match get("headers") {
        None => None,
        Some(text) => {
            let mut list = Vec::new();
            for line in text
                .lines()
                .map(str::trim_end)
                .filter(|l| !l.trim().is_empty())
            {
                let (name, value) = line
                    .split_once(':')
                    .ok_or_else(|| format!("header line {line:?} has no colon"))?;
                list.push(HeaderEdit {
                    name: name.trim().to_owned(),
                    value: value.trim_start().to_owned(),
                });
            }
            Some(list)
        }
    };
    let names: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "field_name")
        .map(|(_, v)| v)
        .collect();
    let values: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "field_value")
        .map(|(_, v)| v)
        .collect();
    let body = if names.is_empty() {
        pairs
            .iter()
            .find(|(k, _)| k == "body")
            .map(|(_, v)| v.clone())
    } else {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in names.iter().zip(values.iter()) {
            if !name.is_empty() {
                form.append_pair(name, value);
            }
        }
        Some(form.finish())
    };
    Ok(ReplayEdits {
        to: get("to"),
        method: get("method"),
        path: get("path"),
        headers,
        body,
        resign: Some(get("keep_signature").is_none()),
    })
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
