//! Every Workspace of the sim's account: the seeded quickstart one and those created through
//! `POST /v1/Workspaces` (with or without `Template=FIFO`). Each Workspace is its own
//! [`State`]; a reservation SID is unique across them, so a timer finds its Workspace by asking
//! each.

use std::time::Duration;

use super::{
    Activity, Fail, Filter, Outgoing, State, TaskQueue, Timer, Workflow, Workspace, callback_url,
    new_sid, now, routing,
};
use crate::sim::expr::Expr;

/// Inputs of Workspace create.
#[derive(Debug, Default)]
pub struct NewWorkspace {
    pub friendly_name: Option<String>,
    pub event_callback_url: Option<String>,
    pub events_filter: Option<String>,
    pub template: Option<String>,
}

pub struct World {
    pub account_sid: String,
    /// In creation order; the seeded one first.
    pub workspaces: Vec<State>,
    /// The TaskReservationTimeout a created Workflow gets when the request names none.
    pub reservation_timeout: Duration,
    /// Callbacks of Workspaces that no longer exist (`workspace.deleted`).
    pub outbox: Vec<Outgoing>,
    /// Timers of a deleted Workspace's reservations and tasks.
    pub ended_timers: Vec<Timer>,
}

impl World {
    pub fn new(account_sid: String, reservation_timeout: Duration, seeded: State) -> Self {
        Self {
            account_sid,
            workspaces: vec![seeded],
            reservation_timeout,
            outbox: Vec::new(),
            ended_timers: Vec::new(),
        }
    }

    /// The Workspace `sid`, or 404.
    pub fn get(&mut self, sid: &str) -> Result<&mut State, Fail> {
        self.workspaces
            .iter_mut()
            .find(|s| s.workspace.sid == sid)
            .ok_or(Fail::NotFound)
    }

    pub fn create_workspace(&mut self, input: NewWorkspace) -> Result<&mut State, Fail> {
        let friendly_name = input
            .friendly_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                Fail::Invalid("Missing required parameter FriendlyName in the post body".into())
            })?;
        if self
            .workspaces
            .iter()
            .any(|s| s.workspace.friendly_name == friendly_name)
        {
            // TaskRouter keeps Workspace names unique per account.
            return Err(Fail::Invalid(format!(
                "Workspace with FriendlyName {friendly_name} already exists"
            )));
        }
        let event_callback_url = match input.event_callback_url.as_deref() {
            Some(url) => callback_url("EventCallbackUrl", url)?,
            None => None,
        };
        let fifo = match input.template.as_deref().map(str::trim) {
            None | Some("") | Some("NONE") => false,
            Some("FIFO") => true,
            Some(other) => {
                return Err(Fail::Invalid(format!(
                    "Template {other} is not valid; use FIFO"
                )));
            }
        };
        let mut state = State::empty(self.account_sid.clone(), friendly_name, event_callback_url);
        if let Some(filter) = input.events_filter.map(|f| f.trim().to_owned()) {
            state.workspace.events_filter = (!filter.is_empty()).then_some(filter);
        }
        if fifo {
            state.add_fifo_template(self.reservation_timeout);
        }
        let description = format!("Workspace {} created", state.workspace.friendly_name);
        let sid = state.workspace.sid.clone();
        state.emit(
            "workspace.created",
            description,
            ("Workspace", &sid),
            Vec::new(),
        );
        self.workspaces.push(state);
        Ok(self.workspaces.last_mut().expect("just pushed"))
    }

    pub fn delete_workspace(&mut self, sid: &str) -> Result<(), Fail> {
        let index = self
            .workspaces
            .iter()
            .position(|s| s.workspace.sid == sid)
            .ok_or(Fail::NotFound)?;
        let mut state = self.workspaces.remove(index);
        let description = format!("Workspace {} deleted", state.workspace.friendly_name);
        state.emit(
            "workspace.deleted",
            description,
            ("Workspace", sid),
            Vec::new(),
        );
        self.outbox.append(&mut state.outbox);
        self.ended_timers.extend(
            state
                .reservations
                .iter()
                .map(|r| Timer::Reservation(r.sid.clone())),
        );
        for task in &state.tasks {
            self.ended_timers.push(Timer::TaskTtl(task.sid.clone()));
            if let Some(step) = &task.step {
                self.ended_timers.push(Timer::Step {
                    task_sid: task.sid.clone(),
                    seq: step.seq,
                });
            }
        }
        Ok(())
    }

    /// A task's TTL timer fired: the Workspace that has the task handles it.
    fn expire_task(&mut self, task_sid: &str) {
        if let Some(state) = self
            .workspaces
            .iter_mut()
            .find(|s| s.task_index(task_sid).is_some())
        {
            state.expire_task(task_sid);
        }
    }

    /// A timer fired: the Workspace that has its task or reservation handles it.
    pub fn timer_fired(&mut self, timer: &Timer) {
        match timer {
            Timer::Reservation(sid) => self.timeout_reservation(sid),
            Timer::TaskTtl(sid) => self.expire_task(sid),
            Timer::Step { task_sid, seq } => self.step_timeout(task_sid, *seq),
        }
    }

    /// A routing step timer fired: the Workspace that has the task handles it.
    fn step_timeout(&mut self, task_sid: &str, seq: u64) {
        if let Some(state) = self
            .workspaces
            .iter_mut()
            .find(|s| s.task_index(task_sid).is_some())
        {
            state.step_timeout(task_sid, seq);
        }
    }

    /// A reservation timer fired: the Workspace that has the reservation handles it.
    fn timeout_reservation(&mut self, reservation_sid: &str) {
        if let Some(state) = self
            .workspaces
            .iter_mut()
            .find(|s| s.reservation_index(reservation_sid).is_some())
        {
            state.timeout_reservation(reservation_sid);
        }
    }

    /// Where a delivered callback's answer is applied.
    pub fn state_of_reservation(&mut self, reservation_sid: &str) -> Option<&mut State> {
        self.workspaces
            .iter_mut()
            .find(|s| s.reservation_index(reservation_sid).is_some())
    }
}

