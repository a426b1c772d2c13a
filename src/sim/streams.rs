//! Event Streams v1 on the sim's base URL (twilio_events_v1.json): Sinks, Subscriptions with
//! their SubscribedEvents, and the event Types, so `client.events.base_url` pointed at the sim
//! is enough for twilio-python. Every TaskRouter event the sim emits is also offered here: each
//! webhook sink subscribed to its type gets it as a CloudEvents 1.0 batch (a JSON array), POSTed
//! with `X-Twilio-Signature` over the sink URL carrying `bodySHA256`, as Event Streams does.
//!
//! Not simulated: Kinesis and Segment delivery (those sinks are stored, never delivered to),
//! sink validation (every sink is `active` at once), Schemas, retries.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Shared;
use super::json::page;
use super::rest::{Authed, error};
use super::state::{Outgoing, new_sid};

type Params = Vec<(String, String)>;

/// The TaskRouter event types a subscription can name (reference §2.4), as Event Streams
/// spells them.
const TASKROUTER_TYPES: &[&str] = &[
    "activity.created",
    "activity.deleted",
    "activity.updated",
    "reservation.accepted",
    "reservation.canceled",
    "reservation.completed",
    "reservation.created",
    "reservation.failed",
    "reservation.rejected",
    "reservation.rescinded",
    "reservation.timeout",
    "reservation.wrapup",
    "task.canceled",
    "task.completed",
    "task.created",
    "task.deleted",
    "task.system-deleted",
    "task.transfer-attempt-failed",
    "task.transfer-canceled",
    "task.transfer-completed",
    "task.transfer-failed",
    "task.transfer-initiated",
    "task.updated",
    "task.wrapup",
    "worker.activity.update",
    "worker.attributes.update",
    "worker.capacity.update",
    "worker.channel.availability.update",
    "worker.created",
    "worker.deleted",
    "workflow.created",
    "workflow.deleted",
    "workflow.entered",
    "workflow.skipped",
    "workflow.target-matched",
    "workflow.timeout",
    "workflow.updated",
    "workspace.created",
    "workspace.deleted",
    "workspace.updated",
];

/// The schema TaskRouter events are published under.
const TASKROUTER_SCHEMA: &str = "TaskRouter.WDSEvent";

/// Sinks and subscriptions; lives under the sim's lock with the workspaces.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    sinks: Vec<Sink>,
    subscriptions: Vec<Subscription>,
}

#[derive(Debug, Clone)]
struct Sink {
    sid: String,
    description: String,
    sink_type: String,
    configuration: Value,
    created: OffsetDateTime,
    updated: OffsetDateTime,
}

#[derive(Debug, Clone)]
struct Subscription {
    sid: String,
    sink_sid: String,
    description: String,
    /// (type, schema_version)
    types: Vec<(String, i64)>,
    created: OffsetDateTime,
    updated: OffsetDateTime,
}

impl Streams {
    /// The deliveries one flush's TaskRouter events make: one batch per subscribed webhook
    /// sink, the events in the order they happened.
    pub(crate) fn deliveries(&self, workspace_events: &[(String, Params)]) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for sink in &self.sinks {
            if sink.sink_type != "webhook" {
                continue;
            }
            let Some(url) = sink
                .configuration
                .get("destination")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let subscribed = |ce_type: &str| {
                self.subscriptions
                    .iter()
                    .filter(|s| s.sink_sid == sink.sid)
                    .any(|s| s.types.iter().any(|(t, _)| t == ce_type))
            };
            let batch: Vec<Value> = workspace_events
                .iter()
                .filter(|(event_type, _)| {
                    subscribed(&format!("com.twilio.taskrouter.{event_type}"))
                })
                .map(|(event_type, params)| cloud_event(event_type, params))
                .collect();
            if batch.is_empty() {
                continue;
            }
            out.push(Outgoing::Stream {
                url: url.to_owned(),
                body: serde_json::to_vec(&batch).unwrap_or_default(),
            });
        }
        out
    }
}

