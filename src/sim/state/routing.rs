//! Routing: the Workflow `Configuration` (filters, targets, default filter), a task's way
//! through its Workflow into a TaskQueue, and offering pending tasks to matching available
//! workers as reservations.

use serde_json::Value;

use super::super::expr::{Expr, Subject};
use super::{Fail, Filter, Reservation, State, TaskStatus, new_sid, now, reservation_status as rs};

/// The Workflow `Configuration` JSON (task_routing filters and default_filter).
pub(super) fn routing(
    configuration: &str,
    queue_exists: impl Fn(&str) -> bool,
) -> Result<(Vec<Filter>, Option<String>), Fail> {
    let bad = |why: String| Fail::Invalid(format!("Invalid Workflow Configuration: {why}"));
    let value: Value =
        serde_json::from_str(configuration).map_err(|e| bad(format!("not JSON ({e})")))?;
    let routing = value
        .get("task_routing")
        .ok_or_else(|| bad("missing task_routing".into()))?;
    let queue = |target: &Value| -> Result<String, Fail> {
        let sid = target
            .get("queue")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a target has no queue".into()))?;
        if queue_exists(sid) {
            Ok(sid.to_owned())
        } else {
            Err(bad(format!(
                "TaskQueue {sid} does not exist in this Workspace"
            )))
        }
    };
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
        let target = filter
            .get("targets")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .ok_or_else(|| bad(format!("filter {i} has no targets")))?;
        let target_expression = match target.get("expression").and_then(Value::as_str) {
            Some(text) => Some(
                Expr::parse(text).map_err(|e| bad(format!("filter {i} target expression: {e}")))?,
            ),
            None => None,
        };
        filters.push(Filter {
            friendly_name: filter
                .get("filter_friendly_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            expression,
            queue_sid: queue(target)?,
            target_expression,
        });
    }
    let default_queue = match routing.get("default_filter") {
        None | Some(Value::Null) => None,
        Some(target) => Some(queue(target)?),
    };
    Ok((filters, default_queue))
}

impl State {
    /// Evaluates the task against its Workflow's filters and puts it in the matched queue.
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
        let subject = Subject::of(&task.attrs);
        let matched = workflow
            .filters
            .iter()
            .find(|f| f.expression.matches(subject))
            .map(|f| {
                (
                    f.friendly_name.clone(),
                    f.queue_sid.clone(),
                    f.target_expression.clone(),
                )
            })
            .or_else(|| {
                workflow
                    .default_queue_sid
                    .clone()
                    .map(|q| ("Default Filter".to_owned(), q, None))
            });
        let workflow_name = workflow.friendly_name.clone();
        let sid = task.sid.clone();
        let first_time = task.queue_entered.is_none();
        if first_time {
            self.emit_task(
                "workflow.entered",
                ti,
                format!("Task {sid} entered Workflow {workflow_name}"),
            );
        }
        let Some((filter_name, queue_sid, target_expression)) = matched else {
            tracing::warn!(task = %sid, "task matched no Workflow filter and there is no default filter; it stays pending");
            return;
        };
        let moved = self.tasks[ti].queue_sid.as_deref() != Some(queue_sid.as_str());
        let task = &mut self.tasks[ti];
        task.target_expression = target_expression;
        if !moved {
            return;
        }
        task.queue_sid = Some(queue_sid.clone());
        task.queue_entered = Some(now());
        let mut fields = self.task_fields(ti);
        fields.extend(self.routing_fields(ti));
        fields.push(("WorkflowFilterName".into(), filter_name.clone()));
        self.emit(
            "workflow.target-matched",
            format!("Task {sid} matched Workflow filter {filter_name}"),
            ("Task", &sid),
            fields,
        );
        let queue_name = self
            .queue(&queue_sid)
            .map(|q| q.friendly_name.clone())
            .unwrap_or_default();
        let event = if first_time {
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

    /// Offers every pending task, highest priority then oldest first, to the available worker
    /// that has been available longest and matches the task's queue (and target expression).
    pub fn route(&mut self) {
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
            if let Some(wi) = self.pick_worker(ti) {
                self.reserve(ti, wi);
            }
        }
    }

    pub(super) fn pick_worker(&self, ti: usize) -> Option<usize> {
        let task = &self.tasks[ti];
        let queue = self.queue(task.queue_sid.as_deref()?)?;
        (0..self.workers.len())
            .filter(|&wi| {
                let worker = &self.workers[wi];
                // A RoutingTarget naming a worker offers the task to that worker alone,
                // whatever the queue's expression says.
                let targeted = task
                    .routing_target
                    .as_deref()
                    .filter(|t| t.starts_with("WK"));
                if let Some(target) = targeted {
                    return worker.sid == target
                        && self.worker_available(worker)
                        && !task.rejected_by.contains(&worker.sid)
                        && (task.ignore_capacity || self.has_room(worker, &task.channel_sid));
                }
                self.worker_available(worker)
                    && !task.rejected_by.contains(&worker.sid)
                    && !self
                        .reservations
                        .iter()
                        .any(|r| r.worker_sid == worker.sid && r.status == rs::PENDING)
                    && (task.ignore_capacity || self.has_room(worker, &task.channel_sid))
                    && queue.target.matches(Subject {
                        own: &worker.attrs,
                        worker: Some(&worker.attrs),
                        task: Some(&task.attrs),
                    })
                    && task.target_expression.as_ref().is_none_or(|e| {
                        e.matches(Subject {
                            own: &worker.attrs,
                            worker: Some(&worker.attrs),
                            task: Some(&task.attrs),
                        })
                    })
            })
            .min_by_key(|&wi| (self.workers[wi].status_changed, wi))
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
        self.new_timers
            .push((sid.clone(), workflow.reservation_timeout));
        if let Some(outgoing) = self.assignment_callback(ti, wi, &sid, at) {
            self.outbox.push(outgoing);
        }
    }
}
