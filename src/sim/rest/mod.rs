//! The sim's REST API: TaskRouter's paths under `/v1` (reference §3), HTTP basic auth against
//! the sim's Account SID and Auth Token, form-encoded parameters in, JSON out, and TaskRouter's
//! error JSON `{code, message, more_info, status}` for every failure. Handlers parse, take the
//! state lock once (never across an `.await`), and render.
//!
//! Every operation of Twilio's TaskRouter v1 description is routed: those not emulated yet
//! (listed in `unemulated`) answer 501 naming the operation. Not simulated: the call-related
//! reservation instructions (`Instruction=conference`, ...).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

mod config;
mod events;
mod stats;
mod unemulated;

use super::Shared;
use super::expr::{Expr, Subject};
use super::json::{Render, Via, page};
use super::state::voice::Voice;
use super::state::{
    Fail, NewTask, NewWorker, State as SimState, TaskChanges, TaskStatus, WorkerChanges,
    WorkflowChanges, WorkspaceChanges, World,
};

type SharedState = State<Arc<Shared>>;
type Params = Vec<(String, String)>;

pub fn router(shared: Arc<Shared>) -> Router {
    let routes = Router::new()
        .route(
            "/v1/Workspaces",
            get(list_workspaces).post(config::create_workspace),
        )
        .route(
            "/v1/Workspaces/{ws}",
            get(fetch_workspace)
                .post(update_workspace)
                .delete(config::delete_workspace),
        )
        .route(
            "/v1/Workspaces/{ws}/Activities",
            get(list_activities).post(config::create_activity),
        )
        .route(
            "/v1/Workspaces/{ws}/Activities/{sid}",
            get(fetch_activity)
                .post(config::update_activity)
                .delete(config::delete_activity),
        )
        .route("/v1/Workspaces/{ws}/Events", get(events::list_events))
        .route("/v1/Workspaces/{ws}/Events/{sid}", get(events::fetch_event))
        .route(
            "/v1/Workspaces/{ws}/TaskChannels",
            get(list_channels).post(config::create_channel),
        )
        .route(
            "/v1/Workspaces/{ws}/TaskChannels/{sid}",
            get(fetch_channel)
                .post(config::update_channel)
                .delete(config::delete_channel),
        )
        .route(
            "/v1/Workspaces/{ws}/Workers",
            get(list_workers).post(create_worker),
        )
        .route(
            "/v1/Workspaces/{ws}/Workers/{sid}",
            get(fetch_worker)
                .post(update_worker)
                .delete(config::delete_worker),
        )
        .route(
            "/v1/Workspaces/{ws}/Workers/{wk}/Reservations",
            get(list_worker_reservations),
        )
        .route(
            "/v1/Workspaces/{ws}/Workers/{wk}/Reservations/{wr}",
            get(fetch_worker_reservation).post(update_worker_reservation),
        )
        .route(
            "/v1/Workspaces/{ws}/Workflows",
            get(list_workflows).post(config::create_workflow),
        )
        .route(
            "/v1/Workspaces/{ws}/Workflows/{sid}",
            get(fetch_workflow)
                .post(update_workflow)
                .delete(config::delete_workflow),
        )
        .route(
            "/v1/Workspaces/{ws}/TaskQueues",
            get(list_queues).post(config::create_queue),
        )
        .route(
            "/v1/Workspaces/{ws}/TaskQueues/{sid}",
            get(fetch_queue)
                .post(config::update_queue)
                .delete(config::delete_queue),
        )
        .route(
            "/v1/Workspaces/{ws}/Tasks",
            get(list_tasks).post(create_task),
        )
        .route(
            "/v1/Workspaces/{ws}/Tasks/{sid}",
            get(fetch_task).post(update_task).delete(delete_task),
        )
        .route(
            "/v1/Workspaces/{ws}/Tasks/{wt}/Reservations",
            get(list_task_reservations),
        )
        .route(
            "/v1/Workspaces/{ws}/Tasks/{wt}/Reservations/{wr}",
            get(fetch_task_reservation).post(update_task_reservation),
        );
    let s = "/v1/Workspaces/{ws}";
    let routes = routes
        .route(
            &format!("{s}/CumulativeStatistics"),
            get(stats::workspace_cumulative),
        )
        .route(
            &format!("{s}/RealTimeStatistics"),
            get(stats::workspace_realtime),
        )
        .route(&format!("{s}/Statistics"), get(stats::workspace_statistics))
        .route(
            &format!("{s}/TaskQueues/RealTimeStatistics"),
            axum::routing::post(stats::bulk_queue_realtime),
        )
        .route(
            &format!("{s}/TaskQueues/Statistics"),
            get(stats::list_queue_statistics),
        )
        .route(
            &format!("{s}/TaskQueues/{{sid}}/CumulativeStatistics"),
            get(stats::queue_cumulative),
        )
        .route(
            &format!("{s}/TaskQueues/{{sid}}/RealTimeStatistics"),
            get(stats::queue_realtime),
        )
        .route(
            &format!("{s}/TaskQueues/{{sid}}/Statistics"),
            get(stats::queue_statistics),
        )
        .route(
            &format!("{s}/Workers/CumulativeStatistics"),
            get(stats::workers_cumulative),
        )
        .route(
            &format!("{s}/Workers/RealTimeStatistics"),
            get(stats::workers_realtime),
        )
        .route(
            &format!("{s}/Workers/Statistics"),
            get(stats::workers_statistics),
        )
        .route(
            &format!("{s}/Workers/{{wk}}/Statistics"),
            get(stats::worker_statistics),
        )
        .route(
            &format!("{s}/Workers/{{wk}}/Channels"),
            get(config::list_worker_channels),
        )
        .route(
            &format!("{s}/Workers/{{wk}}/Channels/{{sid}}"),
            get(config::fetch_worker_channel).post(config::update_worker_channel),
        )
        .route(
            &format!("{s}/Workflows/{{sid}}/CumulativeStatistics"),
            get(stats::workflow_cumulative),
        )
        .route(
            &format!("{s}/Workflows/{{sid}}/RealTimeStatistics"),
            get(stats::workflow_realtime),
        )
        .route(
            &format!("{s}/Workflows/{{sid}}/Statistics"),
            get(stats::workflow_statistics),
        );
    let routes = super::streams::routes(routes);
    unemulated::routes(routes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(taskrouter_errors))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Errors and authentication

/// TaskRouter's error JSON (reference §3.8).
pub fn error(status: u16, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

fn not_found_error(path: &str) -> Response {
    // Keep the echoed path short and printable.
    let path: String = path.chars().take(200).collect();
    error(
        404,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

fn fail(failure: Fail, path: &str) -> Response {
    match failure {
        Fail::NotFound => not_found_error(path),
        // 20001 for every 400, including "Reservation WR… is already in state [x]": the
        // wording is TaskRouter's (reference §3.9); the numeric code is UNCONFIRMED, 20001 is
        // what taskhook's fake TaskRouter uses too.
        Fail::Invalid(message) => error(400, 20001, &message),
        // Twilio's generic code for a failed precondition (UNCONFIRMED for TaskRouter).
        Fail::Stale(message) => error(412, 20412, &message),
        Fail::Refused { code, message } => error(400, code, &message),
    }
}

/// Proof that the request carried the sim's Account SID and Auth Token.
pub struct Authed;

impl FromRequestParts<Arc<Shared>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        if authorized(parts.headers.get(header::AUTHORIZATION), shared) {
            Ok(Authed)
        } else {
            let mut response = error(401, 20003, "Authenticate");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
            Err(response)
        }
    }
}

fn authorized(header: Option<&HeaderValue>, shared: &Shared) -> bool {
    let Some(value) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let user_ok = user.ct_eq(shared.account_sid.as_bytes());
    let password_ok = password.ct_eq(shared.auth_token.expose().as_bytes());
    bool::from(user_ok & password_ok)
}

/// Rejections axum produces itself (a body over the 2 MB limit, a path that is not valid
/// percent-encoded UTF-8, ...) get TaskRouter's error JSON too, so every failure has one shape.
async fn taskrouter_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("Bad request"),
        text => text,
    };
    let code = match status.as_u16() {
        401 => 20003,
        404 => 20404,
        405 => 20004,
        _ => 20001,
    };
    error(status.as_u16(), code, message)
}

