//! "Clear all": delete every recorded request, reservation and action. Destructive, so the form
//! needs the CSRF token and a ticked confirmation box, and the API `{"confirm": true}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::InspectorState;
use super::actions::check_csrf;
use super::error::{Failure, ParsedJson};

/// `POST /requests/clear` (form, with the CSRF token and the confirmation box ticked).
pub async fn clear_form(
    State(state): State<Arc<InspectorState>>,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    check_csrf(&state, get("csrf").unwrap_or(""))?;
    if get("confirm") != Some("yes") {
        return Err(Failure::BadRequest("tick the box to confirm".into()));
    }
    state.actions.writer.clear_all().await?;
    Ok(Redirect::to("/").into_response())
}

/// `POST /api/requests/clear` with `{"confirm": true}` → `{"deleted": N}`.
pub async fn clear_json(
    State(state): State<Arc<InspectorState>>,
    ParsedJson(body): ParsedJson<serde_json::Value>,
) -> Result<Response, Failure> {
    if body.get("confirm") != Some(&serde_json::Value::Bool(true)) {
        return Err(Failure::BadRequest("send {\"confirm\": true}".into()));
    }
    let deleted = state.actions.writer.clear_all().await?;
    Ok(Json(json!({ "deleted": deleted })).into_response())
}
