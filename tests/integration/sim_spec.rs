//! The sim measured against Twilio's own OpenAPI description of TaskRouter v1
//! (`tests/data/openapi/twilio_taskrouter_v1.json`, a copy of twilio-oai's file, kept in the repository so a clean clone tests against it): every operation in the file is called
//! on a running sim with real SIDs, and its answer is checked against the spec — the status
//! code, every response field present and none extra, each field's JSON type, list envelopes
//! item by item, and the `ETag` header where the spec declares one. An operation the sim does
//! not emulate must answer 501 with a Twilio-shaped error naming it, never 404 or 405.
//!
//! The test prints "N of 61 operations served to spec" and fails on any served operation that
//! does not match, on any 404/405, and when fewer operations are served than [`SERVED_FLOOR`].

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use taskhook::sim::{Sim, SimConfig};

/// Operations served to spec at the last count; raise it when more are emulated.
const SERVED_FLOOR: usize = 61;

fn spec_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/openapi/twilio_taskrouter_v1.json")
}

struct Operation {
    method: String,
    /// As in the spec: `/v1/Workspaces/{WorkspaceSid}/Tasks/{Sid}`.
    path: String,
    id: String,
    status: u16,
    schema: Option<Value>,
    etag: bool,
}

fn operations(spec: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let (code, response) = op["responses"]
                .as_object()
                .and_then(|r| r.iter().next())
                .expect("a response");
            out.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                id: op["operationId"].as_str().expect("operationId").to_owned(),
                status: code.parse().expect("numeric status"),
                schema: response
                    .pointer("/content/application~1json/schema")
                    .cloned(),
                etag: response
                    .get("headers")
                    .is_some_and(|h| h.get("ETag").is_some()),
            });
        }
    }
    out
}

/// Follows `$ref`s into `components/schemas`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Mismatches between `value` and `schema`, each naming its JSON path.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if value.is_null() {
        return; // every field of the TaskRouter spec that can be null says so, or is ours
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            problems.push(format!("{at}: {value} is not one of {values:?}"));
        }
        return;
    }
    let ok = match schema.get("type").and_then(Value::as_str) {
        None => true,
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        Some(other) => {
            problems.push(format!("{at}: unknown spec type {other}"));
            true
        }
    };
    if !ok {
        problems.push(format!("{at}: {value} is not {}", schema["type"]));
        return;
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) && !properties.is_empty()
    {
        for (name, property) in properties {
            match object.get(name) {
                None => problems.push(format!("{at}.{name}: missing")),
                Some(field) => check(spec, property, field, &format!("{at}.{name}"), problems),
            }
        }
        for name in object.keys() {
            if !properties.contains_key(name) {
                problems.push(format!("{at}.{name}: not in the spec"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate().take(5) {
            check(spec, items, item, &format!("{at}[{i}]"), problems);
        }
    }
}

struct Client {
    base: String,
    account: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(
        &self,
        method: &str,
        path: &str,
        params: &[(String, String)],
    ) -> (u16, Option<String>, Value) {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).form(params),
        };
        let response = request
            .basic_auth(&self.account, Some(&self.token))
            .send()
            .await
            .expect("the sim answers");
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        };
        (status, etag, body)
    }

    async fn create(&self, path: &str, params: &[(&str, &str)]) -> Option<String> {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (status, _, body) = self.call("POST", path, &params).await;
        (status == 201).then(|| body["sid"].as_str().expect("a created sid").to_owned())
    }
}

/// A well-formed SID that names nothing, for operations whose real fixture cannot be made.
fn absent(prefix: &str) -> String {
    format!("{prefix}{}", "0".repeat(32))
}

