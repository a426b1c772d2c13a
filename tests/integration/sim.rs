//! The local TaskRouter end to end: the sim's callbacks go to the real capture listener, the
//! inspector's Accept / Reject / Complete go to the sim's REST API, and the sim's state is read
//! back through that API. The callback URLs are set through the REST API too (the app's port
//! is known only after it starts), which tests the Workflow and Workspace update endpoints.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use taskhook::capture::responder::AssignmentReply;
use taskhook::config::Config;
use taskhook::sim::{Sim, SimConfig};
use taskhook::taskrouter::client::Credentials;
use taskhook::taskrouter::signature::AuthToken;

use crate::helpers::*;

/// The sim's REST API as a helper library calls it: basic auth, form bodies, JSON answers.
pub(crate) struct SimApi {
    base: String,
    workspace: String,
    account: String,
    token: String,
    http: reqwest::Client,
}

impl SimApi {
    pub(crate) fn new(sim: &Sim) -> Self {
        Self {
            base: sim.base_url(),
            workspace: sim.workspace_sid().to_owned(),
            account: sim.account_sid().to_owned(),
            token: sim.auth_token().expose().to_owned(),
            http: crate::helpers::http_client(),
        }
    }

    /// `path` under `/v1/Workspaces/{WS}`, or an absolute URL.
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/v1/Workspaces/{}{path}", self.base, self.workspace)
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request
            .basic_auth(&self.account, Some(&self.token))
            .header("Accept", "application/json")
            .send()
            .await
            .expect("the sim answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON from the sim: {e}: {text}"))
        };
        (status, body)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    pub(crate) async fn post(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).form(params)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.http.delete(self.url(path))).await
    }

    /// `GET` that must answer 200.
    pub(crate) async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub(crate) async fn worker(&self, name: &str) -> Value {
        let list = self.ok(&format!("/Workers?FriendlyName={name}")).await;
        list["workers"][0].clone()
    }

    pub(crate) async fn activity_sid(&self, name: &str) -> String {
        let list = self.ok(&format!("/Activities?FriendlyName={name}")).await;
        list["activities"][0]["sid"]
            .as_str()
            .expect("seeded activity")
            .to_owned()
    }

    pub(crate) async fn task(&self, sid: &str) -> Value {
        self.ok(&format!("/Tasks/{sid}")).await
    }
}

/// A sim with `timeout` and an app wired to each other: the app's REST client and signature
/// token point at the sim; the sim's callbacks, set through its REST API, point at the app.
pub(crate) async fn wired(
    timeout: Duration,
    tweak: impl FnOnce(&mut Config),
) -> (Sim, TestApp, SimApi) {
    let mut config = SimConfig::new("127.0.0.1:0".parse().unwrap());
    config.reservation_timeout = timeout;
    let sim = Sim::start(config).await.expect("sim starts");
    let (base, account, token) = (
        sim.base_url(),
        sim.account_sid().to_owned(),
        sim.auth_token().clone(),
    );
    let app = spawn_app_with(move |c| {
        c.taskrouter.base_url = base;
        c.taskrouter.credentials = Some(Credentials::auth_token(
            &account.parse().unwrap(),
            token.clone(),
        ));
        c.capture.signature_token = Some(token);
        tweak(c);
    })
    .await;
    let api = SimApi::new(&sim);
    let assignment = app.url("/assignment");
    let (status, workflow) = api
        .post(
            &format!("/Workflows/{}", sim.workflow_sid()),
            &[("AssignmentCallbackUrl", assignment.as_str())],
        )
        .await;
    assert_eq!(status, 200, "{workflow}");
    assert_eq!(workflow["assignment_callback_url"], assignment);
    let events = app.url("/events");
    let (status, workspace) = api.post("", &[("EventCallbackUrl", events.as_str())]).await;
    assert_eq!(status, 200, "{workspace}");
    assert_eq!(workspace["event_callback_url"], events);
    (sim, app, api)
}

