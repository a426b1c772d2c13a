//! The workbench (#12): the whole quickstart loop from the inspector against the local
//! TaskRouter — accept Alice's reservation, complete the task, set Alice to Idle, switch the
//! responder to accept, create a task and see it accepted — clicked in headless Chromium, and
//! the same through the JSON API.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value, json};
use taskhook::sim::{Sim, SimConfig};
use taskhook::taskrouter::client::Credentials;
use taskhook::taskrouter::status::ActionKind;

use crate::browser_support::Browser;
use crate::helpers::*;

/// `taskhook demo` in-process: the sim (120 s reservations) and the app wired to each other,
/// callbacks set through the sim's REST API, and the quickstart's task created.
pub struct Demo {
    pub sim: Sim,
    pub app: TestApp,
    pub task: String,
}

pub async fn demo() -> Demo {
    demo_with(Duration::from_secs(120)).await
}

pub async fn demo_with(timeout: Duration) -> Demo {
    let mut config = SimConfig::new("127.0.0.1:0".parse().unwrap());
    config.reservation_timeout = timeout;
    let sim = Sim::start(config).await.expect("sim starts");
    let (base, account, token, workspace) = (
        sim.base_url(),
        sim.account_sid().to_owned(),
        sim.auth_token().clone(),
        sim.workspace_sid().to_owned(),
    );
    let app = spawn_app_with(move |c| {
        c.taskrouter.base_url = base;
        c.taskrouter.credentials = Some(Credentials::auth_token(
            &account.parse().unwrap(),
            token.clone(),
        ));
        c.taskrouter.workspace = Some(workspace.parse().unwrap());
        c.capture.signature_token = Some(token);
    })
    .await;
    let http = http_client();
    let ws = format!("{}/v1/Workspaces/{}", sim.base_url(), sim.workspace_sid());
    for (url, name, value) in [
        (
            format!("{ws}/Workflows/{}", sim.workflow_sid()),
            "AssignmentCallbackUrl",
            app.url("/assignment"),
        ),
        (ws.clone(), "EventCallbackUrl", app.url("/events")),
    ] {
        let status = http
            .post(url)
            .basic_auth(sim.account_sid(), Some(sim.auth_token().expose()))
            .form(&[(name, value)])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "set {name}");
    }
    let task = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    Demo { sim, app, task }
}

