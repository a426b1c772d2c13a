use std::time::Duration;

use serde_json::json;
use taskhook::store::retention::Retention;

use crate::helpers::*;

/// Polls `/api/stats` until `done` holds (at most 5 s).
async fn wait_for_stats(
    app: &TestApp,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stats = app.api("/api/stats").await;
        if done(&stats) || tokio::time::Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn max_requests_keeps_only_the_newest() {
    let app = spawn_app_with(|c| {
        c.store.retention = Retention {
            max_requests: Some(5),
            ..Retention::default()
        }
    })
    .await;
    for n in 0..12 {
        app.post_form("/cb", &[("n", &n.to_string())]).await;
    }

    let stats = wait_for_stats(&app, |s| s["requests"] == 5).await;

    assert_eq!(stats["requests"], 5, "{stats}");
    assert_eq!(stats["retention"], "keeping the newest 5 requests");
    let kept: Vec<String> = app
        .latest(20)
        .await
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(kept, ["n=11", "n=10", "n=9", "n=8", "n=7"]);
    assert_eq!(
        app.api("/api/requests?q=n").await["requests"]
            .as_array()
            .unwrap()
            .len(),
        5,
        "search index pruned too"
    );
}

#[tokio::test]
async fn max_age_deletes_old_requests_even_when_idle() {
    let app = spawn_app_with(|c| {
        c.store.retention = Retention {
            max_age: Some(Duration::from_secs(1)),
            ..Retention::default()
        }
    })
    .await;
    app.post_form("/old", &[]).await;

    // No more traffic: the writer's idle tick (5 s) applies the age limit on its own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while app.api("/api/stats").await["requests"] != 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.api("/api/stats").await["requests"], 0);
    app.post_form("/new", &[]).await;
    assert_eq!(app.api("/api/stats").await["requests"], 1);
}

#[tokio::test]
async fn a_full_database_answers_503_shows_a_banner_and_recovers_when_space_returns() {
    // A hard page cap makes SQLite report "database or disk is full", as a full disk does.
    let app = spawn_app_with(|c| c.store.page_limit = Some(80)).await;
    let big = "x".repeat(30_000);
    let mut acked = 0;
    let mut refused = None;
    for _ in 0..40 {
        let response = app.post_form("/fill", &[("pad", big.as_str())]).await;
        if response.status() == 503 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
        acked += 1;
    }
    let refused = refused.expect("the cap was reached");
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(refused.text().await.unwrap().contains("full"));
    let stats = app.api("/api/stats").await;
    assert_eq!(stats["requests"], acked, "acknowledged = stored");
    assert!(stats["write_error"].as_str().unwrap().contains("full"));
    let page = app.inspector_get("/").await.text().await.unwrap();
    assert!(Page::parse(&page).has("#storage-error"), "banner shown");

    // Space returns (here: the user clears the history); capture resumes without a restart.
    let cleared = app
        .client
        .post(app.inspector_url("/api/requests/clear"))
        .bearer_auth(INSPECTOR_TOKEN)
        .json(&json!({"confirm": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cleared.json::<serde_json::Value>().await.unwrap()["deleted"],
        acked
    );
    assert_eq!(
        app.post_form("/after", &[("small", "1")]).await.status(),
        200
    );
    assert!(app.api("/api/stats").await["write_error"].is_null());
    assert!(
        !app.inspector_get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("id=\"storage-error\"")
    );
}

#[tokio::test]
async fn clear_all_needs_confirmation_and_the_csrf_token() {
    let app = spawn_app().await;
    app.post_form("/assignment", &assignment_params()).await;
    let csrf = app.csrf().await;
    let clear = |form: Vec<(&'static str, String)>| {
        app.client
            .post(app.inspector_url("/requests/clear"))
            .bearer_auth(INSPECTOR_TOKEN)
            .form(&form)
            .send()
    };

    assert_eq!(
        clear(vec![("csrf", csrf.clone())]).await.unwrap().status(),
        400,
        "unconfirmed"
    );
    assert_eq!(
        clear(vec![("csrf", "wrong".into()), ("confirm", "yes".into())])
            .await
            .unwrap()
            .status(),
        403
    );
    let unconfirmed = app
        .client
        .post(app.inspector_url("/api/requests/clear"))
        .bearer_auth(INSPECTOR_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unconfirmed.status(), 400);
    assert_eq!(
        app.api("/api/stats").await["requests"],
        1,
        "nothing deleted yet"
    );

    clear(vec![("csrf", csrf), ("confirm", "yes".into())])
        .await
        .unwrap();
    assert_eq!(app.api("/api/stats").await["requests"], 0);
    assert_eq!(
        app.api("/api/reservations").await["reservations"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

/// An attacker with the tunnel URL sends callbacks with a fresh ReservationSid each: retention
/// must bound every table, not just `requests`.
#[tokio::test]
async fn retention_bounds_reservations_too_under_a_flood_of_fresh_sids() {
    let app = spawn_app_with(|c| {
        c.store.retention = Retention {
            max_requests: Some(20),
            ..Retention::default()
        }
    })
    .await;
    for n in 0..200 {
        let reservation = format!("WR{n:032x}");
        let task = format!("WT{n:032x}");
        app.post_form(
            "/assignment",
            &[
                ("AccountSid", ACCOUNT),
                ("WorkspaceSid", WORKSPACE),
                ("TaskSid", &task),
                ("ReservationSid", &reservation),
                ("WorkerSid", WORKER),
            ],
        )
        .await;
    }
    wait_for_stats(&app, |s| s["requests"] == 20).await;
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let reservations: i64 = conn
        .query_row("SELECT count(*) FROM reservations", [], |r| r.get(0))
        .unwrap();
    assert!(
        reservations <= 20,
        "{reservations} reservations kept for 20 requests"
    );
    let listed = app.api("/api/reservations").await;
    assert!(listed["reservations"].as_array().unwrap().len() <= 20);
}
