//! Routing: the Workflow `Configuration` (filters, their routing steps, the default filter),
//! a task's way through its Workflow — step timeouts, `skip_if`, the default filter, the end
//! of the Workflow — and offering pending tasks to matching available workers as
//! reservations (priority, `order_by`).
//!
//! What TaskRouter documents and the sim follows ("Workflows Overview", "Lifecycle of a
//! Task: Workflows and Assignment", "Timeout evaluation", "Skipping based on Worker
//! availability", "Ordering Workers"):
//! - a task takes the first filter whose expression matches its attributes, else the
//!   `default_filter`, and works through the filter's targets in order;
//! - a step's `timeout` counts on the task's age: step k ends when the task is as old as the
//!   sum of the timeouts of steps 0..=k (skipped steps count nothing);
//! - after the final step's timeout the task leaves the Workflow: `workflow.timeout`, and it
//!   is canceled;
//! - `skip_if` (`workers.available == 0`, `workers.WAxx < 2`, `1==1`) is evaluated when the
//!   task enters the step and no reservation was made at once; true skips the step. Skipping
//!   a filter's last step is as if the filter had not matched: later filters, then the
//!   default filter; skipping out of the last one is `workflow.skipped`, and it is canceled;
//! - `order_by` ranks eligible workers by integer attributes (`worker.level DESC, …`),
//!   workers lacking an attribute after those having it, ties to the longest available;
//! - a step's `priority` replaces the task's; higher priority tasks are offered first, older
//!   first among equals.
//!
//! Choices where TaskRouter says nothing (UNCONFIRMED): a pending reservation whose worker
//! does not fit the next step is rescinded (`reservation.rescinded`) when the task moves on;
//! `task-queue.timeout` and `task-queue.moved` are sent when the step change changes the
//! queue (the first names the queue left, the second the one entered); a target without a
//! `queue` after the first one keeps the previous target's queue (Twilio's own example
//! writes such a step); a task re-evaluated (attributes updated) into the filter it is
//! already in keeps its step, into another one starts that filter's steps from now; the
//! canceled reasons are `Workflow Timeout` and `Workflow Skipped`. `known_worker_sid` /
//! `known_worker_friendly_name` are accepted and ignored.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::super::expr::{Expr, Subject};
use super::{
    Fail, Filter, MAX_TASK_TIMEOUT, OrderBy, Reservation, State, Step, Target, TaskStatus, Timer,
    new_sid, now, reservation_status as rs,
};

/// The name TaskRouter events give the default filter.
const DEFAULT_FILTER: &str = "Default Filter";
/// The task's canceled reason after the last step's timeout.
const WORKFLOW_TIMEOUT: &str = "Workflow Timeout";
/// The task's canceled reason after `skip_if` skipped it out of the last step.
const WORKFLOW_SKIPPED: &str = "Workflow Skipped";

/// The Workflow `Configuration` JSON (task_routing filters and default_filter).
pub(super) fn routing(
    configuration: &str,
    queue_exists: impl Fn(&str) -> bool,
) -> Result<(Vec<Filter>, Option<Target>), Fail> {
    let value: Value =
        serde_json::from_str(configuration).map_err(|e| bad(format!("not JSON ({e})")))?;
    let routing = value
        .get("task_routing")
        .ok_or_else(|| bad("missing task_routing".into()))?;
    let mut filters = Vec::new();
    let listed = match routing.get("filters") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(bad("filters must be a list".into())),
    };
    for (i, filter) in listed.iter().enumerate() {
        let expression = filter
            .get("expression")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("filter {i} has no expression")))?;
        let expression =
            Expr::parse(expression).map_err(|e| bad(format!("filter {i} expression: {e}")))?;
        let listed_targets = match filter.get("targets") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            _ => return Err(bad(format!("filter {i} has no targets"))),
        };
        let mut targets: Vec<Target> = Vec::with_capacity(listed_targets.len());
        for (j, target) in listed_targets.iter().enumerate() {
            let inherited = targets.last().map(|t| t.queue_sid.as_str());
            let parsed = target_of(
                target,
                &format!("filter {i} target {j}"),
                inherited,
                &queue_exists,
            )?;
            targets.push(parsed);
        }
        filters.push(Filter {
            friendly_name: filter
                .get("filter_friendly_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            expression,
            targets: targets.into(),
        });
    }
    let default_target = match routing.get("default_filter") {
        None | Some(Value::Null) => None,
        Some(target) => Some(target_of(target, "default_filter", None, &queue_exists)?),
    };
    Ok((filters, default_target))
}

