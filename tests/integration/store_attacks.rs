//! Issue 19, the store side: what the writer, the read pool and the file do under attack —
//! one bad row in a batch, Clear all under load, the database file deleted or replaced, a
//! burst of reads, WAL growth under readers, two servers on one file, big exports.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{Notify, mpsc};

use crate::helpers::*;

/// A replay target that reports each request it receives and answers only when released, so a
/// test can act while a replay is in flight.
async fn start_held_target() -> (String, mpsc::UnboundedReceiver<()>, Arc<Notify>) {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let app = axum::Router::new().fallback(move || {
        let seen_tx = seen_tx.clone();
        let gate = gate.clone();
        async move {
            let _ = seen_tx.send(());
            gate.notified().await;
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen, release)
}

#[tokio::test]
async fn a_replay_whose_original_was_cleared_is_recorded_with_a_note_and_fails_nobody_else() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_form("/assignment", &assignment_params())
            .await
            .status(),
        200
    );
    let original = app.latest(1).await.remove(0).summary.id;
    let (target, mut seen, release) = start_held_target().await;

    // The replay is sent; while the target holds its answer, Clear all deletes the original.
    let replay = {
        let client = app.client.clone();
        let url = app.inspector_url(&format!("/api/requests/{original}/replay"));
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(INSPECTOR_TOKEN)
                .json(&json!({ "to": target }))
                .send()
                .await
                .unwrap()
        })
    };
    seen.recv().await.expect("the replay reached the target");
    let cleared = app
        .post_json("/api/requests/clear", json!({"confirm": true}))
        .await;
    assert_eq!(cleared.status(), 200);
    assert_eq!(app.api("/api/stats").await["requests"], 0);

    // Unrelated callbacks race the replay's record into the writer's batches.
    let callbacks: Vec<_> = (0..30)
        .map(|n| {
            let client = app.client.clone();
            let url = app.url(&format!("/event?n={n}"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .form(&reservation_event_params("reservation.accepted"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    release.notify_one();
    let replayed = replay.await.unwrap();
    for callback in callbacks {
        // Event callbacks are answered 204 No Content.
        assert_eq!(
            callback.await.unwrap(),
            204,
            "an unrelated callback was refused"
        );
    }

    assert_eq!(
        replayed.status(),
        201,
        "the replay that was sent is recorded"
    );
    let record: serde_json::Value = replayed.json().await.unwrap();
    let id = record["id"].as_i64().unwrap();
    assert!(record["replay_of"].is_null(), "{record}");
    let note = format!("replay of #{original}, which was deleted before this replay was stored");
    assert_eq!(record["replay_note"], note.as_str());
    let stored = app.api(&format!("/api/requests/{id}")).await;
    assert_eq!(stored["replay_note"], note.as_str(), "{stored}");
    assert_eq!(stored["status"], 200, "the target's answer is kept");
    let page = app
        .inspector_get(&format!("/requests/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        Page::parse(&page).text().contains(&note),
        "the detail page shows the note"
    );
    assert_eq!(app.api("/api/stats").await["requests"], 31);
}