#[tokio::test]
async fn every_operation_of_twilios_taskrouter_spec_is_served_or_answers_501() {
    let text = match std::fs::read_to_string(spec_path()) {
        Ok(text) => text,
        Err(error) => {
            panic!(
                "{} is part of the repository: {error}",
                spec_path().display()
            );
        }
    };
    let spec: Value = serde_json::from_str(&text).expect("the spec is JSON");
    let ops = operations(&spec);
    assert_eq!(ops.len(), 61, "the spec file has 61 operations");

    let mut config = SimConfig::new("127.0.0.1:0".parse().unwrap());
    config.reservation_timeout = std::time::Duration::from_secs(3600);
    let sim = Sim::start(config).await.expect("sim starts");
    let client = Client {
        base: sim.base_url(),
        account: sim.account_sid().to_owned(),
        token: sim.auth_token().expose().to_owned(),
        http: crate::helpers::http_client(),
    };
    let ws = sim.workspace_sid().to_owned();
    let wf = sim.workflow_sid().to_owned();
    let under = |p: &str| format!("/v1/Workspaces/{ws}{p}");

    // Fixtures: a task reserved for Alice, so reservations, events and statistics have data.
    let task = client
        .create(
            &under("/Tasks"),
            &[
                ("Attributes", r#"{"selected_language":"es"}"#),
                ("WorkflowSid", &wf),
            ],
        )
        .await
        .expect("CreateTask works");
    let (_, _, reservations) = client
        .call("GET", &under(&format!("/Tasks/{task}/Reservations")), &[])
        .await;
    let reservation = reservations["reservations"][0]["sid"]
        .as_str()
        .expect("the task is reserved")
        .to_owned();
    let worker = reservations["reservations"][0]["worker_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = |list: &Value, key: &str, prefix: &str| {
        list[key][0]["sid"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| absent(prefix))
    };
    let (_, _, list) = client.call("GET", &under("/Activities"), &[]).await;
    let activity = first(&list, "activities", "WA");
    let (_, _, list) = client.call("GET", &under("/TaskQueues"), &[]).await;
    let queue = first(&list, "task_queues", "WQ");
    let (_, _, list) = client.call("GET", &under("/TaskChannels"), &[]).await;
    let channel = first(&list, "channels", "TC");
    let (_, _, list) = client.call("GET", &under("/Events"), &[]).await;
    let event = first(&list, "events", "EV");
    let (_, _, list) = client
        .call("GET", &under(&format!("/Workers/{worker}/Channels")), &[])
        .await;
    let worker_channel = first(&list, "channels", "WC");
    let configuration = json!({"task_routing": {"default_filter": {"queue": queue}}}).to_string();

    // Reads and changes first, deletes last (each on a thing made for it).
    let mut ordered: Vec<&Operation> = ops.iter().filter(|o| o.method != "DELETE").collect();
    ordered.extend(ops.iter().filter(|o| o.method == "DELETE"));

    let mut served = Vec::new();
    let mut not_emulated = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for op in ordered {
        let delete = op.method == "DELETE";
        // The collection a `{Sid}` belongs to is the segment before it.
        let segments: Vec<&str> = op.path.split('/').collect();
        let sid_of = |collection: &str| -> String {
            match collection {
                "Workspaces" => ws.clone(),
                "Activities" => activity.clone(),
                "Events" => event.clone(),
                "Tasks" => task.clone(),
                "TaskChannels" => channel.clone(),
                "TaskQueues" => queue.clone(),
                "Reservations" => reservation.clone(),
                "Workers" => worker.clone(),
                "Channels" => worker_channel.clone(),
                "Workflows" => wf.clone(),
                other => panic!("no fixture for {other}"),
            }
        };
        let mut sids: HashMap<&str, String> = HashMap::new();
        sids.insert("WorkspaceSid", ws.clone());
        sids.insert("TaskSid", task.clone());
        sids.insert("WorkerSid", worker.clone());
        sids.insert("TaskQueueSid", queue.clone());
        sids.insert("WorkflowSid", wf.clone());
        if let Some(i) = segments.iter().position(|s| *s == "{Sid}") {
            let collection = segments[i - 1];
            let sid = if delete {
                // A disposable one, made through the API.
                let name = format!("spec-delete-{collection}");
                let made = match collection {
                    "Workspaces" => {
                        client
                            .create(
                                "/v1/Workspaces",
                                &[("FriendlyName", &name), ("Template", "FIFO")],
                            )
                            .await
                    }
                    "Activities" => {
                        client
                            .create(&under("/Activities"), &[("FriendlyName", &name)])
                            .await
                    }
                    "Tasks" => {
                        client
                            .create(&under("/Tasks"), &[("WorkflowSid", &wf)])
                            .await
                    }
                    "TaskChannels" => {
                        client
                            .create(
                                &under("/TaskChannels"),
                                &[("FriendlyName", &name), ("UniqueName", &name)],
                            )
                            .await
                    }
                    "TaskQueues" => {
                        client
                            .create(&under("/TaskQueues"), &[("FriendlyName", &name)])
                            .await
                    }
                    "Workers" => {
                        client
                            .create(&under("/Workers"), &[("FriendlyName", &name)])
                            .await
                    }
                    "Workflows" => {
                        client
                            .create(
                                &under("/Workflows"),
                                &[("FriendlyName", &name), ("Configuration", &configuration)],
                            )
                            .await
                    }
                    other => panic!("no disposable {other}"),
                };
                made.unwrap_or_else(|| absent("XX"))
            } else {
                sid_of(collection)
            };
            sids.insert("Sid", sid);
        }
        let mut path = op.path.clone();
        for (name, value) in &sids {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        assert!(!path.contains('{'), "{}: unfilled path {path}", op.id);

        // Required parameters with values TaskRouter accepts.
        let mut params: Vec<(String, String)> = Vec::new();
        let body_schema = spec["paths"][&op.path][op.method.to_lowercase()]
            .pointer("/requestBody/content/application~1x-www-form-urlencoded/schema")
            .cloned()
            .unwrap_or(Value::Null);
        for name in body_schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            let value = match name {
                "FriendlyName" | "UniqueName" => format!("spec-{}", op.id),
                "Configuration" => configuration.clone(),
                other => panic!("{}: no value for required {other}", op.id),
            };
            params.push((name.to_owned(), value));
        }
        if op.id == "CreateTask" {
            params.push(("WorkflowSid".into(), wf.clone()));
        }

        let (status, etag, body) = client.call(&op.method, &path, &params).await;
        let name = format!("{} {} {}", op.id, op.method, op.path);
        match status {
            404 | 405 => problems.push(format!("{name}: answered {status}: {body}")),
            501 => {
                let message = body["message"].as_str().unwrap_or_default();
                if body["status"] != 501
                    || body["code"].as_u64().is_none()
                    || !message.contains(&op.id)
                {
                    problems.push(format!(
                        "{name}: a 501 must be Twilio-shaped and name the operation: {body}"
                    ));
                }
                not_emulated.push(op.id.clone());
            }
            status if status != op.status => {
                problems.push(format!(
                    "{name}: status {status}, spec says {}: {body}",
                    op.status
                ));
            }
            _ => {
                let before = problems.len();
                if let Some(schema) = &op.schema {
                    check(&spec, schema, &body, &op.id, &mut problems);
                } else if !body.is_null() {
                    problems.push(format!("{name}: a body where the spec has none"));
                }
                if op.etag && etag.is_none() {
                    problems.push(format!("{name}: no ETag header"));
                }
                if problems.len() == before {
                    served.push(op.id.clone());
                }
            }
        }
    }
    println!(
        "{} of {} operations served to spec; not emulated (501): {}",
        served.len(),
        ops.len(),
        not_emulated.join(", ")
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        served.len() >= SERVED_FLOOR,
        "only {} operations served to spec; it was {SERVED_FLOOR}",
        served.len()
    );
    sim.shutdown().await;
}

/// A sim and a client for the behaviour tests below.
async fn started() -> (Sim, Client) {
    let sim = Sim::start(SimConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .expect("sim starts");
    let client = Client {
        base: sim.base_url(),
        account: sim.account_sid().to_owned(),
        token: sim.auth_token().expose().to_owned(),
        http: crate::helpers::http_client(),
    };
    (sim, client)
}

fn form(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_fifo_workspace_is_set_up_runs_a_task_and_is_torn_down_through_the_api() {
    let (sim, client) = started().await;
    let (status, _, ws) = client
        .call(
            "POST",
            "/v1/Workspaces",
            &form(&[("FriendlyName", "Setup script"), ("Template", "FIFO")]),
        )
        .await;
    assert_eq!(status, 201, "{ws}");
    let ws = ws["sid"].as_str().unwrap().to_owned();
    let under = |p: &str| format!("/v1/Workspaces/{ws}{p}");
    // The template's queue, workflow and activities.
    let (_, _, queues) = client.call("GET", &under("/TaskQueues"), &[]).await;
    assert_eq!(queues["task_queues"][0]["friendly_name"], "Sample Queue");
    let (_, _, workflows) = client.call("GET", &under("/Workflows"), &[]).await;
    assert_eq!(
        workflows["workflows"][0]["friendly_name"],
        "Default Fifo Workflow"
    );
    let (_, _, activities) = client
        .call("GET", &under("/Activities?FriendlyName=Available"), &[])
        .await;
    let available = activities["activities"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    // A queue and workflow of the developer's own, then a worker and a task.
    let queue = client
        .create(
            &under("/TaskQueues"),
            &[
                ("FriendlyName", "Support"),
                ("TargetWorkers", r#"skills HAS "support""#),
            ],
        )
        .await
        .expect("CreateTaskQueue");
    let configuration =
        json!({"task_routing": {"filters": [{"expression": "type == \"support\"", "targets": [{"queue": queue}]}]}})
            .to_string();
    let workflow = client
        .create(
            &under("/Workflows"),
            &[
                ("FriendlyName", "Support flow"),
                ("Configuration", &configuration),
            ],
        )
        .await
        .expect("CreateWorkflow");
    let (status, _, bad) = client
        .call(
            "POST",
            &under("/Workflows"),
            &form(&[("FriendlyName", "Broken"), ("Configuration", r#"{"task_routing":{"filters":[{"expression":"x ==","targets":[{"queue":"WQ0"}]}]}}"#)]),
        )
        .await;
    assert_eq!((status, bad["code"].as_u64()), (400, Some(20001)), "{bad}");
    let worker = client
        .create(
            &under("/Workers"),
            &[
                ("FriendlyName", "Ada"),
                ("Attributes", r#"{"skills":["support"]}"#),
                ("ActivitySid", &available),
            ],
        )
        .await
        .expect("CreateWorker");
    let task = client
        .create(
            &under("/Tasks"),
            &[
                ("Attributes", r#"{"type":"support"}"#),
                ("WorkflowSid", &workflow),
            ],
        )
        .await
        .expect("CreateTask");
    let (_, _, reservations) = client
        .call("GET", &under(&format!("/Tasks/{task}/Reservations")), &[])
        .await;
    assert_eq!(
        reservations["reservations"][0]["worker_sid"],
        worker.as_str()
    );
    let reservation = reservations["reservations"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = client
        .call(
            "POST",
            &under(&format!("/Tasks/{task}/Reservations/{reservation}")),
            &form(&[("ReservationStatus", "accepted")]),
        )
        .await;
    assert_eq!(status, 200);
    // What depends on something cannot be deleted until it is done.
    let (status, _, body) = client
        .call("DELETE", &under(&format!("/TaskQueues/{queue}")), &[])
        .await;
    assert_eq!(status, 400, "a Workflow routes to it: {body}");
    let (status, _, body) = client
        .call("DELETE", &under(&format!("/Workers/{worker}")), &[])
        .await;
    assert_eq!(status, 400, "Ada holds an accepted reservation: {body}");
    let (status, _, _) = client
        .call(
            "POST",
            &under(&format!("/Tasks/{task}")),
            &form(&[("AssignmentStatus", "completed")]),
        )
        .await;
    assert_eq!(status, 200);
    // The Events resource saw the whole story, newest first.
    let (_, _, events) = client
        .call("GET", &under(&format!("/Events?TaskSid={task}")), &[])
        .await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"reservation.completed"), "{types:?}");
    assert!(
        types.contains(&"task.created") && types.contains(&"reservation.accepted"),
        "{types:?}"
    );
    // Teardown.
    for path in [
        format!("/Workers/{worker}"),
        format!("/Workflows/{workflow}"),
        format!("/TaskQueues/{queue}"),
    ] {
        let (status, _, body) = client.call("DELETE", &under(&path), &[]).await;
        assert_eq!(status, 204, "DELETE {path}: {body}");
        let (status, _, _) = client.call("GET", &under(&path), &[]).await;
        assert_eq!(status, 404, "{path} is gone");
    }
    let (status, _, _) = client
        .call("DELETE", &format!("/v1/Workspaces/{ws}"), &[])
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = client
        .call("GET", &format!("/v1/Workspaces/{ws}"), &[])
        .await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_412_and_the_current_etag_is_accepted() {
    let (sim, client) = started().await;
    let ws = sim.workspace_sid().to_owned();
    let task = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    let path = format!("/v1/Workspaces/{ws}/Tasks/{task}");
    let (_, etag, _) = client.call("GET", &path, &[]).await;
    let etag = etag.expect("FetchTask has an ETag");
    let update = |tag: String, priority: &'static str| {
        let http = client.http.clone();
        let url = format!("{}{path}", client.base);
        let (account, token) = (client.account.clone(), client.token.clone());
        async move {
            let response = http
                .post(url)
                .basic_auth(account, Some(token))
                .header("If-Match", tag)
                .form(&[("Priority", priority)])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let etag = response
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, etag, response.json::<Value>().await.unwrap())
        }
    };
    let (status, new_etag, body) = update(etag.clone(), "5").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["priority"], 5);
    let new_etag = new_etag.expect("UpdateTask has an ETag");
    assert_ne!(new_etag, etag, "the change made a new version");
    let (status, _, body) = update(etag, "7").await;
    assert_eq!(
        (status, body["status"].as_u64()),
        (412, Some(412)),
        "{body}"
    );
    let (_, _, now) = client.call("GET", &path, &[]).await;
    assert_eq!(now["priority"], 5, "the stale update changed nothing");
    sim.shutdown().await;
}

#[tokio::test]
async fn statistics_are_computed_from_the_sims_real_state() {
    let (sim, client) = started().await;
    let ws = sim.workspace_sid().to_owned();
    let under = |p: &str| format!("/v1/Workspaces/{ws}{p}");
    let (_, _, before) = client.call("GET", &under("/RealTimeStatistics"), &[]).await;
    assert_eq!(before["total_tasks"], 0);
    assert_eq!(before["total_workers"], 2, "Alice and Bob");
    // One task reserved for Alice (Spanish queue), one pending in the English queue: Alice is
    // reserved and Bob is offline, so nobody can take it.
    let reserved = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    let waiting = sim
        .create_task(r#"{"selected_language":"en"}"#)
        .await
        .unwrap();
    let (_, _, now) = client.call("GET", &under("/RealTimeStatistics"), &[]).await;
    assert_eq!(now["total_tasks"], 2);
    assert_eq!(now["tasks_by_status"]["pending"], 1);
    assert_eq!(now["tasks_by_status"]["reserved"], 1);
    assert_eq!(now["tasks_by_priority"]["0"], 2);
    assert!(
        [reserved.as_str(), waiting.as_str()]
            .contains(&now["longest_task_waiting_sid"].as_str().unwrap()),
        "{now}"
    );
    let reserved_activity = now["activity_statistics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["friendly_name"] == "Reserved")
        .unwrap()
        .clone();
    assert_eq!(reserved_activity["workers"], 1, "Alice");
    let (_, _, cumulative) = client
        .call("GET", &under("/CumulativeStatistics"), &[])
        .await;
    assert_eq!(cumulative["tasks_created"], 2);
    assert_eq!(cumulative["reservations_created"], 1);
    // The English queue: both workers speak English, neither is available.
    let (_, _, queues) = client
        .call(
            "GET",
            &under("/TaskQueues?FriendlyName=Customer%20Care%20Requests%20-%20English"),
            &[],
        )
        .await;
    let english = queues["task_queues"][0]["sid"].as_str().unwrap().to_owned();
    let (_, _, queue) = client
        .call(
            "GET",
            &under(&format!("/TaskQueues/{english}/RealTimeStatistics")),
            &[],
        )
        .await;
    assert_eq!(queue["total_eligible_workers"], 2);
    assert_eq!(queue["total_available_workers"], 0);
    assert_eq!(queue["longest_task_waiting_sid"], waiting.as_str());
    assert_eq!(queue["total_tasks"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_worker_channels_capacity_decides_how_many_tasks_the_worker_holds() {
    let (sim, client) = started().await;
    let ws = client
        .create(
            "/v1/Workspaces",
            &[("FriendlyName", "Chat desk"), ("Template", "FIFO")],
        )
        .await
        .expect("CreateWorkspace");
    let under = |p: &str| format!("/v1/Workspaces/{ws}{p}");
    let (_, _, activities) = client
        .call("GET", &under("/Activities?FriendlyName=Available"), &[])
        .await;
    let available = activities["activities"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let worker = client
        .create(
            &under("/Workers"),
            &[("FriendlyName", "Grace"), ("ActivitySid", &available)],
        )
        .await
        .expect("CreateWorker");
    let (status, _, chat) = client
        .call(
            "POST",
            &under(&format!("/Workers/{worker}/Channels/chat")),
            &form(&[("Capacity", "2")]),
        )
        .await;
    assert_eq!(status, 200, "{chat}");
    assert_eq!(chat["configured_capacity"], 2);
    let (_, _, workflows) = client.call("GET", &under("/Workflows"), &[]).await;
    let workflow = workflows["workflows"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        tasks.push(
            client
                .create(
                    &under("/Tasks"),
                    &[("WorkflowSid", &workflow), ("TaskChannel", "chat")],
                )
                .await
                .expect("CreateTask"),
        );
    }
    // Accept whatever Grace is offered until nothing more comes.
    let mut accepted = 0;
    loop {
        let (_, _, pending) = client
            .call(
                "GET",
                &under(&format!(
                    "/Workers/{worker}/Reservations?ReservationStatus=pending"
                )),
                &[],
            )
            .await;
        let Some(reservation) = pending["reservations"][0]["sid"].as_str() else {
            break;
        };
        let (status, _, _) = client
            .call(
                "POST",
                &under(&format!("/Workers/{worker}/Reservations/{reservation}")),
                &form(&[("ReservationStatus", "accepted")]),
            )
            .await;
        assert_eq!(status, 200);
        accepted += 1;
        assert!(accepted <= 3);
    }
    assert_eq!(accepted, 2, "capacity 2 on chat");
    let (_, _, chat) = client
        .call(
            "GET",
            &under(&format!("/Workers/{worker}/Channels/chat")),
            &[],
        )
        .await;
    assert_eq!(chat["assigned_tasks"], 2);
    assert_eq!(chat["available_capacity_percentage"], 0);
    let (_, _, third) = client
        .call("GET", &under(&format!("/Tasks/{}", tasks[2])), &[])
        .await;
    assert_eq!(third["assignment_status"], "pending");
    sim.shutdown().await;
}

/// Runs a helper-library script (`program script`) against a fresh sim and checks it printed
/// `ok_line`; `available` says whether the library is installed (CI must have it).
async fn run_script(program: &str, script: &str, available: bool, ok_line: &str) {
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} with the twilio package must be installed under CI (.ci/run installs it)"
        );
        eprintln!("SKIP: {program} with the twilio package is not installed");
        return;
    }
    let (sim, _) = started().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
    let output = tokio::process::Command::new(program)
        .arg(&script)
        .env("SIM_URL", sim.base_url())
        .env("SIM_ACCOUNT_SID", sim.account_sid())
        .env("SIM_AUTH_TOKEN", sim.auth_token().expose())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(ok_line), "{stdout}");
    sim.shutdown().await;
}

#[tokio::test]
async fn twilio_python_sets_up_runs_and_tears_down_against_the_sim() {
    let has_twilio = std::process::Command::new("python3")
        .args(["-c", "import twilio"])
        .output()
        .is_ok_and(|o| o.status.success());
    run_script(
        "python3",
        "tests/python/sim_lifecycle.py",
        has_twilio,
        "setup, lifecycle and teardown: ok",
    )
    .await;
}

#[tokio::test]
async fn twilio_node_sets_up_runs_and_tears_down_against_the_sim() {
    // `npm ci --prefix tests/node` (what .ci/run does) installs twilio-node there.
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/node/node_modules/twilio/package.json")
        .exists();
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    run_script(
        "node",
        "tests/node/sim_lifecycle.js",
        installed && has_node,
        "twilio-node setup, lifecycle and teardown: ok",
    )
    .await;
}

/// The quickstart workspace's Alice, reachable at `client:alice` (her contact_uri), and a
/// way to offer her a task and read its pending reservation.
struct Voice {
    client: Client,
    ws: String,
    workflow: String,
    alice: String,
    idle: String,
}

impl Voice {
    fn under(&self, path: &str) -> String {
        format!("/v1/Workspaces/{}{path}", self.ws)
    }

    async fn new(sim: &Sim, client: Client) -> Self {
        let ws = sim.workspace_sid().to_owned();
        let under = |p: &str| format!("/v1/Workspaces/{ws}{p}");
        let (_, _, workers) = client.call("GET", &under("/Workers"), &[]).await;
        let alice = workers["workers"][0]["sid"].as_str().unwrap().to_owned();
        let (status, _, _) = client
            .call(
                "POST",
                &under(&format!("/Workers/{alice}")),
                &form(&[(
                    "Attributes",
                    r#"{"languages":["en","es"],"contact_uri":"client:alice"}"#,
                )]),
            )
            .await;
        assert_eq!(status, 200);
        let (_, _, idle) = client
            .call("GET", &under("/Activities?FriendlyName=Idle"), &[])
            .await;
        let idle = idle["activities"][0]["sid"].as_str().unwrap().to_owned();
        Self {
            workflow: sim.workflow_sid().to_owned(),
            client,
            ws,
            alice,
            idle,
        }
    }

    /// Alice back to Idle, a new task, and its pending reservation.
    async fn offer(&self, attributes: &str) -> (String, String) {
        let (status, _, _) = self
            .client
            .call(
                "POST",
                &self.under(&format!("/Workers/{}", self.alice)),
                &form(&[("ActivitySid", &self.idle)]),
            )
            .await;
        assert_eq!(status, 200);
        let task = self
            .client
            .create(
                &self.under("/Tasks"),
                &[("Attributes", attributes), ("WorkflowSid", &self.workflow)],
            )
            .await
            .expect("CreateTask");
        (
            task.clone(),
            self.pending(&task).await.expect("a pending reservation"),
        )
    }

    async fn pending(&self, task: &str) -> Option<String> {
        let (_, _, list) = self
            .client
            .call(
                "GET",
                &self.under(&format!(
                    "/Tasks/{task}/Reservations?ReservationStatus=pending"
                )),
                &[],
            )
            .await;
        list["reservations"][0]["sid"].as_str().map(str::to_owned)
    }

    async fn instruct(
        &self,
        task: &str,
        reservation: &str,
        params: &[(&str, &str)],
    ) -> (u16, Value) {
        let (status, _, body) = self
            .client
            .call(
                "POST",
                &self.under(&format!("/Tasks/{task}/Reservations/{reservation}")),
                &form(params),
            )
            .await;
        (status, body)
    }

    /// Ends the task: canceled while pending or reserved, completed once assigned.
    async fn finish(&self, task: &str, status: &str) {
        let (code, _, body) = self
            .client
            .call(
                "POST",
                &self.under(&format!("/Tasks/{task}")),
                &form(&[("AssignmentStatus", status)]),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
}

#[tokio::test]
async fn voice_instructions_are_checked_like_taskrouter_and_move_the_reservation() {
    let (sim, client) = started().await;
    let voice = Voice::new(&sim, client).await;
    const CALL: &str = "CA0123456789abcdef0123456789abcdef";
    let from = ("DequeueFrom", "+14155550100");

    // dequeue needs the queued call: a task not made by <Enqueue> has no call_sid.
    let (task, reservation) = voice.offer(r#"{"selected_language":"es"}"#).await;
    let (status, body) = voice
        .instruct(&task, &reservation, &[("Instruction", "dequeue"), from])
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(40140)),
        "{body}"
    );
    voice.finish(&task, "canceled").await;

    // With the call: `from` is required; then the worker is connected and the reservation
    // accepted (`to` defaults to her contact_uri).
    let attrs = format!(r#"{{"selected_language":"es","call_sid":"{CALL}"}}"#);
    let (task, reservation) = voice.offer(&attrs).await;
    let (status, body) = voice
        .instruct(&task, &reservation, &[("Instruction", "dequeue")])
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(40132)),
        "{body}"
    );
    let (status, body) = voice
        .instruct(&task, &reservation, &[("Instruction", "dequeue"), from])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reservation_status"], "accepted");
    voice.finish(&task, "completed").await;

    // call: a missing url is 40112; an address Twilio cannot dial cancels the reservation
    // (reservation.canceled) and the task is offered again.
    let (task, reservation) = voice.offer(&attrs).await;
    let (status, body) = voice
        .instruct(
            &task,
            &reservation,
            &[("Instruction", "call"), ("CallFrom", "+14155550100")],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(40112)),
        "{body}"
    );
    let (status, body) = voice
        .instruct(
            &task,
            &reservation,
            &[
                ("Instruction", "call"),
                ("CallFrom", "+14155550100"),
                ("CallUrl", "https://example.com/twiml"),
                ("CallTo", "alice"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reservation_status"], "canceled");
    let (_, _, events) = voice
        .client
        .call("GET", &voice.under(&format!("/Events?TaskSid={task}")), &[])
        .await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert!(types.contains(&"reservation.canceled"), "{types:?}");

    // redirect waits without accept, accepts with it.
    let again = voice
        .pending(&task)
        .await
        .expect("the task is offered again");
    let redirect = [
        ("Instruction", "redirect"),
        ("RedirectCallSid", CALL),
        ("RedirectUrl", "https://example.com/hold"),
    ];
    let (status, body) = voice.instruct(&task, &again, &redirect).await;
    assert_eq!(
        (status, body["reservation_status"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    let mut accepting = redirect.to_vec();
    accepting.push(("RedirectAccept", "true"));
    let (status, body) = voice.instruct(&task, &again, &accepting).await;
    assert_eq!(
        (status, body["reservation_status"].as_str()),
        (200, Some("accepted")),
        "{body}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_task_past_its_ttl_is_canceled_as_task_ttl_exceeded() {
    let (sim, client) = started().await;
    let ws = sim.workspace_sid().to_owned();
    let under = |p: &str| format!("/v1/Workspaces/{ws}{p}");
    // Alice is reserved for it and nobody answers: the task is still unassigned when its
    // one-second TTL runs out (a reserved task is canceled too, its reservation with it).
    let waiting = client
        .create(
            &under("/Tasks"),
            &[
                ("Attributes", r#"{"selected_language":"fr"}"#),
                ("Timeout", "1"),
            ],
        )
        .await
        .expect("CreateTask");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let task = loop {
        let (_, _, task) = client
            .call("GET", &under(&format!("/Tasks/{waiting}")), &[])
            .await;
        if task["assignment_status"] == "canceled" || tokio::time::Instant::now() > deadline {
            break task;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(task["assignment_status"], "canceled", "{task}");
    assert_eq!(task["reason"], "Task TTL Exceeded");
    let (_, _, events) = client
        .call(
            "GET",
            &under(&format!(
                "/Events?TaskSid={waiting}&EventType=task.canceled"
            )),
            &[],
        )
        .await;
    assert_eq!(
        events["events"][0]["description"], "Task TTL Exceeded",
        "{events}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn list_workers_honours_ordering() {
    let (sim, client) = started().await;
    let ws = sim.workspace_sid().to_owned();
    let under = |p: &str| format!("/v1/Workspaces/{ws}{p}");
    let names = |list: &Value| -> Vec<String> {
        list["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["friendly_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, _, created) = client.call("GET", &under("/Workers"), &[]).await;
    let mut reversed = names(&created);
    assert!(reversed.len() >= 2, "{created}");
    let (_, _, desc) = client
        .call("GET", &under("/Workers?Ordering=DateCreated:desc"), &[])
        .await;
    reversed.reverse();
    assert_eq!(names(&desc), reversed);
    // The first-created worker changes activity last: it sorts last by status change.
    let first = created["workers"][0]["sid"].as_str().unwrap().to_owned();
    let (_, _, idle) = client
        .call("GET", &under("/Activities?FriendlyName=Offline"), &[])
        .await;
    let offline = idle["activities"][0]["sid"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, _) = client
        .call(
            "POST",
            &under(&format!("/Workers/{first}")),
            &form(&[("ActivitySid", &offline)]),
        )
        .await;
    assert_eq!(status, 200);
    let (_, _, by_change) = client
        .call(
            "GET",
            &under("/Workers?Ordering=DateStatusChanged:asc"),
            &[],
        )
        .await;
    assert_eq!(
        by_change["workers"].as_array().unwrap().last().unwrap()["sid"],
        first.as_str()
    );
    let (status, _, bad) = client
        .call("GET", &under("/Workers?Ordering=Sideways"), &[])
        .await;
    assert_eq!((status, bad["code"].as_u64()), (400, Some(20001)), "{bad}");
    sim.shutdown().await;
}

#[tokio::test]
async fn create_task_honours_routing_target_task_queue_and_virtual_start_time() {
    let (sim, client) = started().await;
    let ws = sim.workspace_sid().to_owned();
    let under = |p: &str| format!("/v1/Workspaces/{ws}{p}");
    let (_, _, workers) = client.call("GET", &under("/Workers"), &[]).await;
    let bob = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["friendly_name"] == "Bob")
        .expect("the seeded Bob")["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, _, idle) = client
        .call("GET", &under("/Activities?FriendlyName=Idle"), &[])
        .await;
    let idle = idle["activities"][0]["sid"].as_str().unwrap().to_owned();
    let (status, _, _) = client
        .call(
            "POST",
            &under(&format!("/Workers/{bob}")),
            &form(&[("ActivitySid", &idle)]),
        )
        .await;
    assert_eq!(status, 200);
    // Spanish would go to Alice through the Workflow; a RoutingTarget sends it to Bob alone.
    let (status, _, task) = client
        .call(
            "POST",
            &under("/Tasks"),
            &form(&[
                ("Attributes", r#"{"selected_language":"es"}"#),
                ("RoutingTarget", &bob),
                ("VirtualStartTime", "2026-01-02T03:04:05Z"),
            ]),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["routing_target"], bob.as_str());
    assert_eq!(
        task["ignore_capacity"], true,
        "a worker target ignores capacity"
    );
    assert_eq!(task["virtual_start_time"], "2026-01-02T03:04:05Z");
    let sid = task["sid"].as_str().unwrap();
    let (_, _, reservations) = client
        .call("GET", &under(&format!("/Tasks/{sid}/Reservations")), &[])
        .await;
    assert_eq!(
        reservations["reservations"][0]["worker_sid"],
        bob.as_str(),
        "{reservations}"
    );

    // TaskQueueSid puts a task straight into that queue, past the Workflow's filters.
    let (_, _, queues) = client.call("GET", &under("/TaskQueues"), &[]).await;
    let english = queues["task_queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| {
            q["friendly_name"]
                .as_str()
                .unwrap_or("")
                .contains("English")
        })
        .expect("the English queue")["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, task) = client
        .call(
            "POST",
            &under("/Tasks"),
            &form(&[
                ("Attributes", r#"{"selected_language":"es"}"#),
                ("TaskQueueSid", &english),
            ]),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["task_queue_sid"], english.as_str());

    for (name, value) in [
        ("RoutingTarget", "WK00000000000000000000000000000000"),
        ("TaskQueueSid", "WQ00000000000000000000000000000000"),
        ("VirtualStartTime", "yesterday"),
    ] {
        let (status, _, body) = client
            .call(
                "POST",
                &under("/Tasks"),
                &form(&[("Attributes", "{}"), (name, value)]),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (400, Some(20001)),
            "{name}: {body}"
        );
    }
    sim.shutdown().await;
}
