//! What the Accept / Reject / Refresh / Complete / Cancel buttons (and `taskhook accept`) do:
//! find the TaskSid and WorkspaceSid a reservation belongs to in the recorded callbacks, call
//! TaskRouter through [`crate::taskrouter::client`], record every call in the audit trail, and
//! report TaskRouter's answer. The workbench's calls live here too: a worker's activity, a new
//! task, and the responder switch (recorded, though it calls nobody).
//!
//! An update that gets a 5xx or no answer may or may not have been applied, so it is never
//! re-sent: the reservation is fetched instead and its real state is reported.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::store::RequestFilter;
use crate::store::models::{NewAction, ReservationUpdate, now_micros};
use crate::store::writer::Writer;
use crate::store::{Store, StoreError};
use crate::taskrouter::client::{
    ActivityJson, Call, Client, ListOf, ReservationJson, RestError, RestResponse, WorkflowJson,
};
use crate::taskrouter::sid::{
    ActivitySid, ReservationSid, TaskSid, WorkerSid, WorkflowSid, WorkspaceSid,
};
use crate::taskrouter::status::{ActionKind, Kind, ReservationStatus};
use crate::wire::ErrorBody;

/// Everything an action needs.
#[derive(Clone)]
pub struct Actions {
    pub store: Store,
    pub writer: Writer,
    pub client: Client,
    /// `--workspace` / TWILIO_WORKSPACE_SID, used when no callback names the workspace.
    pub default_workspace: Option<WorkspaceSid>,
}

/// Optional inputs of a reservation action; missing SIDs are looked up in recorded callbacks.
/// Malformed SIDs are refused when the input is parsed (an empty form field means none).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ReservationInput {
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub task_sid: Option<TaskSid>,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub workspace_sid: Option<WorkspaceSid>,
    /// For Reject: the activity to move the worker to.
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub worker_activity_sid: Option<ActivitySid>,
}

/// Why an action could not even be attempted.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Rest(#[from] RestError),
    /// A SID needed for the call is not known (no recorded callback names it).
    #[error("{0}")]
    Lookup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not record the action: {0}")]
    Audit(String),
    /// The input is wrong; nothing was sent.
    #[error("{0}")]
    Invalid(String),
}

/// TaskRouter's limit on a task's `Attributes` (reference §3.2).
pub const MAX_ATTRIBUTES: usize = 4096;

/// Body of `POST /api/tasks`: what the quickstart's `/create-task` sends, and a little more.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewTaskInput {
    /// A JSON object, or a string holding one.
    pub attributes: Value,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub workflow_sid: Option<WorkflowSid>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub timeout: Option<i64>,
    #[serde(default)]
    pub task_channel: Option<String>,
    #[serde(default, deserialize_with = "crate::taskrouter::sid::empty_as_none")]
    pub workspace_sid: Option<WorkspaceSid>,
}

impl NewTaskInput {
    /// Checks the input against TaskRouter's rules and builds the form parameters (without
    /// `WorkflowSid`), so a mistake gets a clear answer before any call.
    pub fn params(&self) -> Result<Vec<(String, String)>, ActionError> {
        let invalid = |m: &str| ActionError::Invalid(m.to_owned());
        let text = match &self.attributes {
            Value::Object(_) => self.attributes.to_string(),
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(_)) => s.trim().to_owned(),
                Ok(_) => {
                    return Err(invalid(
                        "attributes must be a JSON object, such as {\"selected_language\":\"es\"}",
                    ));
                }
                Err(e) => {
                    return Err(ActionError::Invalid(format!(
                        "attributes are not JSON: {e}"
                    )));
                }
            },
            Value::Null => {
                return Err(invalid(
                    "attributes are required: a JSON object, such as {\"selected_language\":\"es\"}",
                ));
            }
            _ => {
                return Err(invalid(
                    "attributes must be a JSON object, such as {\"selected_language\":\"es\"}",
                ));
            }
        };
        let length = text.chars().count();
        if length > MAX_ATTRIBUTES {
            return Err(ActionError::Invalid(format!(
                "attributes are {length} characters; TaskRouter takes at most {MAX_ATTRIBUTES}"
            )));
        }
        let mut params = vec![("Attributes".to_owned(), text)];
        if let Some(priority) = self.priority {
            if !(0..=i64::from(i32::MAX)).contains(&priority) {
                return Err(invalid("priority is a whole number from 0 to 2147483647"));
            }
            params.push(("Priority".to_owned(), priority.to_string()));
        }
        if let Some(timeout) = self.timeout {
            if !(1..=31_536_000).contains(&timeout) {
                return Err(invalid(
                    "timeout is in seconds, from 1 to 31536000 (365 days)",
                ));
            }
            params.push(("Timeout".to_owned(), timeout.to_string()));
        }
        if let Some(channel) = self
            .task_channel
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            if channel.len() > 64
                || !channel
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    "task_channel is a TaskChannel's unique name (default, voice, chat, …) or its TC SID",
                ));
            }
            params.push(("TaskChannel".to_owned(), channel.to_owned()));
        }
        Ok(params)
    }
}

