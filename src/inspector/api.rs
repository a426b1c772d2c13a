//! The JSON API: the same data as the pages, for scripts and the page's own JavaScript.
//! Field names follow design.md ("Interfaces that scripts and tests rely on").

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine;
use serde::Serialize;

use super::{ApiError, Failure, InspectorState, ListQuery};
use crate::store::TaskHistory;
use crate::store::models::{Header, RequestSummary, Reservation, StoredRequest};
use crate::taskrouter::sid::{self, is_sid};

#[derive(Serialize)]
pub struct RequestList {
    requests: Vec<RequestSummary>,
    /// Pass as `before` to get the next (older) page; null on the last page.
    next_before: Option<i64>,
}

pub async fn requests(
    State(state): State<Arc<InspectorState>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<RequestList>, ApiError> {
    let filter = query.to_filter(50);
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

/// Bytes as JSON: text when they are UTF-8, else base64, with the encoding named.
#[derive(Serialize)]
pub struct Bytes {
    #[serde(rename = "body")]
    data: String,
    #[serde(rename = "body_encoding")]
    encoding: &'static str,
}

fn encode(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), "utf8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "base64",
        ),
    }
}

#[derive(Serialize)]
pub struct HeaderJson {
    name: String,
    value: String,
    /// "utf8", or "base64" for values with non-UTF-8 bytes.
    encoding: &'static str,
}

fn headers_json(headers: &[Header]) -> Vec<HeaderJson> {
    headers
        .iter()
        .map(|h| {
            let (value, encoding) = encode(&h.value);
            HeaderJson {
                name: h.name.clone(),
                value,
                encoding,
            }
        })
        .collect()
}

#[derive(Serialize)]
pub struct ResponseJson {
    status: u16,
    headers: Vec<HeaderJson>,
    #[serde(flatten)]
    body: Bytes,
}

#[derive(Serialize)]
pub struct RequestDetail {
    #[serde(flatten)]
    summary: RequestSummary,
    http_version: String,
    headers: Vec<HeaderJson>,
    #[serde(flatten)]
    body: Bytes,
    response: ResponseJson,
}

fn bytes(data: &[u8]) -> Bytes {
    let (data, encoding) = encode(data);
    Bytes { data, encoding }
}

pub async fn request(
    State(state): State<Arc<InspectorState>>,
    Path(id): Path<i64>,
) -> Result<Json<RequestDetail>, ApiError> {
    let r: StoredRequest = state
        .store
        .read(move |reader| reader.get_request(id))
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no request {id}")))?;
    Ok(Json(RequestDetail {
        http_version: r.http_version,
        headers: headers_json(&r.headers),
        body: bytes(&r.body),
        response: ResponseJson {
            status: r.response.status,
            headers: headers_json(&r.response.headers),
            body: bytes(&r.response.body),
        },
        summary: r.summary,
    }))
}

#[derive(Serialize)]
pub struct ReservationList {
    reservations: Vec<Reservation>,
}

pub async fn reservations(
    State(state): State<Arc<InspectorState>>,
) -> Result<Json<ReservationList>, ApiError> {
    let reservations = state.store.read(|r| r.list_reservations(None, 500)).await?;
    Ok(Json(ReservationList { reservations }))
}

pub async fn task(
    State(state): State<Arc<InspectorState>>,
    Path(task_sid): Path<String>,
) -> Result<Json<TaskHistory>, ApiError> {
    if !is_sid(&task_sid, sid::TASK) {
        return Err(Failure::BadRequest("not a TaskSid (WT + 32 hex digits)".into()).into());
    }
    let sid = task_sid.clone();
    let history = state
        .store
        .read(move |r| r.task_history(&sid, 2000))
        .await?;
    if history.requests.is_empty() && history.reservations.is_empty() {
        return Err(Failure::NotFound(format!("nothing recorded for task {task_sid}")).into());
    }
    Ok(Json(history))
}
