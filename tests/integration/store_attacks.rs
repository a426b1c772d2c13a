//! Issue 19, the store side: what the writer, the read pool and the file do under attack —
//! one bad row in a batch, Clear all under load, the database file deleted or replaced, a
//! burst of reads, WAL growth under readers, two servers on one file, big exports.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc};

use crate::helpers::*;

/// The real binary, `taskhook serve` on port 0 with its stderr in a file.
struct Server {
    child: tokio::process::Child,
    capture: String,
    inspector: String,
    stderr: PathBuf,
    client: reqwest::Client,
}

impl Server {
    async fn start(db: &Path, extra: &[&str]) -> Server {
        let stderr = db.with_extension(format!("stderr-{}", rand_suffix()));
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--inspector",
                "127.0.0.1:0",
                "--db",
            ])
            .arg(db)
            .args(extra)
            .env("TASKHOOK_INSPECTOR_TOKEN", INSPECTOR_TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn taskhook");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("an address line within 20 s")
                .unwrap()
                .expect("an address line")
        };
        let capture = next().await.strip_prefix("capture: ").unwrap().to_owned();
        let inspector = next()
            .await
            .strip_prefix("inspector: ")
            .unwrap()
            .split("/?")
            .next()
            .unwrap()
            .to_owned();
        // Keep reading stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child,
            capture,
            inspector,
            stderr,
            client: http_client(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    async fn callback(&self, n: usize) -> reqwest::Response {
        self.client
            .post(format!("{}/cb?n={n}", self.capture))
            .form(&assignment_params())
            .send()
            .await
            .expect("callback sent")
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.inspector.trim_end_matches('/')))
            .bearer_auth(INSPECTOR_TOKEN)
            .send()
            .await
            .expect("inspector request sent")
    }

    async fn api(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// A value from /proc/PID/status: KiB for VmRSS and VmHWM, a count for Threads.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

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

/// Stops a test app built on a seeded database, and puts `rows` callbacks in it straight through
/// SQLite (fast enough for 100k): copies of one real recorded callback, each with its own
/// search entry and a reservation of its own, as a flood of fresh ReservationSids leaves.
fn seed_copies(db: &std::path::Path, rows: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO requests (received_at, remote_addr, method, path, query, http_version,
             headers, body, body_size, body_truncated, response_status, response_headers,
             response_body, duration_us, kind, event_type, account_sid, workspace_sid, task_sid,
             reservation_sid, worker_sid, signature)
         SELECT received_at + i, remote_addr, method, path, query, http_version, headers, body,
             body_size, body_truncated, response_status, response_headers, response_body,
             duration_us, kind, event_type, account_sid, workspace_sid, task_sid,
             'WR' || printf('%032x', i), worker_sid, signature
         FROM n, (SELECT * FROM requests ORDER BY id LIMIT 1);
         INSERT INTO requests_fts (rowid, text)
             SELECT id, 'seeded assignment callback ' || id FROM requests
             WHERE id > (SELECT min(id) FROM requests);
         INSERT OR IGNORE INTO reservations (reservation_sid, task_sid, workspace_sid,
             worker_sid, status, status_at, first_request_id, last_request_id)
             SELECT reservation_sid, task_sid, workspace_sid, worker_sid, 'pending',
                 received_at, id, id FROM requests WHERE reservation_sid IS NOT NULL;
         COMMIT;"
    ))
    .unwrap();
}

/// A database of `rows` assignment callbacks, seeded and closed, in a temp dir.
async fn seeded_database(rows: i64) -> (tempfile::TempDir, std::path::PathBuf) {
    let app = spawn_app().await;
    assert_eq!(
        app.post_form("/assignment", &assignment_params())
            .await
            .status(),
        200
    );
    let db = app.db_path.clone();
    let dir = app.stop().await;
    seed_copies(&db, rows - 1);
    (dir, db)
}

