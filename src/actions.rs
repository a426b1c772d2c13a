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

use crate::store::models::now_micros;
use crate::store::models::{NewAction, ReservationUpdate};
use crate::store::writer::Writer;
use crate::store::{Store, StoreError};
use crate::taskrouter::client::{Call, Client, ReservationJson, RestError};
use crate::taskrouter::sid::{self, is_sid};

/// Everything an action needs.
#[derive(Clone)]
pub struct Actions {
    pub store: Store,
    pub writer: Writer,
    pub client: Client,
    /// `--workspace` / TWILIO_WORKSPACE_SID, used when no callback names the workspace.
    pub default_workspace: Option<String>,
}

/// Optional inputs of a reservation action; missing SIDs are looked up in recorded callbacks.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ReservationInput {
    pub task_sid: Option<String>,
    pub workspace_sid: Option<String>,
    /// For Reject: the activity to move the worker to.
    pub worker_activity_sid: Option<String>,
}

/// Why an action could not even be attempted.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error("{0}")]
    Lookup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not record the action: {0}")]
    Audit(String),
}

/// TaskRouter's error, as shown to the user and returned by the API.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskRouterError {
    /// HTTP status TaskRouter answered; absent when it did not answer.
    pub status: Option<u16>,
    pub code: Option<i64>,
    pub message: String,
    pub more_info: Option<String>,
}

impl From<&RestError> for TaskRouterError {
    fn from(err: &RestError) -> Self {
        match err {
            RestError::Twilio {
                status,
                code,
                more_info,
                ..
            } => Self {
                status: Some(*status),
                code: *code,
                message: err.to_string(),
                more_info: more_info.clone(),
            },
            other => Self {
                status: None,
                code: None,
                message: other.to_string(),
                more_info: None,
            },
        }
    }
}

/// The result of an action that reached TaskRouter (or tried to).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub action: &'static str,
    pub ok: bool,
    /// TaskRouter's JSON on success (or the fetched state after an unknown outcome).
    pub taskrouter: Option<Value>,
    pub error: Option<TaskRouterError>,
    /// One line for people: "Alice · accepted", or the error.
    pub summary: String,
    pub reservation_status: Option<String>,
    pub worker_name: Option<String>,
}

fn valid(name: &str, prefix: &'static str, value: &str) -> Result<(), ActionError> {
    if is_sid(value, prefix) {
        Ok(())
    } else {
        Err(ActionError::Lookup(format!(
            "{name} must be {prefix} followed by 32 hex digits"
        )))
    }
}

/// Where a reservation lives.
struct Target {
    workspace: String,
    task: String,
    reservation: String,
}