/// Polls `check` every 25 ms for at most 5 s.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The reservation recorded for `task`, once it has `status`.
pub async fn reservation_of(app: &TestApp, task: &str, status: &str) -> Value {
    eventually(&format!("a {status} reservation of {task}"), async || {
        app.api("/api/reservations").await["reservations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["task_sid"] == task && r["status"] == status)
            .cloned()
    })
    .await
}

async fn wait_for(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

/// Waits until the text of `css` contains `want`; returns it.
async fn wait_text(browser: &Browser, css: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(el) = browser.client.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
            && text.contains(want)
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never read {want:?}: {:?}",
            match browser.client.find(Locator::Css(css)).await {
                Ok(el) => el.text().await.ok(),
                Err(_) => None,
            }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(browser: &Browser, css: &str) {
    wait_for(browser, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

pub async fn alice(app: &TestApp) -> Value {
    app.api("/api/workers").await["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["friendly_name"] == "Alice")
        .cloned()
        .expect("Alice")
}

#[tokio::test]
async fn the_quickstart_loop_runs_by_clicking_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Demo { sim, app, task } = demo().await;
    let c = &browser.client;
    c.goto(&app.inspector_url(&format!("/?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();

    // "Needs you": Alice's reservation is pinned with names, not only SIDs, and a countdown
    // from the Workflow's TaskReservationTimeout.
    let item = wait_text(&browser, "#tray .tray-item", "Alice").await;
    assert!(item.contains("selected_language: es"), "task label: {item}");
    assert!(
        item.contains("Customer Care Requests - Spanish"),
        "queue name: {item}"
    );
    let countdown = wait_text(&browser, "#tray .countdown", "left").await;
    assert!(
        countdown.starts_with("1:") || countdown.starts_with("2:"),
        "{countdown}"
    );
    let title = c
        .execute(
            "return document.querySelector('#tray .countdown').getAttribute('title');",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        title
            .as_str()
            .unwrap_or("")
            .contains("TaskReservationTimeout 120 s"),
        "{title}"
    );
    browser.screenshot("workbench-tray").await;

    // Accept from the tray.
    click(&browser, "#tray button[data-action='accept']").await;
    reservation_of(&app, &task, "accepted").await;
    wait_for(&browser, "#tray[hidden]").await;

    // Complete the task from its page: only the actions that fit an assigned task show.
    c.goto(&app.inspector_url(&format!("/tasks/{task}")))
        .await
        .unwrap();
    wait_text(&browser, "#task-status", "assigned").await;
    let cancel_shown = c
        .find(Locator::Css("form[data-action-name='cancel']"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap();
    assert!(!cancel_shown, "Cancel is not offered for an assigned task");
    click(&browser, "form[data-action-name='complete'] button").await;
    wait_text(&browser, ".task-actions output.result.ok", "task completed").await;

    // Set Alice to Idle on the workbench.
    c.goto(&app.inspector_url("/workers")).await.unwrap();
    let alice_sid = alice(&app).await["worker_sid"].as_str().unwrap().to_owned();
    let row = format!("#workers tr[data-worker='{alice_sid}']");
    wait_text(&browser, &format!("{row} .activity"), "Busy").await;
    wait_for(&browser, &format!("{row} select[name=activity]"))
        .await
        .select_by_label("Idle")
        .await
        .unwrap();
    click(
        &browser,
        &format!("{row} button[data-action='set activity']"),
    )
    .await;
    wait_text(&browser, &format!("{row} output.result.ok"), "Alice · Idle").await;
    wait_text(&browser, &format!("{row} .activity"), "Idle").await;
    assert_eq!(alice(&app).await["activity_name"], "Idle");

    // Switch the responder to accept.
    click(&browser, "#responder-form input[value='accept']").await;
    click(&browser, "#responder-form button[data-action='switch']").await;
    wait_text(
        &browser,
        "#responder-result",
        "assignment callbacks now get: accept",
    )
    .await;
    wait_text(&browser, "#responder-name", "accept").await;
    assert_eq!(app.api("/api/responder").await["assignment"], "accept");

    // Create a task; the responder accepts its reservation with no click, and Alice's row
    // follows live (Busy).
    click(&browser, "#new-task button[data-action='create task']").await;
    let result = wait_text(&browser, "#new-task-result", "task WT").await;
    let new_task = result
        .split_whitespace()
        .find(|w| w.starts_with("WT"))
        .expect("the new TaskSid")
        .to_owned();
    assert_ne!(new_task, task);
    reservation_of(&app, &new_task, "accepted").await;
    wait_text(&browser, &format!("{row} .activity"), "Busy").await;
    browser.screenshot("workbench-after-loop").await;

    // The audit trail has every step.
    c.goto(&app.inspector_url("/workers")).await.unwrap();
    let log = wait_text(&browser, "table.actions-log", "create_task").await;
    assert!(
        log.contains("responder") && log.contains("set_activity"),
        "{log}"
    );
    browser.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_quickstart_loop_runs_through_the_json_api() {
    let Demo { sim, app, task } = demo().await;
    let pending = reservation_of(&app, &task, "pending").await;
    let tray = app.api("/api/tray").await;
    assert_eq!(tray["pending"][0]["worker_name"], "Alice", "{tray}");
    assert_eq!(tray["timeout"]["from_workflow"], true, "{tray}");
    assert_eq!(tray["timeout"]["us"], 120_000_000, "{tray}");

    let wr = pending["reservation_sid"].as_str().unwrap();
    let accepted = app
        .post_json(&format!("/api/reservations/{wr}/accept"), json!({}))
        .await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(
        accepted.json::<Value>().await.unwrap()["reservation_status"],
        "accepted"
    );
    let completed = app
        .post_json(&format!("/api/tasks/{task}/complete"), json!({}))
        .await;
    assert_eq!(completed.status(), 200);
    assert_eq!(
        completed.json::<Value>().await.unwrap()["assignment_status"],
        "completed"
    );

    let before = alice(&app).await;
    assert_eq!(before["activity_name"], "Busy", "{before}");
    assert_eq!(before["attributes"]["languages"], json!(["en", "es"]));
    let wk = before["worker_sid"].as_str().unwrap();
    let idle = app
        .post_json(
            &format!("/api/workers/{wk}/activity"),
            json!({"activity": "Idle"}),
        )
        .await;
    assert_eq!(idle.status(), 200);
    let worker: Value = idle.json().await.unwrap();
    assert_eq!(
        (
            worker["activity_name"].as_str(),
            worker["available"].as_bool()
        ),
        (Some("Idle"), Some(true)),
        "TaskRouter's worker JSON: {worker}"
    );

    let switched = app
        .client
        .put(app.inspector_url("/api/responder"))
        .bearer_auth(INSPECTOR_TOKEN)
        .json(&json!({"assignment": "accept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), 200);
    assert_eq!(app.api("/api/responder").await["assignment"], "accept");

    let created = app
        .post_json(
            "/api/tasks",
            json!({"attributes": {"selected_language": "es"}, "priority": 5, "timeout": 600}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["priority"], 5, "{created}");
    assert_eq!(created["timeout"], 600, "{created}");
    let new_task = created["sid"].as_str().unwrap();
    reservation_of(&app, new_task, "accepted").await;
    assert_eq!(alice(&app).await["activity_name"], "Busy");

    // A manual Accept after the responder's: a warning, not TaskRouter's 20001.
    let auto = reservation_of(&app, new_task, "accepted").await;
    let again = app
        .post_json(
            &format!(
                "/api/reservations/{}/accept",
                auto["reservation_sid"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert!(
        again["taskhook_warning"]
            .as_str()
            .is_some_and(|w| w.contains("already accepted")),
        "{again}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_workbench_input_gets_a_clear_answer_before_any_call() {
    let Demo { sim, app, .. } = demo().await;
    let long = "x".repeat(4100);
    for (body, says) in [
        (json!({"attributes": [1, 2]}), "JSON object"),
        (json!({"attributes": "{not json"}), "not JSON"),
        (json!({"attributes": {"a": long}}), "at most 4096"),
        (json!({}), "required"),
        (
            json!({"attributes": {}, "priority": -1}),
            "priority is a whole number",
        ),
        (
            json!({"attributes": {}, "timeout": 0}),
            "timeout is in seconds",
        ),
        (
            json!({"attributes": {}, "task_channel": "../x"}),
            "task_channel",
        ),
    ] {
        let answer = app.post_json("/api/tasks", body.clone()).await;
        assert_eq!(answer.status(), 400, "{body}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    for (assignment, says) in [
        (json!("maybe"), "hold"),
        (json!({"instruction": "teleport"}), "55555"),
        (
            json!({"instruction": "redirect", "url": "https://x"}),
            "call_sid",
        ),
        (
            json!({"instruction": "reject", "activity_sid": "Offline"}),
            "40100",
        ),
    ] {
        let answer = app
            .client
            .put(app.inspector_url("/api/responder"))
            .bearer_auth(INSPECTOR_TOKEN)
            .json(&json!({ "assignment": assignment }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{assignment}");
        assert!(answer.text().await.unwrap().contains(says), "{assignment}");
    }
    assert_eq!(app.api("/api/responder").await["assignment"], "hold");
    let wk = alice(&app).await["worker_sid"].as_str().unwrap().to_owned();
    let answer = app
        .post_json(
            &format!("/api/workers/{wk}/activity"),
            json!({"activity": "Napping"}),
        )
        .await;
    assert_eq!(answer.status(), 400);
    let text = answer.text().await.unwrap();
    assert!(text.contains("Offline, Idle, Busy, Reserved"), "{text}");
    // A dequeue for a task without call_sid is accepted, with TaskRouter's 40140 as a warning.
    let answer = app
        .client
        .put(app.inspector_url("/api/responder"))
        .bearer_auth(INSPECTOR_TOKEN)
        .json(&json!({"assignment": {"instruction": "dequeue", "from": "+15550100"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["warning"]
            .as_str()
            .is_some_and(|w| w.contains("40140")),
        "{body}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn list_cells_are_cut_server_side_so_long_paths_keep_the_page_small() {
    let app = spawn_app().await;
    // The longest request target the capture listener takes (hyper answers 414 past 64 KiB),
    // sent on a raw socket; 50 of them are 3 MiB of paths.
    let long = format!("/cb/{}", "a".repeat(62 * 1024));
    let body = format!("EventType=task.created&TaskSid={TASK}");
    let request = format!(
        "POST {long}?q={} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        "b".repeat(1000),
        app.addr,
        body.len()
    );
    for _ in 0..50 {
        let answer = raw_exchange(app.addr, request.as_bytes()).await;
        assert_eq!(first_status(&answer), 204, "a 62 KiB path is recorded");
    }
    let html = app.inspector_get("/").await.text().await.unwrap();
    let page = Page::parse(&html);
    assert_eq!(page.all("#requests tbody tr[data-id]").len(), 50);
    assert!(
        html.len() < 250 * 1024,
        "50 rows with 63 KiB paths and queries make a {} byte page",
        html.len()
    );
    let cell = page.texts("#requests tbody tr .path")[0].clone();
    assert!(cell.ends_with('…') && cell.chars().count() == 161, "{cell}");
    // The whole path is still one click away.
    let id = app.latest(1).await[0].summary.id;
    let detail = app
        .inspector_get(&format!("/requests/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(detail.contains(&long), "the detail page has the whole path");
}

#[tokio::test]
async fn rows_show_taskrouter_names_next_to_their_sids() {
    let Demo { sim, app, task } = demo().await;
    reservation_of(&app, &task, "pending").await;
    eventually("the assignment callback", async || {
        let found = app.api("/api/requests?kind=assignment").await["requests"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
        found.then_some(())
    })
    .await;
    let html = app.inspector_get("/").await.text().await.unwrap();
    let page = Page::parse(&html);
    let workers = page.texts("#requests .worker-name");
    assert!(workers.iter().any(|w| w == "Alice"), "{workers:?}");
    let labels = page.texts("#requests .task-label");
    assert!(
        labels.iter().any(|l| l == "selected_language: es"),
        "{labels:?}"
    );
    let queues = page.texts("#requests .queue-name");
    assert!(
        queues
            .iter()
            .any(|q| q == "Customer Care Requests - Spanish"),
        "{queues:?}"
    );
    let descriptions = page.texts("#requests .desc");
    assert!(
        descriptions.iter().any(|d| d.contains('…')),
        "EventDescription with shortened SIDs: {descriptions:?}"
    );
    // The assignment callback carries no WorkerName: the name comes from the Workers list.
    let assignment = page
        .all("#requests tbody tr.kind-assignment")
        .first()
        .map(|r| r.text().collect::<String>())
        .expect("the assignment row");
    assert!(assignment.contains("Alice"), "{assignment}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_replay_to_the_capture_listener_is_one_marked_record_that_moves_no_state() {
    let Demo { sim, app, task } = demo().await;
    let pending = reservation_of(&app, &task, "pending").await;
    let wr = pending["reservation_sid"].as_str().unwrap().to_owned();
    let ok = app
        .post_json(&format!("/api/reservations/{wr}/accept"), json!({}))
        .await;
    assert_eq!(ok.status(), 200);
    let ok = app
        .post_json(&format!("/api/tasks/{task}/complete"), json!({}))
        .await;
    assert_eq!(ok.status(), 200);
    eventually("task.completed", async || {
        let list = app.api("/api/requests?event_type=task.completed").await;
        (!list["requests"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    let assignment = app.api("/api/requests?kind=assignment").await["requests"][0].clone();
    let original = assignment["id"].as_i64().unwrap();
    // Assignment callbacks only: the sim's event callbacks may still be arriving.
    let before = app.api("/api/requests?kind=assignment&limit=500").await["requests"]
        .as_array()
        .unwrap()
        .len();

    let replay = app
        .post_json(&format!("/api/requests/{original}/replay"), json!({}))
        .await;
    assert_eq!(replay.status(), 201);
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["replay_of"], original, "{replay}");
    let after = app.api("/api/requests?kind=assignment&limit=500").await["requests"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(after.len(), before + 1, "one record per replay, not two");
    assert_eq!(after[0]["replay_of"], original);
    assert_eq!(after[0]["kind"], "assignment");

    // The reservation and the task's story are untouched.
    let reservation = app.api("/api/reservations").await["reservations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reservation_sid"] == wr.as_str())
        .cloned()
        .unwrap();
    assert_ne!(reservation["status"], "pending", "{reservation}");
    let html = app
        .inspector_get(&format!("/tasks/{task}"))
        .await
        .text()
        .await
        .unwrap();
    let steps = Page::parse(&html).texts("figcaption.steps")[0].clone();
    assert!(steps.ends_with("completed"), "{steps}");
    let list = Page::parse(&app.inspector_get("/").await.text().await.unwrap())
        .texts("#requests .badge.replay");
    assert_eq!(list, vec![format!("replay of #{original}")]);
    sim.shutdown().await;
}

/// A route: method, path, JSON body (null for a form route), form fields.
type Route = (&'static str, String, Value, Vec<(&'static str, String)>);

/// Every state-changing route the workbench added.
fn new_routes(worker: &str) -> Vec<Route> {
    vec![
        (
            "POST",
            format!("/api/workers/{worker}/activity"),
            json!({"activity": "Offline"}),
            vec![],
        ),
        (
            "POST",
            "/api/tasks".into(),
            json!({"attributes": {"selected_language": "es"}}),
            vec![],
        ),
        (
            "PUT",
            "/api/responder".into(),
            json!({"assignment": "accept"}),
            vec![],
        ),
        (
            "POST",
            format!("/workers/{worker}/activity"),
            Value::Null,
            vec![("activity", "Offline".into())],
        ),
        (
            "POST",
            "/tasks".into(),
            Value::Null,
            vec![("attributes", r#"{"selected_language":"es"}"#.into())],
        ),
        (
            "POST",
            "/responder".into(),
            Value::Null,
            vec![("mode", "accept".into())],
        ),
    ]
}

/// What a successful cross-site request would have changed: Alice's activity, the number of
/// tasks, the responder.
async fn untouched(app: &TestApp, sim: &Sim) -> (String, usize, Value) {
    let http = http_client();
    let tasks: Value = http
        .get(format!(
            "{}/v1/Workspaces/{}/Tasks",
            sim.base_url(),
            sim.workspace_sid()
        ))
        .basic_auth(sim.account_sid(), Some(sim.auth_token().expose()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        alice(app).await["activity_name"]
            .as_str()
            .unwrap()
            .to_owned(),
        tasks["tasks"].as_array().unwrap().len(),
        app.api("/api/responder").await["assignment"].clone(),
    )
}

#[tokio::test]
async fn every_new_route_refuses_cross_site_and_unauthenticated_requests() {
    let Demo { sim, app, .. } = demo().await;
    let worker = alice(&app).await["worker_sid"].as_str().unwrap().to_owned();
    let csrf = app.csrf().await;
    let before = untouched(&app, &sim).await;
    for (method, path, json_body, form) in new_routes(&worker) {
        let url = app.inspector_url(&path);
        let method: reqwest::Method = method.parse().unwrap();
        let send = |origin: Option<&str>, site: Option<&str>, token: bool, csrf_ok: bool| {
            let mut request = app.client.request(method.clone(), &url);
            if token {
                request = request.bearer_auth(INSPECTOR_TOKEN);
            }
            if let Some(origin) = origin {
                request = request.header("Origin", origin);
            }
            if let Some(site) = site {
                request = request.header("Sec-Fetch-Site", site);
            }
            if json_body.is_null() {
                let mut fields = form.clone();
                fields.push(("csrf", if csrf_ok { csrf.clone() } else { "nope".into() }));
                request.form(&fields)
            } else {
                request.json(&json_body)
            }
        };
        for (what, request) in [
            (
                "foreign Origin",
                send(Some("http://127.0.0.1:1"), None, true, true),
            ),
            (
                "evil Origin",
                send(Some("https://evil.example"), None, true, true),
            ),
            ("null Origin", send(Some("null"), None, true, true)),
            (
                "cross-site fetch",
                send(None, Some("cross-site"), true, true),
            ),
            ("same-site fetch", send(None, Some("same-site"), true, true)),
            ("no token", send(None, None, false, true)),
        ] {
            let status = request.send().await.unwrap().status();
            assert_eq!(status, 403, "{what} to {method} {path}");
        }
        let status = if json_body.is_null() {
            send(None, None, true, false).send().await.unwrap().status()
        } else {
            app.client
                .request(method.clone(), &url)
                .bearer_auth(INSPECTOR_TOKEN)
                .header("Content-Type", "text/plain")
                .body(json_body.to_string())
                .send()
                .await
                .unwrap()
                .status()
        };
        assert!(
            status == 403 || status == 415,
            "a wrong CSRF token or a text/plain body (what a cross-site form can send) to {path}: {status}"
        );
    }
    assert_eq!(untouched(&app, &sim).await, before, "nothing changed");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_cross_origin_page_cannot_drive_the_workbench_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Demo { sim, app, .. } = demo().await;
    let worker = alice(&app).await["worker_sid"].as_str().unwrap().to_owned();
    let before = untouched(&app, &sim).await;
    let c = &browser.client;
    // Signed in: the browser holds the SameSite=Strict cookie, which it also sends from
    // another port of 127.0.0.1 (same site, other origin).
    c.goto(&app.inspector_url(&format!("/workers?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    wait_for(&browser, "#workers").await;

    let mut forms = String::new();
    for (i, (_, path, json_body, form)) in new_routes(&worker).into_iter().enumerate() {
        if !json_body.is_null() {
            // A cross-origin page can only send text/plain, form or multipart bodies.
            forms.push_str(&format!(
                r#"<form id="f{i}" method="post" action="{}" enctype="text/plain" target="sink{i}"><input name='{}' value=''></form><iframe name="sink{i}"></iframe>"#,
                app.inspector_url(&path),
                json_body.to_string().replace('\'', "&#39;")
            ));
        } else {
            let inputs: String = form
                .iter()
                .map(|(k, v)| format!(r#"<input name="{k}" value='{}'>"#, v.replace('\'', "&#39;")))
                .collect();
            forms.push_str(&format!(
                r#"<form id="f{i}" method="post" action="{}" target="sink{i}">{inputs}<input name="csrf" value="guess"></form><iframe name="sink{i}"></iframe>"#,
                app.inspector_url(&path)
            ));
        }
    }
    let page = format!(
        "<!doctype html><html><body>{forms}<script>document.querySelectorAll('form').forEach(f => f.submit()); document.title = 'sent';</script></body></html>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    c.goto(&format!("http://{evil}/")).await.unwrap();
    wait_for(&browser, "iframe").await;
    // Each frame shows the inspector's answer once it came.
    for i in 0..6 {
        let frame = c
            .find(Locator::Css(&format!("iframe[name=sink{i}]")))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let done = c
                .execute(
                    &format!("try {{ return document.querySelector('iframe[name=sink{i}]').contentWindow.location.href; }} catch (e) {{ return 'cross-origin'; }}"),
                    vec![],
                )
                .await
                .unwrap();
            if done != json!("about:blank") {
                break;
            }
            assert!(Instant::now() < deadline, "form {i} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(frame);
    }
    assert_eq!(untouched(&app, &sim).await, before, "nothing changed");
    server.abort();
    browser.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn hostile_names_and_attributes_stay_inert_on_the_workbench_and_the_tray() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Demo { sim, app, task } = demo().await;
    reservation_of(&app, &task, "pending").await;
    let http = http_client();
    let ws = format!("{}/v1/Workspaces/{}", sim.base_url(), sim.workspace_sid());
    let auth = |r: reqwest::RequestBuilder| {
        r.basic_auth(sim.account_sid(), Some(sim.auth_token().expose()))
    };
    let wk = alice(&app).await["worker_sid"].as_str().unwrap().to_owned();
    let evil = r#"<img src=x onerror="window.__xss='name'">"#;
    let status = auth(http.post(format!("{ws}/Workers/{wk}")))
        .form(&[
            ("FriendlyName", evil),
            (
                "Attributes",
                r#"{"languages":["en","es"],"x":"</script><script>window.__xss='attr'</script>"}"#,
            ),
        ])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let status = auth(http.post(format!("{ws}/Tasks")))
        .form(&[
            (
                "Attributes",
                r#"{"selected_language":"es","name":"<svg onload=\"window.__xss='label'\">"}"#,
            ),
            ("WorkflowSid", sim.workflow_sid()),
        ])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
    let c = &browser.client;
    c.goto(&app.inspector_url(&format!("/?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    wait_text(&browser, "#tray .tray-item", "<img").await;
    wait_text(&browser, "#requests", "<svg onload").await;
    for page in ["/", "/workers", "/reservations", &format!("/tasks/{task}")] {
        c.goto(&app.inspector_url(page)).await.unwrap();
        wait_for(&browser, "#tray .tray-item").await;
        let xss = c
            .execute(
                "return window.__xss === undefined ? null : String(window.__xss);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(xss, Value::Null, "script ran on {page}");
        assert!(
            c.find(Locator::Css("main img, #tray img, main svg[onload]"))
                .await
                .is_err(),
            "markup injected on {page}"
        );
    }
    c.goto(&app.inspector_url("/workers")).await.unwrap();
    wait_text(&browser, "#workers", "<img src=x").await;
    browser.screenshot("workbench-hostile").await;
    browser.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn after_a_reservation_timeout_the_workbench_says_so_and_puts_alice_back_in_one_click() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // A 1 s Workflow timeout: the reservation.timeout event (not a clock in the test) moves
    // Alice to the Workspace's TimeoutActivity, Offline.
    let Demo { sim, app, task } = demo_with(Duration::from_secs(1)).await;
    reservation_of(&app, &task, "timeout").await;
    eventually("Alice in Offline", async || {
        (alice(&app).await["activity_name"] == "Offline").then_some(())
    })
    .await;
    let worker = alice(&app).await;
    assert_eq!(
        worker["timed_out"]["back_to"], "Idle",
        "GET /api/workers explains it: {worker}"
    );
    let c = &browser.client;
    c.goto(&app.inspector_url(&format!("/workers?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    let banner = wait_text(&browser, ".timed-out", "timed out").await;
    assert!(
        banner.contains("Alice") && banner.contains("moved to Offline"),
        "{banner}"
    );
    browser.screenshot("workbench-timed-out").await;
    click(&browser, ".timed-out button.back-to").await;
    let sent = eventually("the set_activity call", async || {
        let actions = app
            .store
            .read(|r| r.recent_actions(&[ActionKind::SetActivity], 1))
            .await
            .unwrap();
        actions.into_iter().next()
    })
    .await;
    assert_eq!(sent.response_status, Some(200), "{sent:?}");
    assert!(sent.params.starts_with("ActivitySid=WA"), "{sent:?}");
    // Idle again, Alice is offered the waiting task at once.
    let again = eventually("a second reservation", async || {
        let list = app.api("/api/reservations").await;
        let n = list["reservations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["task_sid"] == task.as_str())
            .count();
        (n >= 2).then_some(n)
    })
    .await;
    assert!(again >= 2);
    browser.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn at_the_countdowns_zero_accept_and_reject_disable_and_the_source_is_named() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let fake = crate::fake_taskrouter::FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let url = fake.url.clone();
    let app = spawn_app_with(move |c| {
        c.taskrouter.base_url = url;
        c.taskrouter.credentials = Some(Credentials::auth_token(
            &ACCOUNT.parse().unwrap(),
            taskhook::taskrouter::signature::AuthToken::new("fake-token"),
        ));
        c.reservation_timeout = Duration::from_secs(1);
    })
    .await;
    app.post_form("/assignment", &assignment_params()).await;
    let c = &browser.client;
    c.goto(&app.inspector_url(&format!("/?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    // The Workflow cannot be read from this TaskRouter: the flag is the fallback, and says so.
    wait_for(&browser, "#tray .countdown").await;
    let title = c
        .execute(
            "return document.querySelector('#tray .countdown').getAttribute('title');",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        title
            .as_str()
            .unwrap_or("")
            .contains("--reservation-timeout 1 s"),
        "{title}"
    );
    wait_text(&browser, "#tray .countdown", "timer elapsed").await;
    wait_for(&browser, "#tray button[data-action='accept']:disabled").await;
    wait_for(&browser, "#tray button[data-action='reject']:disabled").await;
    wait_for(
        &browser,
        "#requests .decide button[data-action='accept']:disabled",
    )
    .await;
    browser.close().await;
}

/// Every control the pages have, clicked in Chromium on the demo, each checked on the page:
/// Reject (key r in the tray), Cancel, Create task, Refresh, Accept (key a), Replay, Replay
/// with changes, Wrap up, Complete, Set activity, the responder switch, Clear all.
#[tokio::test]
async fn every_control_works_when_clicked_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Demo { sim, app, task } = demo().await;
    let c = &browser.client;
    c.goto(&app.inspector_url(&format!("/?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    wait_text(&browser, "#tray .tray-item", "Alice").await;
    wait_for(&browser, "#live-status.on").await;

    // r rejects the selected reservation in the tray.
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("r")
        .await
        .unwrap();
    reservation_of(&app, &task, "rejected").await;
    wait_for(&browser, "#tray[hidden]").await;

    // Cancel: the task waits in the queue (the sim does not offer it to Alice again).
    c.goto(&app.inspector_url(&format!("/tasks/{task}")))
        .await
        .unwrap();
    wait_text(&browser, "#task-status", "pending").await;
    assert!(
        !c.find(Locator::Css("form[data-action-name='complete']"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap(),
        "no Complete for a pending task"
    );
    click(&browser, "form[data-action-name='cancel'] button").await;
    wait_text(&browser, ".task-actions output.result.ok", "task canceled").await;

    // Create task: Alice is reserved for it; Refresh on its row reads the live state.
    c.goto(&app.inspector_url("/workers")).await.unwrap();
    click(&browser, "#new-task button[data-action='create task']").await;
    let created = wait_text(&browser, "#new-task-result", "task WT").await;
    let second = created
        .split_whitespace()
        .find(|w| w.starts_with("WT"))
        .unwrap()
        .to_owned();
    let pending = reservation_of(&app, &second, "pending").await;
    let wr = pending["reservation_sid"].as_str().unwrap().to_owned();
    eventually("its assignment callback", async || {
        app.api("/api/requests?kind=assignment").await["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["reservation_sid"] == wr.as_str())
            .then_some(())
    })
    .await;
    c.goto(&app.inspector_url("/")).await.unwrap();
    wait_for(&browser, "#live-status.on").await;
    let refresh =
        format!("#requests .decide[data-reservation='{wr}'] button[data-action='refresh']");
    click(&browser, &refresh).await;
    wait_text(
        &browser,
        &format!("#requests .decide[data-reservation='{wr}'] output.result.ok"),
        "refresh: Alice · pending",
    )
    .await;

    // a accepts it from the tray.
    wait_text(&browser, "#tray .tray-item", "Alice").await;
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("a")
        .await
        .unwrap();
    reservation_of(&app, &second, "accepted").await;
    wait_text(
        &browser,
        &format!("#requests .decide[data-reservation='{wr}']"),
        "accepted",
    )
    .await;

    // Replay and Replay with changes, on the assignment callback.
    let assignment = eventually("the second assignment callback", async || {
        app.api("/api/requests?kind=assignment").await["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["task_sid"] == second.as_str())
            .and_then(|r| r["id"].as_i64())
    })
    .await;
    c.goto(&app.inspector_url(&format!("/requests/{assignment}")))
        .await
        .unwrap();
    click(&browser, "#replay").await;
    wait_text(&browser, ".badge.replay, .summary", "replay").await;
    c.goto(&app.inspector_url(&format!("/requests/{assignment}")))
        .await
        .unwrap();
    // The detail is in tabs (issue 13): the editor and the replays are on the Replay tab.
    click(&browser, "#t-replay").await;
    click(&browser, "#replay-editor summary").await;
    let path = wait_for(&browser, "#replay-editor input[name='path']").await;
    path.clear().await.unwrap();
    path.send_keys("/assignment?edited=1").await.unwrap();
    click(&browser, "#replay-edited").await;
    let edited = eventually("the edited replay", async || {
        app.api("/api/requests?limit=5").await["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["query"] == "edited=1")
            .cloned()
    })
    .await;
    assert_eq!(edited["replay_of"], assignment, "{edited}");
    c.goto(&app.inspector_url(&format!("/requests/{assignment}")))
        .await
        .unwrap();
    click(&browser, "#t-replay").await;
    let replays = wait_for(&browser, "#replays").await.text().await.unwrap();
    assert!(replays.contains("edited=1"), "{replays}");
    // Replays changed nothing: the reservation is still accepted.
    reservation_of(&app, &second, "accepted").await;

    // Wrap up, then Complete: each offered only when it fits.
    c.goto(&app.inspector_url(&format!("/tasks/{second}")))
        .await
        .unwrap();
    wait_text(&browser, "#task-status", "assigned").await;
    click(&browser, "form[data-action-name='wrapup'] button").await;
    wait_text(&browser, ".task-actions output.result.ok", "task wrapping").await;
    c.refresh().await.unwrap();
    wait_text(&browser, "#task-status", "wrapping").await;
    click(&browser, "form[data-action-name='complete'] button").await;
    wait_text(&browser, ".task-actions output.result.ok", "task completed").await;

    // Set activity and the responder switch (instruction mode, then back to hold).
    c.goto(&app.inspector_url("/workers")).await.unwrap();
    let alice_sid = alice(&app).await["worker_sid"].as_str().unwrap().to_owned();
    let row = format!("#workers tr[data-worker='{alice_sid}']");
    wait_for(&browser, &format!("{row} select[name=activity]"))
        .await
        .select_by_label("Offline")
        .await
        .unwrap();
    click(
        &browser,
        &format!("{row} button[data-action='set activity']"),
    )
    .await;
    wait_text(&browser, &format!("{row} .activity"), "Offline").await;
    click(&browser, "#responder-form input[value='instruction']").await;
    let text = wait_for(&browser, "#rs-instruction").await;
    text.clear().await.unwrap();
    text.send_keys(r#"{"instruction":"dequeue","from":"+15550100"}"#)
        .await
        .unwrap();
    click(&browser, "#responder-form button[data-action='switch']").await;
    let said = wait_text(&browser, "#responder-result", "dequeue").await;
    assert!(said.contains("40140"), "the call_sid warning: {said}");
    wait_text(&browser, "#responder-name", "dequeue").await;
    click(&browser, "#responder-form input[value='hold']").await;
    click(&browser, "#responder-form button[data-action='switch']").await;
    wait_text(&browser, "#responder-name", "hold").await;
    browser.screenshot("workbench-every-control").await;

    // Clear all.
    c.goto(&app.inspector_url("/")).await.unwrap();
    click(&browser, "details.clear-all summary").await;
    click(&browser, "details.clear-all input[name='confirm']").await;
    click(&browser, "details.clear-all button[type='submit']").await;
    eventually("an empty list", async || {
        app.latest(5).await.is_empty().then_some(())
    })
    .await;
    wait_for(&browser, "#empty:not([hidden])").await;
    browser.close().await;
    sim.shutdown().await;
}