fn bad(why: String) -> Fail {
    Fail::Invalid(format!("Invalid Workflow Configuration: {why}"))
}

/// One routing step. `inherited`: the previous step's queue, for a step that names none.
fn target_of(
    target: &Value,
    at: &str,
    inherited: Option<&str>,
    queue_exists: &impl Fn(&str) -> bool,
) -> Result<Target, Fail> {
    if !target.is_object() {
        return Err(bad(format!("{at} must be an object")));
    }
    let queue_sid = match target.get("queue") {
        Some(Value::String(sid)) => {
            if !queue_exists(sid) {
                return Err(bad(format!(
                    "{at}: TaskQueue {sid} does not exist in this Workspace"
                )));
            }
            sid.clone()
        }
        None | Some(Value::Null) => match inherited {
            Some(sid) => sid.to_owned(),
            None => return Err(bad(format!("{at} has no queue"))),
        },
        Some(_) => return Err(bad(format!("{at} queue must be a TaskQueue SID"))),
    };
    let text = |key: &str| -> Result<Option<&str>, Fail> {
        match target.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(bad(format!("{at} {key} must be a string"))),
        }
    };
    let expression_of = |key: &str| -> Result<Option<Expr>, Fail> {
        match text(key)? {
            Some(source) => Expr::parse(source)
                .map(Some)
                .map_err(|e| bad(format!("{at} {key}: {e}"))),
            None => Ok(None),
        }
    };
    let order_by = match text("order_by")? {
        Some(source) => order_by(source).map_err(|why| bad(format!("{at} order_by: {why}")))?,
        None => Vec::new(),
    };
    Ok(Target {
        queue_sid,
        expression: expression_of("expression")?,
        priority: whole(target, "priority", at, 0, i64::from(i32::MAX))?,
        timeout: whole(target, "timeout", at, 1, MAX_TASK_TIMEOUT as i64)?.map(|t| t as u64),
        order_by,
        skip_if: expression_of("skip_if")?,
    })
}

/// An integer field written as a JSON number or a string of digits (Twilio's own structure
/// example quotes them: `"timeout": "<duration>"`).
fn whole(target: &Value, key: &str, at: &str, min: i64, max: i64) -> Result<Option<i64>, Fail> {
    let out_of_range = || bad(format!("{at} {key} must be an integer from {min} to {max}"));
    let n = match target.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(out_of_range)?,
        Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| out_of_range())?,
        Some(_) => return Err(out_of_range()),
    };
    if (min..=max).contains(&n) {
        Ok(Some(n))
    } else {
        Err(out_of_range())
    }
}

/// `worker.english_level DESC, worker.support ASC` (the direction defaults to ASC).
pub(super) fn order_by(source: &str) -> Result<Vec<OrderBy>, String> {
    let mut clauses = Vec::new();
    for clause in source.split(',') {
        let words: Vec<&str> = clause.split_whitespace().collect();
        let (path, descending) = match words.as_slice() {
            [path] => (*path, false),
            [path, direction] if direction.eq_ignore_ascii_case("ASC") => (*path, false),
            [path, direction] if direction.eq_ignore_ascii_case("DESC") => (*path, true),
            [] => return Err("an empty clause".into()),
            _ => {
                return Err(format!(
                    "{:?} is not `worker.attribute ASC` or `worker.attribute DESC`",
                    clause.trim()
                ));
            }
        };
        let path = path.strip_prefix("worker.").unwrap_or(path);
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        let valid = |s: &String| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !segments.iter().all(valid) {
            return Err(format!("{path:?} is not an attribute name"));
        }
        clauses.push(OrderBy {
            path: segments,
            descending,
        });
    }
    Ok(clauses)
}

/// Why a task leaves its routing step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    Timeout,
    Skipped,
}

