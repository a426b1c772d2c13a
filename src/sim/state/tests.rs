//! Unit tests of the lifecycle rules on a seeded state (no I/O).

use super::*;
use reservation_status as rs;

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const EVENTS: &str = "http://127.0.0.1:9/events";
const ASSIGN: &str = "http://127.0.0.1:9/assignment";

fn seeded() -> (State, Seeded) {
    State::seed(
        AC.into(),
        Duration::from_secs(120),
        Some(ASSIGN.into()),
        Some(EVENTS.into()),
    )
}

fn event_types(state: &mut State) -> Vec<String> {
    state
        .outbox
        .drain(..)
        .map(|o| match o {
            Outgoing::Event { params, .. } => params[0].1.clone(),
            Outgoing::Assignment { .. } => "ASSIGNMENT".into(),
            Outgoing::Stream { .. } => "STREAM".into(),
        })
        .collect()
}

fn task(state: &mut State, attributes: &str) -> String {
    state
        .create_task(NewTask {
            attributes: Some(attributes.into()),
            ..NewTask::default()
        })
        .unwrap()
}

fn pending_reservation(state: &State, task: &str) -> String {
    state
        .reservations
        .iter()
        .find(|r| r.task_sid == task && r.status == rs::PENDING)
        .map(|r| r.sid.clone())
        .expect("a pending reservation")
}

fn activity_of(state: &State, worker: &str) -> String {
    let wi = state.worker_index(worker).unwrap();
    state.activity_name(&state.workers[wi].activity_sid)
}