/// The result of an action that reached TaskRouter (or tried to).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub action: ActionKind,
    pub ok: bool,
    /// TaskRouter's JSON on success (or the fetched state after an unknown outcome).
    pub taskrouter: Option<Value>,
    /// TaskRouter's error in the one JSON error shape.
    pub error: Option<ErrorBody>,
    /// One line for people: "Alice · accepted", or the error.
    pub summary: String,
    pub reservation_status: Option<ReservationStatus>,
    pub worker_name: Option<String>,
    /// The task's `assignment_status`, when the call told it.
    pub task_status: Option<String>,
    /// It worked, but not the way the click meant (e.g. auto-accepted before it).
    pub warning: Option<String>,
}

fn ok_outcome(action: ActionKind, body: Value) -> Outcome {
    Outcome {
        action,
        ok: true,
        taskrouter: Some(body),
        error: None,
        summary: "done".to_owned(),
        reservation_status: None,
        worker_name: None,
        task_status: None,
        warning: None,
    }
}

/// Where a call goes: a task, and a reservation of it for reservation actions.
struct Target {
    workspace: WorkspaceSid,
    task: Option<TaskSid>,
    reservation: Option<ReservationSid>,
}

impl Actions {
    /// Finds the task and workspace of `reservation`, preferring what the caller gave.
    async fn locate(
        &self,
        reservation: &ReservationSid,
        input: &ReservationInput,
    ) -> Result<Target, ActionError> {
        let sid = reservation.clone();
        let seen = self.store.read(move |r| r.get_reservation(&sid)).await?;
        let task = input
            .task_sid
            .clone()
            .or_else(|| seen.as_ref().and_then(|r| r.task_sid.clone()))
            .ok_or_else(|| {
                ActionError::Lookup(format!(
                    "no TaskSid known for {reservation}: no recorded callback names it; pass task_sid"
                ))
            })?;
        let workspace = self
            .workspace_for(
                &task,
                input
                    .workspace_sid
                    .clone()
                    .or_else(|| seen.and_then(|r| r.workspace_sid)),
            )
            .await?;
        Ok(Target {
            workspace,
            task: Some(task),
            reservation: Some(reservation.clone()),
        })
    }

    async fn workspace_for(
        &self,
        task: &TaskSid,
        given: Option<WorkspaceSid>,
    ) -> Result<WorkspaceSid, ActionError> {
        if let Some(workspace) = given {
            return Ok(workspace);
        }
        let sid = task.clone();
        let recorded = self
            .store
            .read(move |r| r.task_history(&sid, 50))
            .await?
            .requests
            .into_iter()
            .find_map(|r| r.workspace_sid);
        recorded
            .or_else(|| self.default_workspace.clone())
            .ok_or_else(|| {
                ActionError::Lookup(format!(
                    "no WorkspaceSid known for {task}: pass workspace_sid, --workspace or TWILIO_WORKSPACE_SID"
                ))
            })
    }

