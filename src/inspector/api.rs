//! The JSON API: the same data as the pages, for scripts and the page's own JavaScript.
//! Field names follow design.md ("Interfaces that scripts and tests rely on").

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::header;
use serde::{Deserialize, Serialize};

use super::error::{Failure, ParsedPath};
use super::{InspectorState, ListQuery};
use crate::export::{Format, RequestDetail};
use crate::store::TaskHistory;
use crate::store::models::{RequestSummary, Reservation, StoredRequest};
use crate::taskrouter::sid::TaskSid;

#[derive(Serialize)]
pub struct RequestList {
    requests: Vec<RequestSummary>,
    /// Pass as `before` to get the next (older) page; null on the last page.
    next_before: Option<i64>,
}

pub async fn requests(
    State(state): State<Arc<InspectorState>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<RequestList>, Failure> {
    let filter = query.normalized().to_filter(50)?;
    let limit = filter.limit;
    let requests = state.store.read(move |r| r.list_requests(&filter)).await?;
    let next_before = (requests.len() == limit)
        .then(|| requests.last().map(|r| r.id))
        .flatten();
    Ok(Json(RequestList {
        requests,
        next_before,
    }))
}

pub async fn request(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(id): ParsedPath<i64>,
) -> Result<Json<RequestDetail>, Failure> {
    let r: StoredRequest = state
        .store
        .read(move |reader| reader.get_request(id))
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no request {id}")))?;
    Ok(Json(RequestDetail::from(r)))
}

#[derive(Serialize)]
pub struct ReservationList {
    reservations: Vec<Reservation>,
}

pub async fn reservations(
    State(state): State<Arc<InspectorState>>,
) -> Result<Json<ReservationList>, Failure> {
    let reservations = state.store.read(|r| r.list_reservations(None, 500)).await?;
    Ok(Json(ReservationList { reservations }))
}

pub async fn task(
    State(state): State<Arc<InspectorState>>,
    ParsedPath(task_sid): ParsedPath<TaskSid>,
) -> Result<Json<TaskHistory>, Failure> {
    let sid = task_sid.clone();
    let history = state
        .store
        .read(move |r| r.task_history(&sid, 2000))
        .await?;
    if history.requests.is_empty() && history.reservations.is_empty() {
        return Err(Failure::NotFound(format!(
            "nothing recorded for task {task_sid}"
        )));
    }
    Ok(Json(history))
}

/// `GET /api/export?format=har|jsonl|curl` with the list filters.
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    format: Option<String>,
    #[serde(flatten)]
    filters: ListQuery,
}

/// Streams the export one request at a time (see [`crate::export::stream_export`]).
pub async fn export(
    State(state): State<Arc<InspectorState>>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, Failure> {
    let filter = query.filters.normalized().to_filter(1000)?;
    let format = match query.format.as_deref().unwrap_or("har") {
        "har" => Format::Har,
        "jsonl" => Format::Jsonl,
        "curl" => Format::Curl,
        _ => return Err(Failure::BadRequest("format is har, jsonl or curl".into())),
    };
    let stream = crate::export::stream_export(
        state.store.clone(),
        filter,
        format,
        state.capture_base.clone(),
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", format.file_name()),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /api/stats`: what is kept, the retention policy, and the last write failure if any.
pub async fn stats(State(state): State<Arc<InspectorState>>) -> Result<Response, Failure> {
    let stats = state.store.read(|r| r.stats()).await?;
    Ok(axum::Json(serde_json::json!({
        "requests": stats.requests,
        "oldest_at": stats.oldest_at,
        "bytes": stats.bytes,
        "retention": state.store.retention().describe(),
        "write_error": state.store.write_error(),
    }))
    .into_response())
}
