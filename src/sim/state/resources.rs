//! Changes to the Workspace's configuration resources: Workers (create, update, activity
//! changes), the Workspace itself and Workflows. Every input is validated before anything
//! changes.

use std::time::Duration;

use super::routing::routing;
use super::{
    Fail, MAX_RESERVATION_TIMEOUT, NewWorker, State, Worker, WorkerChanges, WorkflowChanges,
    WorkspaceChanges, attributes, callback_url, integer, new_sid, now, reservation_status as rs,
};

impl State {
    /// Moves a worker to `activity_sid` and sends `worker.activity.update` if it changed.
    pub(super) fn set_worker_activity(&mut self, wi: usize, activity_sid: &str) {
        if self.workers[wi].activity_sid == activity_sid {
            return;
        }
        let at = now();
        let worker = &mut self.workers[wi];
        let previous = std::mem::replace(&mut worker.activity_sid, activity_sid.to_owned());
        let spent = at - worker.status_changed;
        worker.status_changed = at;
        worker.updated = at;
        worker.version += 1;
        let name = worker.friendly_name.clone();
        let extra = vec![
            ("WorkerPreviousActivitySid".into(), previous.clone()),
            (
                "WorkerPreviousActivityName".into(),
                self.activity_name(&previous),
            ),
            (
                "WorkerTimeInPreviousActivity".into(),
                spent.whole_seconds().max(0).to_string(),
            ),
            (
                "WorkerTimeInPreviousActivityMs".into(),
                spent.whole_milliseconds().max(0).to_string(),
            ),
        ];
        let description = format!(
            "Worker {name} updated to {} Activity",
            self.activity_name(activity_sid)
        );
        self.emit_worker("worker.activity.update", wi, description, extra);
    }