async fn not_found(_: Authed, uri: Uri) -> Response {
    not_found_error(uri.path())
}

async fn method_not_allowed(_: Authed) -> Response {
    error(405, 20004, "Method not allowed")
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn query(raw: Option<String>) -> Params {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn form(body: &Bytes) -> Params {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The first value of `name`.
fn field(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn flag(params: &[(String, String)], name: &str) -> Option<bool> {
    field(params, name)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The `If-Match` header, if sent.
fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A Task's or Worker's ETag: its version, quoted. TaskRouter's ETag changes exactly when the
/// resource does, which is what the version counts (the JSON alone also changes with `age`).
fn version_tag(version: u64) -> String {
    format!("\"{version}\"")
}

/// 412 when `If-Match` names another version than `current` (`*` matches any).
fn check_if_match(wanted: Option<&str>, current: u64) -> Result<(), Fail> {
    let Some(wanted) = wanted.map(str::trim) else {
        return Ok(());
    };
    let bare = wanted.trim_start_matches("W/").trim_matches('"');
    if bare == "*" || bare == current.to_string() {
        Ok(())
    } else {
        Err(Fail::Stale(format!(
            "The If-Match header {bare} does not match the current version {current}"
        )))
    }
}

/// `body` with `status` and an `ETag` header.
fn tagged(status: StatusCode, body: Value, etag: &str) -> Response {
    let mut response = ok(status, body);
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Like [`answer`], for resources with an ETag: `f` returns the JSON and its version.
fn answer_tagged(
    shared: &Arc<Shared>,
    uri: &Uri,
    status: StatusCode,
    f: impl FnOnce(&mut World, &str) -> Result<(Value, u64), Fail>,
) -> Response {
    let base = shared.base_url.clone();
    match shared.with_world(|world| f(world, &base)) {
        Ok((body, version)) => tagged(status, body, &version_tag(version)),
        Err(failure) => fail(failure, uri.path()),
    }
}

/// Runs `f` under the state lock and answers its JSON with `status`, or its failure.
fn answer(
    shared: &Arc<Shared>,
    uri: &Uri,
    status: StatusCode,
    f: impl FnOnce(&mut World, &str) -> Result<Value, Fail>,
) -> Response {
    let base = shared.base_url.clone();
    match shared.with_world(|world| f(world, &base)) {
        Ok(body) => ok(status, body),
        Err(failure) => fail(failure, uri.path()),
    }
}

/// Answers a list: the items `f` returns, paged, under `key`, with an `ETag` that changes
/// whenever the page does (a hash of it).
fn list(
    shared: &Arc<Shared>,
    uri: &Uri,
    raw: Option<String>,
    key: &'static str,
    f: impl FnOnce(&mut World, &str, &Params) -> Result<Vec<Value>, Fail>,
) -> Response {
    let params = query(raw);
    let path = uri.path().to_owned();
    let base = shared.base_url.clone();
    let result = shared.with_world(|world| {
        let items = f(world, &base, &params)?;
        Ok(page(key, items, &base, &path, &params))
    });
    match result {
        Ok(body) => {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(body.to_string().as_bytes());
            let etag = format!("\"{}\"", hex::encode(&digest[..16]));
            tagged(StatusCode::OK, body, &etag)
        }
        Err(failure) => fail(failure, uri.path()),
    }
}

fn name_matches(params: &Params, name: &str) -> bool {
    field(params, "FriendlyName").is_none_or(|wanted| wanted == name)
}

// ---------------------------------------------------------------------------------------------
// Workspaces

async fn list_workspaces(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    list(&shared, &uri, raw, "workspaces", |world, base, params| {
        Ok(world
            .workspaces
            .iter()
            .filter(|state| name_matches(params, &state.workspace.friendly_name))
            .map(|state| Render { state, base }.workspace())
            .collect())
    })
}

async fn fetch_workspace(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
) -> Response {
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        Ok(Render { state, base }.workspace())
    })
}

async fn update_workspace(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        state.update_workspace(WorkspaceChanges {
            friendly_name: field(&params, "FriendlyName"),
            event_callback_url: field(&params, "EventCallbackUrl"),
            events_filter: field(&params, "EventsFilter"),
            default_activity_sid: field(&params, "DefaultActivitySid"),
            timeout_activity_sid: field(&params, "TimeoutActivitySid"),
        })?;
        Ok(Render { state, base }.workspace())
    })
}

// ---------------------------------------------------------------------------------------------
// Activities and TaskChannels

async fn list_activities(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    list(&shared, &uri, raw, "activities", |world, base, params| {
        let state = world.get(&ws)?;
        let available = flag(params, "Available");
        let render = Render { state, base };
        Ok(state
            .activities
            .iter()
            .filter(|a| name_matches(params, &a.friendly_name))
            .filter(|a| available.is_none_or(|v| v == a.available))
            .map(|a| render.activity(a))
            .collect())
    })
}

async fn fetch_activity(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let activity = state.activity(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.activity(activity))
    })
}