    /// Runs a reservation action (accept, reject, refresh) on `reservation`.
    pub async fn on_reservation(
        &self,
        action: ActionKind,
        reservation: &ReservationSid,
        input: &ReservationInput,
    ) -> Result<Outcome, ActionError> {
        let target = self.locate(reservation, input).await?;
        match action {
            ActionKind::Accept if self.auto_accepted(reservation).await? => {
                // The responder answered the assignment callback with an accept instruction:
                // TaskRouter would answer 20001, so read its state and say what happened.
                let (result, _) = self
                    .call(ActionKind::Refresh, &target, &fetch_call(&target))
                    .await?;
                let mut outcome = reservation_outcome(action, result, None);
                if outcome.reservation_status == Some(ReservationStatus::Accepted) {
                    outcome.warning = Some(
                        "already accepted: the responder answered the assignment callback with {\"instruction\":\"accept\"}".into(),
                    );
                    outcome.summary =
                        format!("{} (auto-accepted by the responder)", outcome.summary);
                    return Ok(outcome);
                }
                let params = vec![("ReservationStatus".to_owned(), "accepted".to_owned())];
                self.update_reservation(action, &target, params, ReservationStatus::Accepted)
                    .await
            }
            ActionKind::Accept => {
                let params = vec![("ReservationStatus".to_owned(), "accepted".to_owned())];
                self.update_reservation(action, &target, params, ReservationStatus::Accepted)
                    .await
            }
            ActionKind::Reject => {
                let mut params = vec![("ReservationStatus".to_owned(), "rejected".to_owned())];
                if let Some(activity) = &input.worker_activity_sid {
                    params.push(("WorkerActivitySid".to_owned(), activity.to_string()));
                }
                self.update_reservation(action, &target, params, ReservationStatus::Rejected)
                    .await
            }
            ActionKind::Refresh => {
                let (result, _) = self.call(action, &target, &fetch_call(&target)).await?;
                Ok(reservation_outcome(action, result, None))
            }
            _ => Err(ActionError::Lookup(format!(
                "{action} is not an action on a reservation"
            ))),
        }
    }

