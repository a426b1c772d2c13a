//! Live updates: `GET /live` is a Server-Sent Events stream with one `request` event (the row's
//! JSON summary, plus the TaskRouter names a row shows under `names`) per committed request.
//! Every page listens; it builds rows from it with `textContent` only. A client that falls
//! behind gets a `reload` event instead of a silent gap.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::InspectorState;
use crate::store::models::RequestSummary;
use crate::taskrouter::status::Kind;

/// Most rows turned into events per read of their bodies: under a burst, one read serves
/// many rows instead of one read (and one trip to the blocking pool) per row.
const BATCH: usize = 256;

pub async fn stream(
    State(state): State<Arc<InspectorState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.store.subscribe();
    let mut shutdown = state.shutdown.clone();
    let events = futures_util::stream::unfold((rx, state), |(mut rx, state)| async move {
        let mut summaries = Vec::new();
        let mut lagged = false;
        match rx.recv().await {
            Ok(summary) => summaries.push(summary),
            Err(RecvError::Lagged(_)) => lagged = true,
            Err(RecvError::Closed) => return None,
        }
        // Whatever else has already arrived goes out with it.
        while summaries.len() < BATCH && !lagged {
            match rx.try_recv() {
                Ok(summary) => summaries.push(summary),
                Err(TryRecvError::Lagged(_)) => lagged = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let mut events = request_events(&state, summaries).await;
        if lagged {
            events.push(Event::default().event("reload").data(""));
        }
        Some((
            futures_util::stream::iter(events.into_iter().map(Ok)),
            (rx, state),
        ))
    })
    .flatten();
    let events = events.take_until(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// One `request` event per row: its summary plus the names it shows.
async fn request_events(state: &InspectorState, summaries: Vec<RequestSummary>) -> Vec<Event> {
    // Before the page hears of a worker change (and asks for the tray or the workers), the
    // cached names are dropped.
    if summaries.iter().any(super::workbench::changes_names) {
        state.directory.invalidate().await;
    }
    let ids: Vec<i64> = summaries
        .iter()
        .filter(|s| s.kind != Kind::Other)
        .map(|s| s.id)
        .collect();
    // The rows were announced, so they are indexed: no need to wait for the indexer.
    let bodies: HashMap<i64, Vec<u8>> = if ids.is_empty() {
        HashMap::new()
    } else {
        state
            .store
            .read_announced(move |r| r.body_prefixes(&ids, super::view_models::NAMES_PREFIX))
            .await
            .map(|rows| rows.into_iter().collect())
            .unwrap_or_default()
    };
    let snapshot = state.directory.snapshot(state, false).await;
    summaries
        .iter()
        .map(|summary| {
            // None when the body cannot be read (or the row is not a TaskRouter callback).
            let names = bodies
                .get(&summary.id)
                .map(|body| super::view_models::names(body, &snapshot))
                .unwrap_or_default();
            let mut json = serde_json::to_value(summary).unwrap_or_default();
            if let Some(map) = json.as_object_mut() {
                map.insert(
                    "names".into(),
                    serde_json::to_value(names).unwrap_or_default(),
                );
            }
            Event::default()
                .event("request")
                .json_data(&json)
                .unwrap_or_else(|_| Event::default().event("reload").data(""))
        })
        .collect()
}