impl State {
    /// Evaluates the task against its Workflow's filters and puts it in the first step of the
    /// matched one (or in its fixed queue).
    pub(super) fn enter_workflow(&mut self, ti: usize) {
        if let Some(queue_sid) = self.tasks[ti].fixed_queue.clone() {
            // TaskQueueSid or a RoutingTarget naming a queue: straight in, no Workflow filter.
            if self.tasks[ti].queue_sid.is_none() {
                let task = &mut self.tasks[ti];
                task.queue_sid = Some(queue_sid.clone());
                task.queue_entered = Some(now());
                let sid = task.sid.clone();
                let name = self
                    .queue(&queue_sid)
                    .map(|q| q.friendly_name.clone())
                    .unwrap_or_default();
                self.emit_task(
                    "task-queue.entered",
                    ti,
                    format!("Task {sid} entered TaskQueue {name}"),
                );
            }
            return;
        }
        let task = &self.tasks[ti];
        let Some(workflow) = self.workflow(&task.workflow_sid) else {
            return;
        };
        let workflow_name = workflow.friendly_name.clone();
        let sid = task.sid.clone();
        let first_time = task.queue_entered.is_none() && task.step.is_none();
        if first_time {
            self.emit_task(
                "workflow.entered",
                ti,
                format!("Task {sid} entered Workflow {workflow_name}"),
            );
        }
        let Some((filter, filter_name, targets)) = self.match_filter(ti, 0) else {
            tracing::warn!(task = %sid, "task matched no Workflow filter and there is no default filter; it stays pending");
            return;
        };
        let task = &self.tasks[ti];
        if task.step.as_ref().is_some_and(|s| s.filter == filter) {
            return; // re-evaluated into the filter it is in: it keeps its step
        }
        // The first entry counts from the task's creation (its age); a re-evaluation into
        // another filter starts that filter's steps now.
        let started = if first_time { task.created } else { now() };
        let seq = task.step.as_ref().map_or(0, |s| s.seq + 1);
        let step = Step {
            filter,
            filter_name,
            targets,
            index: 0,
            seq,
            budget: 0,
            started,
            skip_pending: false,
        };
        self.enter_step(ti, step);
    }

    /// Routes a pending task again from its Workflow's first filter, whatever step it is in
    /// (`ReEvaluateTasks`); the new steps count from now.
    pub(super) fn reenter_workflow(&mut self, ti: usize) {
        let Some((filter, filter_name, targets)) = self.match_filter(ti, 0) else {
            return; // nothing matches now: it stays where it is
        };
        let seq = self.tasks[ti].step.as_ref().map_or(0, |s| s.seq + 1);
        let step = Step {
            filter,
            filter_name,
            targets,
            index: 0,
            seq,
            budget: 0,
            started: now(),
            skip_pending: false,
        };
        self.enter_step(ti, step);
    }

