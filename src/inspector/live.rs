//! Live updates: `GET /live` is a Server-Sent Events stream with one `request` event (the row's
//! JSON summary) per committed request. The page builds rows from it with `textContent` only.
//! A client that falls behind gets a `reload` event instead of a silent gap.

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
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(summary) => Event::default()
                .event("request")
                .json_data(&summary)
                .unwrap_or_else(|_| Event::default().event("reload").data("")),
            Err(RecvError::Lagged(_)) => Event::default().event("reload").data(""),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    let events = events.take_until(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
