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
    let timers: Vec<&Timer> = state.new_timers.iter().map(|(timer, _)| timer).collect();
    assert_eq!(
        timers,
        [&Timer::TaskTtl(wt.clone()), &Timer::Reservation(wr.clone())]
    );

    state
        .update_reservation(&wr, Some("accepted"), None)
        .unwrap();
    assert_eq!(
        event_types(&mut state),
        ["reservation.accepted", "worker.activity.update"]
    );
    assert_eq!(state.tasks[ti].status, TaskStatus::Assigned);
    assert_eq!(activity_of(&state, &seeded.alice), "Busy");
    assert_eq!(state.ended_timers, [Timer::Reservation(wr.clone())]);

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

// ---------------------------------------------------------------------------------------------
// Workflow routing steps: timeouts, escalation, skip_if, order_by, priority

/// A queue every worker with `language` in `languages` belongs to.
fn language_queue(state: &mut State, name: &str, language: &str) -> String {
    state
        .create_queue(QueueInput {
            friendly_name: Some(name.into()),
            target_workers: Some(format!(r#"languages HAS "{language}""#)),
            ..QueueInput::default()
        })
        .unwrap()
}

fn idle_worker(state: &mut State, name: &str, attributes: &str, idle: &str) -> String {
    state
        .create_worker(NewWorker {
            friendly_name: Some(name.into()),
            activity_sid: Some(idle.into()),
            attributes: Some(attributes.into()),
        })
        .unwrap()
}

/// Replaces the seeded Workflow's configuration.
fn configure(state: &mut State, configuration: serde_json::Value) {
    let wf = state.workflows[0].sid.clone();
    state
        .update_workflow(
            &wf,
            WorkflowChanges {
                configuration: Some(configuration.to_string()),
                ..WorkflowChanges::default()
            },
        )
        .unwrap();
    state.outbox.clear();
}

fn step_timer(task: &str, seq: u64) -> Timer {
    Timer::Step {
        task_sid: task.to_owned(),
        seq,
    }
}

fn reservation_of<'a>(state: &'a State, sid: &str) -> &'a Reservation {
    &state.reservations[state.reservation_index(sid).unwrap()]
}

fn queue_of(state: &State, task: &str) -> Option<String> {
    state.tasks[state.task_index(task).unwrap()]
        .queue_sid
        .clone()
}