    /// The first filter at or after `from` whose expression matches the task, else the
    /// default filter: (filter index or `None`, its name, its steps).
    fn match_filter(
        &self,
        ti: usize,
        from: usize,
    ) -> Option<(Option<usize>, String, Arc<[Target]>)> {
        let task = &self.tasks[ti];
        let workflow = self.workflow(&task.workflow_sid)?;
        let subject = Subject::of(&task.attrs);
        workflow
            .filters
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, f)| f.expression.matches(subject))
            .map(|(i, f)| (Some(i), f.friendly_name.clone(), f.targets.clone()))
            .or_else(|| {
                workflow
                    .default_target
                    .clone()
                    .map(|t| (None, DEFAULT_FILTER.to_owned(), Arc::from([t])))
            })
    }

    /// Puts the task in `step`: its priority, its queue, `workflow.target-matched` and
    /// `task-queue.entered` / `task-queue.moved`, the step's timer.
    fn enter_step(&mut self, ti: usize, mut step: Step) {
        self.end_step_timer(ti);
        let at = now();
        let target = step.target().clone();
        step.budget += target.timeout.unwrap_or(0);
        step.skip_pending = target.skip_if.is_some();
        let timer = target.timeout.map(|_| {
            let deadline = step.started + time::Duration::seconds(step.budget as i64);
            let left = (deadline - at).max(time::Duration::ZERO);
            (
                Timer::Step {
                    task_sid: self.tasks[ti].sid.clone(),
                    seq: step.seq,
                },
                std::time::Duration::try_from(left).unwrap_or_default(),
            )
        });
        let filter_name = step.filter_name.clone();
        let task = &mut self.tasks[ti];
        let previous_queue = task.queue_sid.replace(target.queue_sid.clone());
        if let Some(priority) = target.priority
            && priority != task.priority
        {
            task.priority = priority;
            task.version += 1;
        }
        task.updated = at;
        task.step = Some(step);
        let moved = previous_queue.as_deref() != Some(target.queue_sid.as_str());
        if moved {
            task.queue_entered = Some(at);
        }
        let sid = task.sid.clone();
        if let Some(timer) = timer {
            self.new_timers.push(timer);
        }
        let mut fields = self.task_fields(ti);
        fields.extend(self.routing_fields(ti));
        fields.push(("WorkflowFilterName".into(), filter_name.clone()));
        self.emit(
            "workflow.target-matched",
            format!("Task {sid} matched Workflow filter {filter_name}"),
            ("Task", &sid),
            fields,
        );
        if !moved {
            return;
        }
        let queue_name = self
            .queue(&target.queue_sid)
            .map(|q| q.friendly_name.clone())
            .unwrap_or_default();
        let event = if previous_queue.is_none() {
            "task-queue.entered"
        } else {
            "task-queue.moved"
        };
        self.emit_task(
            event,
            ti,
            format!("Task {sid} entered TaskQueue {queue_name}"),
        );
    }

    /// A step timer fired: a task still unassigned in that step moves on.
    pub fn step_timeout(&mut self, task_sid: &str, seq: u64) {
        let Some(ti) = self.task_index(task_sid) else {
            return;
        };
        let task = &self.tasks[ti];
        let current = task.step.as_ref().is_some_and(|s| s.seq == seq);
        if !current || !matches!(task.status, TaskStatus::Pending | TaskStatus::Reserved) {
            return;
        }
        self.leave_step(ti, Leave::Timeout);
        self.route();
    }

    /// The task leaves its step: to the next step of its filter, after a skipped last step to
    /// the next matching filter or the default filter, else out of the Workflow (canceled).
    fn leave_step(&mut self, ti: usize, why: Leave) {
        let Some(mut step) = self.tasks[ti].step.clone() else {
            return;
        };
        if why == Leave::Skipped {
            // A skipped step takes no time from the steps after it.
            step.budget -= step.target().timeout.unwrap_or(0);
        }
        step.seq += 1;
        let next = if step.index + 1 < step.targets.len() {
            step.index += 1;
            Some(step)
        } else if why == Leave::Skipped
            && let Some(filter) = step.filter
            && let Some((filter, filter_name, targets)) = self.match_filter(ti, filter + 1)
        {
            Some(Step {
                filter,
                filter_name,
                targets,
                index: 0,
                ..step
            })
        } else {
            None
        };
        let old_queue = self.tasks[ti].queue_sid.clone();
        let sid = self.tasks[ti].sid.clone();
        let Some(next) = next else {
            // Out of the Workflow: pending reservations go with the canceled task.
            self.release_pending_reservations(ti);
            self.tasks[ti].status = TaskStatus::Pending;
            if why == Leave::Timeout {
                self.emit_task(
                    "task-queue.timeout",
                    ti,
                    format!("Task {sid} timed out of its TaskQueue"),
                );
            }
            let workflow = self
                .workflow(&self.tasks[ti].workflow_sid)
                .map(|w| w.friendly_name.clone())
                .unwrap_or_default();
            let (event, reason, verb) = match why {
                Leave::Timeout => ("workflow.timeout", WORKFLOW_TIMEOUT, "timed out of"),
                Leave::Skipped => ("workflow.skipped", WORKFLOW_SKIPPED, "skipped out of"),
            };
            self.emit_task(event, ti, format!("Task {sid} {verb} Workflow {workflow}"));
            self.finish(ti, TaskStatus::Canceled, Some(reason.into()));
            self.emit_task("task.canceled", ti, reason.into());
            return;
        };
        // Reservations whose worker the next step would not offer the task to are rescinded.
        let target = next.target().clone();
        for ri in self.reservations_of(&sid, &[rs::PENDING]) {
            let Some(wi) = self.worker_index(&self.reservations[ri].worker_sid) else {
                continue;
            };
            if !self.fits(ti, wi, &target) {
                self.rescind(ri);
            }
        }
        if why == Leave::Timeout && old_queue.as_deref() != Some(target.queue_sid.as_str()) {
            self.emit_task(
                "task-queue.timeout",
                ti,
                format!("Task {sid} timed out of its TaskQueue"),
            );
        }
        self.enter_step(ti, next);
    }

    /// A pending reservation withdrawn by TaskRouter: `reservation.rescinded`, the worker back
    /// to its activity before the reservation, the task `pending` when nothing else holds it.
    pub(super) fn rescind(&mut self, ri: usize) {
        self.end_reservation(ri, rs::RESCINDED);
        let reservation = &self.reservations[ri];
        let previous = reservation.previous_activity_sid.clone();
        let task_sid = reservation.task_sid.clone();
        let worker = self.worker_index(&reservation.worker_sid);
        if let Some(ti) = self.task_index(&task_sid) {
            self.back_to_pending(ti);
        }
        self.emit_reservation("reservation.rescinded", ri, "rescinded");
        if let Some(wi) = worker {
            self.set_worker_activity(wi, &previous);
        }
    }

    /// `skip_if` of the task's step, with `workers.available`, `workers.unavailable` and
    /// `workers.WA…` counted over the workers of the step's queue.
    fn skips(&self, ti: usize) -> bool {
        let task = &self.tasks[ti];
        let Some(step) = &task.step else {
            return false;
        };
        let target = step.target();
        let Some(skip_if) = &target.skip_if else {
            return false;
        };
        let Some(queue) = self.queue(&target.queue_sid) else {
            return false;
        };
        let mut counts = Map::new();
        let (mut available, mut unavailable) = (0u64, 0u64);
        for worker in &self.workers {
            let in_queue = queue.target.matches(Subject {
                own: &worker.attrs,
                worker: Some(&worker.attrs),
                task: Some(&task.attrs),
            });
            if !in_queue {
                continue;
            }
            if self.worker_available(worker) {
                available += 1;
            } else {
                unavailable += 1;
            }
            let n = counts
                .entry(worker.activity_sid.clone())
                .or_insert(Value::from(0u64));
            *n = Value::from(n.as_u64().unwrap_or(0) + 1);
        }
        // Activities nobody is in count 0, so `workers.WAxx < 2` holds for them.
        for activity in &self.activities {
            counts
                .entry(activity.sid.clone())
                .or_insert(Value::from(0u64));
        }
        counts.insert("available".into(), Value::from(available));
        counts.insert("unavailable".into(), Value::from(unavailable));
        let mut own = match &task.attrs {
            Value::Object(attributes) => attributes.clone(),
            _ => Map::new(),
        };
        own.insert("workers".into(), Value::Object(counts));
        let own = Value::Object(own);
        skip_if.matches(Subject {
            own: &own,
            worker: None,
            task: Some(&task.attrs),
        })
    }

    /// Offers pending tasks to available workers; then tasks that entered a step with a
    /// `skip_if` and got no reservation at once are skipped on if it holds, and offered again.
    pub fn route(&mut self) {
        loop {
            self.offer();
            let mut skipping = Vec::new();
            for ti in 0..self.tasks.len() {
                let Some(step) = self.tasks[ti].step.as_mut() else {
                    continue;
                };
                if !std::mem::take(&mut step.skip_pending) {
                    continue;
                }
                if self.tasks[ti].status == TaskStatus::Pending && self.skips(ti) {
                    skipping.push(ti);
                }
            }
            if skipping.is_empty() {
                return;
            }
            // Each pass moves every skipping task at least one step on; the steps are finite.
            for ti in skipping {
                self.leave_step(ti, Leave::Skipped);
            }
        }
    }

    /// Offers every pending task, highest priority then oldest first, to the eligible worker
    /// `order_by` ranks first, else the one available longest.
    fn offer(&mut self) {
        let mut order: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| {
                self.tasks[i].status == TaskStatus::Pending && self.tasks[i].queue_sid.is_some()
            })
            .collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.tasks[a], &self.tasks[b]);
            b.priority
                .cmp(&a.priority)
                .then(a.virtual_start.cmp(&b.virtual_start))
                .then(a.queue_entered.cmp(&b.queue_entered))
        });
        for ti in order {
            // MaxReservedWorkers (multi-reservation): up to that many workers are offered the
            // task at once; the first to accept takes it. A worker offered directly
            // (RoutingTarget) is the only one.
            let task = &self.tasks[ti];
            let max = match task.routing_target.as_deref() {
                Some(target) if target.starts_with("WK") => 1,
                _ => task
                    .queue_sid
                    .as_deref()
                    .and_then(|q| self.queue(q))
                    .map_or(1, |q| q.max_reserved_workers.max(1)),
            };
            for _ in 0..max {
                let Some(wi) = self.pick_worker(ti) else {
                    break;
                };
                self.reserve(ti, wi);
            }
        }
    }

    /// True when the worker belongs to the target's queue and matches its expression (its
    /// availability aside).
    fn fits(&self, ti: usize, wi: usize, target: &Target) -> bool {
        let (task, worker) = (&self.tasks[ti], &self.workers[wi]);
        let subject = Subject {
            own: &worker.attrs,
            worker: Some(&worker.attrs),
            task: Some(&task.attrs),
        };
        self.queue(&target.queue_sid)
            .is_some_and(|q| q.target.matches(subject))
            && target
                .expression
                .as_ref()
                .is_none_or(|e| e.matches(subject))
    }

    pub(super) fn pick_worker(&self, ti: usize) -> Option<usize> {
        let task = &self.tasks[ti];
        let queue_sid = task.queue_sid.as_deref()?;
        let queue = self.queue(queue_sid)?;
        // A RoutingTarget naming a worker offers the task to that worker alone, whatever the
        // queue's expression says.
        let targeted = task
            .routing_target
            .as_deref()
            .filter(|t| t.starts_with("WK"));
        let free = |wi: usize| {
            let worker = &self.workers[wi];
            self.worker_available(worker)
                && !task.rejected_by.contains(&worker.sid)
                && (task.ignore_capacity || self.has_room(worker, &task.channel_sid))
        };
        if let Some(target) = targeted {
            return (0..self.workers.len()).find(|&wi| self.workers[wi].sid == target && free(wi));
        }
        let eligible = |wi: usize| {
            let worker = &self.workers[wi];
            free(wi)
                && !self
                    .reservations
                    .iter()
                    .any(|r| r.worker_sid == worker.sid && r.status == rs::PENDING)
                && match task.step.as_ref() {
                    Some(step) => self.fits(ti, wi, step.target()),
                    None => queue.target.matches(Subject {
                        own: &worker.attrs,
                        worker: Some(&worker.attrs),
                        task: Some(&task.attrs),
                    }),
                }
        };
        let order_by: &[OrderBy] = task
            .step
            .as_ref()
            .map_or(&[], |s| s.target().order_by.as_slice());
        (0..self.workers.len())
            .filter(|&wi| eligible(wi))
            .min_by(|&a, &b| {
                let (x, y) = (&self.workers[a], &self.workers[b]);
                ranked(order_by, &x.attrs, &y.attrs)
                    .then(x.status_changed.cmp(&y.status_changed))
                    .then(a.cmp(&b))
            })
    }

    /// Creates a pending reservation: worker to the queue's reservation activity, task
    /// `reserved`, `reservation.created`, the assignment callback, the reservation timer.
    pub(super) fn reserve(&mut self, ti: usize, wi: usize) {
        let at = now();
        let sid = new_sid("WR");
        let reservation_activity = self.tasks[ti]
            .queue_sid
            .as_deref()
            .and_then(|q| self.queue(q))
            .and_then(|q| q.reservation_activity_sid.clone());
        let task = &mut self.tasks[ti];
        task.status = TaskStatus::Reserved;
        task.updated = at;
        task.version += 1;
        let worker = &self.workers[wi];
        self.reservations.push(Reservation {
            sid: sid.clone(),
            task_sid: task.sid.clone(),
            worker_sid: worker.sid.clone(),
            status: rs::PENDING,
            created: at,
            updated: at,
            previous_activity_sid: worker.activity_sid.clone(),
        });
        let ri = self.reservations.len() - 1;
        self.emit_reservation("reservation.created", ri, "created");
        if let Some(activity) = reservation_activity {
            self.set_worker_activity(wi, &activity);
        }
        let task = &self.tasks[ti];
        let Some(workflow) = self.workflows.iter().find(|w| w.sid == task.workflow_sid) else {
            return;
        };
        self.new_timers.push((
            Timer::Reservation(sid.clone()),
            workflow.reservation_timeout,
        ));
        if let Some(outgoing) = self.assignment_callback(ti, wi, &sid, at) {
            self.outbox.push(outgoing);
        }
    }
}

/// Compares two workers' attributes by the `order_by` clauses: a worker with the attribute
/// comes before one without, whatever the direction (reference: "Ordering Workers").
fn ranked(order_by: &[OrderBy], a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let value = |attrs: &Value, path: &[String]| {
        path.iter()
            .try_fold(attrs, |v, key| v.get(key.as_str()))
            .and_then(Value::as_f64)
    };
    for clause in order_by {
        let order = match (value(a, &clause.path), value(b, &clause.path)) {
            (Some(x), Some(y)) => {
                let order = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                if clause.descending {
                    order.reverse()
                } else {
                    order
                }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}