async fn list_channels(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    list(&shared, &uri, raw, "channels", |world, base, _| {
        let state = world.get(&ws)?;
        let render = Render { state, base };
        Ok(state.channels.iter().map(|c| render.channel(c)).collect())
    })
}

async fn fetch_channel(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let channel = state
            .channels
            .iter()
            .find(|c| c.sid == sid || c.unique_name == sid)
            .ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.channel(channel))
    })
}

// ---------------------------------------------------------------------------------------------
// Workers

async fn list_workers(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    list(&shared, &uri, raw, "workers", |world, base, params| {
        let state = world.get(&ws)?;
        let target = match field(params, "TargetWorkersExpression") {
            Some(text) => Some(
                Expr::parse(&text)
                    .map_err(|e| Fail::Invalid(format!("Invalid TargetWorkersExpression: {e}")))?,
            ),
            None => None,
        };
        let queue_sid = field(params, "TaskQueueSid").or_else(|| {
            field(params, "TaskQueueName").map(|name| {
                state
                    .queues
                    .iter()
                    .find(|q| q.friendly_name == name)
                    .map(|q| q.sid.clone())
                    .unwrap_or_default()
            })
        });
        let queue = match &queue_sid {
            Some(sid) => Some(state.queue(sid).ok_or_else(|| {
                Fail::Invalid(format!("TaskQueue {sid} does not exist in this Workspace"))
            })?),
            None => None,
        };
        let activity_sid = field(params, "ActivitySid");
        let activity_name = field(params, "ActivityName");
        let available = flag(params, "Available");
        let render = Render { state, base };
        let mut workers: Vec<_> = state
            .workers
            .iter()
            .filter(|w| name_matches(params, &w.friendly_name))
            .filter(|w| activity_sid.as_ref().is_none_or(|a| *a == w.activity_sid))
            .filter(|w| {
                activity_name
                    .as_ref()
                    .is_none_or(|n| *n == state.activity_name(&w.activity_sid))
            })
            .filter(|w| available.is_none_or(|v| v == state.worker_available(w)))
            .filter(|w| {
                target
                    .as_ref()
                    .is_none_or(|e| e.matches(Subject::of(&w.attrs)))
            })
            .filter(|w| queue.is_none_or(|q| q.target.matches(Subject::of(&w.attrs))))
            .collect();
        // Creation order is the default; ties keep it (the sorts are stable).
        match field(params, "Ordering").as_deref().map(str::trim) {
            None | Some("DateCreated:asc") => {}
            Some("DateCreated:desc") => workers.reverse(),
            Some("DateStatusChanged:asc") => workers.sort_by_key(|w| w.status_changed),
            Some("DateStatusChanged:desc") => {
                workers.sort_by_key(|w| std::cmp::Reverse(w.status_changed));
            }
            Some(other) => return Err(Fail::Invalid(format!("Invalid Ordering {other}"))),
        }
        Ok(workers.into_iter().map(|w| render.worker(w)).collect())
    })
}

