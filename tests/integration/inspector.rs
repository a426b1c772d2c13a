use std::time::Duration;

use taskhook::store::{RequestFilter, Store, StoreOptions};

use crate::helpers::*;

/// Every route the inspector serves; each must be guarded.
const ROUTES: [&str; 19] = [
    "/",
    "/requests/1",
    "/requests/1/body",
    "/requests/1/response/body",
    "/requests/1/panel",
    "/requests/1/row",
    "/requests/1/body/raw",
    "/requests/1/body/hex",
    "/requests/1/response/body/raw",
    "/requests/1/response/body/hex",
    "/reservations",
    "/tasks/WT0123456789abcdef0123456789abcdef",
    "/live",
    "/api/requests",
    "/api/requests/1",
    "/api/reservations",
    "/api/tasks/WT0123456789abcdef0123456789abcdef",
    "/static/app.css",
    "/static/app.js",
];

#[tokio::test]
async fn every_route_refuses_a_request_without_the_token() {
    let app = spawn_app().await;
    app.post_form("/assignment", &assignment_params()).await;

    for route in ROUTES {
        let anonymous = app
            .client
            .get(app.inspector_url(route))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 403, "{route} without a token");
        let wrong = app
            .client
            .get(app.inspector_url(route))
            .bearer_auth("test-token-0123456789abcdeX")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 403, "{route} with a wrong token");
        if route != "/live" {
            assert_eq!(
                app.inspector_get(route).await.status(),
                200,
                "{route} with the token"
            );
        }
    }
}