#[tokio::test]
async fn clear_all_runs_in_steps_and_callbacks_are_acknowledged_between_them() {
    const ROWS: i64 = 3000;
    let (_dir, db) = seeded_database(ROWS).await;
    // Small steps, so a few thousand rows take dozens of steps.
    let app = spawn_app_with(|c| {
        c.db_path = db.clone();
        c.store.clear_step = 50;
    })
    .await;
    assert_eq!(app.api("/api/stats").await["requests"], ROWS);

    let clear = {
        let client = app.client.clone();
        let url = app.inspector_url("/api/requests/clear");
        tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(INSPECTOR_TOKEN)
                .json(&json!({"confirm": true}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<serde_json::Value>().await.unwrap()
        })
    };
    // One callback at a time until Clear all answers: each one acknowledged before that answer
    // was written between two steps (the clear is one job in the writer's queue, so with one
    // transaction for all of it, none could be).
    let mut acked_during = 0;
    let mut sent = 0;
    while !clear.is_finished() {
        let status = app
            .post_form("/cb", &[("n", &sent.to_string()), ("word", "duringclear")])
            .await
            .status();
        sent += 1;
        assert_eq!(status, 200);
        if !clear.is_finished() {
            acked_during += 1;
        }
    }
    let answer = clear.await.unwrap();

    assert_eq!(
        answer["deleted"], ROWS,
        "what existed at the click is deleted"
    );
    assert!(
        acked_during >= 3,
        "only {acked_during} callbacks were acknowledged while {ROWS} rows were cleared in steps of 50"
    );
    // Everything sent after the click is kept, and nothing from before it.
    let stats = app.api("/api/stats").await;
    assert_eq!(stats["requests"], sent, "{stats}");
    let kept = app.latest(10_000).await;
    assert!(kept.iter().all(|r| r.summary.path == "/cb"));
    // Search agrees: the full-text index was emptied at the click (one FTS5 `delete-all`),
    // and what came after it was indexed anew.
    let found = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            app.api(&format!("/api/requests?q={q}&limit=1000")).await["requests"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        found("seeded").await,
        0,
        "a cleared row is still searchable"
    );
    assert_eq!(found("duringclear").await as i64, sent);
    assert!(
        app.api("/api/reservations").await["reservations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The figure in docs/reliability.md: Clear all of 100k callbacks (with 100k reservations)
/// while one client sends callbacks back to back; prints the slowest acknowledgement.
/// `cargo test --release --test integration -- --ignored clear_all_of_100k --nocapture`
#[tokio::test]
#[ignore = "a measurement: seeds 100k rows"]
async fn clear_all_of_100k_rows_stalls_capture_briefly() {
    const ROWS: i64 = 100_000;
    let (_dir, db) = seeded_database(ROWS).await;
    let step: i64 = std::env::var("TASKHOOK_CLEAR_STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(taskhook::store::writer::CLEAR_STEP);
    let app = spawn_app_with(|c| {
        c.db_path = db.clone();
        c.store.clear_step = step;
    })
    .await;
    assert_eq!(app.api("/api/stats").await["requests"], ROWS);
    // The same client with no clearing, for comparison: fsync jitter alone.
    let mut baseline = Vec::new();
    for _ in 0..300 {
        let sent = std::time::Instant::now();
        assert_eq!(app.post_form("/cb", &[]).await.status(), 200);
        baseline.push(sent.elapsed());
    }
    baseline.sort();
    println!(
        "without clearing: 300 callbacks, ack p50 {:.1} ms, max {:.1} ms",
        baseline[150].as_secs_f64() * 1e3,
        baseline[299].as_secs_f64() * 1e3
    );
    let started = std::time::Instant::now();
    let clear = {
        let client = app.client.clone();
        let url = app.inspector_url("/api/requests/clear");
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(INSPECTOR_TOKEN)
                .json(&json!({"confirm": true}))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };
    let mut latencies = Vec::new();
    while !clear.is_finished() {
        let sent = std::time::Instant::now();
        assert_eq!(app.post_form("/cb", &[]).await.status(), 200);
        latencies.push(sent.elapsed());
    }
    let answer = clear.await.unwrap();
    let total = started.elapsed();
    // A callback of the loop may reach the writer before the click does.
    assert!(
        answer["deleted"].as_i64().unwrap() >= ROWS + 300,
        "{answer}"
    );
    latencies.sort();
    let max = latencies.last().copied().unwrap_or_default();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    let over = latencies
        .iter()
        .filter(|l| **l > std::time::Duration::from_millis(50))
        .count();
    println!(
        "clear all of {ROWS} rows in steps of {step}: {:.2} s, {} steps; {} callbacks acked during it, ack p50 {:.1} ms, p99 {:.1} ms, {over} over 50 ms, max {:.1} ms",
        total.as_secs_f64(),
        (ROWS + step - 1) / step * 2,
        latencies.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
    );
    assert!(
        max < std::time::Duration::from_millis(200),
        "max ack {max:?}"
    );
}

/// Polls `/api/stats` until it reports a write error (at most 5 s; the writer checks every
/// 250 ms).
async fn wait_for_write_error(server: &Server) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stats = server.api("/api/stats").await;
        if !stats["write_error"].is_null() || tokio::time::Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn no_2xx_after_the_file_went(server: &Server, word: &str) {
    let stats = wait_for_write_error(server).await;
    let banner = stats["write_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{stats}"));
    assert!(
        banner.contains(word) && banner.contains("restart taskhook"),
        "{banner}"
    );
    for n in 0..20 {
        let response = server.callback(n).await;
        assert_eq!(
            response.status(),
            503,
            "a callback acknowledged into a lost file"
        );
        assert_eq!(response.headers()["retry-after"], "1");
    }
    let page = server.get("/").await.text().await.unwrap();
    let shown = Page::parse(&page).texts("#storage-error");
    assert!(
        shown.len() == 1 && shown[0].contains(word),
        "banner: {shown:?}"
    );
    let log = server.stderr();
    // One error line says what happened; each refused callback is a warning of its own.
    let errors = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains(word))
        .count();
    assert_eq!(errors, 1, "one error line, got: {log}");
}

#[tokio::test]
async fn a_database_file_deleted_while_running_is_noticed_and_nothing_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gone.db");
    let server = Server::start(&db, &[]).await;
    assert_eq!(server.callback(0).await.status(), 200);
    // A read first, so the inspector holds a connection to the (soon unlinked) file.
    assert_eq!(server.api("/api/stats").await["requests"], 1);

    std::fs::remove_file(&db).unwrap();
    let _ = std::fs::remove_file(dir.path().join("gone.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("gone.db-shm"));

    no_2xx_after_the_file_went(&server, "was deleted").await;
}

#[tokio::test]
async fn a_database_file_replaced_while_running_is_noticed_and_nothing_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("replaced.db");
    let server = Server::start(&db, &[]).await;
    assert_eq!(server.callback(0).await.status(), 200);
    // Another database (a copy of this one, say) renamed over the path.
    let other = dir.path().join("other.db");
    std::fs::copy(&db, &other).unwrap();
    std::fs::rename(&other, &db).unwrap();
    // Right away, before the writer's tick: the check before the commit refuses it.
    assert_eq!(server.callback(1).await.status(), 503);

    no_2xx_after_the_file_went(&server, "was replaced").await;
}

/// Polls until `done` holds, at most `limit`; returns whether it did.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    done()
}

/// 200 concurrent searches through the inspector API, one connection each, not kept alive
/// afterwards (an idle keep-alive socket is an fd of the server's). Returns the peak number
/// of descriptors open on the database's files meanwhile.
async fn read_burst(server: &Server, db: &Path) -> usize {
    let pid = server.pid();
    let burst_client = http_builder().pool_max_idle_per_host(0).build().unwrap();
    let reads: Vec<_> = (0..200)
        .map(|n| {
            let client = burst_client.clone();
            let url = format!(
                "{}/api/requests?limit=100&q=Alice{}",
                server.inspector.trim_end_matches('/'),
                if n % 2 == 0 { "" } else { "s" }
            );
            tokio::spawn(async move {
                let response = client
                    .get(url)
                    .bearer_auth(INSPECTOR_TOKEN)
                    .send()
                    .await
                    .unwrap();
                response.status()
            })
        })
        .collect();
    let mut peak = 0;
    for read in reads {
        peak = peak.max(db_fds(pid, db));
        assert_eq!(read.await.unwrap(), 200);
    }
    peak
}

#[tokio::test]
async fn a_burst_of_200_concurrent_reads_leaves_no_connections_or_memory_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pool.db");
    let server = Server::start(&db, &["--reader-idle-timeout", "1s"]).await;
    let pid = server.pid();
    for n in 0..100 {
        assert_eq!(server.callback(n).await.status(), 200);
    }
    let threads = || proc_status_kib(pid, "Threads");
    let threads_idle = threads();
    let db_fds_idle = db_fds(pid, &db);
    // SQLite keeps the descriptor of a closed connection's database file open while another
    // connection of the process (the writer) holds a POSIX lock on it — closing it would drop
    // that lock — and hands it to the next connection opened: at most one per pooled reader.
    // The WAL descriptor, one per open connection, shows how many readers are still open; the
    // writer and the checkpointer hold one each.
    let wal_fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|p| p.to_string_lossy().ends_with("-wal"))
            .count()
    };
    // Idle: the pool closes what it opened (its reaper runs every 30 s), tokio's blocking
    // threads exit after 10 s unused.
    let settle = async || {
        let settled = eventually(Duration::from_secs(60), || {
            wal_fds() <= 2 && threads() <= threads_idle
        })
        .await;
        assert!(
            settled,
            "{} WAL fds (the writer's and the checkpointer's are 2), {} threads",
            wal_fds(),
            threads()
        );
        // Once every reader is closed the server gives the freed heap back (it looks every
        // 2 s).
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    // One search first, then idle: what an inspector that was used once costs (the code it
    // ran is paged in) is the idle value.
    assert!(
        server.api("/api/requests?limit=100&q=Alice").await["requests"]
            .as_array()
            .is_some()
    );
    settle().await;
    let rss_idle = proc_status_kib(pid, "VmRSS");
    let anon_idle = proc_status_kib(pid, "RssAnon");

    let db_fds_peak = read_burst(&server, &db).await;
    let rss_peak = proc_status_kib(pid, "VmHWM");
    settle().await;
    let rss_after = proc_status_kib(pid, "VmRSS");
    let anon_after = proc_status_kib(pid, "RssAnon");
    let db_fds_after = db_fds(pid, &db);
    // A second burst: what the first one left is warm-up (kept by the allocator, reused), not
    // growth per burst.
    let db_fds_peak2 = read_burst(&server, &db).await;
    settle().await;
    let rss_after2 = proc_status_kib(pid, "VmRSS");
    let rss_peak2 = proc_status_kib(pid, "VmHWM");
    println!(
        "200 concurrent reads: database fds idle {db_fds_idle}, peak {db_fds_peak}, after \
         {db_fds_after}; RSS idle {rss_idle} KiB, peak (VmHWM) {rss_peak} KiB, after \
         {rss_after} KiB (heap: RssAnon idle {anon_idle} KiB, after {anon_after} KiB); second burst: fds peak {db_fds_peak2}, RSS peak {rss_peak2} KiB, \
         after {rss_after2} KiB"
    );
    // 8 read connections at most, each the database and its WAL (the shared memory file is one
    // per process), plus at most one kept descriptor per closed reader (above).
    assert!(
        db_fds_peak <= db_fds_idle + 8 * 2 + 8,
        "peak {db_fds_peak}, idle {db_fds_idle}"
    );
    assert!(
        db_fds_after <= db_fds_idle + 8,
        "{db_fds_after} left, idle {db_fds_idle}"
    );
    assert!(
        db_fds_peak2 <= db_fds_idle + 8 * 2 + 8,
        "second peak {db_fds_peak2}"
    );
    assert!(
        rss_peak <= rss_idle + 16 * 1024,
        "RSS peak {rss_peak} KiB, idle {rss_idle} KiB"
    );
    // What glibc kept of each burst (arenas, a fragmented heap) is trimmed once the readers
    // are closed: back within 10% of idle, after one burst and after two.
    assert!(
        rss_after * 10 <= rss_idle * 11,
        "RSS after a burst {rss_after} KiB, idle {rss_idle} KiB"
    );
    assert!(
        rss_after2 * 10 <= rss_idle * 11,
        "RSS after a second burst {rss_after2} KiB, idle {rss_idle} KiB"
    );
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Capture at full speed with 256 KiB bodies while the inspector is searched in a loop, a
/// browser holds the live stream, and another process-like reader (its own SQLite connection)
/// reads in a loop: the WAL never exceeds max(64 MiB, the database), and it is truncated once
/// the burst is over.
#[tokio::test]
async fn the_wal_stays_bounded_under_searches_a_live_stream_and_an_outside_reader() {
    const LIMIT: u64 = 64 * 1024 * 1024;
    let bodies: usize = std::env::var("TASKHOOK_WAL_BODIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(320);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wal.db");
    let wal = dir.path().join("wal.db-wal");
    let server = Arc::new(Server::start(&db, &["--max-requests", "40"]).await);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = move |stop: &std::sync::atomic::AtomicBool| {
        !stop.load(std::sync::atomic::Ordering::Relaxed)
    };

    // The outside reader: its own connection, short reads back to back.
    let outside = {
        let stop = stop.clone();
        let db = db.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open_with_flags(
                &db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let mut reads = 0u64;
            while running(&stop) {
                let _: Option<Vec<u8>> = conn
                    .query_row(
                        "SELECT body FROM requests ORDER BY id DESC LIMIT 1",
                        [],
                        |r| r.get(0),
                    )
                    .ok();
                reads += 1;
            }
            reads
        })
    };
    // Searches through the inspector, back to back.
    let searcher = {
        let server = server.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut searches = 0u64;
            while running(&stop) {
                let r = server.get("/api/requests?q=Alice&limit=50").await;
                assert_eq!(r.status(), 200);
                searches += 1;
            }
            searches
        })
    };
    // A browser on the live page.
    let live = {
        let server = server.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut stream = server.get("/live").await;
            let mut chunks = 0u64;
            while running(&stop) {
                match tokio::time::timeout(Duration::from_millis(200), stream.chunk()).await {
                    Ok(Ok(Some(_))) => chunks += 1,
                    Ok(_) => break,
                    Err(_) => {}
                }
            }
            chunks
        })
    };
    // The sampler: the WAL against its bound, all along.
    let sampler = {
        let stop = stop.clone();
        let (db, wal) = (db.clone(), wal.clone());
        std::thread::spawn(move || {
            let (mut max_wal, mut worst) = (0u64, None);
            while running(&stop) {
                let (w, d) = (file_len(&wal), file_len(&db));
                max_wal = max_wal.max(w);
                if w > LIMIT.max(d) && worst.is_none_or(|(ww, _)| w > ww) {
                    worst = Some((w, d));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (max_wal, worst)
        })
    };

    let body = vec![b'x'; 256 * 1024];
    let senders: Vec<_> = (0..4)
        .map(|k| {
            let server = server.clone();
            let body = body.clone();
            tokio::spawn(async move {
                for n in (k..bodies).step_by(4) {
                    let r = server
                        .client
                        .post(format!("{}/big?n={n}&WorkerName=Alice", server.capture))
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    // The burst is over; readers go on. The WAL is truncated while they do.
    let truncated = eventually(Duration::from_secs(10), || file_len(&wal) == 0).await;
    let wal_after = file_len(&wal);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (max_wal, worst) = sampler.join().unwrap();
    let reads = outside.join().unwrap();
    let searches = searcher.await.unwrap();
    let chunks = live.await.unwrap();
    println!(
        "{bodies} x 256 KiB: WAL max {:.1} MiB, after the burst {wal_after} B; db {:.1} MiB; \
         {searches} searches, {reads} outside reads, {chunks} live chunks",
        max_wal as f64 / 1048576.0,
        file_len(&db) as f64 / 1048576.0
    );
    assert!(searches > 10 && reads > 10, "the readers ran");
    assert!(
        worst.is_none(),
        "WAL over max(64 MiB, db): (wal, db) = {worst:?}"
    );
    assert!(truncated, "WAL {wal_after} bytes after the burst");
}

/// Runs `taskhook serve` on `db` to its end (a refusal), returning its stderr.
async fn refused_serve(db: &Path) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--inspector",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(db)
        .env("RUST_LOG", "off")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), output)
        .await
        .expect("a second server exits at once")
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[tokio::test]
async fn a_second_server_on_a_database_in_use_refuses_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let first = Server::start(&db, &[]).await;
    assert_eq!(first.callback(0).await.status(), 200);

    let stderr = refused_serve(&db).await;

    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("taskhook: error: database "), "{stderr}");
    assert!(stderr.contains(db.to_str().unwrap()), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "in use by another taskhook server (pid {})",
            first.pid()
        )),
        "{stderr}"
    );
    // Read-only commands still work beside the running server.
    let requests = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args(["requests", "--json", "--db"])
        .arg(&db)
        .output()
        .await
        .unwrap();
    assert!(
        requests.status.success(),
        "{}",
        String::from_utf8_lossy(&requests.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&requests.stdout).lines().count(), 1);
    // The first server is unaffected.
    assert_eq!(first.callback(1).await.status(), 200);
    assert_eq!(first.api("/api/stats").await["requests"], 2);
}