async fn create_worker(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer_tagged(&shared, &uri, StatusCode::CREATED, |world, base| {
        let state = world.get(&ws)?;
        let sid = state.create_worker(NewWorker {
            friendly_name: field(&params, "FriendlyName"),
            activity_sid: field(&params, "ActivitySid"),
            attributes: field(&params, "Attributes"),
        })?;
        let wi = state.worker_index(&sid).ok_or(Fail::NotFound)?;
        let worker = &state.workers[wi];
        Ok((Render { state, base }.worker(worker), worker.version))
    })
}

async fn fetch_worker(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    answer_tagged(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let wi = state.worker_index(&sid).ok_or(Fail::NotFound)?;
        let worker = &state.workers[wi];
        Ok((Render { state, base }.worker(worker), worker.version))
    })
}

async fn update_worker(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let wanted = if_match(&headers);
    answer_tagged(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let wi = state.worker_index(&sid).ok_or(Fail::NotFound)?;
        check_if_match(wanted.as_deref(), state.workers[wi].version)?;
        state.update_worker(
            &sid,
            WorkerChanges {
                friendly_name: field(&params, "FriendlyName"),
                activity_sid: field(&params, "ActivitySid"),
                attributes: field(&params, "Attributes"),
                reject_pending_reservations: flag(&params, "RejectPendingReservations")
                    .unwrap_or(false),
            },
        )?;
        let wi = state.worker_index(&sid).ok_or(Fail::NotFound)?;
        let worker = &state.workers[wi];
        Ok((Render { state, base }.worker(worker), worker.version))
    })
}