/// A TaskRouter event as Event Streams publishes it: CloudEvents 1.0, the callback's fields in
/// snake_case under `data.payload` (`EventType` → `eventtype`, `TimestampMs` → `timestamp`).
fn cloud_event(event_type: &str, params: &Params) -> Value {
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut payload = serde_json::Map::new();
    for (key, value) in params {
        let name = match key.as_str() {
            "EventType" => "eventtype".to_owned(),
            "TimestampMs" | "Timestamp" | "Sid" => continue,
            other => snake_case(other),
        };
        payload
            .entry(name)
            .or_insert_with(|| Value::String(value.clone()));
    }
    let millis: i64 = field("TimestampMs")
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    payload.insert("timestamp".into(), json!(millis));
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok());
    json!({
        "specversion": "1.0",
        "type": format!("com.twilio.taskrouter.{event_type}"),
        "source": format!("/v1/Workspaces/{}", field("WorkspaceSid").unwrap_or_default()),
        // The event's own SID: a re-delivery carries the same id, which is what receivers
        // deduplicate on.
        "id": field("Sid").unwrap_or_default(),
        "dataschema": format!("https://events-schemas.twilio.com/{TASKROUTER_SCHEMA}/1"),
        "datacontenttype": "application/json",
        "time": time,
        "data": {"name": event_type, "payload": payload},
    })
}

/// `WorkerActivitySid` → `worker_activity_sid`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

type SharedState = State<Arc<Shared>>;

/// The Event Streams routes, merged into the sim's router.
pub(crate) fn routes(router: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    router
        .route("/v1/Types", get(list_types))
        .route("/v1/Types/{ty}", get(fetch_type))
        .route("/v1/Sinks", get(list_sinks).post(create_sink))
        .route(
            "/v1/Sinks/{sid}",
            get(fetch_sink).post(update_sink).delete(delete_sink),
        )
        .route(
            "/v1/Subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/v1/Subscriptions/{sid}",
            get(fetch_subscription)
                .post(update_subscription)
                .delete(delete_subscription),
        )
        .route(
            "/v1/Subscriptions/{sid}/SubscribedEvents",
            get(list_subscribed_events).post(create_subscribed_event),
        )
}

fn form(body: &Bytes) -> Params {
    form_urlencoded::parse(body).into_owned().collect()
}

