//! REST handlers for the 15 Statistics operations (Workspace, TaskQueue, Worker and Workflow;
//! cumulative, real-time and both; the TaskQueues list and bulk POST). The figures come from
//! `super::super::stats`; this file adds the identifying fields and `url` of each resource.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::state::{Fail, State as SimState};
use super::super::stats::{Scope, Stats, Window};
use super::{Authed, SharedState, answer, field, list, query};

/// The common fields of every statistics answer.
fn object(state: &SimState, url: String, mut fields: Map<String, Value>) -> Value {
    fields.insert("account_sid".into(), json!(state.account_sid));
    fields.insert("workspace_sid".into(), json!(state.workspace.sid));
    fields.insert("url".into(), json!(url));
    Value::Object(fields)
}

/// Which statistics resource a handler answers.
#[derive(Clone, Copy)]
enum Kind {
    Cumulative,
    RealTime,
    Both,
}

fn with_id(mut fields: Map<String, Value>, id: Option<(&str, &str)>) -> Map<String, Value> {
    if let Some((name, sid)) = id {
        fields.insert(name.into(), json!(sid));
    }
    fields
}

/// Workspace, TaskQueue and Workflow statistics.
fn scoped(
    shared: &std::sync::Arc<super::Shared>,
    uri: &Uri,
    raw: Option<String>,
    ws: String,
    target: Option<(&'static str, String)>,
    kind: Kind,
) -> Response {
    let params = query(raw);
    let path = uri.path().to_owned();
    answer(shared, uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let window = Window::from_query(&params)?;
        let scope = match &target {
            None => Scope::Workspace,
            Some(("TaskQueues", sid)) => {
                state.queue(sid).ok_or(Fail::NotFound)?;
                Scope::Queue(sid)
            }
            Some((_, sid)) => {
                state.workflow(sid).ok_or(Fail::NotFound)?;
                Scope::Workflow(sid)
            }
        };
        let id = match (&target, scope) {
            (Some(_), Scope::Queue(sid)) => Some(("task_queue_sid", sid)),
            (Some(_), Scope::Workflow(sid)) => Some(("workflow_sid", sid)),
            _ => None,
        };
        let stats = Stats {
            state,
            window: &window,
        };
        let fields = match kind {
            Kind::Cumulative => with_id(stats.cumulative(scope), id),
            Kind::RealTime => with_id(stats.realtime(scope), id),
            Kind::Both => {
                let mut both = Map::new();
                both.insert("cumulative".into(), Value::Object(stats.cumulative(scope)));
                both.insert("realtime".into(), Value::Object(stats.realtime(scope)));
                with_id(both, id)
            }
        };
        Ok(object(state, format!("{base}{path}"), fields))
    })
}

pub async fn workspace_cumulative(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(&shared, &uri, raw, ws, None, Kind::Cumulative)
}

pub async fn workspace_realtime(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(&shared, &uri, raw, ws, None, Kind::RealTime)
}

pub async fn workspace_statistics(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(&shared, &uri, raw, ws, None, Kind::Both)
}

pub async fn queue_cumulative(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(
        &shared,
        &uri,
        raw,
        ws,
        Some(("TaskQueues", sid)),
        Kind::Cumulative,
    )
}

pub async fn queue_realtime(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(
        &shared,
        &uri,
        raw,
        ws,
        Some(("TaskQueues", sid)),
        Kind::RealTime,
    )
}

pub async fn queue_statistics(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(
        &shared,
        &uri,
        raw,
        ws,
        Some(("TaskQueues", sid)),
        Kind::Both,
    )
}

pub async fn workflow_cumulative(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(
        &shared,
        &uri,
        raw,
        ws,
        Some(("Workflows", sid)),
        Kind::Cumulative,
    )
}

pub async fn workflow_realtime(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(
        &shared,
        &uri,
        raw,
        ws,
        Some(("Workflows", sid)),
        Kind::RealTime,
    )
}

pub async fn workflow_statistics(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    scoped(&shared, &uri, raw, ws, Some(("Workflows", sid)), Kind::Both)
}

