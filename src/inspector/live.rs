//! Live updates: `GET /live` is a Server-Sent Events stream with one `request` event (the row's
//! JSON summary, plus the TaskRouter names a row shows under `names`) per committed request.
//! Every page listens; it builds rows from it with `textContent` only. A client that falls
//! behind gets a `reload` event instead of a silent gap.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::InspectorState;

pub async fn stream(
    State(state): State<Arc<InspectorState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.store.subscribe();
    let mut shutdown = state.shutdown.clone();
    let events = futures_util::stream::unfold((rx, state), |(mut rx, state)| async move {
        let event = match rx.recv().await {
            Ok(summary) => {
                // Before the page hears of a worker change (and asks for the tray or the
                // workers), the cached names are dropped.
                if super::workbench::changes_names(&summary) {
                    state.directory.invalidate().await;
                }
                let names = names_of(&state, &summary).await;
                let mut json = serde_json::to_value(&summary).unwrap_or_default();
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
            }
            Err(RecvError::Lagged(_)) => Event::default().event("reload").data(""),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, state)))
    });
    let events = events.take_until(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The names a live row shows; none when the body cannot be read.
async fn names_of(
    state: &InspectorState,
    summary: &crate::store::models::RequestSummary,
) -> super::view_models::Names {
    if summary.kind == crate::taskrouter::status::Kind::Other {
        return Default::default();
    }
    let id = summary.id;
    let body = state
        .store
        .read(move |r| r.body_prefixes(&[id], super::view_models::NAMES_PREFIX))
        .await
        .ok()
        .and_then(|mut b| b.pop())
        .map(|(_, body)| body)
        .unwrap_or_default();
    let snapshot = state.directory.snapshot(state, false).await;
    super::view_models::names(&body, &snapshot)
}