#[test]
fn quickstart_task_reserves_alice_and_accept_makes_her_busy() {
    let (mut state, seeded) = seeded();
    let wt = task(&mut state, r#"{"selected_language":"es"}"#);
    assert_eq!(
        event_types(&mut state),
        [
            "task.created",
            "workflow.entered",
            "workflow.target-matched",
            "task-queue.entered",
            "reservation.created",
            "worker.activity.update",
            "ASSIGNMENT"
        ]
    );
    let ti = state.task_index(&wt).unwrap();
    assert_eq!(state.tasks[ti].status, TaskStatus::Reserved);
    assert_eq!(
        state.tasks[ti].queue_sid.as_deref(),
        Some(seeded.spanish_queue.as_str())
    );
    assert_eq!(activity_of(&state, &seeded.alice), "Reserved");
    let wr = pending_reservation(&state, &wt);
    // The task's TTL and the reservation's timeout.
    let timers: Vec<&str> = state
        .new_timers
        .iter()
        .map(|(sid, _)| sid.as_str())
        .collect();
    assert_eq!(timers, [wt.as_str(), wr.as_str()]);

    state
        .update_reservation(&wr, Some("accepted"), None)
        .unwrap();
    assert_eq!(
        event_types(&mut state),
        ["reservation.accepted", "worker.activity.update"]
    );
    assert_eq!(state.tasks[ti].status, TaskStatus::Assigned);
    assert_eq!(activity_of(&state, &seeded.alice), "Busy");
    assert_eq!(state.ended_timers, std::slice::from_ref(&wr));

    let again = state.update_reservation(&wr, Some("accepted"), None);
    assert_eq!(
        again,
        Err(Fail::Invalid(format!(
            "Reservation {wr} is already in state [accepted] and cannot be updated to [accepted]"
        )))
    );

    state
        .update_task(
            &wt,
            TaskChanges {
                assignment_status: Some("completed".into()),
                reason: Some("done".into()),
                ..TaskChanges::default()
            },
        )
        .unwrap();
    assert_eq!(
        event_types(&mut state),
        ["task.completed", "reservation.completed"]
    );
    assert_eq!(activity_of(&state, &seeded.alice), "Busy", "kept");
}

#[test]
fn assignment_callback_carries_every_documented_parameter() {
    let (mut state, _) = seeded();
    task(&mut state, r#"{"selected_language":"es"}"#);
    let assignment = state
        .outbox
        .iter()
        .find_map(|o| match o {
            Outgoing::Assignment { params, url, .. } => Some((url.clone(), params.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(assignment.0, ASSIGN);
    let names: Vec<&str> = assignment.1.iter().map(|(k, _)| k.as_str()).collect();
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
    assert!(assignment.1.iter().all(|(_, v)| !v.is_empty()));
}

#[test]
fn reject_moves_the_worker_and_offers_the_task_to_someone_else() {
    let (mut state, seeded) = seeded();
    state
        .update_worker(
            &seeded.bob,
            WorkerChanges {
                activity_sid: Some(seeded.idle.clone()),
                ..WorkerChanges::default()
            },
        )
        .unwrap();
    // Bob has been idle for less time than Alice, so Alice gets the English task first.
    let wt = task(&mut state, r#"{"selected_language":"en"}"#);
    let first = pending_reservation(&state, &wt);
    assert_eq!(
        state.reservations[state.reservation_index(&first).unwrap()].worker_sid,
        seeded.alice
    );
    state.outbox.clear();
    state
        .update_reservation(&first, Some("rejected"), Some(&seeded.offline))
        .unwrap();
    assert_eq!(
        event_types(&mut state),
        [
            "reservation.rejected",
            "worker.activity.update",
            "reservation.created",
            "worker.activity.update",
            "ASSIGNMENT"
        ]
    );
    assert_eq!(activity_of(&state, &seeded.alice), "Offline");
    let second = pending_reservation(&state, &wt);
    assert_eq!(
        state.reservations[state.reservation_index(&second).unwrap()].worker_sid,
        seeded.bob
    );
}

#[test]
fn reject_without_activity_restores_the_previous_one_and_never_reoffers() {
    let (mut state, seeded) = seeded();
    let wt = task(&mut state, r#"{"selected_language":"es"}"#);
    let wr = pending_reservation(&state, &wt);
    state
        .update_reservation(&wr, Some("rejected"), None)
        .unwrap();
    assert_eq!(activity_of(&state, &seeded.alice), "Idle");
    let ti = state.task_index(&wt).unwrap();
    assert_eq!(
        state.tasks[ti].status,
        TaskStatus::Pending,
        "nobody else speaks es"
    );
    assert!(state.reservations.iter().all(|r| r.status != rs::PENDING));
    // A new task still reaches Alice.
    let other = task(&mut state, r#"{"selected_language":"es"}"#);
    pending_reservation(&state, &other);
}

#[test]
fn timeout_sends_the_worker_to_the_timeout_activity_and_becoming_idle_reroutes() {
    let (mut state, seeded) = seeded();
    let wt = task(&mut state, r#"{"selected_language":"es"}"#);
    let wr = pending_reservation(&state, &wt);
    state.outbox.clear();
    state.timeout_reservation(&wr);
    assert_eq!(
        event_types(&mut state),
        ["reservation.timeout", "worker.activity.update"]
    );
    assert_eq!(activity_of(&state, &seeded.alice), "Offline");
    state.timeout_reservation(&wr);
    assert!(state.outbox.is_empty(), "a second firing does nothing");
    state
        .update_worker(
            &seeded.alice,
            WorkerChanges {
                activity_sid: Some(seeded.idle.clone()),
                ..WorkerChanges::default()
            },
        )
        .unwrap();
    assert_ne!(pending_reservation(&state, &wt), wr);
}

#[test]
fn cancel_and_complete_check_the_task_state() {
    let (mut state, seeded) = seeded();
    let wt = task(&mut state, r#"{"selected_language":"es"}"#);
    let complete = |state: &mut State| {
        state.update_task(
            &wt,
            TaskChanges {
                assignment_status: Some("completed".into()),
                ..TaskChanges::default()
            },
        )
    };
    assert!(matches!(complete(&mut state), Err(Fail::Invalid(m)) if m.contains("not assigned")));
    state.outbox.clear();
    state
        .update_task(
            &wt,
            TaskChanges {
                assignment_status: Some("canceled".into()),
                reason: Some("caller hung up".into()),
                ..TaskChanges::default()
            },
        )
        .unwrap();
    let outbox = std::mem::take(&mut state.outbox);
    let canceled = outbox
        .iter()
        .find_map(|o| match o {
            Outgoing::Event { params, .. } if params[0].1 == "task.canceled" => Some(params),
            _ => None,
        })
        .unwrap();
    assert!(canceled.contains(&("TaskCanceledReason".into(), "caller hung up".into())));
    assert_eq!(activity_of(&state, &seeded.alice), "Idle", "released");
    let cancel_again = state.update_task(
        &wt,
        TaskChanges {
            assignment_status: Some("canceled".into()),
            ..TaskChanges::default()
        },
    );
    assert!(
        matches!(cancel_again, Err(Fail::Invalid(m)) if m.starts_with(&format!("Cannot cancel task {wt} in workspace")))
    );
}

#[test]
fn events_filter_and_missing_url_limit_event_callbacks() {
    let (mut state, _) = seeded();
    state
        .update_workspace(WorkspaceChanges {
            events_filter: Some("task.created, reservation.created".into()),
            ..WorkspaceChanges::default()
        })
        .unwrap();
    state.outbox.clear();
    task(&mut state, "{}");
    assert_eq!(
        event_types(&mut state),
        ["task.created", "reservation.created", "ASSIGNMENT"]
    );
    state
        .update_workspace(WorkspaceChanges {
            event_callback_url: Some(String::new()),
            ..WorkspaceChanges::default()
        })
        .unwrap();
    task(&mut state, "{}");
    assert!(event_types(&mut state).is_empty(), "no worker, no URL");
}

#[test]
fn bad_input_is_refused_before_anything_changes() {
    let (mut state, seeded) = seeded();
    for bad in ["[1]", "not json", "\"s\""] {
        assert!(
            state
                .create_task(NewTask {
                    attributes: Some(bad.into()),
                    ..NewTask::default()
                })
                .is_err()
        );
    }
    assert!(
        state
            .create_task(NewTask {
                priority: Some("-1".into()),
                ..NewTask::default()
            })
            .is_err()
    );
    assert!(
        state
            .update_worker(
                &seeded.alice,
                WorkerChanges {
                    activity_sid: Some("WAnope".into()),
                    attributes: Some("{}".into()),
                    ..WorkerChanges::default()
                },
            )
            .is_err()
    );
    assert_eq!(state.workers[0].version, 0, "attributes untouched");
    assert_eq!(
        state.update_workflow("WWnope", WorkflowChanges::default()),
        Err(Fail::NotFound)
    );
    let wf = state.workflows[0].sid.clone();
    for (timeout, ok) in [("0", false), ("86401", false), ("x", false), ("30", true)] {
        let result = state.update_workflow(
            &wf,
            WorkflowChanges {
                task_reservation_timeout: Some(timeout.into()),
                ..WorkflowChanges::default()
            },
        );
        assert_eq!(result.is_ok(), ok, "{timeout}");
    }
    assert!(
        state
            .update_workflow(
                &wf,
                WorkflowChanges {
                    configuration: Some(r#"{"task_routing":{"filters":[{"expression":"a ==","targets":[{"queue":"WQx"}]}]}}"#.into()),
                    ..WorkflowChanges::default()
                },
            )
            .is_err()
    );
    assert!(
        state
            .update_workspace(WorkspaceChanges {
                event_callback_url: Some("ftp://x".into()),
                ..WorkspaceChanges::default()
            })
            .is_err()
    );
}

#[test]
fn sids_are_prefix_plus_32_lowercase_hex() {
    let sid = new_sid("WT");
    assert!(crate::taskrouter::sid::is_sid(&sid, "WT"));
    assert!(
        sid[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    );
    assert_eq!(
        iso(time::macros::datetime!(2026-11-28 10:50:02 UTC)),
        "2026-11-28T10:50:02Z"
    );
    assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
}
