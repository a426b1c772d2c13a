//! Create, update and delete of the Workspace's building blocks that the quickstart seed used
//! to fix once: Activities, TaskChannels, TaskQueues and Workflows, and deleting Workers.
//! Inputs are validated before anything changes; deleting a thing others depend on is refused
//! with a 400 naming what still depends on it, as TaskRouter does.

use std::time::Duration;

use super::super::expr::Expr;
use super::{
    Activity, Fail, MAX_RESERVATION_TIMEOUT, State, TaskChannel, TaskQueue, TaskStatus, Workflow,
    WorkflowChanges, callback_url, integer, new_sid, now, reservation_status as rs, routing,
};

/// Inputs of TaskQueue create / update (`None`: not sent).
#[derive(Debug, Default)]
pub struct QueueInput {
    pub friendly_name: Option<String>,
    pub target_workers: Option<String>,
    pub max_reserved_workers: Option<String>,
    pub task_order: Option<String>,
    pub reservation_activity_sid: Option<String>,
    pub assignment_activity_sid: Option<String>,
}

fn required(name: &str, value: Option<String>) -> Result<String, Fail> {
    value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
        Fail::Invalid(format!(
            "Missing required parameter {name} in the post body"
        ))
    })
}

impl State {
    fn refuse_delete(&self, what: &str, sid: &str, why: &str) -> Fail {
        Fail::Invalid(format!(
            "Cannot delete {what} {sid} in Workspace {}: {why}",
            self.workspace.sid
        ))
    }

    // -----------------------------------------------------------------------------------------
    // Activities

    pub fn create_activity(
        &mut self,
        friendly_name: Option<String>,
        available: Option<bool>,
    ) -> Result<String, Fail> {
        let friendly_name = required("FriendlyName", friendly_name)?;
        if self
            .activities
            .iter()
            .any(|a| a.friendly_name == friendly_name)
        {
            return Err(Fail::Invalid(format!(
                "Activity with FriendlyName {friendly_name} already exists in Workspace {}",
                self.workspace.sid
            )));
        }
        let at = now();
        let sid = new_sid("WA");
        self.activities.push(Activity {
            sid: sid.clone(),
            friendly_name,
            // TaskRouter's default for Available is true.
            available: available.unwrap_or(true),
            created: at,
            updated: at,
        });
        Ok(sid)
    }

    pub fn update_activity(
        &mut self,
        sid: &str,
        friendly_name: Option<String>,
    ) -> Result<(), Fail> {
        let index = self
            .activities
            .iter()
            .position(|a| a.sid == sid)
            .ok_or(Fail::NotFound)?;
        if let Some(name) = friendly_name.filter(|n| !n.trim().is_empty()) {
            let activity = &mut self.activities[index];
            activity.friendly_name = name;
            activity.updated = now();
        }
        Ok(())
    }

