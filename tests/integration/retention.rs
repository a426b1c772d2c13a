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
    let stats = wait_for_stats(&app, |s| s["requests"] == 20).await;
    assert_eq!(stats["requests"], 20);
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let reservations = count("reservations");
    assert!(
        reservations <= 20,
        "{reservations} reservations kept for 20 requests"
    );
    let listed = app.api("/api/reservations").await;
    assert!(listed["reservations"].as_array().unwrap().len() <= 20);

    // Event Streams batches: ten CloudEvents each, every one a fresh reservation. Their
    // per-event rows and reservations go with the requests that carried them.
    for batch in 0..100 {
        let events: Vec<_> = (0..10)
            .map(|e| {
                let n = 1_000 + batch * 10 + e;
                json!({
                    "specversion": "1.0",
                    "type": "com.twilio.taskrouter.reservation.created",
                    "source": format!("/v1/Workspaces/{WORKSPACE}"),
                    "id": format!("EV{n:032x}"),
                    "time": "2026-12-03T10:00:00Z",
                    "data": {"name": "reservation.created", "payload": {
                        "eventtype": "reservation.created",
                        "account_sid": ACCOUNT, "workspace_sid": WORKSPACE,
                        "task_sid": format!("WT{n:032x}"),
                        "reservation_sid": format!("WR{n:032x}"),
                        "worker_sid": WORKER, "timestamp": 1_795_000_000_000_i64 + n,
                    }}
                })
            })
            .collect();
        let answer = app
            .client
            .post(app.url("/streams"))
            .json(&events)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let stats = wait_for_stats(&app, |s| s["requests"] == 20).await;
    assert_eq!(stats["requests"], 20);
    let events = count("request_events");
    let reservations = count("reservations");
    assert!(
        events <= 200,
        "{events} CloudEvent rows kept for 20 batches"
    );
    assert!(
        reservations <= 200,
        "{reservations} reservations kept for 20 batches of 10"
    );
    assert!(
        events >= 100,
        "the kept batches' events are there: {events}"
    );
}

/// `--max-db-size` bounds what is on disk — the database and its WAL together — under a flood
/// of callbacks that each bring a fresh Task and Reservation: 3× the budget is sent, the
/// footprint sampled every 2 ms never passes the budget by more than 10%, and every derived
/// table shrinks with the requests.
#[tokio::test]
async fn max_db_size_bounds_the_database_and_its_wal_under_a_flood_of_fresh_sids() {
    const BUDGET: u64 = 4 * 1024 * 1024;
    let app = spawn_app_with(|c| {
        c.store.retention = Retention {
            max_bytes: Some(BUDGET),
            ..Retention::default()
        }
    })
    .await;
    let db = app.db_path.clone();
    let sizes = move || {
        let len = |p: std::path::PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        (len(db.clone()), len(db.with_extension("db-wal")))
    };
    let footprint = {
        let sizes = sizes.clone();
        move || {
            let (db, wal) = sizes();
            db + wal
        }
    };
    assert!(
        app.db_path.to_string_lossy().ends_with(".db"),
        "{:?}",
        app.db_path
    );
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let (mut max, mut max_db, mut max_wal) = (0, 0, 0);
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                let (db, wal) = sizes();
                max = max.max(db + wal);
                max_db = max_db.max(db);
                max_wal = max_wal.max(wal);
                std::thread::sleep(Duration::from_millis(2));
            }
            (max, max_db, max_wal)
        })
    };
    // ~2 KiB callbacks, 6,000 of them from 4 clients: about 3× the budget.
    let padding = "x".repeat(2000);
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..4 {
        let url = app.url("/assignment");
        let http = app.client.clone();
        let padding = padding.clone();
        clients.spawn(async move {
            for n in 0..1500 {
                let id = client * 1_000_000 + n;
                let answer = http
                    .post(&url)
                    .form(&[
                        ("AccountSid", ACCOUNT),
                        ("WorkspaceSid", WORKSPACE),
                        ("TaskSid", &format!("WT{id:032x}")),
                        ("ReservationSid", &format!("WR{id:032x}")),
                        ("WorkerSid", WORKER),
                        ("TaskAttributes", &format!("{{\"pad\":\"{padding}\"}}")),
                    ])
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(answer.status(), 200);
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    // Retention and the checkpointer run behind the last batch too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let (max, max_db, max_wal) = sampler.join().unwrap();
    let after = footprint();
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "--max-db-size 4 MiB, 6,000 × 2 KiB callbacks with fresh SIDs: footprint (db + WAL) \
         max {:.2} MiB (db max {:.2}, WAL max {:.2}), after {:.2} MiB",
        mib(max),
        mib(max_db),
        mib(max_wal),
        mib(after)
    );
    assert!(
        max * 10 <= BUDGET * 11,
        "footprint reached {max} bytes for a budget of {BUDGET}"
    );
    assert!(
        after * 10 <= BUDGET * 11,
        "footprint {after} bytes after the flood"
    );
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let requests = count("requests");
    assert!((100..6000).contains(&requests), "{requests} requests kept");
    // One reservation per kept assignment at most; nothing left from the deleted ones.
    assert!(count("reservations") <= requests);
    assert_eq!(
        conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
}
