//! The callbacks a transition sends, built here and nowhere else: event callbacks with their
//! common fields and the Task / Worker / routing field groups (reference §2), and the
//! assignment callback with every documented parameter (reference §1.2). They are appended to
//! [`State::outbox`]; nothing here sends anything.

use time::OffsetDateTime;

use super::{Event, MAX_EVENTS, Outgoing, Params, State, TaskStatus, age, new_sid, now};

impl State {
    /// Records an event for the Events resource and, when the Workspace has an
    /// EventCallbackUrl and its EventsFilter lets the type through, queues its callback.
    pub(super) fn emit(
        &mut self,
        event_type: &str,
        description: String,
        resource: (&str, &str),
        fields: Params,
    ) {
        let at = now();
        let millis = at.unix_timestamp_nanos() / 1_000_000;
        let sid = new_sid("EV");
        let mut params: Params = vec![
            ("EventType".into(), event_type.into()),
            ("AccountSid".into(), self.account_sid.clone()),
            ("WorkspaceSid".into(), self.workspace.sid.clone()),
            ("WorkspaceName".into(), self.workspace.friendly_name.clone()),
            ("EventDescription".into(), description.clone()),
            ("ResourceType".into(), resource.0.into()),
            ("ResourceSid".into(), resource.1.into()),
            ("Timestamp".into(), at.unix_timestamp().to_string()),
            ("TimestampMs".into(), millis.to_string()),
            ("Sid".into(), sid.clone()),
        ];
        params.extend(fields);
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            sid,
            event_type: event_type.to_owned(),
            resource_type: resource.0.to_owned(),
            resource_sid: resource.1.to_owned(),
            description,
            at,
            params: params.clone(),
        });
        // Event Streams sees every event, whatever the EventCallbackUrl and EventsFilter say.
        self.stream_outbox
            .push((event_type.to_owned(), params.clone()));
        let Some(url) = self.workspace.event_callback_url.clone() else {
            return;
        };
        if let Some(filter) = &self.workspace.events_filter
            && !filter.split(',').any(|t| t.trim() == event_type)
        {
            return;
        }
        self.outbox.push(Outgoing::Event { url, params });
    }

    /// The "Task" field group, plus the task's channel.
    pub(super) fn task_fields(&self, ti: usize) -> Params {
        let task = &self.tasks[ti];
        let mut fields: Params = vec![
            ("TaskSid".into(), task.sid.clone()),
            ("TaskAttributes".into(), task.attributes.clone()),
            ("TaskAge".into(), age(task).to_string()),
            ("TaskPriority".into(), task.priority.to_string()),
            ("TaskAssignmentStatus".into(), task.status.as_str().into()),
            ("TaskVersion".into(), task.version.to_string()),
            (
                "TaskDateCreated".into(),
                task.created.unix_timestamp().to_string(),
            ),
        ];
        match (task.status, &task.reason) {
            (TaskStatus::Canceled, Some(reason)) => {
                fields.push(("TaskCanceledReason".into(), reason.clone()));
            }
            (TaskStatus::Completed, Some(reason)) => {
                fields.push(("TaskCompletedReason".into(), reason.clone()));
            }
            _ => {}
        }
        if let Some(channel) = self.channel(&task.channel_sid) {
            fields.push(("TaskChannelSid".into(), channel.sid.clone()));
            fields.push(("TaskChannelUniqueName".into(), channel.unique_name.clone()));
        }
        fields
    }

    /// The "Worker" field group.
    pub(super) fn worker_fields(&self, wi: usize) -> Params {
        let worker = &self.workers[wi];
        vec![
            ("WorkerSid".into(), worker.sid.clone()),
            ("WorkerName".into(), worker.friendly_name.clone()),
            ("WorkerAttributes".into(), worker.attributes.clone()),
            ("WorkerActivitySid".into(), worker.activity_sid.clone()),
            (
                "WorkerActivityName".into(),
                self.activity_name(&worker.activity_sid),
            ),
            ("WorkerVersion".into(), worker.version.to_string()),
        ]
    }

    /// TaskQueueSid / TaskQueueName / TaskQueueTargetExpression and WorkflowSid / WorkflowName.
    pub(super) fn routing_fields(&self, ti: usize) -> Params {
        let task = &self.tasks[ti];
        let mut fields = Params::new();
        if let Some(queue) = task.queue_sid.as_deref().and_then(|q| self.queue(q)) {
            fields.push(("TaskQueueSid".into(), queue.sid.clone()));
            fields.push(("TaskQueueName".into(), queue.friendly_name.clone()));
            fields.push((
                "TaskQueueTargetExpression".into(),
                queue.target.source().to_owned(),
            ));
        }
        if let Some(workflow) = self.workflow(&task.workflow_sid) {
            fields.push(("WorkflowSid".into(), workflow.sid.clone()));
            fields.push(("WorkflowName".into(), workflow.friendly_name.clone()));
        }
        fields
    }

    pub(super) fn emit_task(&mut self, event_type: &str, ti: usize, description: String) {
        let mut fields = self.task_fields(ti);
        fields.extend(self.routing_fields(ti));
        let sid = self.tasks[ti].sid.clone();
        self.emit(event_type, description, ("Task", &sid), fields);
    }

    pub(super) fn emit_reservation(&mut self, event_type: &str, ri: usize, verb: &str) {
        let reservation = &self.reservations[ri];
        let (Some(ti), Some(wi)) = (
            self.task_index(&reservation.task_sid),
            self.worker_index(&reservation.worker_sid),
        ) else {
            return;
        };
        let sid = reservation.sid.clone();
        let mut fields = self.task_fields(ti);
        fields.extend(self.worker_fields(wi));
        fields.extend(self.routing_fields(ti));
        fields.push(("ReservationSid".into(), sid.clone()));
        let description = format!(
            "Reservation {sid} {verb} for Worker {} and Task {}",
            self.workers[wi].friendly_name, self.tasks[ti].sid
        );
        self.emit(event_type, description, ("Reservation", &sid), fields);
    }

    pub(super) fn emit_worker(
        &mut self,
        event_type: &str,
        wi: usize,
        description: String,
        extra: Params,
    ) {
        let mut fields = self.worker_fields(wi);
        fields.extend(extra);
        let sid = self.workers[wi].sid.clone();
        self.emit(event_type, description, ("Worker", &sid), fields);
    }

    /// The assignment callback for a new reservation, if the task's Workflow has a URL.
    pub(super) fn assignment_callback(
        &self,
        ti: usize,
        wi: usize,
        sid: &str,
        at: OffsetDateTime,
    ) -> Option<Outgoing> {
        let task = &self.tasks[ti];
        let worker = &self.workers[wi];
        let workflow = self.workflows.iter().find(|w| w.sid == task.workflow_sid)?;
        let url = workflow.assignment_callback_url.clone()?;
        // Every documented parameter (reference §1.2), in the documented order.
        let params: Params = vec![
            ("Timestamp".into(), at.unix_timestamp().to_string()),
            ("AccountSid".into(), self.account_sid.clone()),
            ("WorkspaceSid".into(), self.workspace.sid.clone()),
            ("WorkflowSid".into(), workflow.sid.clone()),
            (
                "TaskQueueSid".into(),
                task.queue_sid.clone().unwrap_or_default(),
            ),
            ("WorkerSid".into(), worker.sid.clone()),
            ("WorkerAttributes".into(), worker.attributes.clone()),
            ("TaskSid".into(), task.sid.clone()),
            ("TaskAttributes".into(), task.attributes.clone()),
            ("TaskAge".into(), age(task).to_string()),
            ("TaskPriority".into(), task.priority.to_string()),
            ("ReservationSid".into(), sid.to_owned()),
        ];
        Some(Outgoing::Assignment {
            reservation_sid: sid.to_owned(),
            url,
            fallback_url: workflow.fallback_assignment_callback_url.clone(),
            params,
        })
    }
}