    pub fn delete_activity(&mut self, sid: &str) -> Result<(), Fail> {
        let index = self
            .activities
            .iter()
            .position(|a| a.sid == sid)
            .ok_or(Fail::NotFound)?;
        if self.workspace.default_activity_sid == sid || self.workspace.timeout_activity_sid == sid
        {
            return Err(self.refuse_delete(
                "Activity",
                sid,
                "it is the Workspace's DefaultActivity or TimeoutActivity",
            ));
        }
        if self.workers.iter().any(|w| w.activity_sid == sid) {
            return Err(self.refuse_delete("Activity", sid, "Workers are in this Activity"));
        }
        if self.queues.iter().any(|q| {
            q.assignment_activity_sid.as_deref() == Some(sid)
                || q.reservation_activity_sid.as_deref() == Some(sid)
        }) {
            return Err(self.refuse_delete("Activity", sid, "a TaskQueue uses this Activity"));
        }
        self.activities.remove(index);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // TaskChannels

    pub fn create_channel(
        &mut self,
        friendly_name: Option<String>,
        unique_name: Option<String>,
        channel_optimized_routing: Option<bool>,
    ) -> Result<String, Fail> {
        let friendly_name = required("FriendlyName", friendly_name)?;
        let unique_name = required("UniqueName", unique_name)?;
        if self.channels.iter().any(|c| c.unique_name == unique_name) {
            return Err(Fail::Invalid(format!(
                "TaskChannel with UniqueName {unique_name} already exists in Workspace {}",
                self.workspace.sid
            )));
        }
        let at = now();
        let sid = new_sid("TC");
        self.channels.push(TaskChannel {
            sid: sid.clone(),
            friendly_name,
            unique_name,
            channel_optimized_routing,
            created: at,
            updated: at,
        });
        Ok(sid)
    }

    /// The channel named by SID or unique name (TaskRouter accepts both in the path).
    pub fn channel_index(&self, sid_or_name: &str) -> Option<usize> {
        self.channels
            .iter()
            .position(|c| c.sid == sid_or_name || c.unique_name == sid_or_name)
    }

    pub fn update_channel(
        &mut self,
        sid: &str,
        friendly_name: Option<String>,
        channel_optimized_routing: Option<bool>,
    ) -> Result<usize, Fail> {
        let index = self.channel_index(sid).ok_or(Fail::NotFound)?;
        let channel = &mut self.channels[index];
        if let Some(name) = friendly_name.filter(|n| !n.trim().is_empty()) {
            channel.friendly_name = name;
        }
        if channel_optimized_routing.is_some() {
            channel.channel_optimized_routing = channel_optimized_routing;
        }
        channel.updated = now();
        Ok(index)
    }

    pub fn delete_channel(&mut self, sid: &str) -> Result<(), Fail> {
        let index = self.channel_index(sid).ok_or(Fail::NotFound)?;
        let channel_sid = self.channels[index].sid.clone();
        if self.tasks.iter().any(|t| t.channel_sid == channel_sid) {
            return Err(self.refuse_delete("TaskChannel", sid, "Tasks use this TaskChannel"));
        }
        self.channels.remove(index);
        for worker in &mut self.workers {
            worker
                .channel_settings
                .retain(|s| s.channel_sid != channel_sid);
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // TaskQueues

    fn optional_activity(&self, name: &str, value: Option<&str>) -> Result<Option<String>, Fail> {
        match value.map(str::trim) {
            None | Some("") => Ok(None),
            Some(sid) => self.known_activity(name, sid).map(Some),
        }
    }

    pub fn create_queue(&mut self, input: QueueInput) -> Result<String, Fail> {
        let friendly_name = required("FriendlyName", input.friendly_name.clone())?;
        if self.queues.iter().any(|q| q.friendly_name == friendly_name) {
            return Err(Fail::Invalid(format!(
                "TaskQueue with FriendlyName {friendly_name} already exists in Workspace {}",
                self.workspace.sid
            )));
        }
        let at = now();
        let sid = new_sid("WQ");
        self.queues.push(TaskQueue {
            sid: sid.clone(),
            friendly_name,
            // TaskRouter's default TargetWorkers: every worker.
            target: Expr::parse("1==1").expect("constant expression parses"),
            assignment_activity_sid: None,
            reservation_activity_sid: None,
            max_reserved_workers: 1,
            task_order: "FIFO".to_owned(),
            created: at,
            updated: at,
        });
        let index = self.queues.len() - 1;
        if let Err(failure) = self.apply_queue(index, input) {
            self.queues.pop();
            return Err(failure);
        }
        Ok(sid)
    }

    pub fn update_queue(&mut self, sid: &str, input: QueueInput) -> Result<(), Fail> {
        let index = self
            .queues
            .iter()
            .position(|q| q.sid == sid)
            .ok_or(Fail::NotFound)?;
        self.apply_queue(index, input)?;
        self.route();
        Ok(())
    }

    fn apply_queue(&mut self, index: usize, input: QueueInput) -> Result<(), Fail> {
        let target = match input.target_workers.as_deref() {
            Some(text) => Some(
                Expr::parse(text)
                    .map_err(|e| Fail::Invalid(format!("Invalid TargetWorkers expression: {e}")))?,
            ),
            None => None,
        };
        let max = match input.max_reserved_workers.as_deref() {
            Some(value) => Some(integer("MaxReservedWorkers", value, 1..=50)? as u32),
            None => None,
        };
        let order = match input.task_order.as_deref().map(str::trim) {
            None => None,
            Some(order @ ("FIFO" | "LIFO")) => Some(order.to_owned()),
            Some(other) => {
                return Err(Fail::Invalid(format!(
                    "TaskOrder {other} is not valid; use FIFO or LIFO"
                )));
            }
        };
        let reservation = self.optional_activity(
            "ReservationActivitySid",
            input.reservation_activity_sid.as_deref(),
        )?;
        let assignment = self.optional_activity(
            "AssignmentActivitySid",
            input.assignment_activity_sid.as_deref(),
        )?;
        let queue = &mut self.queues[index];
        if let Some(name) = input.friendly_name.filter(|n| !n.trim().is_empty()) {
            queue.friendly_name = name;
        }
        if let Some(target) = target {
            queue.target = target;
        }
        if let Some(max) = max {
            queue.max_reserved_workers = max;
        }
        if let Some(order) = order {
            queue.task_order = order;
        }
        if input.reservation_activity_sid.is_some() {
            queue.reservation_activity_sid = reservation;
        }
        if input.assignment_activity_sid.is_some() {
            queue.assignment_activity_sid = assignment;
        }
        queue.updated = now();
        Ok(())
    }

    pub fn delete_queue(&mut self, sid: &str) -> Result<(), Fail> {
        let index = self
            .queues
            .iter()
            .position(|q| q.sid == sid)
            .ok_or(Fail::NotFound)?;
        if self.workflows.iter().any(|w| w.routes_to(sid)) {
            return Err(self.refuse_delete("TaskQueue", sid, "a Workflow routes to it"));
        }
        if self.tasks.iter().any(|t| {
            t.queue_sid.as_deref() == Some(sid)
                && matches!(
                    t.status,
                    TaskStatus::Pending | TaskStatus::Reserved | TaskStatus::Assigned
                )
        }) {
            return Err(self.refuse_delete("TaskQueue", sid, "it has Tasks not yet completed"));
        }
        self.queues.remove(index);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Workflows

    pub fn create_workflow(
        &mut self,
        changes: WorkflowChanges,
        default_timeout: Duration,
    ) -> Result<String, Fail> {
        let friendly_name = required("FriendlyName", changes.friendly_name.clone())?;
        let configuration = required("Configuration", changes.configuration.clone())?;
        let queues: Vec<String> = self.queues.iter().map(|q| q.sid.clone()).collect();
        let (filters, default_target) = routing(&configuration, |q| queues.iter().any(|s| s == q))?;
        let assignment = match changes.assignment_callback_url.as_deref() {
            Some(url) => callback_url("AssignmentCallbackUrl", url)?,
            None => None,
        };
        let fallback = match changes.fallback_assignment_callback_url.as_deref() {
            Some(url) => callback_url("FallbackAssignmentCallbackUrl", url)?,
            None => None,
        };
        let reservation_timeout = match changes.task_reservation_timeout.as_deref() {
            Some(value) => {
                let max = MAX_RESERVATION_TIMEOUT.as_secs() as i64;
                Duration::from_secs(integer("TaskReservationTimeout", value, 1..=max)? as u64)
            }
            None => default_timeout,
        };
        let at = now();
        let sid = new_sid("WW");
        self.workflows.push(Workflow {
            sid: sid.clone(),
            friendly_name,
            assignment_callback_url: assignment,
            fallback_assignment_callback_url: fallback,
            reservation_timeout,
            configuration,
            filters,
            default_target,
            created: at,
            updated: at,
        });
        let workflow = &self.workflows[self.workflows.len() - 1];
        let fields = vec![
            ("WorkflowSid".into(), workflow.sid.clone()),
            ("WorkflowName".into(), workflow.friendly_name.clone()),
        ];
        let description = format!("Workflow {} created", workflow.friendly_name);
        self.emit("workflow.created", description, ("Workflow", &sid), fields);
        Ok(sid)
    }

    pub fn delete_workflow(&mut self, sid: &str) -> Result<(), Fail> {
        let index = self
            .workflows
            .iter()
            .position(|w| w.sid == sid)
            .ok_or(Fail::NotFound)?;
        if self.tasks.iter().any(|t| {
            t.workflow_sid == sid
                && matches!(
                    t.status,
                    TaskStatus::Pending | TaskStatus::Reserved | TaskStatus::Assigned
                )
        }) {
            return Err(self.refuse_delete("Workflow", sid, "it has Tasks not yet completed"));
        }
        let workflow = self.workflows.remove(index);
        let fields = vec![
            ("WorkflowSid".into(), workflow.sid.clone()),
            ("WorkflowName".into(), workflow.friendly_name.clone()),
        ];
        let description = format!("Workflow {} deleted", workflow.friendly_name);
        self.emit("workflow.deleted", description, ("Workflow", sid), fields);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Workers

    pub fn delete_worker(&mut self, sid: &str) -> Result<(), Fail> {
        let wi = self.worker_index(sid).ok_or(Fail::NotFound)?;
        if self.reservations.iter().any(|r| {
            r.worker_sid == sid && matches!(r.status, rs::PENDING | rs::ACCEPTED | rs::WRAPPING)
        }) {
            return Err(self.refuse_delete(
                "Worker",
                sid,
                "it has pending, accepted or wrapping reservations",
            ));
        }
        let description = format!("Worker {} deleted", self.workers[wi].friendly_name);
        self.emit_worker("worker.deleted", wi, description, Vec::new());
        self.workers.remove(wi);
        Ok(())
    }
}