impl State {
    /// A new Workspace as TaskRouter creates one: the Activities Offline (default and timeout),
    /// Available and Unavailable, and the six standard TaskChannels.
    pub fn empty(
        account_sid: String,
        friendly_name: String,
        event_callback_url: Option<String>,
    ) -> Self {
        let at = now();
        let activity = |name: &str, available: bool| Activity {
            sid: new_sid("WA"),
            friendly_name: name.to_owned(),
            available,
            created: at,
            updated: at,
        };
        let activities = vec![
            activity("Offline", false),
            activity("Available", true),
            activity("Unavailable", false),
        ];
        let offline = activities[0].sid.clone();
        State {
            account_sid,
            workspace: Workspace {
                sid: new_sid("WS"),
                friendly_name,
                event_callback_url,
                events_filter: None,
                default_activity_sid: offline.clone(),
                timeout_activity_sid: offline,
                created: at,
                updated: at,
            },
            activities,
            channels: super::standard_channels(at),
            workers: Vec::new(),
            queues: Vec::new(),
            workflows: Vec::new(),
            tasks: Vec::new(),
            reservations: Vec::new(),
            events: std::collections::VecDeque::new(),
            outbox: Vec::new(),
            stream_outbox: Vec::new(),
            new_timers: Vec::new(),
            ended_timers: Vec::new(),
        }
    }

    /// `Template=FIFO`: a "Sample Queue" every worker matches (`1==1`) and a "Default Fifo
    /// Workflow" sending every task to it.
    fn add_fifo_template(&mut self, reservation_timeout: Duration) {
        let at = now();
        let queue_sid = new_sid("WQ");
        self.queues.push(TaskQueue {
            sid: queue_sid.clone(),
            friendly_name: "Sample Queue".to_owned(),
            target: Expr::parse("1==1").expect("constant expression parses"),
            assignment_activity_sid: None,
            reservation_activity_sid: None,
            max_reserved_workers: 1,
            task_order: "FIFO".to_owned(),
            created: at,
            updated: at,
        });
        let configuration = serde_json::json!({
            "task_routing": {
                "filters": [],
                "default_filter": {"queue": queue_sid}
            }
        })
        .to_string();
        let (filters, default_target): (Vec<Filter>, _) =
            routing(&configuration, |q| q == queue_sid).unwrap_or_default();
        self.workflows.push(Workflow {
            sid: new_sid("WW"),
            friendly_name: "Default Fifo Workflow".to_owned(),
            assignment_callback_url: None,
            fallback_assignment_callback_url: None,
            reservation_timeout,
            configuration,
            filters,
            default_target,
            created: at,
            updated: at,
        });
    }
}