// ---------------------------------------------------------------------------------------------
// Workflows and TaskQueues

async fn list_workflows(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    list(&shared, &uri, raw, "workflows", |world, base, params| {
        let state = world.get(&ws)?;
        let render = Render { state, base };
        Ok(state
            .workflows
            .iter()
            .filter(|w| name_matches(params, &w.friendly_name))
            .map(|w| render.workflow(w))
            .collect())
    })
}

async fn fetch_workflow(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let workflow = state.workflow(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.workflow(workflow))
    })
}

async fn update_workflow(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        state.update_workflow(
            &sid,
            WorkflowChanges {
                friendly_name: field(&params, "FriendlyName"),
                assignment_callback_url: field(&params, "AssignmentCallbackUrl"),
                fallback_assignment_callback_url: field(&params, "FallbackAssignmentCallbackUrl"),
                task_reservation_timeout: field(&params, "TaskReservationTimeout"),
                configuration: field(&params, "Configuration"),
                re_evaluate_tasks: flag(&params, "ReEvaluateTasks").unwrap_or(false),
            },
        )?;
        let workflow = state.workflow(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.workflow(workflow))
    })
}

async fn list_queues(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    list(&shared, &uri, raw, "task_queues", |world, base, params| {
        let state = world.get(&ws)?;
        let render = Render { state, base };
        Ok(state
            .queues
            .iter()
            .filter(|q| name_matches(params, &q.friendly_name))
            .map(|q| render.queue(q))
            .collect())
    })
}

async fn fetch_queue(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let queue = state.queue(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.queue(queue))
    })
}

// ---------------------------------------------------------------------------------------------
// Tasks