    /// True when the assignment callback for `reservation` was answered with an accept
    /// instruction (the responder accepted it, not a click).
    async fn auto_accepted(&self, reservation: &ReservationSid) -> Result<bool, ActionError> {
        let filter = RequestFilter {
            limit: 5,
            kind: Some(Kind::Assignment),
            reservation_sid: Some(reservation.clone()),
            ..RequestFilter::default()
        };
        let requests = self
            .store
            .read(move |r| {
                let ids: Vec<i64> = r.list_requests(&filter)?.iter().map(|s| s.id).collect();
                ids.into_iter()
                    .map(|id| r.get_request(id))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        Ok(requests.into_iter().flatten().any(|request| {
            request.summary.replay_of.is_none()
                && serde_json::from_slice::<Value>(&request.response.body)
                    .ok()
                    .and_then(|v| {
                        v.get("instruction")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .as_deref()
                    == Some("accept")
        }))
    }

    /// Accept: `ReservationStatus=accepted`, the quickstart's curl.
    pub async fn accept(
        &self,
        reservation: &ReservationSid,
        input: &ReservationInput,
    ) -> Result<Outcome, ActionError> {
        self.on_reservation(ActionKind::Accept, reservation, input)
            .await
    }

    /// Reject, optionally moving the worker to `worker_activity_sid`.
    pub async fn reject(
        &self,
        reservation: &ReservationSid,
        input: &ReservationInput,
    ) -> Result<Outcome, ActionError> {
        self.on_reservation(ActionKind::Reject, reservation, input)
            .await
    }

    async fn update_reservation(
        &self,
        action: ActionKind,
        target: &Target,
        params: Vec<(String, String)>,
        wanted: ReservationStatus,
    ) -> Result<Outcome, ActionError> {
        let (Some(reservation), Some(task)) = (&target.reservation, &target.task) else {
            return Err(ActionError::Lookup("no ReservationSid".into()));
        };
        let call = Client::update_reservation_call(&target.workspace, task, reservation, params);
        let (result, _) = self.call(action, target, &call).await?;
        match result {
            Err(err) if err.outcome_unknown() => {
                // Not re-sent: ask TaskRouter what actually happened.
                let (fetched, _) = self
                    .call(ActionKind::Refresh, target, &fetch_call(target))
                    .await?;
                let mut outcome = reservation_outcome(action, fetched, Some(&err));
                outcome.ok = outcome.reservation_status == Some(wanted);
                Ok(outcome)
            }
            Err(err) if err.status() == Some(400) => {
                // Usually "no longer pending": learn the state it is in, so the page can show
                // it and stop offering Accept / Reject.
                let mut outcome = failed(action, &err);
                if let (Ok(response), _) = self
                    .call(ActionKind::Refresh, target, &fetch_call(target))
                    .await?
                {
                    outcome.reservation_status =
                        serde_json::from_value::<ReservationJson>(response.body)
                            .ok()
                            .map(|json| json.reservation_status);
                }
                Ok(outcome)
            }
            other => Ok(reservation_outcome(action, other, None)),
        }
    }

    /// Complete or cancel a task (`AssignmentStatus` + `Reason`); `action` is
    /// [`ActionKind::Complete`] or [`ActionKind::Cancel`].
    pub async fn finish_task(
        &self,
        action: ActionKind,
        task: &TaskSid,
        workspace: Option<WorkspaceSid>,
        reason: &str,
    ) -> Result<Outcome, ActionError> {
        let Some(status) = action.task_status() else {
            return Err(ActionError::Lookup(format!(
                "{action} is not an action on a task"
            )));
        };
        let workspace = self.workspace_for(task, workspace).await?;
        let reason = if reason.trim().is_empty() {
            format!("{status} from taskhook")
        } else {
            reason.chars().take(500).collect()
        };
        let params = vec![
            ("AssignmentStatus".to_owned(), status.to_string()),
            ("Reason".to_owned(), reason),
        ];
        let call = Client::update_task_call(&workspace, task, params);
        let target = Target {
            workspace,
            task: Some(task.clone()),
            reservation: None,
        };
        let (result, _) = self.call(action, &target, &call).await?;
        Ok(match result {
            Ok(response) => {
                let assignment = response
                    .body
                    .get("assignment_status")
                    .and_then(Value::as_str)
                    .unwrap_or(status.as_str())
                    .to_owned();
                Outcome {
                    action,
                    ok: true,
                    summary: format!("task {assignment}"),
                    taskrouter: Some(response.body),
                    error: None,
                    reservation_status: None,
                    worker_name: None,
                    task_status: Some(assignment),
                    warning: None,
                }
            }
            Err(err) if err.status() == Some(400) => {
                // "not in expected state": read the task, so the page shows where it is.
                let mut outcome = failed(action, &err);
                if let (Ok(response), _) = self
                    .call(ActionKind::Refresh, &target, &fetch_call(&target))
                    .await?
                    && let Some(now) = response
                        .body
                        .get("assignment_status")
                        .and_then(Value::as_str)
                {
                    outcome.summary = format!("{}; the task is {now}", outcome.summary);
                    outcome.task_status = Some(now.to_owned());
                }
                outcome
            }
            Err(err) => failed(action, &err),
        })
    }

    /// The Workspace to work in: `--workspace` / TWILIO_WORKSPACE_SID, else the one the newest
    /// recorded callback names.
    pub async fn workspace(
        &self,
        given: Option<WorkspaceSid>,
    ) -> Result<WorkspaceSid, ActionError> {
        if let Some(ws) = given.or_else(|| self.default_workspace.clone()) {
            return Ok(ws);
        }
        let filter = RequestFilter {
            limit: 50,
            ..RequestFilter::default()
        };
        self.store
            .read(move |r| r.list_requests(&filter))
            .await?
            .into_iter()
            .find_map(|r| r.workspace_sid)
            .ok_or_else(|| {
                ActionError::Lookup(
                    "no WorkspaceSid known: no callback recorded yet; pass --workspace or set TWILIO_WORKSPACE_SID".into(),
                )
            })
    }

    /// The WorkflowSid of the newest recorded assignment callback (they carry `WorkflowSid`).
    pub async fn recorded_workflow(&self) -> Result<Option<WorkflowSid>, ActionError> {
        let filter = RequestFilter {
            limit: 1,
            kind: Some(Kind::Assignment),
            ..RequestFilter::default()
        };
        let latest = self
            .store
            .read(move |r| {
                let Some(first) = r.list_requests(&filter)?.into_iter().next() else {
                    return Ok(None);
                };
                r.get_request(first.id)
            })
            .await?;
        Ok(latest.and_then(|request| {
            form_urlencoded::parse(&request.body)
                .find(|(k, _)| k == "WorkflowSid")
                .and_then(|(_, v)| v.parse().ok())
        }))
    }

    /// The workflow a new task goes to: the given one, else the one callbacks came from, else
    /// the Workspace's only one.
    pub async fn default_workflow(
        &self,
        workspace: &WorkspaceSid,
        workflows: &[WorkflowJson],
    ) -> Result<WorkflowSid, ActionError> {
        if let Some(recorded) = self.recorded_workflow().await? {
            return Ok(recorded);
        }
        match workflows {
            [only] => Ok(only.sid.clone()),
            [] => Err(ActionError::Lookup(format!("{workspace} has no Workflow"))),
            _ => Err(ActionError::Invalid(format!(
                "{workspace} has {} Workflows and no assignment callback says which one is used: choose workflow_sid",
                workflows.len()
            ))),
        }
    }

    /// Moves `worker` to `activity` (a name such as `Idle`, or a WA SID).
    pub async fn set_activity(
        &self,
        workspace: Option<WorkspaceSid>,
        worker: &WorkerSid,
        activity: &str,
    ) -> Result<Outcome, ActionError> {
        let workspace = self.workspace(workspace).await?;
        let activity = activity.trim();
        let sid: ActivitySid = match activity.parse() {
            Ok(sid) => sid,
            Err(_) => {
                if activity.is_empty() {
                    return Err(ActionError::Invalid(
                        "activity is an Activity's name (Idle, Offline, …) or its WA SID".into(),
                    ));
                }
                let known: Vec<ActivityJson> =
                    self.client.list(&workspace, ListOf::Activities).await?;
                known
                    .iter()
                    .find(|a| a.friendly_name.eq_ignore_ascii_case(activity))
                    .map(|a| a.sid.clone())
                    .ok_or_else(|| {
                        ActionError::Invalid(format!(
                            "no activity named {activity:?}; this workspace has {}",
                            known
                                .iter()
                                .map(|a| a.friendly_name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?
            }
        };
        let call = Client::update_worker_call(
            &workspace,
            worker,
            vec![("ActivitySid".to_owned(), sid.to_string())],
        );
        let target = Target {
            workspace,
            task: None,
            reservation: None,
        };
        let (result, _) = self.call(ActionKind::SetActivity, &target, &call).await?;
        Ok(match result {
            Ok(response) => {
                let name = response
                    .body
                    .get("friendly_name")
                    .and_then(Value::as_str)
                    .unwrap_or("worker");
                let now = response
                    .body
                    .get("activity_name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                Outcome {
                    summary: format!("{name} · {now}"),
                    worker_name: Some(name.to_owned()),
                    ..ok_outcome(ActionKind::SetActivity, response.body)
                }
            }
            Err(err) => failed(ActionKind::SetActivity, &err),
        })
    }

    /// Creates a task (the quickstart's `/create-task`).
    pub async fn create_task(&self, input: &NewTaskInput) -> Result<Outcome, ActionError> {
        let mut params = input.params()?;
        let workspace = self.workspace(input.workspace_sid.clone()).await?;
        let workflow = match &input.workflow_sid {
            Some(sid) => sid.clone(),
            None => {
                let workflows: Vec<WorkflowJson> = match self.recorded_workflow().await? {
                    Some(_) => Vec::new(),
                    None => self.client.list(&workspace, ListOf::Workflows).await?,
                };
                self.default_workflow(&workspace, &workflows).await?
            }
        };
        params.insert(1, ("WorkflowSid".to_owned(), workflow.to_string()));
        let call = Client::create_task_call(&workspace, params);
        let target = Target {
            workspace,
            task: None,
            reservation: None,
        };
        let (result, _) = self.call(ActionKind::CreateTask, &target, &call).await?;
        Ok(match result {
            Ok(response) => {
                let sid = response
                    .body
                    .get("sid")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                let status = response
                    .body
                    .get("assignment_status")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                Outcome {
                    summary: format!("task {sid} · {status}"),
                    task_status: Some(status.to_owned()),
                    ..ok_outcome(ActionKind::CreateTask, response.body)
                }
            }
            Err(err) => failed(ActionKind::CreateTask, &err),
        })
    }

    /// Records a responder switch in the audit trail (no REST call is made).
    pub async fn record_responder(&self, from: &Value, to: &Value) -> Result<(), ActionError> {
        let record = NewAction {
            at_us: now_micros(),
            action: ActionKind::Responder,
            method: "PUT",
            url: "/api/responder".to_owned(),
            params: serde_json::json!({ "from": from, "assignment": to }).to_string(),
            workspace_sid: None,
            task_sid: None,
            reservation_sid: None,
            response_status: Some(200),
            response_body: Some(serde_json::json!({ "assignment": to }).to_string()),
            error: None,
            duration_us: 0,
            reservation_update: None,
        };
        self.writer
            .record_action(record)
            .await
            .map(|_| ())
            .map_err(|e| ActionError::Audit(e.message))
    }

    /// Sends one call and records it in the audit trail, whatever happened.
    async fn call(
        &self,
        action: ActionKind,
        target: &Target,
        call: &Call,
    ) -> Result<(Result<RestResponse, RestError>, i64), ActionError> {
        if !self.client.has_credentials() {
            return Err(RestError::NoCredentials.into());
        }
        let at_us = now_micros();
        let started = Instant::now();
        let result = self.client.send(call).await;
        let (response_status, response_body, error) = match &result {
            Ok(r) => (Some(r.status), Some(r.body.to_string()), None),
            Err(err) => (
                err.status(),
                match err {
                    RestError::Twilio { body, .. } => Some(body.to_string()),
                    _ => None,
                },
                Some(err.to_string()),
            ),
        };
        let reservation_update = result.as_ref().ok().and_then(|r| {
            serde_json::from_value::<ReservationJson>(r.body.clone())
                .ok()
                .map(|json| ReservationUpdate {
                    status: json.reservation_status,
                    worker_name: json.worker_name,
                })
        });
        let record = NewAction {
            at_us,
            action,
            method: if call.method == reqwest::Method::GET {
                "GET"
            } else {
                "POST"
            },
            url: self.client.url(call),
            params: call.form_body(),
            workspace_sid: Some(target.workspace.clone()),
            task_sid: target.task.clone(),
            reservation_sid: target.reservation.clone(),
            response_status,
            response_body,
            error,
            duration_us: started.elapsed().as_micros() as i64,
            reservation_update,
        };
        let id = self
            .writer
            .record_action(record)
            .await
            .map_err(|e| ActionError::Audit(e.message))?;
        Ok((result, id))
    }
}

/// `GET` the reservation of `target` (the task itself when it names no reservation).
fn fetch_call(target: &Target) -> Call {
    let path = match (&target.reservation, &target.task) {
        (Some(reservation), Some(task)) => {
            crate::taskrouter::client::reservation_path(&target.workspace, task, reservation)
        }
        (_, Some(task)) => crate::taskrouter::client::task_path(&target.workspace, task),
        (_, None) => crate::taskrouter::client::workspace_path(&target.workspace),
    };
    Call {
        method: reqwest::Method::GET,
        path,
        params: Vec::new(),
    }
}

fn failed(action: ActionKind, err: &RestError) -> Outcome {
    Outcome {
        action,
        ok: false,
        taskrouter: match err {
            RestError::Twilio { body, .. } => Some(body.clone()),
            _ => None,
        },
        error: Some(err.error_body()),
        summary: err.to_string(),
        reservation_status: None,
        worker_name: None,
        task_status: None,
        warning: None,
    }
}

/// Reads a reservation answer into an outcome; `unknown` is the update error that led to it.
fn reservation_outcome(
    action: ActionKind,
    result: Result<RestResponse, RestError>,
    unknown: Option<&RestError>,
) -> Outcome {
    match result {
        Ok(response) => {
            let json = serde_json::from_value::<ReservationJson>(response.body.clone()).ok();
            let status = json.as_ref().map(|j| j.reservation_status);
            let worker = json.as_ref().and_then(|j| j.worker_name.clone());
            let mut summary = match (&worker, &status) {
                (Some(w), Some(s)) => format!("{w} · {s}"),
                (None, Some(s)) => s.to_string(),
                _ => "done".to_owned(),
            };
            if let Some(err) = unknown {
                summary = format!("outcome unknown ({err}); TaskRouter now reports {summary}");
            }
            Outcome {
                action,
                ok: unknown.is_none(),
                taskrouter: Some(response.body),
                error: unknown.map(RestError::error_body),
                summary,
                reservation_status: status,
                worker_name: worker,
                task_status: None,
                warning: None,
            }
        }
        Err(err) => {
            let mut outcome = failed(action, &err);
            if let Some(first) = unknown {
                outcome.summary =
                    format!("outcome unknown ({first}); fetching the state failed too: {err}");
                outcome.error = Some(first.error_body());
            }
            outcome
        }
    }
}
