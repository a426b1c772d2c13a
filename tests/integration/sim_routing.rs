//! The sim's Workflow routing steps end to end, as a developer sees them: a Workflow
//! configured through the REST API, tasks created through it, the event and assignment
//! callbacks recorded by the real capture listener, and the task's queue and state read back
//! through the REST API. Step timeouts are 1 s so the escalation runs in about 2 s.

use std::time::Duration;

use serde_json::{Value, json};
use taskhook::sim::Sim;

use crate::helpers::*;
use crate::sim::{SimApi, assignments, eventually, recorded, wait_for_event, wired};

/// The form fields of a recorded request.
async fn fields(app: &TestApp, record: &Value) -> Vec<(String, String)> {
    let detail = app.api(&format!("/api/requests/{}", record["id"])).await;
    form_urlencoded::parse(detail["body"].as_str().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The recorded event callbacks about `task`, oldest first.
async fn task_events(app: &TestApp, task: &str) -> Vec<Value> {
    recorded(app)
        .await
        .into_iter()
        .filter(|r| r["kind"] == "event" && r["task_sid"] == task)
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect()
}

async fn create(api: &SimApi, path: &str, params: &[(&str, &str)]) -> String {
    let (status, body) = api.post(path, params).await;
    assert_eq!(status, 201, "POST {path}: {body}");
    body["sid"].as_str().expect("a SID").to_owned()
}

/// Sets the seeded Workflow's configuration; it must be accepted.
async fn configure(api: &SimApi, sim: &Sim, configuration: Value) {
    let text = configuration.to_string();
    let (status, body) = api
        .post(
            &format!("/Workflows/{}", sim.workflow_sid()),
            &[("Configuration", text.as_str())],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn sid_of(api: &SimApi, worker: &str) -> String {
    api.worker(worker).await["sid"]
        .as_str()
        .expect("seeded worker")
        .to_owned()
}

async fn set_activity(api: &SimApi, worker: &str, activity: &str) {
    let (status, body) = api
        .post(&format!("/Workers/{worker}"), &[("ActivitySid", activity)])
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn new_task(api: &SimApi, sim: &Sim, attributes: &str) -> String {
    create(
        api,
        "/Tasks",
        &[
            ("Attributes", attributes),
            ("WorkflowSid", sim.workflow_sid()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_task_nobody_accepts_escalates_step_by_step_then_times_out_of_the_workflow() {
    let (sim, app, api) = wired(Duration::from_secs(120), |_| {}).await;
    let idle = api.activity_sid("Idle").await;
    let spanish = api
        .ok("/TaskQueues?FriendlyName=Customer Care Requests - Spanish")
        .await["task_queues"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let french = create(
        &api,
        "/TaskQueues",
        &[
            ("FriendlyName", "French"),
            ("TargetWorkers", r#"languages HAS "fr""#),
        ],
    )
    .await;
    let chloe = create(
        &api,
        "/Workers",
        &[
            ("FriendlyName", "Chloe"),
            ("Attributes", r#"{"languages":["fr"]}"#),
            ("ActivitySid", idle.as_str()),
        ],
    )
    .await;
    configure(
        &api,
        &sim,
        json!({"task_routing": {"filters": [{
            "filter_friendly_name": "Spanish, then French",
            "expression": "1==1",
            "targets": [
                {"queue": spanish, "timeout": 1},
                {"queue": french, "timeout": 1}
            ]
        }]}}),
    )
    .await;
    let alice = sid_of(&api, "Alice").await;

    let task = new_task(&api, &sim, "{}").await;
    let first = assignments(&app, &task, 1).await.remove(0);
    assert_eq!(first["worker_sid"], alice.as_str());
    assert_eq!(api.task(&task).await["task_queue_sid"], spanish.as_str());

    // Not accepted within the step's 1 s: rescinded, and offered to Chloe in French.
    let second = assignments(&app, &task, 2).await.remove(1);
    assert_eq!(second["worker_sid"], chloe.as_str());
    let fetched = api
        .ok(&format!(
            "/Tasks/{task}/Reservations/{}",
            first["reservation_sid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fetched["reservation_status"], "rescinded");
    assert_eq!(api.worker("Alice").await["activity_name"], "Idle");
    let moved = api.task(&task).await;
    assert_eq!(
        (
            moved["task_queue_sid"].as_str(),
            moved["assignment_status"].as_str()
        ),
        (Some(french.as_str()), Some("reserved"))
    );

    // Not accepted in the last step either: out of the Workflow, canceled.
    wait_for_event(&app, "task.canceled").await;
    let events = task_events(&app, &task).await;
    assert_eq!(
        types(&events),
        [
            "task.created",
            "workflow.entered",
            "workflow.target-matched",
            "task-queue.entered",
            "reservation.created",
            "reservation.rescinded",
            "task-queue.timeout",
            "workflow.target-matched",
            "task-queue.moved",
            "reservation.created",
            "reservation.canceled",
            "task-queue.timeout",
            "workflow.timeout",
            "task.canceled",
        ]
    );
    // task-queue.timeout names the queue left, task-queue.moved the one entered.
    let timed_out = fields(&app, &events[6]).await;
    assert_eq!(field(&timed_out, "TaskQueueSid"), Some(spanish.as_str()));
    let entered = fields(&app, &events[8]).await;
    assert_eq!(field(&entered, "TaskQueueSid"), Some(french.as_str()));
    assert_eq!(
        field(&entered, "TaskQueueName"),
        Some("French"),
        "{entered:?}"
    );
    let matched = fields(&app, &events[7]).await;
    assert_eq!(
        field(&matched, "WorkflowFilterName"),
        Some("Spanish, then French")
    );
    let canceled = fields(&app, &events[13]).await;
    assert_eq!(
        field(&canceled, "TaskCanceledReason"),
        Some("Workflow Timeout")
    );
    let ended = api.task(&task).await;
    assert_eq!(
        (
            ended["assignment_status"].as_str(),
            ended["reason"].as_str()
        ),
        (Some("canceled"), Some("Workflow Timeout"))
    );
    let last = api
        .ok(&format!(
            "/Tasks/{task}/Reservations/{}",
            second["reservation_sid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(last["reservation_status"], "canceled");
    // The Events resource has them too, and the workflow statistics count the timeout.
    let listed = api
        .ok(&format!(
            "/Events?TaskSid={task}&EventType=workflow.timeout"
        ))
        .await;
    assert_eq!(listed["events"].as_array().map(Vec::len), Some(1));
    let workflow = api
        .ok(&format!(
            "/Workflows/{}/CumulativeStatistics",
            sim.workflow_sid()
        ))
        .await;
    assert_eq!(
        (
            workflow["tasks_timed_out_in_workflow"].as_i64(),
            workflow["tasks_moved"].as_i64()
        ),
        (Some(1), Some(1))
    );
    for queue in [&spanish, &french] {
        let stats = api
            .ok(&format!("/TaskQueues/{queue}/CumulativeStatistics"))
            .await;
        assert_eq!(stats["tasks_entered"], 1, "{queue}: {stats}");
    }
    // The inspector's task page tells the story in that order.
    let page = app
        .inspector_get(&format!("/tasks/{task}"))
        .await
        .text()
        .await
        .unwrap();
    let caption = &page[page
        .find("<figcaption class=\"steps\">")
        .expect("a timeline")..];
    let caption = &caption[..caption.find("</figcaption>").unwrap()];
    let labels: Vec<&str> = caption
        .split("</span>")
        .filter_map(|part| part.rsplit("\">").next())
        .filter(|label| !label.is_empty() && !label.contains('<'))
        .collect();
    assert_eq!(
        labels,
        [
            "created",
            "reserved",
            "rescinded",
            "moved",
            "reserved",
            "reservation canceled",
            "canceled"
        ],
        "{caption}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_accepted_task_stays_with_its_worker_past_the_step_timeout() {
    let (sim, app, api) = wired(Duration::from_secs(120), |_| {}).await;
    let english = api
        .ok("/TaskQueues?FriendlyName=Customer Care Requests - English")
        .await["task_queues"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let spanish = api
        .ok("/TaskQueues?FriendlyName=Customer Care Requests - Spanish")
        .await["task_queues"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    configure(
        &api,
        &sim,
        json!({"task_routing": {"filters": [{
            "expression": "1==1",
            "targets": [{"queue": spanish, "timeout": 1}, {"queue": english}]
        }]}}),
    )
    .await;
    let task = new_task(&api, &sim, "{}").await;
    let offer = assignments(&app, &task, 1).await.remove(0);
    let response = app
        .post_json(
            &format!(
                "/api/reservations/{}/accept",
                offer["reservation_sid"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    // Past the step's deadline: nothing moves.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = api.task(&task).await;
    assert_eq!(
        (
            after["assignment_status"].as_str(),
            after["task_queue_sid"].as_str()
        ),
        (Some("assigned"), Some(spanish.as_str()))
    );
    let seen = types(&task_events(&app, &task).await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert!(
        !seen
            .iter()
            .any(|e| e == "task-queue.timeout" || e == "task-queue.moved"),
        "{seen:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn skip_if_order_by_and_step_priority_decide_where_and_to_whom_a_task_goes() {
    let (sim, app, api) = wired(Duration::from_secs(120), |_| {}).await;
    let (idle, offline) = (
        api.activity_sid("Idle").await,
        api.activity_sid("Offline").await,
    );
    let spanish = api
        .ok("/TaskQueues?FriendlyName=Customer Care Requests - Spanish")
        .await["task_queues"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let everyone = create(
        &api,
        "/TaskQueues",
        &[("FriendlyName", "Everyone"), ("TargetWorkers", "1==1")],
    )
    .await;
    let mut levelled = Vec::new();
    for (name, level) in [("Dora", 3), ("Eve", 7)] {
        let attributes = json!({ "english_level": level }).to_string();
        levelled.push(
            create(
                &api,
                "/Workers",
                &[
                    ("FriendlyName", name),
                    ("Attributes", attributes.as_str()),
                    ("ActivitySid", idle.as_str()),
                ],
            )
            .await,
        );
    }
    let (dora, eve) = (levelled[0].clone(), levelled[1].clone());
    let (alice, bob) = (sid_of(&api, "Alice").await, sid_of(&api, "Bob").await);
    set_activity(&api, &alice, &offline).await;
    configure(
        &api,
        &sim,
        json!({"task_routing": {"filters": [
            {"filter_friendly_name": "VIP", "expression": "vip == true",
             "targets": [{"queue": everyone, "priority": 10, "order_by": "worker.english_level DESC"}]},
            {"filter_friendly_name": "Nowhere", "expression": "nowhere == true",
             "targets": [{"queue": spanish, "skip_if": "1==1"}]},
            {"filter_friendly_name": "Spanish first", "expression": "selected_language == \"es\"",
             "targets": [
                 {"queue": spanish, "skip_if": "workers.available == 0"},
                 {"queue": everyone, "order_by": "worker.english_level ASC"}
             ]},
            {"filter_friendly_name": "Plain", "expression": "plain == true", "targets": [{"queue": everyone}]}
        ]}}),
    )
    .await;

    // order_by DESC: Eve (7) before Dora (3); the step's priority replaces the task's.
    let vip = new_task(&api, &sim, r#"{"vip":true}"#).await;
    let offer = assignments(&app, &vip, 1).await.remove(0);
    assert_eq!(offer["worker_sid"], eve.as_str());
    assert_eq!(
        field(&fields(&app, &offer).await, "TaskPriority"),
        Some("10")
    );
    assert_eq!(api.task(&vip).await["priority"], 10);

    // Nobody in the Spanish queue is available (Alice is offline): skipped at once to
    // Everyone, where ASC would pick Dora (Eve holds a reservation).
    let spanish_task = new_task(&api, &sim, r#"{"selected_language":"es"}"#).await;
    let offer = assignments(&app, &spanish_task, 1).await.remove(0);
    assert_eq!(offer["worker_sid"], dora.as_str());
    assert_eq!(
        api.task(&spanish_task).await["task_queue_sid"],
        everyone.as_str()
    );
    let events = task_events(&app, &spanish_task).await;
    assert_eq!(
        types(&events),
        [
            "task.created",
            "workflow.entered",
            "workflow.target-matched",
            "task-queue.entered",
            "workflow.target-matched",
            "task-queue.moved",
            "reservation.created",
        ]
    );

    // skip_if out of the only step, no later filter matching, no default filter:
    // workflow.skipped, canceled.
    let nowhere = new_task(&api, &sim, r#"{"nowhere":true}"#).await;
    let events = eventually("task.canceled", async || {
        let events = task_events(&app, &nowhere).await;
        types(&events).contains(&"task.canceled").then_some(events)
    })
    .await;
    assert_eq!(
        types(&events)[types(&events).len() - 2..],
        ["workflow.skipped", "task.canceled"]
    );
    let canceled = api.task(&nowhere).await;
    assert_eq!(
        (
            canceled["assignment_status"].as_str(),
            canceled["reason"].as_str()
        ),
        (Some("canceled"), Some("Workflow Skipped"))
    );

    // Everyone is busy: a plain task, then a VIP one, wait. Bob comes online and is offered
    // the VIP task first although it is newer.
    let plain = new_task(&api, &sim, r#"{"plain":true}"#).await;
    let second_vip = new_task(&api, &sim, r#"{"vip":true}"#).await;
    set_activity(&api, &bob, &idle).await;
    let offer = assignments(&app, &second_vip, 1).await.remove(0);
    assert_eq!(offer["worker_sid"], bob.as_str());
    assert_eq!(api.task(&plain).await["assignment_status"], "pending");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_routing_step_is_refused_with_twilios_error_and_changes_nothing() {
    let (sim, _app, api) = wired(Duration::from_secs(120), |_| {}).await;
    let path = format!("/Workflows/{}", sim.workflow_sid());
    let before = api.ok(&path).await["configuration"].clone();
    let english = api
        .ok("/TaskQueues?FriendlyName=Customer Care Requests - English")
        .await["task_queues"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    for (target, why) in [
        (
            json!({"queue": english, "timeout": "soon"}),
            "timeout must be an integer",
        ),
        (
            json!({"queue": english, "timeout": 0}),
            "timeout must be an integer from 1",
        ),
        (
            json!({"queue": english, "priority": -3}),
            "priority must be an integer from 0",
        ),
        (
            json!({"queue": english, "order_by": "worker.level UP"}),
            "order_by",
        ),
        (
            json!({"queue": english, "skip_if": "workers.available >"}),
            "skip_if",
        ),
        (json!({"timeout": 5}), "has no queue"),
    ] {
        let configuration = json!({"task_routing": {"filters": [
            {"expression": "1==1", "targets": [target.clone()]}
        ]}})
        .to_string();
        let (status, error) = api
            .post(&path, &[("Configuration", configuration.as_str())])
            .await;
        assert_eq!(
            (status, error["code"].as_i64()),
            (400, Some(20001)),
            "{target}"
        );
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("filter 0 target 0") && message.contains(why),
            "{target}: {message}"
        );
    }
    assert_eq!(api.ok(&path).await["configuration"], before);
    sim.shutdown().await;
}

#[tokio::test]
async fn with_max_reserved_workers_two_workers_are_offered_and_the_first_accept_rescinds_the_other()
{
    let (sim, app, api) = wired(Duration::from_secs(120), |_| {}).await;
    let idle = api.activity_sid("Idle").await;
    let (alice, bob) = (sid_of(&api, "Alice").await, sid_of(&api, "Bob").await);
    set_activity(&api, &bob, &idle).await;
    let both = create(
        &api,
        "/TaskQueues",
        &[
            ("FriendlyName", "First to answer"),
            ("TargetWorkers", r#"languages HAS "en""#),
            ("MaxReservedWorkers", "2"),
        ],
    )
    .await;
    configure(
        &api,
        &sim,
        json!({"task_routing": {"filters": [], "default_filter": {"queue": both}}}),
    )
    .await;
    let task = new_task(&api, &sim, "{}").await;
    let offers = assignments(&app, &task, 2).await;
    let mut offered: Vec<&str> = offers
        .iter()
        .filter_map(|o| o["worker_sid"].as_str())
        .collect();
    offered.sort_unstable();
    let mut expected = [alice.as_str(), bob.as_str()];
    expected.sort_unstable();
    assert_eq!(offered, expected);

    let bobs = offers
        .iter()
        .find(|o| o["worker_sid"] == bob.as_str())
        .unwrap();
    let response = app
        .post_json(
            &format!(
                "/api/reservations/{}/accept",
                bobs["reservation_sid"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let alices = offers
        .iter()
        .find(|o| o["worker_sid"] == alice.as_str())
        .unwrap()["reservation_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let rescinded = api
        .ok(&format!("/Tasks/{task}/Reservations/{alices}"))
        .await;
    assert_eq!(rescinded["reservation_status"], "rescinded");
    assert_eq!(api.task(&task).await["assignment_status"], "assigned");
    assert_eq!(api.worker("Alice").await["activity_name"], "Idle");
    let events = eventually("reservation.rescinded", async || {
        let events = task_events(&app, &task).await;
        types(&events)
            .contains(&"reservation.rescinded")
            .then_some(events)
    })
    .await;
    let seen = types(&events);
    let at = |name: &str| seen.iter().position(|e| *e == name).unwrap();
    assert!(
        at("reservation.accepted") < at("reservation.rescinded"),
        "{seen:?}"
    );
    let rescinded_event = fields(&app, &events[at("reservation.rescinded")]).await;
    assert_eq!(
        field(&rescinded_event, "ReservationSid"),
        Some(alices.as_str())
    );
    assert_eq!(field(&rescinded_event, "WorkerSid"), Some(alice.as_str()));
    sim.shutdown().await;
}
