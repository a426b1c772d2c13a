//! The replay routes: `POST /api/requests/{id}/replay` (JSON edits) and the detail page's
//! "Replay" / "Replay with changes" forms. Sending and recording is [`crate::replay`]'s job.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;

use super::InspectorState;
use super::actions::check_csrf;
use super::error::{Failure, ParsedJson, ParsedPath};
use crate::replay::{HeaderEdit, ReplayEdits};

/// `POST /api/requests/{id}/replay` with `{"to"?, "method"?, "path"?, "headers"?, "body"?, "resign"?}`
/// → 201 and the new request's record.
pub async fn replay_json(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(id): ParsedPath<i64>,
    ParsedJson(edits): ParsedJson<ReplayEdits>,
) -> Result<Response, Failure> {
    let summary = state.replayer.replay(id, &edits).await?;
    Ok((StatusCode::CREATED, Json(summary)).into_response())
}

/// The replay forms. The body is read by hand because the key/value editor repeats
/// `field_name` / `field_value`, which serde's form support cannot collect in order.
pub async fn replay_form(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(id): ParsedPath<i64>,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    check_csrf(&state, &get("csrf").unwrap_or_default())?;
    let edits = edits_from_form(&pairs)?;
    let summary = state.replayer.replay(id, &edits).await?;
    Ok(Redirect::to(&format!("/requests/{}", summary.id)).into_response())
}

/// Reads the "Replay with changes" editor: target, method, path, headers (one `Name: value`
/// per line), and the body as text or as repeated `field_name`/`field_value` pairs.
fn edits_from_form(pairs: &[(String, String)]) -> Result<ReplayEdits, Failure> {
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
                let (name, value) = line.split_once(':').ok_or_else(|| {
                    Failure::BadRequest(format!("header line {line:?} has no colon"))
                })?;
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