#[tokio::test]
async fn two_servers_started_at_once_on_a_fresh_file_one_runs_the_other_says_why() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(format!("race{round}.db"));
        let spawn = || {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
                .args([
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--inspector",
                    "127.0.0.1:0",
                    "--db",
                ])
                .arg(&db)
                .env("RUST_LOG", "off")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        };
        let mut children = vec![spawn(), spawn()];
        // The loser exits on its own; the winner prints its address and keeps running.
        let mut outcomes = Vec::new();
        for child in &mut children {
            let mut line = String::new();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let first = tokio::time::timeout(Duration::from_secs(20), out.read_line(&mut line))
                .await
                .expect("an address line or an exit within 20 s")
                .unwrap();
            outcomes.push(first > 0 && line.starts_with("capture: "));
        }
        assert_eq!(
            outcomes.iter().filter(|ran| **ran).count(),
            1,
            "round {round}: {outcomes:?}"
        );
        let loser = outcomes.iter().position(|ran| !ran).unwrap();
        let output = children.swap_remove(loser).wait_with_output();
        let output = tokio::time::timeout(Duration::from_secs(20), output)
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        assert!(!output.status.success());
        assert_eq!(stderr.lines().count(), 1, "round {round}: {stderr}");
        assert!(
            stderr.contains("is in use by another taskhook server"),
            "{stderr}"
        );
        assert!(!stderr.contains("CREATE TABLE"), "{stderr}");
    }
}