async fn list_tasks(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    list(&shared, &uri, raw, "tasks", |world, base, params| {
        let state = world.get(&ws)?;
        // AssignmentStatus may repeat, or be comma-separated.
        let statuses: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "AssignmentStatus")
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = statuses.iter().find(|s| TaskStatus::parse(s).is_none()) {
            return Err(Fail::Invalid(format!("Invalid AssignmentStatus {bad}")));
        }
        let evaluate = match field(params, "EvaluateTaskAttributes") {
            Some(text) => Some(
                Expr::parse(&text)
                    .map_err(|e| Fail::Invalid(format!("Invalid EvaluateTaskAttributes: {e}")))?,
            ),
            None => None,
        };
        let workflow_sid = field(params, "WorkflowSid");
        let workflow_name = field(params, "WorkflowName");
        let queue_sid = field(params, "TaskQueueSid");
        let queue_name = field(params, "TaskQueueName");
        let priority = field(params, "Priority").and_then(|p| p.trim().parse::<i64>().ok());
        let mut tasks: Vec<&super::state::Task> = state
            .tasks
            .iter()
            .filter(|t| statuses.is_empty() || statuses.iter().any(|s| s == t.status.as_str()))
            .filter(|t| workflow_sid.as_ref().is_none_or(|w| *w == t.workflow_sid))
            .filter(|t| {
                workflow_name.as_ref().is_none_or(|n| {
                    state
                        .workflow(&t.workflow_sid)
                        .is_some_and(|w| w.friendly_name == *n)
                })
            })
            .filter(|t| {
                queue_sid
                    .as_ref()
                    .is_none_or(|q| t.queue_sid.as_deref() == Some(q.as_str()))
            })
            .filter(|t| {
                queue_name.as_ref().is_none_or(|n| {
                    t.queue_sid
                        .as_deref()
                        .and_then(|q| state.queue(q))
                        .is_some_and(|q| q.friendly_name == *n)
                })
            })
            .filter(|t| priority.is_none_or(|p| p == t.priority))
            .filter(|t| {
                evaluate
                    .as_ref()
                    .is_none_or(|e| e.matches(Subject::of(&t.attrs)))
            })
            .collect();
        match field(params, "Ordering").as_deref().map(str::trim) {
            None | Some("DateCreated:asc") => {}
            Some("DateCreated:desc") => tasks.reverse(),
            Some("Priority:asc") => tasks.sort_by_key(|t| t.priority),
            Some("Priority:desc") => tasks.sort_by_key(|t| std::cmp::Reverse(t.priority)),
            Some(other) => return Err(Fail::Invalid(format!("Invalid Ordering {other}"))),
        }
        let render = Render { state, base };
        Ok(tasks.into_iter().map(|t| render.task(t)).collect())
    })
}

async fn create_task(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer_tagged(&shared, &uri, StatusCode::CREATED, |world, base| {
        let state = world.get(&ws)?;
        let sid = state.create_task(NewTask {
            attributes: field(&params, "Attributes"),
            priority: field(&params, "Priority"),
            timeout: field(&params, "Timeout"),
            workflow_sid: field(&params, "WorkflowSid"),
            task_channel: field(&params, "TaskChannel"),
            task_queue_sid: field(&params, "TaskQueueSid"),
            routing_target: field(&params, "RoutingTarget"),
            ignore_capacity: field(&params, "IgnoreCapacity"),
            virtual_start_time: field(&params, "VirtualStartTime"),
        })?;
        let ti = state.task_index(&sid).ok_or(Fail::NotFound)?;
        let task = &state.tasks[ti];
        Ok((Render { state, base }.task(task), task.version))
    })
}

async fn fetch_task(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    answer_tagged(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let ti = state.task_index(&sid).ok_or(Fail::NotFound)?;
        let task = &state.tasks[ti];
        Ok((Render { state, base }.task(task), task.version))
    })
}

async fn update_task(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let wanted = if_match(&headers);
    answer_tagged(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let ti = state.task_index(&sid).ok_or(Fail::NotFound)?;
        check_if_match(wanted.as_deref(), state.tasks[ti].version)?;
        state.update_task(
            &sid,
            TaskChanges {
                attributes: field(&params, "Attributes"),
                assignment_status: field(&params, "AssignmentStatus"),
                reason: field(&params, "Reason"),
                priority: field(&params, "Priority"),
            },
        )?;
        let ti = state.task_index(&sid).ok_or(Fail::NotFound)?;
        let task = &state.tasks[ti];
        Ok((Render { state, base }.task(task), task.version))
    })
}

async fn delete_task(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let wanted = if_match(&headers);
    let result = shared.with_world(|world| {
        let state = world.get(&ws)?;
        let ti = state.task_index(&sid).ok_or(Fail::NotFound)?;
        check_if_match(wanted.as_deref(), state.tasks[ti].version)?;
        state.delete_task(&sid)
    });
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => fail(failure, uri.path()),
    }
}

// ---------------------------------------------------------------------------------------------
// Reservations, through their Task or their Worker (reference §3.2)