/// `GET /TaskQueues/Statistics`: every queue's cumulative and real-time statistics, paged.
pub async fn list_queue_statistics(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    list(
        &shared,
        &uri,
        raw,
        "task_queues_statistics",
        |world, _, params| {
            let state = world.get(&ws)?;
            let window = Window::from_query(params)?;
            let stats = Stats {
                state,
                window: &window,
            };
            let name = field(params, "FriendlyName");
            Ok(state
                .queues
                .iter()
                .filter(|q| name.as_ref().is_none_or(|n| *n == q.friendly_name))
                .map(|q| {
                    json!({
                        "account_sid": state.account_sid,
                        "cumulative": stats.cumulative(Scope::Queue(&q.sid)),
                        "realtime": stats.realtime(Scope::Queue(&q.sid)),
                        "task_queue_sid": q.sid,
                        "workspace_sid": state.workspace.sid,
                    })
                })
                .collect())
        },
    )
}

/// `POST /TaskQueues/RealTimeStatistics`: real-time statistics of the queues named in the JSON
/// body's `TaskQueueSids` (or form `TaskQueueSids`), or of every queue.
pub async fn bulk_queue_realtime(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    body: Bytes,
) -> Response {
    let mut wanted: Vec<String> = match serde_json::from_slice::<Value>(&body) {
        Ok(value) => value
            .get("TaskQueueSids")
            .or_else(|| value.get("task_queue_sids"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    if wanted.is_empty() {
        wanted = super::form(&body)
            .into_iter()
            .filter(|(k, _)| k == "TaskQueueSids")
            .map(|(_, v)| v)
            .collect();
    }
    let path = uri.path().to_owned();
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let window = Window::from_query(&[])?;
        let stats = Stats {
            state,
            window: &window,
        };
        if let Some(missing) = wanted.iter().find(|sid| state.queue(sid).is_none()) {
            return Err(Fail::Invalid(format!(
                "TaskQueue {missing} does not exist in this Workspace"
            )));
        }
        let data: Vec<Value> = state
            .queues
            .iter()
            .filter(|q| wanted.is_empty() || wanted.contains(&q.sid))
            .map(|q| {
                Value::Object(with_id(
                    stats.realtime(Scope::Queue(&q.sid)),
                    Some(("task_queue_sid", &q.sid)),
                ))
            })
            .collect();
        let mut fields = Map::new();
        fields.insert("task_queue_response_count".into(), json!(data.len()));
        fields.insert("task_queue_data".into(), Value::Array(data));
        Ok(object(state, format!("{base}{path}"), fields))
    })
}

fn workers(
    shared: &std::sync::Arc<super::Shared>,
    uri: &Uri,
    raw: Option<String>,
    ws: String,
    worker: Option<String>,
    kind: Kind,
) -> Response {
    let params = query(raw);
    let path = uri.path().to_owned();
    answer(shared, uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let window = Window::from_query(&params)?;
        let stats = Stats {
            state,
            window: &window,
        };
        let fields = match &worker {
            Some(sid) => {
                state.worker_index(sid).ok_or(Fail::NotFound)?;
                let mut fields = Map::new();
                fields.insert(
                    "cumulative".into(),
                    Value::Object(stats.workers_cumulative(Scope::Worker(sid))),
                );
                fields.insert("worker_sid".into(), json!(sid));
                fields
            }
            None => match kind {
                Kind::Cumulative => stats.workers_cumulative(Scope::Workspace),
                Kind::RealTime => stats.workers_realtime(),
                Kind::Both => {
                    let mut both = Map::new();
                    both.insert(
                        "cumulative".into(),
                        Value::Object(stats.workers_cumulative(Scope::Workspace)),
                    );
                    both.insert("realtime".into(), Value::Object(stats.workers_realtime()));
                    both
                }
            },
        };
        Ok(object(state, format!("{base}{path}"), fields))
    })
}

pub async fn workers_cumulative(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    workers(&shared, &uri, raw, ws, None, Kind::Cumulative)
}

pub async fn workers_realtime(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    workers(&shared, &uri, raw, ws, None, Kind::RealTime)
}

pub async fn workers_statistics(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    workers(&shared, &uri, raw, ws, None, Kind::Both)
}

pub async fn worker_statistics(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wk)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    workers(&shared, &uri, raw, ws, Some(wk), Kind::Cumulative)
}