/// Exports `rows` callbacks of 1 MiB each (random bytes, so each goes out as base64) as HAR
/// through the real binary's inspector API while sampling its RSS; returns (idle RSS, peak
/// RSS during the export) in KiB, and checks the download is whole.
async fn export_rss(rows: i64) -> (u64, u64) {
    let (_dir, db) = seeded_database(1).await;
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO requests (received_at, remote_addr, method, path, http_version,
                 headers, body, body_size, response_status, response_headers, response_body,
                 duration_us, kind)
             SELECT 1795864014000000 + i, '127.0.0.1:1', 'POST', '/big', 'HTTP/1.1',
                 CAST('Content-Type: application/octet-stream' || char(13, 10) AS BLOB),
                 randomblob(1048576), 1048576, 200, CAST('' AS BLOB), CAST('' AS BLOB), 1,
                 'other'
             FROM n;
             DELETE FROM requests WHERE path != '/big';"
        ))
        .unwrap();
    }
    let server = Server::start(&db, &[]).await;
    let pid = server.pid();
    assert_eq!(server.api("/api/stats").await["requests"], rows);
    let rss_idle = proc_status_kib(pid, "VmRSS");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(proc_status_kib(pid, "VmRSS"));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let mut response = server.get("/api/export?format=har&path=/big").await;
    assert_eq!(response.status(), 200);
    let (mut bytes, mut tail) = (0u64, Vec::new());
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        tail.extend_from_slice(&chunk);
        let keep = tail.len().saturating_sub(16);
        tail.drain(..keep);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let rss_peak = sampler.join().unwrap();
    // base64 of 1 MiB is 1,398,104 bytes per entry, plus its JSON.
    assert!(bytes > rows as u64 * 1_398_104, "{bytes} bytes exported");
    assert!(tail.ends_with(b"]}}\n"), "a whole HAR");
    println!(
        "HAR export of {rows} x 1 MiB ({:.0} MiB out): RSS idle {:.1} MiB, peak {:.1} MiB (+{:.1} MiB)",
        bytes as f64 / 1048576.0,
        rss_idle as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        (rss_peak.saturating_sub(rss_idle)) as f64 / 1024.0
    );
    (rss_idle, rss_peak)
}

#[tokio::test]
async fn a_har_export_of_64_mib_of_bodies_streams_in_bounded_memory() {
    let (idle, peak) = export_rss(64).await;
    assert!(
        peak < idle + 64 * 1024,
        "RSS {idle} KiB idle, {peak} KiB peak"
    );
}

/// The figure in docs/reliability.md: 1 GiB of bodies.
/// `cargo test --release --test integration -- --ignored a_har_export_of_1_gib --nocapture`
#[tokio::test]
#[ignore = "a measurement: 1 GiB of bodies"]
async fn a_har_export_of_1_gib_of_bodies_streams_in_bounded_memory() {
    let (idle, peak) = export_rss(1000).await;
    assert!(
        peak < idle + 64 * 1024,
        "RSS {idle} KiB idle, {peak} KiB peak"
    );
}

/// Open descriptors of the process on the database's files (the HTTP sockets left out).
fn db_fds(pid: u32, db: &Path) -> usize {
    let db = db.to_string_lossy().into_owned();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|p| p.to_string_lossy().starts_with(&db))
                .count()
        })
        .unwrap_or(0)
}