/// The reservation `wr` if it belongs to `owner` (a task or worker SID, per `via`).
fn owned_reservation(state: &SimState, via: Via, owner: &str, wr: &str) -> Result<usize, Fail> {
    let ri = state.reservation_index(wr).ok_or(Fail::NotFound)?;
    let reservation = &state.reservations[ri];
    let belongs = match via {
        Via::Task => reservation.task_sid == owner,
        Via::Worker => reservation.worker_sid == owner,
    };
    if belongs { Ok(ri) } else { Err(Fail::NotFound) }
}

fn list_reservations(
    shared: &Arc<Shared>,
    uri: &Uri,
    raw: Option<String>,
    ws: String,
    via: Via,
    owner: String,
) -> Response {
    list(shared, uri, raw, "reservations", |world, base, params| {
        let state = world.get(&ws)?;
        let exists = match via {
            Via::Task => state.task_index(&owner).is_some(),
            Via::Worker => state.worker_index(&owner).is_some(),
        };
        if !exists {
            return Err(Fail::NotFound);
        }
        let status = field(params, "ReservationStatus");
        let worker = field(params, "WorkerSid");
        let render = Render { state, base };
        Ok(state
            .reservations
            .iter()
            .filter(|r| match via {
                Via::Task => r.task_sid == owner,
                Via::Worker => r.worker_sid == owner,
            })
            .filter(|r| status.as_ref().is_none_or(|s| s == r.status))
            .filter(|r| worker.as_ref().is_none_or(|w| *w == r.worker_sid))
            .map(|r| render.reservation(r, via))
            .collect())
    })
}

fn fetch_reservation(
    shared: &Arc<Shared>,
    uri: &Uri,
    ws: String,
    via: Via,
    owner: String,
    wr: String,
) -> Response {
    answer(shared, uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let ri = owned_reservation(state, via, &owner, &wr)?;
        Ok(Render { state, base }.reservation(&state.reservations[ri], via))
    })
}

fn update_reservation(
    shared: &Arc<Shared>,
    uri: &Uri,
    ids: (String, Via, String, String),
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let (ws, via, owner, wr) = ids;
    let params = form(body);
    let wanted = if_match(headers);
    // A reservation's ETag is its task's version: accepting or rejecting changes the task.
    let task_version = |state: &SimState, ri: usize| {
        state
            .task_index(&state.reservations[ri].task_sid)
            .map(|ti| state.tasks[ti].version)
            .unwrap_or_default()
    };
    answer_tagged(shared, uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let ri = owned_reservation(state, via, &owner, &wr)?;
        check_if_match(wanted.as_deref(), task_version(state, ri))?;
        if let Some(instruction) = field(&params, "Instruction").filter(|i| !i.trim().is_empty()) {
            let voice = Voice::from_params(instruction.trim(), &params).ok_or_else(|| {
                Fail::Invalid(format!(
                    "Instruction {instruction} is not one of dequeue, call, redirect, conference"
                ))
            })?;
            state.instruct_reservation(&wr, &voice)?;
        } else {
            state.update_reservation(
                &wr,
                field(&params, "ReservationStatus").as_deref(),
                field(&params, "WorkerActivitySid").as_deref(),
            )?;
        }
        let ri = state.reservation_index(&wr).ok_or(Fail::NotFound)?;
        let version = task_version(state, ri);
        Ok((
            Render { state, base }.reservation(&state.reservations[ri], via),
            version,
        ))
    })
}

async fn list_task_reservations(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wt)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    list_reservations(&shared, &uri, raw, ws, Via::Task, wt)
}

async fn list_worker_reservations(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wk)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    list_reservations(&shared, &uri, raw, ws, Via::Worker, wk)
}

async fn fetch_task_reservation(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wt, wr)): Path<(String, String, String)>,
) -> Response {
    fetch_reservation(&shared, &uri, ws, Via::Task, wt, wr)
}

async fn fetch_worker_reservation(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wk, wr)): Path<(String, String, String)>,
) -> Response {
    fetch_reservation(&shared, &uri, ws, Via::Worker, wk, wr)
}

async fn update_task_reservation(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wt, wr)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    update_reservation(&shared, &uri, (ws, Via::Task, wt, wr), &headers, &body)
}

async fn update_worker_reservation(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wk, wr)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    update_reservation(&shared, &uri, (ws, Via::Worker, wk, wr), &headers, &body)
}
