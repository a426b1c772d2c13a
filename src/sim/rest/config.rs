//! REST handlers for configuring a Workspace: create and delete Workspaces (with
//! `Template=FIFO`), and create / update / delete of Activities, TaskChannels, TaskQueues and
//! Workflows, and deleting Workers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::super::json::Render;
use super::super::state::{Fail, NewWorkspace, QueueInput, WorkflowChanges, World};
use super::{Authed, SharedState, answer, check_if_match, fail, field, flag, form, if_match};

/// Runs a delete under the lock: 204 on success.
fn deleted(
    shared: &std::sync::Arc<super::Shared>,
    uri: &Uri,
    f: impl FnOnce(&mut World) -> Result<(), Fail>,
) -> Response {
    match shared.with_world(f) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => fail(failure, uri.path()),
    }
}

// ---------------------------------------------------------------------------------------------
// Workspaces

pub async fn create_workspace(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::CREATED, |world, base| {
        let state = world.create_workspace(NewWorkspace {
            friendly_name: field(&params, "FriendlyName"),
            event_callback_url: field(&params, "EventCallbackUrl"),
            events_filter: field(&params, "EventsFilter"),
            template: field(&params, "Template"),
        })?;
        Ok(Render { state, base }.workspace())
    })
}

pub async fn delete_workspace(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
) -> Response {
    deleted(&shared, &uri, |world| world.delete_workspace(&ws))
}

// ---------------------------------------------------------------------------------------------
// Activities

pub async fn create_activity(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::CREATED, |world, base| {
        let state = world.get(&ws)?;
        let sid =
            state.create_activity(field(&params, "FriendlyName"), flag(&params, "Available"))?;
        let activity = state.activity(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.activity(activity))
    })
}

pub async fn update_activity(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        state.update_activity(&sid, field(&params, "FriendlyName"))?;
        let activity = state.activity(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.activity(activity))
    })
}

pub async fn delete_activity(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    deleted(&shared, &uri, |world| world.get(&ws)?.delete_activity(&sid))
}

// ---------------------------------------------------------------------------------------------
// TaskChannels

pub async fn create_channel(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::CREATED, |world, base| {
        let state = world.get(&ws)?;
        let sid = state.create_channel(
            field(&params, "FriendlyName"),
            field(&params, "UniqueName"),
            flag(&params, "ChannelOptimizedRouting"),
        )?;
        let index = state.channel_index(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.channel(&state.channels[index]))
    })
}

pub async fn update_channel(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let index = state.update_channel(
            &sid,
            field(&params, "FriendlyName"),
            flag(&params, "ChannelOptimizedRouting"),
        )?;
        Ok(Render { state, base }.channel(&state.channels[index]))
    })
}

pub async fn delete_channel(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    deleted(&shared, &uri, |world| world.get(&ws)?.delete_channel(&sid))
}

// ---------------------------------------------------------------------------------------------
// TaskQueues

fn queue_input(params: &[(String, String)]) -> QueueInput {
    QueueInput {
        friendly_name: field(params, "FriendlyName"),
        target_workers: field(params, "TargetWorkers"),
        max_reserved_workers: field(params, "MaxReservedWorkers"),
        task_order: field(params, "TaskOrder"),
        reservation_activity_sid: field(params, "ReservationActivitySid"),
        assignment_activity_sid: field(params, "AssignmentActivitySid"),
    }
}

pub async fn create_queue(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::CREATED, |world, base| {
        let state = world.get(&ws)?;
        let sid = state.create_queue(queue_input(&params))?;
        let queue = state.queue(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.queue(queue))
    })
}

pub async fn update_queue(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        state.update_queue(&sid, queue_input(&params))?;
        let queue = state.queue(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.queue(queue))
    })
}

pub async fn delete_queue(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    deleted(&shared, &uri, |world| world.get(&ws)?.delete_queue(&sid))
}

// ---------------------------------------------------------------------------------------------
// Workflows and Workers

pub async fn create_workflow(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path(ws): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::CREATED, |world, base| {
        let default_timeout = world.reservation_timeout;
        let state = world.get(&ws)?;
        let sid = state.create_workflow(
            WorkflowChanges {
                friendly_name: field(&params, "FriendlyName"),
                assignment_callback_url: field(&params, "AssignmentCallbackUrl"),
                fallback_assignment_callback_url: field(&params, "FallbackAssignmentCallbackUrl"),
                task_reservation_timeout: field(&params, "TaskReservationTimeout"),
                configuration: field(&params, "Configuration"),
                re_evaluate_tasks: false,
            },
            default_timeout,
        )?;
        let workflow = state.workflow(&sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.workflow(workflow))
    })
}

pub async fn delete_workflow(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
) -> Response {
    deleted(&shared, &uri, |world| world.get(&ws)?.delete_workflow(&sid))
}

pub async fn delete_worker(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let wanted = if_match(&headers);
    deleted(&shared, &uri, |world| {
        let state = world.get(&ws)?;
        let wi = state.worker_index(&sid).ok_or(Fail::NotFound)?;
        check_if_match(wanted.as_deref(), state.workers[wi].version)?;
        state.delete_worker(&sid)
    })
}

// ---------------------------------------------------------------------------------------------
// Worker Channels

pub async fn list_worker_channels(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wk)): Path<(String, String)>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    super::list(&shared, &uri, raw, "channels", |world, base, _| {
        let state = world.get(&ws)?;
        let wi = state.worker_index(&wk).ok_or(Fail::NotFound)?;
        let render = Render { state, base };
        Ok(state
            .worker_channels(wi)
            .iter()
            .map(|c| render.worker_channel(c))
            .collect())
    })
}

pub async fn fetch_worker_channel(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wk, sid)): Path<(String, String, String)>,
) -> Response {
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let wi = state.worker_index(&wk).ok_or(Fail::NotFound)?;
        let index = state.worker_channel_index(wi, &sid).ok_or(Fail::NotFound)?;
        Ok(Render { state, base }.worker_channel(&state.worker_channels(wi)[index]))
    })
}

pub async fn update_worker_channel(
    _: Authed,
    State(shared): SharedState,
    uri: Uri,
    Path((ws, wk, sid)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    answer(&shared, &uri, StatusCode::OK, |world, base| {
        let state = world.get(&ws)?;
        let wi = state.worker_index(&wk).ok_or(Fail::NotFound)?;
        let index = state.worker_channel_index(wi, &sid).ok_or(Fail::NotFound)?;
        state.update_worker_channel(
            wi,
            index,
            field(&params, "Capacity").as_deref(),
            flag(&params, "Available"),
        )?;
        Ok(Render { state, base }.worker_channel(&state.worker_channels(wi)[index]))
    })
}