/// Polls `check` every 20 ms for at most 5 s.
pub(crate) async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Everything the app recorded, oldest first.
pub(crate) async fn recorded(app: &TestApp) -> Vec<Value> {
    let mut requests = app.api("/api/requests?limit=500").await["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    requests.reverse();
    requests
}

/// The recorded event callbacks' EventTypes, oldest first.
pub(crate) async fn event_types(app: &TestApp) -> Vec<String> {
    recorded(app)
        .await
        .iter()
        .filter(|r| r["kind"] == "event")
        .filter_map(|r| r["event_type"].as_str().map(str::to_owned))
        .collect()
}

pub(crate) async fn wait_for_event(app: &TestApp, event: &str) -> Vec<String> {
    eventually(event, async || {
        let events = event_types(app).await;
        events.iter().any(|e| e == event).then_some(events)
    })
    .await
}

/// The assignment callbacks recorded for `task`, oldest first, once there are `n`.
pub(crate) async fn assignments(app: &TestApp, task: &str, n: usize) -> Vec<Value> {
    eventually("an assignment callback", async || {
        let found: Vec<Value> = recorded(app)
            .await
            .into_iter()
            .filter(|r| r["kind"] == "assignment" && r["task_sid"] == task)
            .collect();
        (found.len() >= n).then_some(found)
    })
    .await
}

fn position(events: &[String], event: &str) -> usize {
    events
        .iter()
        .position(|e| e == event)
        .unwrap_or_else(|| panic!("{event} in {events:?}"))
}

#[tokio::test]
async fn the_quickstart_lifecycle_runs_through_the_capture_listener_and_the_inspector() {
    let (sim, app, api) = wired(Duration::from_secs(120), |_| {}).await;

    let task = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();

    // The assignment callback arrives, signed with the sim's token, with every §1.2 field.
    let callback = assignments(&app, &task, 1).await.remove(0);
    assert_eq!(callback["signature"], "valid");
    assert_eq!(callback["path"], "/assignment");
    let reservation = callback["reservation_sid"].as_str().unwrap().to_owned();
    let detail = app.api(&format!("/api/requests/{}", callback["id"])).await;
    let fields: Vec<(String, String)> =
        form_urlencoded::parse(detail["body"].as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Timestamp",
            "AccountSid",
            "WorkspaceSid",
            "WorkflowSid",
            "TaskQueueSid",
            "WorkerSid",
            "WorkerAttributes",
            "TaskSid",
            "TaskAttributes",
            "TaskAge",
            "TaskPriority",
            "ReservationSid"
        ]
    );
    let alice = api.worker("Alice").await;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("WorkerSid"), alice["sid"].as_str());
    assert_eq!(field("AccountSid"), Some(sim.account_sid()));
    assert_eq!(field("WorkflowSid"), Some(sim.workflow_sid()));
    assert_eq!(
        field("TaskAttributes"),
        Some(r#"{"selected_language":"es"}"#)
    );
    assert_eq!(
        field("WorkerAttributes"),
        Some(r#"{"languages":["en","es"]}"#)
    );
    assert_eq!(alice["activity_name"], "Reserved");
    assert_eq!(api.task(&task).await["assignment_status"], "reserved");

    // One click: Accept in the inspector calls the sim's REST API.
    let response = app
        .post_json(
            &format!("/api/reservations/{reservation}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["worker_name"], "Alice");
    assert_eq!(answer["reservation_status"], "accepted");
    assert_eq!(api.worker("Alice").await["activity_name"], "Busy");
    assert_eq!(api.task(&task).await["assignment_status"], "assigned");

    // Accepting again: TaskRouter's 400, shown as the inspector's error.
    let again = app
        .post_json(
            &format!("/api/reservations/{reservation}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(again.status(), 502);
    let error = &again.json::<Value>().await.unwrap()["error"];
    assert_eq!(error["status"], 400);
    assert!(
        error["message"].as_str().unwrap().contains(&format!(
            "Reservation {reservation} is already in state [accepted] and cannot be updated to [accepted]"
        )),
        "{error}"
    );

    // The event callbacks arrived in the order things happened, all signed.
    let events = wait_for_event(&app, "reservation.accepted").await;
    assert!(position(&events, "task.created") < position(&events, "task-queue.entered"));
    assert!(position(&events, "task-queue.entered") < position(&events, "reservation.created"));
    assert!(position(&events, "reservation.created") < position(&events, "reservation.accepted"));
    let requests = recorded(&app).await;
    assert!(
        requests.iter().all(|r| r["signature"] == "valid"),
        "every callback is signed"
    );

    // Complete from the inspector: the task is completed, Alice stays Busy.
    let response = app
        .post_json(
            &format!("/api/tasks/{task}/complete"),
            json!({"reason": "done"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let completed = api.task(&task).await;
    assert_eq!(completed["assignment_status"], "completed");
    assert_eq!(completed["reason"], "done");
    assert_eq!(api.worker("Alice").await["activity_name"], "Busy");
    let events = wait_for_event(&app, "task.completed").await;
    assert!(position(&events, "reservation.accepted") < position(&events, "task.completed"));

    // The inspector's task page has the whole story: callbacks and actions.
    let history = app.api(&format!("/api/tasks/{task}")).await;
    assert_eq!(
        history["reservations"][0]["reservation_sid"],
        reservation.as_str()
    );
    assert_eq!(history["reservations"][0]["worker_name"], "Alice");
    let actions: Vec<(&str, i64)> = history["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| Some((a["action"].as_str()?, a["response_status"].as_i64()?)))
        .collect();
    assert!(actions.contains(&("accept", 200)), "{actions:?}");
    assert!(actions.contains(&("complete", 200)), "{actions:?}");
    // Oldest first.
    let story: Vec<&str> = history["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["event_type"].as_str())
        .collect();
    let at = |event: &str| story.iter().position(|e| *e == event);
    assert!(at("task.created") < at("reservation.created"), "{story:?}");
    assert!(
        at("reservation.created") < at("reservation.accepted"),
        "{story:?}"
    );
    assert!(
        at("reservation.accepted") < at("task.completed"),
        "{story:?}"
    );
    assert!(at("task.created").is_some(), "{story:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_rejected_task_is_offered_to_the_next_worker_and_waits_when_there_is_none() {
    let (sim, app, api) = wired(Duration::from_secs(120), |_| {}).await;
    let offline = api.activity_sid("Offline").await;
    let idle = api.activity_sid("Idle").await;
    let bob = api.worker("Bob").await["sid"].as_str().unwrap().to_owned();
    let (status, updated) = api
        .post(
            &format!("/Workers/{bob}"),
            &[("ActivitySid", idle.as_str())],
        )
        .await;
    assert_eq!(
        (status, updated["activity_name"].as_str()),
        (200, Some("Idle"))
    );

    // Alice has been idle longest, so she is offered the English task first.
    let (status, task) = api
        .post(
            "/Tasks",
            &[
                ("Attributes", r#"{"selected_language":"en"}"#),
                ("WorkflowSid", sim.workflow_sid()),
            ],
        )
        .await;
    assert_eq!(status, 201);
    let task = task["sid"].as_str().unwrap().to_owned();
    let first = assignments(&app, &task, 1).await.remove(0);
    assert_eq!(first["worker_sid"], api.worker("Alice").await["sid"]);

    let response = app
        .post_json(
            &format!(
                "/api/reservations/{}/reject",
                first["reservation_sid"].as_str().unwrap()
            ),
            json!({"worker_activity_sid": offline}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["reservation_status"], "rejected");
    assert_eq!(api.worker("Alice").await["activity_name"], "Offline");

    // Re-routed to Bob: a second assignment callback, the task reserved again.
    let second = assignments(&app, &task, 2).await.remove(1);
    assert_eq!(second["worker_sid"], bob);
    assert_eq!(api.task(&task).await["assignment_status"], "reserved");
    let events = wait_for_event(&app, "reservation.rejected").await;
    assert!(
        position(&events, "reservation.rejected")
            < events
                .iter()
                .rposition(|e| e == "reservation.created")
                .unwrap()
    );

    // Bob rejects too (keeping no activity: back to Idle); nobody is left, so it waits.
    let (status, rejected) = api
        .post(
            &format!(
                "/Tasks/{task}/Reservations/{}",
                second["reservation_sid"].as_str().unwrap()
            ),
            &[("ReservationStatus", "rejected")],
        )
        .await;
    assert_eq!(
        (status, rejected["reservation_status"].as_str()),
        (200, Some("rejected"))
    );
    assert_eq!(api.worker("Bob").await["activity_name"], "Idle");
    assert_eq!(api.task(&task).await["assignment_status"], "pending");
    let pending = api
        .ok(&format!(
            "/Tasks/{task}/Reservations?ReservationStatus=pending"
        ))
        .await;
    assert_eq!(pending["reservations"], json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unanswered_reservation_times_out_and_the_worker_goes_offline() {
    let (sim, app, api) = wired(Duration::from_secs(1), |_| {}).await;
    let task = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    let callback = assignments(&app, &task, 1).await.remove(0);
    let reservation = callback["reservation_sid"].as_str().unwrap().to_owned();

    let events = wait_for_event(&app, "reservation.timeout").await;
    assert!(position(&events, "reservation.created") < position(&events, "reservation.timeout"));
    let fetched = api
        .ok(&format!("/Tasks/{task}/Reservations/{reservation}"))
        .await;
    assert_eq!(fetched["reservation_status"], "timeout");
    assert_eq!(api.worker("Alice").await["activity_name"], "Offline");
    assert_eq!(api.task(&task).await["assignment_status"], "pending");

    // Too late to accept; the inspector shows why.
    let late = app
        .post_json(
            &format!("/api/reservations/{reservation}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(late.status(), 502);
    let error = &late.json::<Value>().await.unwrap()["error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("is already in state [timeout] and cannot be updated to [accepted]"),
        "{error}"
    );

    // Alice back to Idle: the waiting task is offered to her again.
    let idle = api.activity_sid("Idle").await;
    let alice = api.worker("Alice").await["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post(
        &format!("/Workers/{alice}"),
        &[("ActivitySid", idle.as_str())],
    )
    .await;
    let again = assignments(&app, &task, 2).await.remove(1);
    assert_ne!(
        again["reservation_sid"].as_str(),
        Some(reservation.as_str())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn assignment_callback_answers_are_honoured() {
    // {"instruction":"accept"}: accepted without any REST call.
    let (sim, app, api) = wired(Duration::from_secs(120), |c| {
        c.capture
            .responder
            .set_assignment(AssignmentReply::accept());
    })
    .await;
    let task = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    wait_for_event(&app, "reservation.accepted").await;
    assert_eq!(api.task(&task).await["assignment_status"], "assigned");
    assert_eq!(api.worker("Alice").await["activity_name"], "Busy");
    sim.shutdown().await;

    // {"instruction":"reject","activity_sid":Offline}: rejected, Alice Offline, task waits.
    let (sim, app, api) = wired_with_reply(|offline| {
        AssignmentReply::Instruction(
            format!(r#"{{"instruction":"reject","activity_sid":"{offline}"}}"#).into_bytes(),
        )
    })
    .await;
    let task = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    wait_for_event(&app, "reservation.rejected").await;
    assert_eq!(api.task(&task).await["assignment_status"], "pending");
    assert_eq!(api.worker("Alice").await["activity_name"], "Offline");
    sim.shutdown().await;

    // Unparsable JSON (TaskRouter's 40001): the reservation stays pending.
    let (sim, app, api) =
        wired_with_reply(|_| AssignmentReply::Instruction(b"{\"instruction\": accept".to_vec()))
            .await;
    let task = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    let callback = assignments(&app, &task, 1).await.remove(0);
    let reservation = callback["reservation_sid"].as_str().unwrap();
    // Give the dispatcher time to read the answer; the state must not move.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fetched = api
        .ok(&format!("/Tasks/{task}/Reservations/{reservation}"))
        .await;
    assert_eq!(fetched["reservation_status"], "pending");
    assert_eq!(api.task(&task).await["assignment_status"], "reserved");
    sim.shutdown().await;
}

/// [`wired`] with the app answering assignment callbacks with `reply(offline_activity_sid)`.
async fn wired_with_reply(reply: impl FnOnce(&str) -> AssignmentReply) -> (Sim, TestApp, SimApi) {
    // The Offline SID is known only once the sim runs; the app is configured after that.
    let mut config = SimConfig::new("127.0.0.1:0".parse().unwrap());
    config.reservation_timeout = Duration::from_secs(120);
    let sim = Sim::start(config).await.unwrap();
    let api = SimApi::new(&sim);
    let offline = api.activity_sid("Offline").await;
    let reply = reply(&offline);
    let (base, account, token) = (
        sim.base_url(),
        sim.account_sid().to_owned(),
        sim.auth_token().clone(),
    );
    let app = spawn_app_with(move |c| {
        c.taskrouter.base_url = base;
        c.taskrouter.credentials = Some(Credentials::auth_token(
            &account.parse().unwrap(),
            token.clone(),
        ));
        c.capture.signature_token = Some(token);
        c.capture.responder.set_assignment(reply);
    })
    .await;
    let assignment = app.url("/assignment");
    api.post(
        &format!("/Workflows/{}", sim.workflow_sid()),
        &[("AssignmentCallbackUrl", assignment.as_str())],
    )
    .await;
    let events = app.url("/events");
    api.post("", &[("EventCallbackUrl", events.as_str())]).await;
    (sim, app, api)
}

#[tokio::test]
async fn wrong_credentials_get_taskrouters_401() {
    let sim = Sim::start(SimConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let url = format!("{}/v1/Workspaces/{}", sim.base_url(), sim.workspace_sid());
    let http = crate::helpers::http_client();
    let expected = json!({
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401
    });
    for request in [
        http.get(&url),
        http.get(&url)
            .basic_auth(sim.account_sid(), Some("wrong-token")),
        http.get(&url)
            .basic_auth(ACCOUNT, Some(sim.auth_token().expose())),
        http.get(format!("{}/v1/Nope", sim.base_url())),
        http.get(&url).header("Authorization", "Basic %%%"),
        http.post(format!("{url}/Tasks"))
            .form(&[("Attributes", "{}")]),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.json::<Value>().await.unwrap(), expected);
    }

    // The inspector with the wrong token: TaskRouter's 401 surfaces, the secret does not.
    let base = sim.base_url();
    let account = sim.account_sid().to_owned();
    let app = spawn_app_with(move |c| {
        c.taskrouter.base_url = base;
        c.taskrouter.credentials = Some(Credentials::auth_token(
            &account.parse().unwrap(),
            AuthToken::new("wrong-token-sentinel"),
        ));
    })
    .await;
    let api = SimApi::new(&sim);
    api.post(
        &format!("/Workflows/{}", sim.workflow_sid()),
        &[("AssignmentCallbackUrl", app.url("/assignment").as_str())],
    )
    .await;
    let task = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    let callback = assignments(&app, &task, 1).await.remove(0);
    let response = app
        .post_json(
            &format!(
                "/api/reservations/{}/accept",
                callback["reservation_sid"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 502);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("20003") && text.contains("credentials rejected"),
        "{text}"
    );
    assert!(!text.contains("wrong-token-sentinel"));
    assert_eq!(api.task(&task).await["assignment_status"], "reserved");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_rest_api_has_taskrouters_shapes_and_status_codes() {
    let sim = Sim::start(SimConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let api = SimApi::new(&sim);
    let ws = sim.workspace_sid().to_owned();
    let ws_url = format!("{}/v1/Workspaces/{ws}", sim.base_url());

    // Lists: the resource key plus meta.
    let workers = api.ok("/Workers").await;
    let meta = &workers["meta"];
    for key in [
        "first_page_url",
        "key",
        "next_page_url",
        "page",
        "page_size",
        "previous_page_url",
        "url",
    ] {
        assert!(meta.get(key).is_some(), "meta.{key} in {meta}");
    }
    assert_eq!(meta["key"], "workers");
    assert_eq!(meta["page"], 0);
    assert_eq!(meta["page_size"], 50);
    assert_eq!(meta["url"], format!("{ws_url}/Workers?PageSize=50&Page=0"));
    let names: Vec<&str> = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["friendly_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alice", "Bob"]);
    let alice = &workers["workers"][0];
    assert_eq!(
        alice["attributes"], r#"{"languages":["en","es"]}"#,
        "a JSON string"
    );
    assert_eq!(
        (
            alice["activity_name"].as_str(),
            alice["available"].as_bool()
        ),
        (Some("Idle"), Some(true))
    );
    assert!(taskhook::taskrouter::sid::is_sid(
        alice["sid"].as_str().unwrap(),
        "WK"
    ));
    let date = alice["date_created"].as_str().unwrap();
    assert!(
        date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T',
        "ISO 8601: {date}"
    );
    let activities = api.ok("/Activities").await;
    let activities: Vec<(&str, bool)> = activities["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["friendly_name"].as_str().unwrap(),
                a["available"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        activities,
        [
            ("Offline", false),
            ("Idle", true),
            ("Busy", false),
            ("Reserved", false)
        ]
    );
    let queues = api.ok("/TaskQueues").await;
    assert_eq!(queues["meta"]["key"], "task_queues");
    let spanish = &queues["task_queues"][0];
    assert_eq!(spanish["target_workers"], r#"languages HAS "es""#);
    assert_eq!(spanish["assignment_activity_name"], "Busy");
    assert_eq!(spanish["reservation_activity_name"], "Reserved");
    let workspace = api.ok("").await;
    assert_eq!(workspace["friendly_name"], "Quickstart");
    assert_eq!(workspace["timeout_activity_name"], "Offline");
    let workflow = api.ok(&format!("/Workflows/{}", sim.workflow_sid())).await;
    assert_eq!(workflow["task_reservation_timeout"], 120);
    let (status, updated) = api
        .post(
            &format!("/Workflows/{}", sim.workflow_sid()),
            &[("TaskReservationTimeout", "30")],
        )
        .await;
    assert_eq!(
        (status, updated["task_reservation_timeout"].as_i64()),
        (200, Some(30))
    );

    // Paging follows meta.next_page_url.
    let first = api.ok("/Workers?PageSize=1").await;
    assert_eq!(first["workers"].as_array().unwrap().len(), 1);
    let next = first["meta"]["next_page_url"].as_str().unwrap();
    let second = api.ok(next).await;
    assert_eq!(second["workers"][0]["friendly_name"], "Bob");
    assert_eq!(second["meta"]["next_page_url"], Value::Null);

    // Create → 201, fetch, reservations through the task and the worker, delete → 204.
    let (status, task) = api
        .post("/Tasks", &[("Attributes", r#"{"selected_language":"es"}"#)])
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["assignment_status"], "reserved");
    assert_eq!(task["attributes"], r#"{"selected_language":"es"}"#);
    assert_eq!(task["task_queue_sid"], spanish["sid"]);
    assert_eq!(task["workflow_sid"], sim.workflow_sid());
    let wt = task["sid"].as_str().unwrap().to_owned();
    assert_eq!(task["url"], format!("{ws_url}/Tasks/{wt}"));
    let reservations = api.ok(&format!("/Tasks/{wt}/Reservations")).await;
    assert_eq!(reservations["meta"]["key"], "reservations");
    let reservation = &reservations["reservations"][0];
    assert_eq!(
        (
            reservation["reservation_status"].as_str(),
            reservation["worker_name"].as_str()
        ),
        (Some("pending"), Some("Alice"))
    );
    let wr = reservation["sid"].as_str().unwrap().to_owned();
    let wk = alice["sid"].as_str().unwrap();
    let via_worker = api.ok(&format!("/Workers/{wk}/Reservations/{wr}")).await;
    assert_eq!(
        via_worker["url"],
        format!("{ws_url}/Workers/{wk}/Reservations/{wr}")
    );
    let (status, accepted) = api
        .post(
            &format!("/Workers/{wk}/Reservations/{wr}"),
            &[("ReservationStatus", "accepted")],
        )
        .await;
    assert_eq!(
        (status, accepted["reservation_status"].as_str()),
        (200, Some("accepted"))
    );
    let (status, twice) = api
        .post(
            &format!("/Tasks/{wt}/Reservations/{wr}"),
            &[("ReservationStatus", "accepted")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        twice["message"],
        format!(
            "Reservation {wr} is already in state [accepted] and cannot be updated to [accepted]"
        )
    );
    assert_eq!(twice["status"], 400);
    let assigned = api.ok("/Tasks?AssignmentStatus=assigned").await;
    assert_eq!(assigned["tasks"][0]["sid"], wt.as_str());
    let (status, body) = api.delete(&format!("/Tasks/{wt}")).await;
    assert_eq!((status, body), (204, Value::Null));

    // Unknown SIDs and paths: 404 / 20404; bad input: 400 / 20001.
    let (status, missing) = api.get(&format!("/Tasks/{wt}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        missing,
        json!({
            "code": 20404,
            "message": format!("The requested resource /v1/Workspaces/{ws}/Tasks/{wt} was not found"),
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404
        })
    );
    let other_ws = "WS0123456789abcdef0123456789abcdef";
    let (status, _) = api
        .get(&format!(
            "{}/v1/Workspaces/{other_ws}/Workers",
            sim.base_url()
        ))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api.get(&format!("/Workers/{wk}/Reservations/WRnope")).await;
    assert_eq!(status, 404);
    for (path, params) in [
        ("/Tasks", vec![("Attributes", "not json")]),
        ("/Tasks", vec![("Priority", "high")]),
        ("/Workers", vec![("Attributes", "{}")]),
        (&*format!("/Workers/{wk}"), vec![("ActivitySid", "WAnope")]),
        ("", vec![("EventCallbackUrl", "not a url")]),
    ] {
        let (status, body) = api.post(path, &params).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (400, Some(20001)),
            "{path} {params:?}: {body}"
        );
    }
    let (status, body) = api
        .get("/Workers?TargetWorkersExpression=languages%20HAS")
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, es) = api
        .get("/Workers?TargetWorkersExpression=languages%20HAS%20%22es%22")
        .await;
    assert_eq!(
        (status, es["workers"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, body) = api.get("/Tasks/%FF").await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (400, Some(20001)),
        "{body}"
    );
    let huge = "x".repeat(3 * 1024 * 1024);
    let (status, body) = api.post("/Tasks", &[("Attributes", huge.as_str())]).await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (413, Some(20001)),
        "{body}"
    );
    let (status, method) = api.delete("/Workers").await;
    assert_eq!((status, method["code"].as_i64()), (405, Some(20004)));

    // A new worker: 201, default activity Offline.
    let (status, carol) = api
        .post(
            "/Workers",
            &[
                ("FriendlyName", "Carol"),
                ("Attributes", r#"{"languages":["es"]}"#),
            ],
        )
        .await;
    assert_eq!(
        (status, carol["activity_name"].as_str()),
        (201, Some("Offline"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = Sim::start(SimConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let url = sim.base_url();
    let started = Instant::now();
    sim.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(reqwest::get(format!("{url}/v1/Workspaces")).await.is_err());
}
