//! The task and reservation lifecycle (reference §3.6 "State machine"): task create, accept,
//! reject, the reservation timeout, REST and assignment-callback instructions, task status
//! changes (cancel, wrap up, complete) and delete.

use super::{
    DEFAULT_TASK_TIMEOUT, Fail, Instruction, MAX_TASK_TIMEOUT, NewTask, State, Task, TaskChanges,
    TaskStatus, Timer, attributes, integer, new_sid, now, reservation_status as rs,
};

/// TaskRouter's description (and reason) of a task canceled by its TTL.
const TTL_EXCEEDED: &str = "Task TTL Exceeded";

impl State {
    pub fn create_task(&mut self, input: NewTask) -> Result<String, Fail> {
        let (attributes, attrs) = attributes(input.attributes.as_deref().unwrap_or("{}"))?;
        let priority = match input.priority.as_deref() {
            Some(value) => integer("Priority", value, 0..=i64::from(i32::MAX))?,
            None => 0,
        };
        let timeout = match input.timeout.as_deref() {
            Some(value) => integer("Timeout", value, 1..=MAX_TASK_TIMEOUT as i64)? as u64,
            None => DEFAULT_TASK_TIMEOUT,
        };
        let workflow_sid = match input.workflow_sid.as_deref() {
            Some(sid) => self
                .workflow(sid.trim())
                .map(|w| w.sid.clone())
                .ok_or_else(|| {
                    Fail::Invalid(format!(
                        "WorkflowSid {sid} is not a Workflow of Workspace {}",
                        self.workspace.sid
                    ))
                })?,
            None => match self.workflows.as_slice() {
                [only] => only.sid.clone(),
                _ => {
                    return Err(Fail::Invalid(
                        "WorkflowSid is required when the Workspace has more than one Workflow"
                            .into(),
                    ));
                }
            },
        };
        let channel = input.task_channel.as_deref().unwrap_or("default").trim();
        let channel_sid = self
            .channels
            .iter()
            .find(|c| c.sid == channel || c.unique_name == channel)
            .map(|c| c.sid.clone())
            .ok_or_else(|| Fail::Invalid(format!("TaskChannel {channel} does not exist")))?;
        let at = now();
        let routing_target = match input.routing_target.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(target) => {
                let known = match target.get(..2) {
                    Some("WK") => self.worker_index(target).is_some(),
                    Some("WQ") => self.queue(target).is_some(),
                    Some("WW") => self.workflow(target).is_some(),
                    _ => false,
                };
                if !known {
                    return Err(Fail::Invalid(format!(
                        "RoutingTarget {target} is not a Worker, TaskQueue or Workflow of this Workspace"
                    )));
                }
                Some(target.to_owned())
            }
        };
        let fixed_queue = match input.task_queue_sid.as_deref().map(str::trim) {
            Some(queue) if !queue.is_empty() => {
                self.queue(queue).ok_or_else(|| {
                    Fail::Invalid(format!(
                        "TaskQueueSid {queue} is not a TaskQueue of this Workspace"
                    ))
                })?;
                Some(queue.to_owned())
            }
            _ => routing_target.clone().filter(|t| t.starts_with("WQ")),
        };
        // A task aimed at one worker ignores capacity unless told otherwise (reference §3.6).
        let ignore_capacity = match input.ignore_capacity.as_deref().map(str::trim) {
            Some(v) => matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
            None => routing_target
                .as_deref()
                .is_some_and(|t| t.starts_with("WK")),
        };
        let virtual_start = match input.virtual_start_time.as_deref().map(str::trim) {
            None | Some("") => at,
            Some(text) => {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        Fail::Invalid(format!(
                            "VirtualStartTime {text} is not an ISO 8601 date-time"
                        ))
                    })?
            }
        };
        let workflow_sid = match routing_target.as_deref() {
            Some(target) if target.starts_with("WW") => target.to_owned(),
            _ => workflow_sid,
        };
        let sid = new_sid("WT");
        self.tasks.push(Task {
            sid: sid.clone(),
            attributes,
            attrs,
            status: TaskStatus::Pending,
            priority,
            reason: None,
            queue_sid: None,
            step: None,
            workflow_sid,
            channel_sid,
            timeout,
            created: at,
            updated: at,
            queue_entered: None,
            rejected_by: Vec::new(),
            version: 0,
            routing_target,
            fixed_queue,
            ignore_capacity,
            virtual_start,
        });
        let ti = self.tasks.len() - 1;
        // The task's TTL: unassigned when it runs out, it is canceled (see `expire_task`).
        self.new_timers.push((
            Timer::TaskTtl(sid.clone()),
            std::time::Duration::from_secs(timeout),
        ));
        self.emit_task("task.created", ti, format!("Task {sid} created"));
        self.enter_workflow(ti);
        self.route();
        Ok(sid)
    }

    pub(super) fn end_reservation(&mut self, ri: usize, status: &'static str) {
        let reservation = &mut self.reservations[ri];
        reservation.status = status;
        reservation.updated = now();
        self.ended_timers
            .push(Timer::Reservation(reservation.sid.clone()));
    }

    /// Accept: worker to the queue's assignment activity, task `assigned`.
    pub(super) fn accept(&mut self, ri: usize) {
        self.end_reservation(ri, rs::ACCEPTED);
        let reservation = &self.reservations[ri];
        let (Some(ti), Some(wi)) = (
            self.task_index(&reservation.task_sid),
            self.worker_index(&reservation.worker_sid),
        ) else {
            return;
        };
        // Accepted: the Workflow's step timeouts no longer apply.
        self.end_step_timer(ti);
        let task = &mut self.tasks[ti];
        task.status = TaskStatus::Assigned;
        task.updated = now();
        task.version += 1;
        let task_sid = task.sid.clone();
        self.emit_reservation("reservation.accepted", ri, "accepted");
        // Multi-reservation: the other workers offered the task lose it.
        for sibling in self.reservations_of(&task_sid, &[rs::PENDING]) {
            self.rescind(sibling);
        }
        let assignment_activity = self.tasks[ti]
            .queue_sid
            .as_deref()
            .and_then(|q| self.queue(q))
            .and_then(|q| q.assignment_activity_sid.clone());
        if let Some(activity) = assignment_activity {
            self.set_worker_activity(wi, &activity);
        }
        // A worker with capacity left on the channel (multitasking) may take the next task.
        self.route();
    }

    /// Reject: worker to `activity` (else back to its activity before the reservation), task
    /// back to `pending` and offered to someone else.
    pub(super) fn reject(&mut self, ri: usize, activity: Option<String>) {
        self.release(ri, rs::REJECTED, "rejected", activity);
    }

    /// Ends a pending reservation as `status` (`reservation.{status}` described by `verb`):
    /// the worker to `activity` (else back to its activity before the reservation), the task
    /// back to `pending` and offered again — to someone else after a rejection.
    pub(super) fn release(
        &mut self,
        ri: usize,
        status: &'static str,
        verb: &str,
        activity: Option<String>,
    ) {
        self.end_reservation(ri, status);
        let reservation = &self.reservations[ri];
        let activity = activity.unwrap_or_else(|| reservation.previous_activity_sid.clone());
        let worker_sid = reservation.worker_sid.clone();
        let (Some(ti), Some(wi)) = (
            self.task_index(&reservation.task_sid),
            self.worker_index(&reservation.worker_sid),
        ) else {
            return;
        };
        self.back_to_pending(ti);
        if status == rs::REJECTED {
            self.tasks[ti].rejected_by.push(worker_sid);
        }
        self.emit_reservation(&format!("reservation.{status}"), ri, verb);
        self.set_worker_activity(wi, &activity);
        self.route();
    }

    /// The task's TTL ran out (its `Timeout` since creation): a task not yet assigned is
    /// canceled, as TaskRouter does, with `task.canceled` described `Task TTL Exceeded`.
    pub fn expire_task(&mut self, sid: &str) {
        let Some(ti) = self.task_index(sid) else {
            return;
        };
        if !matches!(
            self.tasks[ti].status,
            TaskStatus::Pending | TaskStatus::Reserved
        ) {
            return;
        }
        self.release_pending_reservations(ti);
        self.finish(ti, TaskStatus::Canceled, Some(TTL_EXCEEDED.into()));
        self.emit_task("task.canceled", ti, TTL_EXCEEDED.into());
        self.route();
    }

    /// The reservation timer fired: if still pending, `reservation.timeout`, worker to the
    /// Workspace's TimeoutActivity, task back to `pending` and re-routed.
    pub fn timeout_reservation(&mut self, sid: &str) {
        let Some(ri) = self.reservation_index(sid) else {
            return;
        };
        if self.reservations[ri].status != rs::PENDING {
            return;
        }
        self.end_reservation(ri, rs::TIMEOUT);
        let reservation = &self.reservations[ri];
        let (Some(ti), Some(wi)) = (
            self.task_index(&reservation.task_sid),
            self.worker_index(&reservation.worker_sid),
        ) else {
            return;
        };
        self.back_to_pending(ti);
        self.emit_reservation("reservation.timeout", ri, "timed out");
        let activity = self.workspace.timeout_activity_sid.clone();
        self.set_worker_activity(wi, &activity);
        self.route();
    }

    /// REST update of a reservation (`ReservationStatus`, `WorkerActivitySid`).
    pub fn update_reservation(
        &mut self,
        sid: &str,
        status: Option<&str>,
        worker_activity_sid: Option<&str>,
    ) -> Result<(), Fail> {
        let ri = self.reservation_index(sid).ok_or(Fail::NotFound)?;
        let Some(wanted) = status.map(str::trim) else {
            return Ok(());
        };
        let current = self.reservations[ri].status;
        if current != rs::PENDING {
            // TaskRouter's wording (twilio-php issue 342, reference §3.9).
            return Err(Fail::Invalid(format!(
                "Reservation {sid} is already in state [{current}] and cannot be updated to [{wanted}]"
            )));
        }
        match wanted {
            rs::ACCEPTED => self.accept(ri),
            rs::REJECTED => {
                let activity = match worker_activity_sid.filter(|a| !a.trim().is_empty()) {
                    Some(activity) => Some(self.known_activity("WorkerActivitySid", activity)?),
                    None => None,
                };
                self.reject(ri, activity);
            }
            other => {
                return Err(Fail::Invalid(format!(
                    "ReservationStatus [{other}] is not supported by the local TaskRouter for a pending reservation; use accepted or rejected"
                )));
            }
        }
        Ok(())
    }

    /// Applies an assignment callback's answer. Problems are logged the way TaskRouter
    /// reports them in the Debugger, and leave the reservation as it is.
    pub fn apply_instruction(&mut self, sid: &str, instruction: Instruction) {
        let Some(ri) = self.reservation_index(sid) else {
            return;
        };
        let current = self.reservations[ri].status;
        if current != rs::PENDING {
            tracing::warn!(reservation = %sid, status = current, "assignment instruction ignored: the reservation is no longer pending");
            return;
        }
        match instruction {
            Instruction::Accept => self.accept(ri),
            Instruction::Reject { activity_sid } => match activity_sid {
                Some(activity) if self.activity(&activity).is_none() => {
                    tracing::warn!(reservation = %sid, activity_sid = %activity, code = 40100, "reject instruction has an invalid activity_sid; the reservation stays pending");
                }
                activity => self.reject(ri, activity),
            },
            Instruction::Voice(voice) => {
                if let Err(refused) = self.apply_voice(ri, &voice) {
                    tracing::warn!(reservation = %sid, code = refused.code, "{}; the reservation stays pending", refused.message);
                }
            }
        }
    }

    /// REST `Instruction=dequeue|call|redirect|conference` on a pending reservation.
    pub fn instruct_reservation(
        &mut self,
        sid: &str,
        voice: &super::voice::Voice,
    ) -> Result<(), Fail> {
        let ri = self.reservation_index(sid).ok_or(Fail::NotFound)?;
        let current = self.reservations[ri].status;
        if current != rs::PENDING {
            return Err(Fail::Invalid(format!(
                "Reservation {sid} is already in state [{current}] and cannot take an instruction"
            )));
        }
        self.apply_voice(ri, voice).map_err(|r| Fail::Refused {
            code: r.code,
            message: r.message,
        })
    }

    pub fn update_task(&mut self, sid: &str, changes: TaskChanges) -> Result<(), Fail> {
        let ti = self.task_index(sid).ok_or(Fail::NotFound)?;
        if changes.attributes.is_some() && changes.assignment_status.is_some() {
            // Reference §3.6: a status change and an attributes change need two requests.
            return Err(Fail::Invalid(
                "Attributes and AssignmentStatus cannot be updated in the same request".into(),
            ));
        }
        let attributes = match changes.attributes.as_deref() {
            Some(value) => Some(attributes(value)?),
            None => None,
        };
        let priority = match changes.priority.as_deref() {
            Some(value) => Some(integer("Priority", value, 0..=i64::from(i32::MAX))?),
            None => None,
        };
        if let Some(wanted) = changes.assignment_status.as_deref().map(str::trim) {
            self.change_status(ti, wanted, changes.reason)?;
        }
        if attributes.is_some() || priority.is_some() {
            let task = &mut self.tasks[ti];
            if let Some((text, parsed)) = attributes {
                task.attributes = text;
                task.attrs = parsed;
            }
            if let Some(priority) = priority {
                task.priority = priority;
            }
            task.updated = now();
            task.version += 1;
            self.emit_task("task.updated", ti, format!("Task {sid} updated"));
            if self.tasks[ti].status == TaskStatus::Pending {
                self.enter_workflow(ti);
            }
            self.route();
        }
        Ok(())
    }

    pub(super) fn change_status(
        &mut self,
        ti: usize,
        wanted: &str,
        reason: Option<String>,
    ) -> Result<(), Fail> {
        let task = &self.tasks[ti];
        let (sid, current) = (task.sid.clone(), task.status);
        let refuse = |why: &str| {
            Fail::Invalid(format!(
                "Cannot {why} task {sid} in workspace {} for account {} because it is {}.",
                self.workspace.sid,
                self.account_sid,
                match why {
                    "cancel" => "not pending or reserved",
                    "complete" => "not assigned or wrapping",
                    "wrap up" => "not assigned",
                    _ => "in another state",
                }
            ))
        };
        match TaskStatus::parse(wanted) {
            Some(TaskStatus::Canceled) => {
                if !matches!(current, TaskStatus::Pending | TaskStatus::Reserved) {
                    return Err(refuse("cancel"));
                }
                self.release_pending_reservations(ti);
                self.finish(ti, TaskStatus::Canceled, reason);
                self.emit_task("task.canceled", ti, format!("Task {sid} canceled"));
                self.route();
            }
            Some(TaskStatus::Completed) => {
                if !matches!(current, TaskStatus::Assigned | TaskStatus::Wrapping) {
                    return Err(refuse("complete"));
                }
                self.finish(ti, TaskStatus::Completed, reason);
                self.emit_task("task.completed", ti, format!("Task {sid} completed"));
                for ri in self.reservations_of(&sid, &[rs::ACCEPTED, rs::WRAPPING]) {
                    self.end_reservation(ri, rs::COMPLETED);
                    self.emit_reservation("reservation.completed", ri, "completed");
                }
            }
            Some(TaskStatus::Wrapping) => {
                if current != TaskStatus::Assigned {
                    return Err(refuse("wrap up"));
                }
                self.finish(ti, TaskStatus::Wrapping, reason);
                self.emit_task("task.wrapup", ti, format!("Task {sid} wrapping up"));
                for ri in self.reservations_of(&sid, &[rs::ACCEPTED]) {
                    self.end_reservation(ri, rs::WRAPPING);
                    self.emit_reservation("reservation.wrapup", ri, "wrapping up");
                }
            }
            _ => {
                return Err(Fail::Invalid(format!(
                    "AssignmentStatus [{wanted}] cannot be set; use canceled, completed or wrapping"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn finish(&mut self, ti: usize, status: TaskStatus, reason: Option<String>) {
        if matches!(status, TaskStatus::Canceled | TaskStatus::Completed) {
            self.ended_timers
                .push(Timer::TaskTtl(self.tasks[ti].sid.clone()));
            self.end_step_timer(ti);
        }
        let task = &mut self.tasks[ti];
        task.status = status;
        if reason.is_some() {
            task.reason = reason;
        }
        task.updated = now();
        task.version += 1;
    }

    /// A reserved task whose last pending reservation ended is `pending` again; while another
    /// worker still holds an offer (multi-reservation) it stays `reserved`.
    pub(super) fn back_to_pending(&mut self, ti: usize) {
        let task = &self.tasks[ti];
        if task.status != TaskStatus::Reserved
            || !self.reservations_of(&task.sid, &[rs::PENDING]).is_empty()
        {
            return;
        }
        let task = &mut self.tasks[ti];
        task.status = TaskStatus::Pending;
        task.updated = now();
        task.version += 1;
    }

    /// The task's routing step timer is not needed any more (not even started, when the step
    /// is left in the transition that entered it, as a `skip_if` does).
    pub(super) fn end_step_timer(&mut self, ti: usize) {
        let task = &self.tasks[ti];
        let Some(step) = task.step.as_ref().filter(|s| s.target().timeout.is_some()) else {
            return;
        };
        let key = Timer::Step {
            task_sid: task.sid.clone(),
            seq: step.seq,
        };
        match self.new_timers.iter().position(|(k, _)| *k == key) {
            Some(unstarted) => {
                self.new_timers.remove(unstarted);
            }
            None => self.ended_timers.push(key),
        }
    }

    pub(super) fn reservations_of(&self, task_sid: &str, statuses: &[&str]) -> Vec<usize> {
        self.reservations
            .iter()
            .enumerate()
            .filter(|(_, r)| r.task_sid == task_sid && statuses.contains(&r.status))
            .map(|(i, _)| i)
            .collect()
    }

    /// Cancels the task's pending reservations and puts their workers back where they were.
    pub(super) fn release_pending_reservations(&mut self, ti: usize) {
        let sid = self.tasks[ti].sid.clone();
        for ri in self.reservations_of(&sid, &[rs::PENDING]) {
            self.end_reservation(ri, rs::CANCELED);
            self.emit_reservation("reservation.canceled", ri, "canceled");
            let previous = self.reservations[ri].previous_activity_sid.clone();
            if let Some(wi) = self.worker_index(&self.reservations[ri].worker_sid) {
                self.set_worker_activity(wi, &previous);
            }
        }
    }

    pub fn delete_task(&mut self, sid: &str) -> Result<(), Fail> {
        let ti = self.task_index(sid).ok_or(Fail::NotFound)?;
        self.release_pending_reservations(ti);
        self.end_step_timer(ti);
        self.emit_task("task.deleted", ti, format!("Task {sid} deleted"));
        self.tasks.remove(ti);
        self.reservations.retain(|r| r.task_sid != sid);
        self.route();
        Ok(())
    }
}