    pub fn create_worker(&mut self, input: NewWorker) -> Result<String, Fail> {
        let friendly_name = input
            .friendly_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                Fail::Invalid("Missing required parameter FriendlyName in the post body".into())
            })?;
        if self
            .workers
            .iter()
            .any(|w| w.friendly_name == friendly_name)
        {
            return Err(Fail::Invalid(format!(
                "Worker with FriendlyName {friendly_name} already exists in Workspace {}",
                self.workspace.sid
            )));
        }
        let activity_sid = match input.activity_sid.as_deref() {
            Some(sid) => self.known_activity("ActivitySid", sid)?,
            None => self.workspace.default_activity_sid.clone(),
        };
        let (attributes, attrs) = attributes(input.attributes.as_deref().unwrap_or("{}"))?;
        let at = now();
        let sid = new_sid("WK");
        self.workers.push(Worker {
            sid: sid.clone(),
            friendly_name,
            activity_sid,
            attributes,
            attrs,
            created: at,
            updated: at,
            status_changed: at,
            version: 0,
            channel_settings: Vec::new(),
        });
        let wi = self.workers.len() - 1;
        let description = format!("Worker {} created", self.workers[wi].friendly_name);
        self.emit_worker("worker.created", wi, description, Vec::new());
        self.route();
        Ok(sid)
    }

    pub fn update_worker(&mut self, sid: &str, changes: WorkerChanges) -> Result<(), Fail> {
        let wi = self.worker_index(sid).ok_or(Fail::NotFound)?;
        // Validate everything before changing anything.
        let activity = match changes.activity_sid.as_deref() {
            Some(activity) => Some(self.known_activity("ActivitySid", activity)?),
            None => None,
        };
        let attributes = match changes.attributes.as_deref() {
            Some(value) => Some(attributes(value)?),
            None => None,
        };
        if let Some(name) = changes.friendly_name.filter(|n| !n.trim().is_empty()) {
            let worker = &mut self.workers[wi];
            worker.friendly_name = name;
            worker.updated = now();
            worker.version += 1;
        }
        if let Some((text, parsed)) = attributes {
            let worker = &mut self.workers[wi];
            worker.attributes = text;
            worker.attrs = parsed;
            worker.updated = now();
            worker.version += 1;
            let description = format!("Worker {} attributes updated", worker.friendly_name);
            self.emit_worker("worker.attributes.update", wi, description, Vec::new());
        }
        if let Some(activity) = activity {
            let unavailable = !self.activity(&activity).is_some_and(|a| a.available);
            if unavailable && changes.reject_pending_reservations {
                let pending: Vec<usize> = self
                    .reservations
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.worker_sid == sid && r.status == rs::PENDING)
                    .map(|(i, _)| i)
                    .collect();
                for ri in pending {
                    self.reject(ri, Some(activity.clone()));
                }
            }
            self.set_worker_activity(wi, &activity);
        }
        self.route();
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Workspace and Workflow

    pub fn update_workspace(&mut self, changes: WorkspaceChanges) -> Result<(), Fail> {
        let event_callback_url = match changes.event_callback_url.as_deref() {
            Some(url) => Some(callback_url("EventCallbackUrl", url)?),
            None => None,
        };
        let default_activity = match changes.default_activity_sid.as_deref() {
            Some(sid) => Some(self.known_activity("DefaultActivitySid", sid)?),
            None => None,
        };
        let timeout_activity = match changes.timeout_activity_sid.as_deref() {
            Some(sid) => Some(self.known_activity("TimeoutActivitySid", sid)?),
            None => None,
        };
        let workspace = &mut self.workspace;
        if let Some(name) = changes.friendly_name.filter(|n| !n.trim().is_empty()) {
            workspace.friendly_name = name;
        }
        if let Some(url) = event_callback_url {
            workspace.event_callback_url = url;
        }
        if let Some(filter) = changes.events_filter {
            let filter = filter.trim();
            workspace.events_filter = (!filter.is_empty()).then(|| filter.to_owned());
        }
        if let Some(sid) = default_activity {
            workspace.default_activity_sid = sid;
        }
        if let Some(sid) = timeout_activity {
            workspace.timeout_activity_sid = sid;
        }
        workspace.updated = now();
        let sid = workspace.sid.clone();
        let description = format!("Workspace {} updated", workspace.friendly_name);
        self.emit(
            "workspace.updated",
            description,
            ("Workspace", &sid),
            Vec::new(),
        );
        Ok(())
    }

    pub fn update_workflow(&mut self, sid: &str, changes: WorkflowChanges) -> Result<(), Fail> {
        let index = self
            .workflows
            .iter()
            .position(|w| w.sid == sid)
            .ok_or(Fail::NotFound)?;
        let assignment = match changes.assignment_callback_url.as_deref() {
            Some(url) => Some(callback_url("AssignmentCallbackUrl", url)?),
            None => None,
        };
        let fallback = match changes.fallback_assignment_callback_url.as_deref() {
            Some(url) => Some(callback_url("FallbackAssignmentCallbackUrl", url)?),
            None => None,
        };
        let timeout = match changes.task_reservation_timeout.as_deref() {
            Some(value) => {
                let max = MAX_RESERVATION_TIMEOUT.as_secs() as i64;
                Some(Duration::from_secs(
                    integer("TaskReservationTimeout", value, 1..=max)? as u64,
                ))
            }
            None => None,
        };
        let routing = match changes.configuration.as_deref() {
            Some(configuration) => {
                let queues: Vec<String> = self.queues.iter().map(|q| q.sid.clone()).collect();
                let parsed = routing(configuration, |q| queues.iter().any(|s| s == q))?;
                Some((configuration.to_owned(), parsed))
            }
            None => None,
        };
        let workflow = &mut self.workflows[index];
        if let Some(name) = changes.friendly_name.filter(|n| !n.trim().is_empty()) {
            workflow.friendly_name = name;
        }
        if let Some(url) = assignment {
            workflow.assignment_callback_url = url;
        }
        if let Some(url) = fallback {
            workflow.fallback_assignment_callback_url = url;
        }
        if let Some(timeout) = timeout {
            workflow.reservation_timeout = timeout;
        }
        if let Some((configuration, (filters, default_target))) = routing {
            workflow.configuration = configuration;
            workflow.filters = filters;
            workflow.default_target = default_target;
        }
        workflow.updated = now();
        let fields = vec![
            ("WorkflowSid".into(), workflow.sid.clone()),
            ("WorkflowName".into(), workflow.friendly_name.clone()),
        ];
        let description = format!("Workflow {} updated", workflow.friendly_name);
        let sid = workflow.sid.clone();
        self.emit("workflow.updated", description, ("Workflow", &sid), fields);
        if changes.re_evaluate_tasks {
            // Without it, tasks already routed keep the steps they were given.
            let pending: Vec<usize> = (0..self.tasks.len())
                .filter(|&ti| {
                    let task = &self.tasks[ti];
                    task.workflow_sid == sid
                        && task.fixed_queue.is_none()
                        && task.status == super::TaskStatus::Pending
                })
                .collect();
            for ti in pending {
                self.reenter_workflow(ti);
            }
            self.route();
        }
        Ok(())
    }
}