#[tokio::test]
async fn the_url_token_is_traded_for_a_strict_httponly_cookie_and_removed_from_the_url() {
    let app = spawn_app().await;
    let client = crate::helpers::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let response = client
        .get(app.inspector_url(&format!("/?kind=event&token={INSPECTOR_TOKEN}")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/?kind=event");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let port = app.inspector.port();
    assert!(
        cookie.starts_with(&format!("taskhook_{port}={INSPECTOR_TOKEN};")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let with_cookie = client
        .get(app.inspector_url("/?kind=event"))
        .header("Cookie", format!("taskhook_{port}={INSPECTOR_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), 200);
    let other_port_cookie = client
        .get(app.inspector_url("/"))
        .header("Cookie", format!("taskhook_{}={INSPECTOR_TOKEN}", port + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(other_port_cookie.status(), 403);
}

#[tokio::test]
async fn foreign_hosts_and_cross_site_requests_get_nothing() {
    let app = spawn_app().await;
    let port = app.inspector.port();

    for host in [
        "evil.example".to_owned(),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("LOCALHOST:{port}"),
        format!("0.0.0.0:{port}"),
        format!("localhost:{}", port + 1),
    ] {
        let raw = format!(
            "GET /api/requests HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {INSPECTOR_TOKEN}\r\nConnection: close\r\n\r\n"
        );
        let reply = raw_exchange(app.inspector, raw.as_bytes()).await;
        assert_eq!(first_status(&reply), 403, "Host {host}");
        assert!(!String::from_utf8_lossy(&reply).contains("\"requests\""));
    }
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let raw = format!(
            "GET /api/requests HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {INSPECTOR_TOKEN}\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            first_status(&raw_exchange(app.inspector, raw.as_bytes()).await),
            200,
            "{host}"
        );
    }
    // HTTP/1.0 without a Host header.
    let no_host =
        format!("GET /api/requests HTTP/1.0\r\nAuthorization: Bearer {INSPECTOR_TOKEN}\r\n\r\n");
    assert_eq!(
        first_status(&raw_exchange(app.inspector, no_host.as_bytes()).await),
        403
    );

    for origin in ["http://localhost:3000", "null", "https://evil.example"] {
        let response = app
            .client
            .get(app.inspector_url("/api/requests"))
            .bearer_auth(INSPECTOR_TOKEN)
            .header("Origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "Origin {origin}");
    }
    let script_include = app
        .client
        .get(app.inspector_url("/api/requests"))
        .bearer_auth(INSPECTOR_TOKEN)
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", "no-cors")
        .send()
        .await
        .unwrap();
    assert_eq!(script_include.status(), 403);
}

#[tokio::test]
async fn every_answer_carries_a_strict_policy_and_no_cors_headers() {
    let app = spawn_app().await;
    for route in [
        "/",
        "/api/requests",
        "/static/app.js",
        "/requests/999",
        "/nope",
    ] {
        for response in [
            app.inspector_get(route).await,
            app.client
                .get(app.inspector_url(route))
                .send()
                .await
                .unwrap(),
        ] {
            let h = response.headers();
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(
                csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
                "{csp}"
            );
            assert!(!csp.contains("unsafe-inline"));
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["referrer-policy"], "same-origin");
            assert_eq!(h["cache-control"], "no-store");
            assert!(
                h.keys().all(|k| !k.as_str().starts_with("access-control-")),
                "{route}"
            );
        }
    }
}

#[tokio::test]
async fn the_capture_listener_never_serves_the_inspector() {
    let app = spawn_app().await;
    for route in ROUTES {
        let response = app
            .client
            .get(app.url(route))
            .bearer_auth(INSPECTOR_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.text().await.unwrap(),
            "{}",
            "{route} is just recorded"
        );
    }
}

const XSS: &str = "<script>alert(1)</script>";

#[tokio::test]
async fn hostile_captured_values_are_escaped_on_every_page() {
    let app = spawn_app().await;
    let hostile_path = "/cb/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E";
    app.client
        .post(app.url(hostile_path))
        .header("X-Evil", "\"><img src=x onerror=alert(1)>")
        .form(&[
            ("TaskSid", TASK),
            ("ReservationSid", RESERVATION),
            ("EventType", "</td><script>alert(1)</script>"),
            (
                "TaskAttributes",
                r#"{"a":"</script><script>alert(1)</script>"}"#,
            ),
            ("WorkerName", XSS),
            (XSS, XSS),
        ])
        .send()
        .await
        .unwrap();
    let id = app.latest(1).await[0].summary.id;

    for page in [
        "/".to_owned(),
        format!("/requests/{id}"),
        format!("/tasks/{TASK}"),
        "/reservations".to_owned(),
    ] {
        let html = app.inspector_get(&page).await.text().await.unwrap();
        let parsed = Page::parse(&html);
        // Parsed as a browser would: the only scripts are the page's own, no img was injected.
        for script in parsed.all("script") {
            assert!(
                script.value().attr("src").is_some() && !script.inner_html().contains("alert"),
                "{page} has a live script: {}",
                script.html()
            );
        }
        assert!(!parsed.has("img"), "{page} has a live img tag");
        assert!(!parsed.has("[onerror]"), "{page} has a live handler");
        if page.starts_with("/requests/") {
            assert!(
                parsed.text().contains("<script>alert(1)</script>"),
                "shown as text"
            );
            assert!(parsed.text().contains(r#""><img src=x onerror=alert(1)>"#));
        }
    }
}

#[tokio::test]
async fn the_api_lists_filters_and_pages_with_the_documented_fields() {
    let app = spawn_app().await;
    app.post_form("/assignment", &assignment_params()).await;
    app.post_form("/events", &reservation_event_params("reservation.accepted"))
        .await;
    for n in 0..5 {
        app.post_form(
            "/other",
            &[("n", &n.to_string()), ("note", "needle in a haystack")],
        )
        .await;
    }

    let all = app.api("/api/requests").await;
    let rows = all["requests"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for field in [
        "id",
        "received_at",
        "method",
        "path",
        "query",
        "status",
        "kind",
        "event_type",
        "workspace_sid",
        "task_sid",
        "reservation_sid",
        "worker_sid",
        "signature",
        "replay_of",
    ] {
        assert!(rows[0].get(field).is_some(), "missing {field}");
    }

    let by_task = app.api(&format!("/api/requests?task_sid={TASK}")).await;
    assert_eq!(by_task["requests"].as_array().unwrap().len(), 2);
    let events = app.api("/api/requests?kind=event").await;
    assert_eq!(events["requests"][0]["event_type"], "reservation.accepted");
    let by_type = app
        .api("/api/requests?event_type=reservation.accepted")
        .await;
    assert_eq!(by_type["requests"].as_array().unwrap().len(), 1);
    let by_status = app.api("/api/requests?status=204").await;
    assert_eq!(by_status["requests"].as_array().unwrap().len(), 1);
    let by_path = app.api("/api/requests?path=/other").await;
    assert_eq!(by_path["requests"].as_array().unwrap().len(), 5);
    let search = app.api("/api/requests?q=haystack").await;
    assert_eq!(search["requests"].as_array().unwrap().len(), 5);
    let search_attr = app.api("/api/requests?q=selected_language").await;
    assert_eq!(
        search_attr["requests"].as_array().unwrap().len(),
        2,
        "decoded TaskAttributes are searchable"
    );
    let odd_query = app.api("/api/requests?q=%22%20OR%20*%20NEAR(").await;
    assert_eq!(
        odd_query["requests"].as_array().unwrap().len(),
        0,
        "search text is never FTS syntax"
    );

    // Keyset pagination: pages of 3, no overlap, nothing skipped.
    let mut seen = Vec::new();
    let mut query = "/api/requests?limit=3".to_owned();
    loop {
        let page = app.api(&query).await;
        seen.extend(
            page["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        match page["next_before"].as_i64() {
            Some(before) => query = format!("/api/requests?limit=3&before={before}"),
            None => break,
        }
    }
    let mut expected: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn one_request_in_full_with_non_utf8_bytes_as_base64() {
    let app = spawn_app().await;
    app.client
        .post(app.url("/bin?x=1"))
        .header("X-Bytes", "plain")
        .body(vec![0xff, 0x00, 0x41])
        .send()
        .await
        .unwrap();
    let id = app.latest(1).await[0].summary.id;

    let detail = app.api(&format!("/api/requests/{id}")).await;
    assert_eq!(detail["path"], "/bin");
    assert_eq!(detail["query"], "x=1");
    assert_eq!(detail["body_encoding"], "base64");
    assert_eq!(detail["body"], "/wBB");
    assert_eq!(detail["response"]["status"], 200);
    assert_eq!(detail["response"]["body"], "{}");
    assert!(
        detail["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "x-bytes" && h["value"] == "plain")
    );

    let missing = app.inspector_get("/api/requests/999999").await;
    assert_eq!(missing.status(), 404);
    let missing: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(
        missing["error"]["status"], 404,
        "one JSON error shape: {missing}"
    );
    assert!(missing["error"]["message"].is_string(), "{missing}");
}

#[tokio::test]
async fn reservations_follow_their_callbacks_and_tasks_tell_their_story() {
    let app = spawn_app().await;
    app.post_form("/events", &reservation_event_params("task.created"))
        .await;
    app.post_form("/assignment", &assignment_params()).await;

    let pending = app.api("/api/reservations").await;
    let r = &pending["reservations"][0];
    assert_eq!(
        (r["reservation_sid"].as_str(), r["status"].as_str()),
        (Some(RESERVATION), Some("pending"))
    );
    assert_eq!(r["task_sid"], TASK);
    assert_eq!(r["worker_sid"], WORKER);
    assert!(r["offered_at"].is_string());

    app.post_form("/events", &reservation_event_params("reservation.accepted"))
        .await;
    // A late or replayed assignment callback does not reopen it.
    app.post_form("/assignment", &assignment_params()).await;
    let accepted = app.api("/api/reservations").await;
    assert_eq!(accepted["reservations"][0]["status"], "accepted");
    assert_eq!(accepted["reservations"][0]["worker_name"], "Alice");
    assert_eq!(accepted["reservations"].as_array().unwrap().len(), 1);

    let task = app.api(&format!("/api/tasks/{TASK}")).await;
    let kinds: Vec<String> = task["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["event_type"]
                .as_str()
                .unwrap_or(r["kind"].as_str().unwrap())
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "task.created",
            "assignment",
            "reservation.accepted",
            "assignment"
        ]
    );

    let page = app
        .inspector_get(&format!("/tasks/{TASK}"))
        .await
        .text()
        .await
        .unwrap();
    let timeline = &page[page.find("id=\"timeline\"").expect("a timeline")..];
    let created = timeline.find(">created<").unwrap();
    let reserved = timeline.find(">reserved<").unwrap();
    let accepted_at = timeline.find(">accepted<").unwrap();
    assert!(
        created < reserved && reserved < accepted_at,
        "created → reserved → accepted"
    );

    assert_eq!(
        app.inspector_get("/api/tasks/WT..%2F..%2Fx").await.status(),
        400
    );
    assert_eq!(
        app.inspector_get("/api/tasks/WTffffffffffffffffffffffffffffffff")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn live_updates_stream_each_committed_request() {
    let app = spawn_app().await;
    let mut live = app.inspector_get("/live").await;
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "text/event-stream");

    app.post_form("/assignment", &assignment_params()).await;

    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout_at(deadline, live.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("stream open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with("event: request\ndata: {"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(text.lines().nth(1).unwrap().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(json["reservation_sid"], RESERVATION);
    assert_eq!(json["kind"], "assignment");
}

#[test]
fn list_and_sid_filters_use_an_index_at_100_000_rows() {
    // No ANALYZE, as in production: the planner must pick the index on its own.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
         INSERT INTO requests (received_at, remote_addr, method, path, http_version, headers, body,
             body_size, response_status, response_headers, response_body, duration_us, kind,
             event_type, task_sid, reservation_sid, worker_sid, workspace_sid)
         SELECT i, '127.0.0.1:1', 'POST', '/cb' || (i % 10), 'HTTP/1.1', x'', x'', 0,
             CASE WHEN i % 3 = 0 THEN 204 ELSE 200 END, x'', x'', 1,
             CASE WHEN i % 3 = 0 THEN 'event' ELSE 'assignment' END,
             CASE WHEN i % 3 = 0 THEN 'event.' || (i % 20) END,
             printf('WT%032x', i / 4), printf('WR%032x', i / 2), printf('WK%032x', i % 50),
             'WS0123456789abcdef0123456789abcdef'
         FROM n;",
    )
    .unwrap();

    let sid = |p: &str| Some(format!("{p}{:032x}", 777));
    let cases: Vec<(&str, RequestFilter, &str)> = vec![
        (
            "task",
            RequestFilter {
                task_sid: sid("WT").and_then(|s| s.parse().ok()),
                ..Default::default()
            },
            "requests_by_task",
        ),
        (
            "reservation",
            RequestFilter {
                reservation_sid: sid("WR").and_then(|s| s.parse().ok()),
                ..Default::default()
            },
            "requests_by_reservation",
        ),
        (
            "worker",
            RequestFilter {
                worker_sid: format!("WK{:032x}", 7).parse().ok(),
                ..Default::default()
            },
            "requests_by_worker",
        ),
        (
            "event type",
            RequestFilter {
                event_type: Some("event.3".into()),
                ..Default::default()
            },
            "requests_by_event_type",
        ),
        (
            "path",
            RequestFilter {
                path: Some("/cb3".into()),
                ..Default::default()
            },
            "requests_by_path",
        ),
        (
            "status",
            RequestFilter {
                status: Some(204),
                ..Default::default()
            },
            "requests_by_status",
        ),
    ];
    for (name, mut filter, index) in cases {
        filter.limit = 100;
        filter.before = Some(90_000);
        let plan = store
            .read_blocking(|r| r.explain_list(&filter))
            .unwrap()
            .join(" | ");
        assert!(plan.contains(index), "{name}: {plan}");
        assert!(
            !plan.contains("TEMP B-TREE"),
            "{name} sorts instead of walking the index: {plan}"
        );
        let rows = store.read_blocking(|r| r.list_requests(&filter)).unwrap();
        assert!(
            !rows.is_empty() && rows.windows(2).all(|w| w[0].id > w[1].id),
            "{name}"
        );
    }
    let newest = RequestFilter {
        limit: 100,
        before: Some(50_000),
        ..Default::default()
    };
    let plan = store
        .read_blocking(|r| r.explain_list(&newest))
        .unwrap()
        .join(" | ");
    assert!(
        plan.contains("INTEGER PRIMARY KEY") && !plan.contains("TEMP B-TREE"),
        "{plan}"
    );
}

#[tokio::test]
async fn the_token_redirect_never_leaves_the_inspector() {
    let app = spawn_app().await;
    let host = format!("127.0.0.1:{}", app.inspector.port());
    for target in ["//evil.example/x", "/\\evil.example", "///evil.example"] {
        let raw = format!(
            "GET {target}?token={INSPECTOR_TOKEN} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        let reply = String::from_utf8_lossy(&raw_exchange(app.inspector, raw.as_bytes()).await)
            .into_owned();
        let location = reply
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap_or_else(|| panic!("no redirect for {target}: {reply}"));
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains('\\'),
            "{target} → {location}"
        );
    }
}

/// Search is a phrase with a prefix match on its last word; with a filter it reads the matches
/// newest first a window (1,000 matches) at a time. Across windows, with completions of the
/// last word and with a rare filter, the page is exactly the newest matching rows.
#[tokio::test]
async fn search_with_a_filter_pages_through_many_matches_exactly() {
    let app = spawn_app().await;
    // 2,600 callbacks: every one says "inbound…"; every 13th is an assignment on /rare.
    let mut expected_rare = Vec::new();
    let bodies: Vec<(String, String)> = (0..2600)
        .map(|n| {
            let word = ["inbound", "inbounds", "inboundcall"][n % 3];
            let path = if n % 13 == 0 { "/rare" } else { "/cb" };
            (path.to_owned(), format!("Note={word}&N=n{n}"))
        })
        .collect();
    for chunk in bodies.chunks(100) {
        let sends = chunk.iter().map(|(path, body)| {
            app.client
                .post(app.url(path))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
        });
        for sent in futures_util::future::join_all(sends).await {
            assert_eq!(sent.unwrap().status(), 200);
        }
    }
    assert_eq!(app.api("/api/stats").await["requests"], 2600);
    let rare = app.api("/api/requests?path=/rare&limit=1000").await;
    for row in rare["requests"].as_array().unwrap() {
        expected_rare.push(row["id"].as_i64().unwrap());
    }
    assert_eq!(expected_rare.len(), 200);
    // The prefix "inbou" matches every row through three different terms.
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let page = app.api("/api/requests?q=inbou&path=/rare&limit=250").await;
    assert_eq!(ids(&page), expected_rare, "every /rare row, newest first");
    let page = app.api("/api/requests?q=inbou&path=/rare&limit=50").await;
    assert_eq!(ids(&page), expected_rare[..50]);
    // Keyset paging goes on below the last id shown.
    let before = expected_rare[49];
    let next = app
        .api(&format!(
            "/api/requests?q=inbou&path=/rare&limit=50&before={before}"
        ))
        .await;
    assert_eq!(ids(&next), expected_rare[50..100]);
    // A whole word matches it and its completions, not other words.
    let inbounds = app.api("/api/requests?q=inbounds&limit=1000").await;
    assert_eq!(ids(&inbounds).len(), 2600 / 3 + 1);
    let exact = app
        .api("/api/requests?q=inboundcall&path=/cb&limit=1000")
        .await;
    assert!(ids(&exact).len() < 2600 / 3 + 1 && !ids(&exact).is_empty());
}

/// The raw-bytes download: exactly what was stored, as an inert attachment, behind the guard.
#[tokio::test]
async fn a_body_downloads_as_its_exact_bytes_never_as_a_page() {
    let app = spawn_app().await;
    let body: &[u8] = b"<html><script>alert(1)</script>\xff\xfe\x00 not utf-8";
    app.client
        .post(app.url("/page"))
        .header("Content-Type", "text/html")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let id = app.latest(1).await[0].summary.id;
    let got = app.inspector_get(&format!("/requests/{id}/body")).await;
    assert_eq!(got.status(), 200);
    let header = |name: &str| {
        got.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/octet-stream");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(
        header("content-disposition"),
        format!("attachment; filename=\"taskhook-{id}-request-body.bin\"")
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), body);

    let response = app
        .inspector_get(&format!("/requests/{id}/response/body"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        app.latest(1).await[0].response.body.as_slice()
    );

    let anonymous = app
        .client
        .get(app.inspector_url(&format!("/requests/{id}/body")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403, "no token, no bytes");
    let missing = app.inspector_get("/requests/999/body").await;
    assert_eq!(missing.status(), 404);
    let bad = app.inspector_get("/requests/abc/body").await;
    assert_eq!(bad.status(), 400);
}

/// The routes the list and the detail fetch from (a pinned row, a large body's Raw and Hex
/// tabs) answer only the inspector's own pages: no token, a foreign Origin or a cross-site
/// fetch gets 403 and none of the captured bytes.
#[tokio::test]
async fn fragment_routes_are_guarded_like_every_page() {
    let app = spawn_app().await;
    app.post_form("/assignment", &assignment_params()).await;
    let id = app.latest(1).await[0].summary.id;
    for path in ["row", "panel", "body/raw", "body/hex", "response/body/raw"] {
        let url = app.inspector_url(&format!("/requests/{id}/{path}"));
        let ok = app.inspector_get(&format!("/requests/{id}/{path}")).await;
        assert_eq!(ok.status(), 200, "{path} with the token");
        let anonymous = app.client.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 403, "{path} without a token");
        for origin in ["http://localhost:3000", "null", "https://evil.example"] {
            let foreign = app
                .client
                .get(&url)
                .bearer_auth(INSPECTOR_TOKEN)
                .header("Origin", origin)
                .send()
                .await
                .unwrap();
            assert_eq!(foreign.status(), 403, "{path} from Origin {origin}");
            assert!(!foreign.text().await.unwrap().contains("TaskSid"));
        }
        let cross = app
            .client
            .get(&url)
            .bearer_auth(INSPECTOR_TOKEN)
            .header("Sec-Fetch-Site", "cross-site")
            .header("Sec-Fetch-Mode", "no-cors")
            .send()
            .await
            .unwrap();
        assert_eq!(cross.status(), 403, "{path} fetched cross-site");
    }
    let row = app
        .inspector_get(&format!("/requests/{id}/row"))
        .await
        .text()
        .await
        .unwrap();
    let page = Page::parse(&row);
    assert!(
        page.has(&format!(
            "table tbody tr[data-id='{id}'][data-task='{TASK}']"
        )),
        "one list row, with its task: {row}"
    );
    assert!(!row.contains("<html"), "a fragment, not a page");
    assert_eq!(app.inspector_get("/requests/999/row").await.status(), 404);
    assert_eq!(
        app.inspector_get(&format!("/requests/{id}/body/pretty"))
            .await
            .status(),
        400
    );
}

/// A ~200 KiB JSON body is in its page once (Pretty), not twice: Raw and Hex are fetched when
/// chosen, as plain text, and are exactly what the page used to carry. A body over 256 KiB keeps
/// its "showing the first 256 KiB of N" note, and its Raw text is that much.
#[tokio::test]
async fn a_large_json_body_is_sent_once_and_its_other_tabs_are_fetched() {
    let app = spawn_app().await;
    let mut body = String::from("{\"zeta\":1,\"alpha\":2,\"items\":[");
    let mut n = 0;
    while body.len() < 200 * 1024 {
        body.push_str(&format!("\"item-{n:06}-0123456789abcdef\","));
        n += 1;
    }
    body.push_str("\"end\"]}");
    for path in ["/two-hundred", "/three-hundred"] {
        let mut sent = body.clone();
        if path == "/three-hundred" {
            sent = sent.replace("\"end\"]}", &"\"0123456789abcdef\",".repeat(3200));
            sent.push_str("\"end\"]}");
        }
        app.client
            .post(app.url(path))
            .header("Content-Type", "application/json")
            .body(sent)
            .send()
            .await
            .unwrap();
    }
    let rows = app.latest(2).await;
    let (big, bigger) = (&rows[1], &rows[0]);
    assert_eq!(big.summary.path, "/two-hundred");
    let total = big.body.len();
    assert!((200 * 1024..210 * 1024).contains(&total), "{total}");

    let page = app
        .inspector_get(&format!("/requests/{}", big.summary.id))
        .await
        .text()
        .await
        .unwrap();
    eprintln!("a {total}-byte JSON body: its page is {} bytes", page.len());
    assert_eq!(
        page.matches("item-001234-0123456789abcdef").count(),
        1,
        "the body's text is in the page once"
    );
    // Pretty, indented and HTML-escaped (`"` is five bytes), is about 1.45 times the body; with
    // Raw and the hex dump too the page was 2.9 times.
    assert!(
        page.len() < total * 17 / 10,
        "page {} bytes for a {total}-byte body",
        page.len()
    );
    let html = Page::parse(&page);
    assert!(html.has("#body-pretty"));
    assert!(html.has("#body-raw[data-src]") && html.has("#body-hex pre[data-src]"));
    assert!(!html.has("#body-cut"), "not cut: no note");

    let raw = app
        .inspector_get(&format!("/requests/{}/body/raw", big.summary.id))
        .await;
    assert_eq!(raw.status(), 200);
    assert_eq!(
        raw.headers()["content-type"],
        "text/plain; charset=utf-8",
        "text, never markup"
    );
    assert_eq!(raw.headers()["x-content-type-options"], "nosniff");
    assert_eq!(raw.text().await.unwrap().as_bytes(), big.body.as_slice());
    let hex = app
        .inspector_get(&format!("/requests/{}/body/hex", big.summary.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        hex.starts_with("00000000  7b 22 7a 65 74 61 22 3a"),
        "{}",
        &hex[..80]
    );
    assert_eq!(hex.lines().count(), 1024, "16 KiB, 16 bytes a line");

    // Over the display limit: the note is right and Raw is the first 256 KiB.
    let page = app
        .inspector_get(&format!("/requests/{}", bigger.summary.id))
        .await
        .text()
        .await
        .unwrap();
    let exact = taskhook::inspector::view::thousands(bigger.body.len() as u64);
    let note = Page::parse(&page).texts("#body-cut");
    assert!(
        note[0].starts_with(&format!(
            "showing the first 256.0 KiB of {} ({exact} bytes)",
            taskhook::inspector::view::size(bigger.body.len() as u64)
        )),
        "{note:?}"
    );
    assert!(
        page.len() < 512 * 1024,
        "one copy of 256 KiB: {}",
        page.len()
    );
    let raw = app
        .inspector_get(&format!("/requests/{}/body/raw", bigger.summary.id))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(raw.as_bytes(), &bigger.body[..256 * 1024]);

    // A small body still carries all three tabs (nothing to fetch).
    app.client
        .post(app.url("/small"))
        .header("Content-Type", "application/json")
        .body(r#"{"b":1,"a":2}"#)
        .send()
        .await
        .unwrap();
    let small = app.latest(1).await[0].summary.id;
    let page = app
        .inspector_get(&format!("/requests/{small}"))
        .await
        .text()
        .await
        .unwrap();
    let html = Page::parse(&page);
    assert!(!html.has("[data-src]"));
    assert!(html.texts("#body-raw")[0].contains("{\"b\":1,\"a\":2}"));
}