impl Actions {
    /// Finds the task and workspace of `reservation`, preferring what the caller gave.
    async fn locate(
        &self,
        reservation: &str,
        input: &ReservationInput,
    ) -> Result<Target, ActionError> {
        valid("ReservationSid", sid::RESERVATION, reservation)?;
        let sid = reservation.to_owned();
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
        valid("TaskSid", sid::TASK, &task)?;
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
            reservation: reservation.to_owned(),
        })
    }

    async fn workspace_for(
        &self,
        task: &str,
        given: Option<String>,
    ) -> Result<String, ActionError> {
        let workspace = match given {
            Some(ws) => Some(ws),
            None => {
                let sid = task.to_owned();
                let recorded = self
                    .store
                    .read(move |r| r.task_history(&sid, 50))
                    .await?
                    .requests
                    .into_iter()
                    .find_map(|r| r.workspace_sid);
                recorded.or_else(|| self.default_workspace.clone())
            }
        };
        let workspace = workspace.ok_or_else(|| {
            ActionError::Lookup(format!(
                "no WorkspaceSid known for {task}: pass workspace_sid, --workspace or TWILIO_WORKSPACE_SID"
            ))
        })?;
        valid("WorkspaceSid", sid::WORKSPACE, &workspace)?;
        Ok(workspace)
    }

    /// Accept: `ReservationStatus=accepted`, the quickstart's curl.
    pub async fn accept(
        &self,
        reservation: &str,
        input: &ReservationInput,
    ) -> Result<Outcome, ActionError> {
        let target = self.locate(reservation, input).await?;
        let params = vec![("ReservationStatus".to_owned(), "accepted".to_owned())];
        self.update_reservation("accept", &target, params, "accepted")
            .await
    }

    /// Reject, optionally moving the worker to `worker_activity_sid`.
    pub async fn reject(
        &self,
        reservation: &str,
        input: &ReservationInput,
    ) -> Result<Outcome, ActionError> {
        let target = self.locate(reservation, input).await?;
        let mut params = vec![("ReservationStatus".to_owned(), "rejected".to_owned())];
        if let Some(activity) = input
            .worker_activity_sid
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            valid("WorkerActivitySid", "WA", activity)?;
            params.push(("WorkerActivitySid".to_owned(), activity.to_owned()));
        }
        self.update_reservation("reject", &target, params, "rejected")
            .await
    }

    /// Refresh: fetch the reservation's live state.
    pub async fn refresh(
        &self,
        reservation: &str,
        input: &ReservationInput,
    ) -> Result<Outcome, ActionError> {
        let target = self.locate(reservation, input).await?;
        let call =
            Client::fetch_reservation_call(&target.workspace, &target.task, &target.reservation)?;
        let (result, _) = self.call("refresh", &target, &call).await?;
        Ok(reservation_outcome("refresh", result, None))
    }

    async fn update_reservation(
        &self,
        action: &'static str,
        target: &Target,
        params: Vec<(String, String)>,
        wanted: &str,
    ) -> Result<Outcome, ActionError> {
        let call = Client::update_reservation_call(
            &target.workspace,
            &target.task,
            &target.reservation,
            params,
        )?;
        let (result, _) = self.call(action, target, &call).await?;
        match result {
            Err(err) if err.outcome_unknown() => {
                // Not re-sent: ask TaskRouter what actually happened.
                let fetch = Client::fetch_reservation_call(
                    &target.workspace,
                    &target.task,
                    &target.reservation,
                )?;
                let (fetched, _) = self.call("refresh", target, &fetch).await?;
                let mut outcome = reservation_outcome(action, fetched, Some(&err));
                outcome.ok = outcome.reservation_status.as_deref() == Some(wanted);
                Ok(outcome)
            }
            Err(err) if err.status() == Some(400) => {
                // Usually "no longer pending": learn the state it is in, so the page can show
                // it and stop offering Accept / Reject.
                let mut outcome = failed(action, &err);
                let fetch = Client::fetch_reservation_call(
                    &target.workspace,
                    &target.task,
                    &target.reservation,
                )?;
                if let (Ok(response), _) = self.call("refresh", target, &fetch).await? {
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

    /// Complete or cancel a task (`AssignmentStatus` + `Reason`).
    pub async fn finish_task(
        &self,
        action: &'static str,
        task: &str,
        workspace: Option<String>,
        reason: &str,
    ) -> Result<Outcome, ActionError> {
        valid("TaskSid", sid::TASK, task)?;
        let status = match action {
            "complete" => "completed",
            _ => "canceled",
        };
        let workspace = self.workspace_for(task, workspace).await?;
        let reason = if reason.trim().is_empty() {
            format!("{status} from taskhook")
        } else {
            reason.chars().take(500).collect()
        };
        let params = vec![
            ("AssignmentStatus".to_owned(), status.to_owned()),
            ("Reason".to_owned(), reason),
        ];
        let call = Client::update_task_call(&workspace, task, params)?;
        let target = Target {
            workspace,
            task: task.to_owned(),
            reservation: String::new(),
        };
        let (result, _) = self.call(action, &target, &call).await?;
        Ok(match result {
            Ok(response) => {
                let assignment = response
                    .body
                    .get("assignment_status")
                    .and_then(Value::as_str)
                    .unwrap_or(status)
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
        action: &'static str,
        target: &Target,
        call: &Call,
    ) -> Result<
        (
            Result<crate::taskrouter::client::RestResponse, RestError>,
            i64,
        ),
        ActionError,
    > {
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
            reservation_sid: (!target.reservation.is_empty()).then(|| target.reservation.clone()),
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

fn failed(action: &'static str, err: &RestError) -> Outcome {
    Outcome {
        action,
        ok: false,
        taskrouter: match err {
            RestError::Twilio { body, .. } => Some(body.clone()),
            _ => None,
        },
        error: Some(TaskRouterError::from(err)),
        summary: err.to_string(),
        reservation_status: None,
        worker_name: None,
    }
}

/// Reads a reservation answer into an outcome; `unknown` is the update error that led to it.
fn reservation_outcome(
    action: &'static str,
    result: Result<crate::taskrouter::client::RestResponse, RestError>,
    unknown: Option<&RestError>,
) -> Outcome {
    match result {
        Ok(response) => {
            let json = serde_json::from_value::<ReservationJson>(response.body.clone()).ok();
            let status = json.as_ref().map(|j| j.reservation_status.clone());
            let worker = json.as_ref().and_then(|j| j.worker_name.clone());
            let mut summary = match (&worker, &status) {
                (Some(w), Some(s)) => format!("{w} · {s}"),
                (None, Some(s)) => s.clone(),
                _ => "done".to_owned(),
            };
            if let Some(err) = unknown {
                summary = format!("outcome unknown ({err}); TaskRouter now reports {summary}");
            }
            Outcome {
                action,
                ok: unknown.is_none(),
                taskrouter: Some(response.body),
                error: unknown.map(TaskRouterError::from),
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
                outcome.error = Some(TaskRouterError::from(first));
            }
            outcome
        }
    }
}
