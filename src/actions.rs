//! What the Accept / Reject / Refresh / Complete / Cancel buttons (and `taskhook accept`) do:
//! find the TaskSid and WorkspaceSid a reservation belongs to in the recorded callbacks, call
//! TaskRouter through [`crate::taskrouter::client`], record every call in the audit trail, and
//! report TaskRouter's answer.
//!
//! An update that gets a 5xx or no answer may or may not have been applied, so it is never
//! re-sent: the reservation is fetched instead and its real state is reported.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::store::models::{NewAction, ReservationUpdate, now_micros};
use crate::store::writer::Writer;
use crate::store::{Store, StoreError};
use crate::taskrouter::client::{Call, Client, ReservationJson, RestError, RestResponse};
use crate::taskrouter::sid::{ActivitySid, ReservationSid, TaskSid, WorkspaceSid};
use crate::taskrouter::status::{ActionKind, ReservationStatus};
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
}

/// Where a call goes: a task, and a reservation of it for reservation actions.
struct Target {
    workspace: WorkspaceSid,
    task: TaskSid,
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
            task,
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
            ActionKind::Complete | ActionKind::Cancel => Err(ActionError::Lookup(format!(
                "{action} is an action on a task, not a reservation"
            ))),
        }
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
        let Some(reservation) = &target.reservation else {
            return Err(ActionError::Lookup("no ReservationSid".into()));
        };
        let call =
            Client::update_reservation_call(&target.workspace, &target.task, reservation, params);
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
            task: task.clone(),
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
                }
            }
            Err(err) => failed(action, &err),
        })
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
            task_sid: Some(target.task.clone()),
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
    let path = match &target.reservation {
        Some(reservation) => crate::taskrouter::client::reservation_path(
            &target.workspace,
            &target.task,
            reservation,
        ),
        None => crate::taskrouter::client::task_path(&target.workspace, &target.task),
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