#[test]
fn workflow_configuration_reads_every_step_and_refuses_bad_ones() {
    let known = |q: &str| q == "WQa" || q == "WQb";
    let (filters, default) = routing::routing(
        &serde_json::json!({"task_routing": {
            "filters": [{
                "filter_friendly_name": "Tiered",
                "expression": "type == \"support\"",
                "targets": [
                    {"queue": "WQa", "timeout": 10, "priority": 5, "order_by": "worker.level DESC, support", "skip_if": "workers.available == 0", "known_worker_sid": "task.agent"},
                    {"timeout": "20", "expression": "worker.level > 2"},
                    {"queue": "WQb"}
                ]
            }],
            "default_filter": {"queue": "WQb"}
        }})
        .to_string(),
        known,
    )
    .unwrap();
    let steps = &filters[0].targets;
    assert_eq!(steps.len(), 3);
    assert_eq!(
        (
            steps[0].timeout,
            steps[0].priority,
            steps[0].skip_if.is_some()
        ),
        (Some(10), Some(5), true)
    );
    assert_eq!(
        steps[0].order_by,
        [
            OrderBy {
                path: vec!["level".into()],
                descending: true
            },
            OrderBy {
                path: vec!["support".into()],
                descending: false
            }
        ]
    );
    // A step naming no queue stays in the queue of the step before (Twilio's example).
    assert_eq!(
        (steps[1].queue_sid.as_str(), steps[1].timeout),
        ("WQa", Some(20))
    );
    assert!(steps[1].expression.is_some());
    assert_eq!(steps[2].timeout, None);
    assert_eq!(default.unwrap().queue_sid, "WQb");

    for (target, why) in [
        (r#"{"timeout": 10}"#, "has no queue"),
        (r#"{"queue": "WQz"}"#, "does not exist"),
        (r#"{"queue": 7}"#, "queue must be a TaskQueue SID"),
        (
            r#"{"queue": "WQa", "timeout": 0}"#,
            "timeout must be an integer from 1",
        ),
        (
            r#"{"queue": "WQa", "timeout": "soon"}"#,
            "timeout must be an integer",
        ),
        (
            r#"{"queue": "WQa", "timeout": 1.5}"#,
            "timeout must be an integer",
        ),
        (
            r#"{"queue": "WQa", "priority": -1}"#,
            "priority must be an integer from 0",
        ),
        (
            r#"{"queue": "WQa", "order_by": "worker.level SIDEWAYS"}"#,
            "order_by",
        ),
        (
            r#"{"queue": "WQa", "order_by": "worker.lev-el"}"#,
            "is not an attribute name",
        ),
        (r#"{"queue": "WQa", "order_by": ","}"#, "an empty clause"),
        (
            r#"{"queue": "WQa", "skip_if": "workers.available =="}"#,
            "skip_if",
        ),
        (
            r#"{"queue": "WQa", "skip_if": 1}"#,
            "skip_if must be a string",
        ),
        (r#""WQa""#, "must be an object"),
    ] {
        let configuration = format!(
            r#"{{"task_routing":{{"filters":[{{"expression":"1==1","targets":[{target}]}}]}}}}"#
        );
        match routing::routing(&configuration, known) {
            Err(Fail::Invalid(message)) => assert!(
                message.starts_with("Invalid Workflow Configuration: filter 0 target 0")
                    && message.contains(why),
                "{target}: {message}"
            ),
            other => panic!("{target}: {:?}", other.map(|_| ())),
        }
    }
    let empty = r#"{"task_routing":{"filters":[{"expression":"1==1","targets":[]}]}}"#;
    assert!(routing::routing(empty, known).is_err());
}

#[test]
fn a_task_not_accepted_in_its_step_moves_on_and_leaves_the_workflow_after_the_last() {
    let (mut state, seeded) = seeded();
    let french = language_queue(&mut state, "French", "fr");
    let chloe = idle_worker(&mut state, "Chloe", r#"{"languages":["fr"]}"#, &seeded.idle);
    configure(
        &mut state,
        serde_json::json!({"task_routing": {"filters": [{
            "filter_friendly_name": "Escalating",
            "expression": "1==1",
            "targets": [
                {"queue": seeded.spanish_queue, "timeout": 2},
                {"queue": french, "timeout": 3}
            ]
        }]}}),
    );
    let wt = task(&mut state, "{}");
    let first = pending_reservation(&state, &wt);
    assert_eq!(reservation_of(&state, &first).worker_sid, seeded.alice);
    let timer = |state: &State, key: Timer| {
        state
            .new_timers
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d.as_secs())
    };
    // Deadlines count on the task's age: 2 s, then 2 + 3 s.
    assert!(timer(&state, step_timer(&wt, 0)).is_some_and(|s| s <= 2));
    state.new_timers.clear(); // started, as `Shared::flush` does
    event_types(&mut state);

    state.step_timeout(&wt, 0);
    assert_eq!(
        event_types(&mut state),
        [
            "reservation.rescinded",
            "worker.activity.update",
            "task-queue.timeout",
            "workflow.target-matched",
            "task-queue.moved",
            "reservation.created",
            "ASSIGNMENT",
        ]
    );
    assert_eq!(reservation_of(&state, &first).status, rs::RESCINDED);
    assert_eq!(activity_of(&state, &seeded.alice), "Idle");
    assert_eq!(queue_of(&state, &wt), Some(french.clone()));
    let second = pending_reservation(&state, &wt);
    assert_eq!(reservation_of(&state, &second).worker_sid, chloe);
    assert!(timer(&state, step_timer(&wt, 1)).is_some_and(|s| (4..=5).contains(&s)));
    state.new_timers.clear();

    // A timer of a step the task has left changes nothing.
    state.step_timeout(&wt, 0);
    assert_eq!(event_types(&mut state), Vec::<String>::new());

    state.step_timeout(&wt, 1);
    assert_eq!(
        event_types(&mut state),
        [
            "reservation.canceled",
            "task-queue.timeout",
            "workflow.timeout",
            "task.canceled",
        ]
    );
    let ti = state.task_index(&wt).unwrap();
    assert_eq!(state.tasks[ti].status, TaskStatus::Canceled);
    assert_eq!(state.tasks[ti].reason.as_deref(), Some("Workflow Timeout"));
    assert_eq!(reservation_of(&state, &second).status, rs::CANCELED);
    assert!(state.ended_timers.contains(&step_timer(&wt, 1)));
}

#[test]
fn an_accepted_task_ignores_its_step_timeout_and_a_fitting_reservation_is_kept() {
    let (mut state, seeded) = seeded();
    let english = state.queues[1].sid.clone();
    configure(
        &mut state,
        serde_json::json!({"task_routing": {"filters": [{
            "expression": "1==1",
            "targets": [
                {"queue": seeded.spanish_queue, "timeout": 2},
                {"queue": english, "timeout": 2},
                {"queue": english}
            ]
        }]}}),
    );
    let wt = task(&mut state, "{}");
    let wr = pending_reservation(&state, &wt);
    event_types(&mut state);
    // Alice speaks English too: her reservation stays through the move.
    state.step_timeout(&wt, 0);
    assert_eq!(
        event_types(&mut state),
        [
            "task-queue.timeout",
            "workflow.target-matched",
            "task-queue.moved"
        ]
    );
    assert_eq!(reservation_of(&state, &wr).status, rs::PENDING);
    // Same queue, next step: no queue events.
    state.step_timeout(&wt, 1);
    assert_eq!(event_types(&mut state), ["workflow.target-matched"]);
    state
        .update_reservation(&wr, Some("accepted"), None)
        .unwrap();
    // The timers of the steps left were ended (never started, here); the last step has
    // none.
    assert!(
        !state
            .new_timers
            .iter()
            .any(|(k, _)| matches!(k, Timer::Step { task_sid, .. } if *task_sid == wt))
    );
    event_types(&mut state);
    state.step_timeout(&wt, 2);
    assert_eq!(event_types(&mut state), Vec::<String>::new());
    assert_eq!(
        state.tasks[state.task_index(&wt).unwrap()].status,
        TaskStatus::Assigned
    );
}

#[test]
fn skip_if_skips_a_step_nobody_can_take_and_out_of_the_workflow_at_the_end() {
    let (mut state, seeded) = seeded();
    let english = state.queues[1].sid.clone();
    let offline = seeded.offline.clone();
    configure(
        &mut state,
        serde_json::json!({"task_routing": {"filters": [{
            "expression": "1==1",
            "targets": [
                {"queue": seeded.spanish_queue, "skip_if": "workers.available == 0", "timeout": 30},
                {"queue": english, "skip_if": format!("workers.{offline} > 1")}
            ]
        }]}}),
    );
    // Alice (idle) is offered the task at once: skip_if is not even looked at.
    let reserved = task(&mut state, "{}");
    assert_eq!(
        queue_of(&state, &reserved),
        Some(seeded.spanish_queue.clone())
    );
    pending_reservation(&state, &reserved);

    // With Alice offline nobody in the Spanish queue is available: on to English, where
    // one worker (Bob) is offline — not more than 1, so it waits there.
    let (mut state, seeded) = self::seeded();
    let english = state.queues[1].sid.clone();
    state
        .update_worker(
            &seeded.alice,
            WorkerChanges {
                activity_sid: Some(seeded.offline.clone()),
                ..WorkerChanges::default()
            },
        )
        .unwrap();
    configure(
        &mut state,
        serde_json::json!({"task_routing": {"filters": [{
            "expression": "1==1",
            "targets": [
                {"queue": seeded.spanish_queue, "skip_if": "workers.available == 0", "timeout": 30},
                {"queue": english, "skip_if": format!("workers.{} > 2", seeded.offline)}
            ]
        }]}}),
    );
    let waiting = task(&mut state, "{}");
    assert_eq!(
        event_types(&mut state),
        [
            "task.created",
            "workflow.entered",
            "workflow.target-matched",
            "task-queue.entered",
            "workflow.target-matched",
            "task-queue.moved",
        ]
    );
    assert_eq!(queue_of(&state, &waiting), Some(english.clone()));
    // The skipped step's 30 s do not count: the waiting step has no timer, and the
    // skipped one's was never started.
    assert!(
        !state
            .new_timers
            .iter()
            .any(|(k, _)| matches!(k, Timer::Step { task_sid, .. } if *task_sid == waiting))
    );
    configure(
        &mut state,
        serde_json::json!({"task_routing": {"filters": [{
            "expression": "1==1",
            "targets": [
                {"queue": seeded.spanish_queue, "skip_if": "workers.available == 0", "timeout": 30},
                {"queue": english, "timeout": 2}
            ]
        }]}}),
    );
    let timed = task(&mut state, "{}");
    let timers: Vec<(Timer, u64)> = state
        .new_timers
        .iter()
        .filter(|(k, _)| matches!(k, Timer::Step { task_sid, .. } if *task_sid == timed))
        .map(|(k, d)| (k.clone(), d.as_secs()))
        .collect();
    assert!(
        matches!(timers.as_slice(), [(key, secs)] if *key == step_timer(&timed, 1) && *secs <= 2),
        "{timers:?}"
    );

    // Skipping a filter's last step is as if it had not matched: the default filter next,
    // and out of the Workflow when there is nothing after.
    configure(
        &mut state,
        serde_json::json!({"task_routing": {
            "filters": [{"expression": "1==1", "targets": [{"queue": seeded.spanish_queue, "skip_if": "1==1"}]}],
            "default_filter": {"queue": english}
        }}),
    );
    let defaulted = task(&mut state, "{}");
    assert_eq!(queue_of(&state, &defaulted), Some(english.clone()));
    configure(
        &mut state,
        serde_json::json!({"task_routing": {
            "filters": [{"expression": "1==1", "targets": [{"queue": seeded.spanish_queue, "skip_if": "1==1"}]}]
        }}),
    );
    let skipped = task(&mut state, "{}");
    let types = event_types(&mut state);
    assert_eq!(
        types[types.len() - 2..],
        ["workflow.skipped".to_owned(), "task.canceled".to_owned()]
    );
    let ti = state.task_index(&skipped).unwrap();
    assert_eq!(
        (state.tasks[ti].status, state.tasks[ti].reason.as_deref()),
        (TaskStatus::Canceled, Some("Workflow Skipped"))
    );
}

#[test]
fn order_by_picks_the_worker_and_a_step_priority_goes_first() {
    let (mut state, seeded) = seeded();
    let everyone = state
        .create_queue(QueueInput {
            friendly_name: Some("Everyone".into()),
            target_workers: Some("1==1".into()),
            ..QueueInput::default()
        })
        .unwrap();
    // Alice (no level) has been available longest; then Dora (3), Eve (7).
    let dora = idle_worker(&mut state, "Dora", r#"{"level":3}"#, &seeded.idle);
    let eve = idle_worker(&mut state, "Eve", r#"{"level":7}"#, &seeded.idle);
    for (order, expected) in [
        ("worker.level DESC", &eve),
        ("worker.level ASC", &dora),
        ("worker.missing DESC", &seeded.alice),
    ] {
        configure(
            &mut state,
            serde_json::json!({"task_routing": {"filters": [{
                "expression": "1==1",
                "targets": [{"queue": everyone, "order_by": order}]
            }]}}),
        );
        let wt = task(&mut state, "{}");
        let wr = pending_reservation(&state, &wt);
        assert_eq!(&reservation_of(&state, &wr).worker_sid, expected, "{order}");
        state
            .update_task(
                &wt,
                TaskChanges {
                    assignment_status: Some("canceled".into()),
                    ..TaskChanges::default()
                },
            )
            .unwrap();
    }

    // Nobody available: the tasks wait. "vip" tasks get priority 10 from their step.
    let (mut state, seeded) = self::seeded();
    let english = state.queues[1].sid.clone();
    state
        .update_worker(
            &seeded.alice,
            WorkerChanges {
                activity_sid: Some(seeded.offline.clone()),
                ..WorkerChanges::default()
            },
        )
        .unwrap();
    configure(
        &mut state,
        serde_json::json!({"task_routing": {"filters": [
            {"expression": "vip == true", "targets": [{"queue": english, "priority": 10}]},
            {"expression": "1==1", "targets": [{"queue": english}]}
        ]}}),
    );
    let older = task(&mut state, "{}");
    let vip = task(&mut state, r#"{"vip":true}"#);
    let newer = task(&mut state, "{}");
    let priority = |state: &State, wt: &str| state.tasks[state.task_index(wt).unwrap()].priority;
    assert_eq!((priority(&state, &older), priority(&state, &vip)), (0, 10));
    let mut order = Vec::new();
    for _ in 0..3 {
        state
            .update_worker(
                &seeded.bob,
                WorkerChanges {
                    activity_sid: Some(seeded.idle.clone()),
                    ..WorkerChanges::default()
                },
            )
            .unwrap();
        let wr = state
            .reservations
            .iter()
            .find(|r| r.status == rs::PENDING)
            .expect("Bob is offered the next task")
            .sid
            .clone();
        order.push(reservation_of(&state, &wr).task_sid.clone());
        state
            .update_reservation(&wr, Some("accepted"), None)
            .unwrap();
        let done = order.last().unwrap().clone();
        for status in ["wrapping", "completed"] {
            state
                .update_task(
                    &done,
                    TaskChanges {
                        assignment_status: Some(status.into()),
                        ..TaskChanges::default()
                    },
                )
                .unwrap();
        }
        state
            .update_worker(
                &seeded.bob,
                WorkerChanges {
                    activity_sid: Some(seeded.offline.clone()),
                    ..WorkerChanges::default()
                },
            )
            .unwrap();
    }
    assert_eq!(order, [vip, older, newer]);
}

#[test]
fn max_reserved_workers_offers_the_task_to_several_and_the_first_accept_rescinds_the_rest() {
    let (mut state, seeded) = seeded();
    let everyone = state
        .create_queue(QueueInput {
            friendly_name: Some("Everyone".into()),
            target_workers: Some("1==1".into()),
            max_reserved_workers: Some("3".into()),
            ..QueueInput::default()
        })
        .unwrap();
    let carol = idle_worker(&mut state, "Carol", "{}", &seeded.idle);
    state
        .update_worker(
            &seeded.bob,
            WorkerChanges {
                activity_sid: Some(seeded.idle.clone()),
                ..WorkerChanges::default()
            },
        )
        .unwrap();
    configure(
        &mut state,
        serde_json::json!({"task_routing": {"filters": [], "default_filter": {"queue": everyone}}}),
    );
    let wt = task(&mut state, "{}");
    let offered: Vec<String> = state
        .reservations
        .iter()
        .filter(|r| r.task_sid == wt && r.status == rs::PENDING)
        .map(|r| r.worker_sid.clone())
        .collect();
    assert_eq!(offered.len(), 3, "{offered:?}");
    let of = |state: &State, worker: &str| {
        state
            .reservations
            .iter()
            .find(|r| r.task_sid == wt && r.worker_sid == worker)
            .map(|r| r.sid.clone())
            .unwrap()
    };
    let status = |state: &State| state.tasks[state.task_index(&wt).unwrap()].status;

    // Alice rejects: Bob and Carol still hold offers, so the task stays reserved.
    let alice = of(&state, &seeded.alice);
    state
        .update_reservation(&alice, Some("rejected"), None)
        .unwrap();
    assert_eq!(status(&state), TaskStatus::Reserved);
    event_types(&mut state);

    // Carol accepts: Bob's offer is rescinded and he is back where he was.
    let (bob, carol) = (of(&state, &seeded.bob), of(&state, &carol));
    state
        .update_reservation(&carol, Some("accepted"), None)
        .unwrap();
    assert_eq!(status(&state), TaskStatus::Assigned);
    assert_eq!(reservation_of(&state, &bob).status, rs::RESCINDED);
    assert_eq!(activity_of(&state, &seeded.bob), "Idle");
    let types = event_types(&mut state);
    assert_eq!(
        types[..2],
        [
            "reservation.accepted".to_owned(),
            "reservation.rescinded".to_owned()
        ]
    );
}

#[test]
fn re_evaluate_tasks_routes_waiting_tasks_through_the_new_configuration() {
    let (mut state, seeded) = seeded();
    let english = state.queues[1].sid.clone();
    state
        .update_worker(
            &seeded.alice,
            WorkerChanges {
                activity_sid: Some(seeded.offline.clone()),
                ..WorkerChanges::default()
            },
        )
        .unwrap();
    let waiting = task(&mut state, r#"{"selected_language":"es"}"#);
    assert_eq!(
        queue_of(&state, &waiting),
        Some(seeded.spanish_queue.clone())
    );
    let everything_english = serde_json::json!({"task_routing": {
        "filters": [], "default_filter": {"queue": english}
    }})
    .to_string();
    let wf = state.workflows[0].sid.clone();
    // Without ReEvaluateTasks the waiting task keeps its step.
    state
        .update_workflow(
            &wf,
            WorkflowChanges {
                configuration: Some(everything_english.clone()),
                ..WorkflowChanges::default()
            },
        )
        .unwrap();
    assert_eq!(
        queue_of(&state, &waiting),
        Some(seeded.spanish_queue.clone())
    );
    event_types(&mut state);
    state
        .update_workflow(
            &wf,
            WorkflowChanges {
                re_evaluate_tasks: true,
                ..WorkflowChanges::default()
            },
        )
        .unwrap();
    assert_eq!(queue_of(&state, &waiting), Some(english));
    assert_eq!(
        event_types(&mut state),
        [
            "workflow.updated",
            "workflow.target-matched",
            "task-queue.moved"
        ]
    );
}