fn query(raw: Option<String>) -> Params {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn field(params: &Params, name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn date(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn not_found(what: &str) -> Response {
    error(
        404,
        20404,
        &format!("The requested resource {what} was not found"),
    )
}

fn missing(name: &str) -> Response {
    error(
        400,
        20001,
        &format!("Missing required parameter {name} in the post body"),
    )
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn type_json(base: &str, ty: &str) -> Value {
    json!({
        "type": ty,
        "schema_id": TASKROUTER_SCHEMA,
        "date_created": "2020-01-01T00:00:00Z",
        "date_updated": "2020-01-01T00:00:00Z",
        "description": format!("TaskRouter {}", ty.trim_start_matches("com.twilio.taskrouter.")),
        "status": "active",
        "documentation_url": "https://www.twilio.com/docs/taskrouter/api/event/reference",
        "url": format!("{base}/v1/Types/{ty}"),
        "links": {"schema": format!("{base}/v1/Schemas/{TASKROUTER_SCHEMA}/Versions")},
    })
}

fn all_types() -> impl Iterator<Item = String> {
    TASKROUTER_TYPES
        .iter()
        .map(|t| format!("com.twilio.taskrouter.{t}"))
}

async fn list_types(_: Authed, State(shared): SharedState, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let schema = field(&q, "SchemaId");
    let items = all_types()
        .filter(|_| schema.as_deref().is_none_or(|s| s == TASKROUTER_SCHEMA))
        .map(|t| type_json(&shared.base_url, &t))
        .collect();
    ok(
        StatusCode::OK,
        page("types", items, &shared.base_url, "/v1/Types", &q),
    )
}

async fn fetch_type(_: Authed, State(shared): SharedState, Path(ty): Path<String>) -> Response {
    if all_types().any(|t| t == ty) {
        ok(StatusCode::OK, type_json(&shared.base_url, &ty))
    } else {
        not_found(&format!("/v1/Types/{ty}"))
    }
}

fn sink_json(base: &str, s: &Sink) -> Value {
    json!({
        "date_created": date(s.created),
        "date_updated": date(s.updated),
        "description": s.description,
        "sid": s.sid,
        "sink_configuration": s.configuration,
        "sink_type": s.sink_type,
        "status": "active",
        "url": format!("{base}/v1/Sinks/{}", s.sid),
        "links": {
            "sink_test": format!("{base}/v1/Sinks/{}/Test", s.sid),
            "sink_validate": format!("{base}/v1/Sinks/{}/Validate", s.sid),
        },
    })
}

async fn create_sink(_: Authed, State(shared): SharedState, body: Bytes) -> Response {
    let params = form(&body);
    let Some(description) = field(&params, "Description") else {
        return missing("Description");
    };
    let Some(sink_type) = field(&params, "SinkType") else {
        return missing("SinkType");
    };
    if !matches!(sink_type.as_str(), "webhook" | "kinesis" | "segment") {
        return error(400, 20001, &format!("Invalid SinkType: {sink_type}"));
    }
    let Some(configuration) = field(&params, "SinkConfiguration") else {
        return missing("SinkConfiguration");
    };
    let Ok(configuration @ Value::Object(_)) = serde_json::from_str::<Value>(&configuration) else {
        return error(400, 20001, "SinkConfiguration must be a JSON object");
    };
    if sink_type == "webhook" {
        let destination = configuration.get("destination").and_then(Value::as_str);
        if destination.is_none_or(|d| url::Url::parse(d).is_err()) {
            return error(400, 20001, "A webhook sink needs a destination URL");
        }
    }
    let now = OffsetDateTime::now_utc();
    let sink = Sink {
        sid: new_sid("DG"),
        description,
        sink_type,
        configuration,
        created: now,
        updated: now,
    };
    let body = sink_json(&shared.base_url, &sink);
    shared.lock().streams.sinks.push(sink);
    ok(StatusCode::CREATED, body)
}

async fn list_sinks(_: Authed, State(shared): SharedState, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let core = shared.lock();
    let in_use = field(&q, "InUse").map(|v| v.eq_ignore_ascii_case("true"));
    let items = core
        .streams
        .sinks
        .iter()
        .filter(|s| {
            in_use.is_none_or(|want| {
                core.streams
                    .subscriptions
                    .iter()
                    .any(|sub| sub.sink_sid == s.sid)
                    == want
            })
        })
        .map(|s| sink_json(&shared.base_url, s))
        .collect();
    ok(
        StatusCode::OK,
        page("sinks", items, &shared.base_url, "/v1/Sinks", &q),
    )
}

async fn fetch_sink(_: Authed, State(shared): SharedState, Path(sid): Path<String>) -> Response {
    let core = shared.lock();
    match core.streams.sinks.iter().find(|s| s.sid == sid) {
        Some(s) => ok(StatusCode::OK, sink_json(&shared.base_url, s)),
        None => not_found(&format!("/v1/Sinks/{sid}")),
    }
}

async fn update_sink(
    _: Authed,
    State(shared): SharedState,
    Path(sid): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let Some(description) = field(&params, "Description") else {
        return missing("Description");
    };
    let mut core = shared.lock();
    match core.streams.sinks.iter_mut().find(|s| s.sid == sid) {
        Some(s) => {
            s.description = description;
            s.updated = OffsetDateTime::now_utc();
            ok(StatusCode::OK, sink_json(&shared.base_url, s))
        }
        None => not_found(&format!("/v1/Sinks/{sid}")),
    }
}

async fn delete_sink(_: Authed, State(shared): SharedState, Path(sid): Path<String>) -> Response {
    let mut core = shared.lock();
    let streams = &mut core.streams;
    if streams.subscriptions.iter().any(|s| s.sink_sid == sid) {
        // Event Streams refuses to delete a sink still in use.
        return error(
            400,
            20001,
            &format!("Sink {sid} is in use by a subscription"),
        );
    }
    let before = streams.sinks.len();
    streams.sinks.retain(|s| s.sid != sid);
    if streams.sinks.len() == before {
        return not_found(&format!("/v1/Sinks/{sid}"));
    }
    StatusCode::NO_CONTENT.into_response()
}

fn subscription_json(base: &str, account_sid: &str, s: &Subscription) -> Value {
    json!({
        "account_sid": account_sid,
        "sid": s.sid,
        "date_created": date(s.created),
        "date_updated": date(s.updated),
        "description": s.description,
        "sink_sid": s.sink_sid,
        "url": format!("{base}/v1/Subscriptions/{}", s.sid),
        "links": {"subscribed_events": format!("{base}/v1/Subscriptions/{}/SubscribedEvents", s.sid)},
    })
}

/// One `Types` value: a JSON object `{"type": …, "schema_version": n}` (twilio-python sends
/// each as a serialized object), or a bare type name.
fn parse_type(value: &str) -> Result<(String, i64), String> {
    let (ty, version) = match serde_json::from_str::<Value>(value) {
        Ok(Value::Object(o)) => (
            o.get("type").and_then(Value::as_str).map(str::to_owned),
            o.get("schema_version").and_then(Value::as_i64).unwrap_or(1),
        ),
        _ => (Some(value.to_owned()), 1),
    };
    match ty {
        Some(ty) if all_types().any(|t| t == ty) => Ok((ty, version)),
        Some(ty) => Err(format!("Invalid event type: {ty}")),
        None => Err("Types entries need a type".to_owned()),
    }
}

async fn create_subscription(_: Authed, State(shared): SharedState, body: Bytes) -> Response {
    let params = form(&body);
    let Some(description) = field(&params, "Description") else {
        return missing("Description");
    };
    let Some(sink_sid) = field(&params, "SinkSid") else {
        return missing("SinkSid");
    };
    let mut types = Vec::new();
    for (_, value) in params.iter().filter(|(k, _)| k == "Types") {
        match parse_type(value) {
            Ok(t) => types.push(t),
            Err(message) => return error(400, 20001, &message),
        }
    }
    if types.is_empty() {
        return missing("Types");
    }
    let mut core = shared.lock();
    if !core.streams.sinks.iter().any(|s| s.sid == sink_sid) {
        return error(400, 20001, &format!("Sink {sink_sid} does not exist"));
    }
    let now = OffsetDateTime::now_utc();
    let subscription = Subscription {
        sid: new_sid("DF"),
        sink_sid,
        description,
        types,
        created: now,
        updated: now,
    };
    let body = subscription_json(&shared.base_url, &shared.account_sid, &subscription);
    core.streams.subscriptions.push(subscription);
    ok(StatusCode::CREATED, body)
}

async fn list_subscriptions(
    _: Authed,
    State(shared): SharedState,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw);
    let sink = field(&q, "SinkSid");
    let core = shared.lock();
    let items = core
        .streams
        .subscriptions
        .iter()
        .filter(|s| sink.as_deref().is_none_or(|k| k == s.sink_sid))
        .map(|s| subscription_json(&shared.base_url, &shared.account_sid, s))
        .collect();
    ok(
        StatusCode::OK,
        page(
            "subscriptions",
            items,
            &shared.base_url,
            "/v1/Subscriptions",
            &q,
        ),
    )
}

async fn fetch_subscription(
    _: Authed,
    State(shared): SharedState,
    Path(sid): Path<String>,
) -> Response {
    let core = shared.lock();
    match core.streams.subscriptions.iter().find(|s| s.sid == sid) {
        Some(s) => ok(
            StatusCode::OK,
            subscription_json(&shared.base_url, &shared.account_sid, s),
        ),
        None => not_found(&format!("/v1/Subscriptions/{sid}")),
    }
}

async fn update_subscription(
    _: Authed,
    State(shared): SharedState,
    Path(sid): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let mut core = shared.lock();
    let Some(s) = core.streams.subscriptions.iter_mut().find(|s| s.sid == sid) else {
        return not_found(&format!("/v1/Subscriptions/{sid}"));
    };
    if let Some(description) = field(&params, "Description") {
        s.description = description;
    }
    s.updated = OffsetDateTime::now_utc();
    ok(
        StatusCode::OK,
        subscription_json(&shared.base_url, &shared.account_sid, s),
    )
}

async fn delete_subscription(
    _: Authed,
    State(shared): SharedState,
    Path(sid): Path<String>,
) -> Response {
    let mut core = shared.lock();
    let subs = &mut core.streams.subscriptions;
    let before = subs.len();
    subs.retain(|s| s.sid != sid);
    if subs.len() == before {
        return not_found(&format!("/v1/Subscriptions/{sid}"));
    }
    StatusCode::NO_CONTENT.into_response()
}

fn subscribed_event_json(base: &str, account_sid: &str, sub: &str, t: &(String, i64)) -> Value {
    json!({
        "account_sid": account_sid,
        "type": t.0,
        "schema_version": t.1,
        "subscription_sid": sub,
        "url": format!("{base}/v1/Subscriptions/{sub}/SubscribedEvents/{}", t.0),
    })
}

async fn list_subscribed_events(
    _: Authed,
    State(shared): SharedState,
    Path(sid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw);
    let core = shared.lock();
    let Some(s) = core.streams.subscriptions.iter().find(|s| s.sid == sid) else {
        return not_found(&format!("/v1/Subscriptions/{sid}"));
    };
    let items = s
        .types
        .iter()
        .map(|t| subscribed_event_json(&shared.base_url, &shared.account_sid, &sid, t))
        .collect();
    let path = format!("/v1/Subscriptions/{sid}/SubscribedEvents");
    ok(
        StatusCode::OK,
        page("types", items, &shared.base_url, &path, &q),
    )
}

async fn create_subscribed_event(
    _: Authed,
    State(shared): SharedState,
    Path(sid): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let Some(ty) = field(&params, "Type") else {
        return missing("Type");
    };
    let version = field(&params, "SchemaVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (ty, _) = match parse_type(&ty) {
        Ok(t) => t,
        Err(message) => return error(400, 20001, &message),
    };
    let mut core = shared.lock();
    let Some(s) = core.streams.subscriptions.iter_mut().find(|s| s.sid == sid) else {
        return not_found(&format!("/v1/Subscriptions/{sid}"));
    };
    let entry = (ty, version);
    if !s.types.iter().any(|(t, _)| *t == entry.0) {
        s.types.push(entry.clone());
    }
    ok(
        StatusCode::CREATED,
        subscribed_event_json(&shared.base_url, &shared.account_sid, &sid, &entry),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_fields_become_snake_case_payload() {
        assert_eq!(snake_case("WorkerActivitySid"), "worker_activity_sid");
        assert_eq!(snake_case("TaskSid"), "task_sid");
        let params: Params = vec![
            ("EventType".into(), "task.created".into()),
            ("TaskSid".into(), "WT1".into()),
            ("TimestampMs".into(), "1767261600000".into()),
            ("Sid".into(), "EV1".into()),
        ];
        let e = cloud_event("task.created", &params);
        assert_eq!(e["type"], "com.twilio.taskrouter.task.created");
        assert_eq!(e["id"], "EV1");
        assert_eq!(e["time"], "2026-01-01T10:00:00Z");
        assert_eq!(e["data"]["payload"]["eventtype"], "task.created");
        assert_eq!(e["data"]["payload"]["task_sid"], "WT1");
        assert_eq!(e["data"]["payload"]["timestamp"], 1_767_261_600_000_i64);
    }
}
