//! The TaskRouter REST client: one shared reqwest client (rustls), HTTP basic auth with the
//! Account SID + Auth Token or an API key + secret, typed calls for Reservations and Tasks
//! (reference §3). The base URL defaults to https://taskrouter.twilio.com and can point at the
//! local sim or a test server.
//!
//! Safety: paths are built only from typed SIDs ([`super::sid`]), which cannot hold anything but
//! a prefix and hex digits; redirects are not followed; every
//! call has a connect and a total timeout; `429` (never processed, reference §3.9) is retried
//! with bounded backoff; nothing else is retried here. Credentials never appear in a `Debug`
//! output, an error or a URL.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::sid::{
    AccountSid, ActivitySid, ReservationSid, TaskQueueSid, TaskSid, WorkerSid, WorkflowSid,
    WorkspaceSid,
};
use super::signature::AuthToken;
use super::status::ReservationStatus;
use crate::wire::{ErrorBody, client_builder, root_cause};

/// Production base URL.
pub const DEFAULT_BASE_URL: &str = "https://taskrouter.twilio.com";

/// How many times a `429` is retried, and the most time spent waiting for retries.
const MAX_RETRIES: u32 = 3;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// Basic-auth credentials. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Credentials {
    account_sid: AccountSid,
    /// Account SID, or an API key SID (`SK…`).
    username: String,
    password: AuthToken,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

impl Credentials {
    /// Account SID + Auth Token.
    pub fn auth_token(account_sid: &AccountSid, token: AuthToken) -> Self {
        Self {
            account_sid: account_sid.clone(),
            username: account_sid.to_string(),
            password: token,
        }
    }

    /// Picks credentials from the values of TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
    /// TWILIO_API_KEY and TWILIO_API_SECRET: an API key pair wins when both halves are set.
    /// `Ok(None)` when there is nothing to use; an error when a value is malformed.
    pub fn from_values(
        account_sid: Option<&str>,
        auth_token: Option<&str>,
        api_key: Option<&str>,
        api_secret: Option<&str>,
    ) -> Result<Option<Self>, CredentialsError> {
        fn present(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        let Some(account_sid) = present(account_sid) else {
            if present(auth_token).is_some() || present(api_key).is_some() {
                return Err(CredentialsError::NoAccountSid);
            }
            return Ok(None);
        };
        let account_sid: AccountSid = account_sid
            .parse()
            .map_err(|_| CredentialsError::BadAccountSid)?;
        match (present(api_key), present(api_secret), present(auth_token)) {
            (Some(key), Some(secret), _) => {
                if !is_api_key(key) {
                    return Err(CredentialsError::BadApiKey);
                }
                Ok(Some(Self {
                    account_sid,
                    username: key.to_owned(),
                    password: AuthToken::new(secret),
                }))
            }
            (None, None, Some(token)) => {
                Ok(Some(Self::auth_token(&account_sid, AuthToken::new(token))))
            }
            (Some(_), None, _) | (None, Some(_), _) => Err(CredentialsError::HalfApiKey),
            (None, None, None) => Ok(None),
        }
    }

    pub fn account_sid(&self) -> &AccountSid {
        &self.account_sid
    }
}

/// An API key SID: `SK` + 32 hex digits (not a TaskRouter resource, so not a [`super::sid`] kind).
fn is_api_key(value: &str) -> bool {
    super::sid::is_sid(value, "SK")
}

/// Why the TWILIO_* credentials cannot be used. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("TWILIO_ACCOUNT_SID is needed with TWILIO_AUTH_TOKEN or TWILIO_API_KEY")]
    NoAccountSid,
    #[error("TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits")]
    BadAccountSid,
    #[error("TWILIO_API_KEY must be SK followed by 32 hex digits")]
    BadApiKey,
    #[error("set both TWILIO_API_KEY and TWILIO_API_SECRET, or neither")]
    HalfApiKey,
}

/// Why a REST client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("invalid TaskRouter URL {0:?}")]
    BadUrl(String, #[source] url::ParseError),
    #[error("TaskRouter URL {0:?} must be http(s) without credentials")]
    NotHttp(String),
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// Why a REST call did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RestError {
    #[error(
        "no TaskRouter credentials: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET) before starting taskhook"
    )]
    NoCredentials,
    /// TaskRouter answered with an error status. Its JSON is kept as sent.
    #[error("{}", describe_twilio(*.status, *.code, .message))]
    Twilio {
        status: u16,
        code: Option<i64>,
        message: String,
        more_info: Option<String>,
        body: Value,
    },
    #[error("TaskRouter did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach TaskRouter: {0}")]
    Transport(String),
}

fn describe_twilio(status: u16, code: Option<i64>, message: &str) -> String {
    let code = code.map(|c| format!(" (code {c})")).unwrap_or_default();
    if status == 401 {
        format!(
            "credentials rejected by TaskRouter: HTTP 401{code}; check TWILIO_ACCOUNT_SID and the token"
        )
    } else {
        format!("TaskRouter answered HTTP {status}{code}: {message}")
    }
}

impl RestError {
    /// True when the request may or may not have been applied: a 5xx, a timeout, a broken
    /// connection. Such an update must not be re-sent blindly.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            RestError::Twilio { status, .. } => *status >= 500,
            RestError::Timeout(_) | RestError::Transport(_) => true,
            _ => false,
        }
    }

    /// This error in the one JSON error shape: TaskRouter's status, code and more_info when it
    /// answered, 502 when it did not.
    pub fn error_body(&self) -> ErrorBody {
        match self {
            RestError::Twilio {
                status,
                code,
                more_info,
                ..
            } => ErrorBody {
                status: *status,
                code: *code,
                message: self.to_string(),
                more_info: more_info.clone(),
            },
            other => ErrorBody::new(502, other.to_string()),
        }
    }

    /// The HTTP status TaskRouter sent, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Twilio { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct RestResponse {
    pub status: u16,
    pub body: Value,
}

/// The fields of a Reservation that taskhook shows (reference §3.4).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ReservationJson {
    pub sid: ReservationSid,
    pub reservation_status: ReservationStatus,
    #[serde(default)]
    pub worker_name: Option<String>,
    #[serde(default)]
    pub worker_sid: Option<WorkerSid>,
    #[serde(default)]
    pub task_sid: Option<TaskSid>,
}

/// A Worker as the workbench shows it (reference §3.5; OpenAPI `taskrouter.v1.workspace.worker`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct WorkerJson {
    pub sid: WorkerSid,
    pub friendly_name: String,
    #[serde(default)]
    pub activity_name: Option<String>,
    #[serde(default)]
    pub activity_sid: Option<ActivitySid>,
    #[serde(default)]
    pub available: bool,
    /// A JSON string, as TaskRouter sends it.
    #[serde(default)]
    pub attributes: Option<String>,
    #[serde(default)]
    pub date_status_changed: Option<String>,
}

/// An Activity (`taskrouter.v1.workspace.activity`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct ActivityJson {
    pub sid: ActivitySid,
    pub friendly_name: String,
    #[serde(default)]
    pub available: bool,
}

/// A Workflow (`taskrouter.v1.workspace.workflow`): its reservation timeout in seconds.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct WorkflowJson {
    pub sid: WorkflowSid,
    pub friendly_name: String,
    #[serde(default)]
    pub task_reservation_timeout: Option<u64>,
}

/// A TaskQueue (`taskrouter.v1.workspace.task_queue`), for its name.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct QueueJson {
    pub sid: TaskQueueSid,
    pub friendly_name: String,
}

/// A TaskChannel (`taskrouter.v1.workspace.task_channel`); tasks name it by `unique_name`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct ChannelJson {
    pub unique_name: String,
    pub friendly_name: String,
}

/// The Workspace fields the workbench needs (`taskrouter.v1.workspace`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct WorkspaceJson {
    pub sid: WorkspaceSid,
    #[serde(default)]
    pub timeout_activity_sid: Option<ActivitySid>,
    #[serde(default)]
    pub timeout_activity_name: Option<String>,
}

/// One call: method, path under the base URL, form parameters.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: reqwest::Method,
    pub path: String,
    pub params: Vec<(String, String)>,
}

impl Call {
    /// The form body as sent.
    pub fn form_body(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.params)
            .finish()
    }
}

/// The TaskRouter REST client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
    timeout: Duration,
}

/// `/v1/Workspaces/{WS}/Tasks/{WT}/Reservations/{WR}`.
pub fn reservation_path(
    workspace: &WorkspaceSid,
    task: &TaskSid,
    reservation: &ReservationSid,
) -> String {
    format!("/v1/Workspaces/{workspace}/Tasks/{task}/Reservations/{reservation}")
}

/// `/v1/Workspaces/{WS}/Tasks/{WT}`.
pub fn task_path(workspace: &WorkspaceSid, task: &TaskSid) -> String {
    format!("/v1/Workspaces/{workspace}/Tasks/{task}")
}

/// `/v1/Workspaces/{WS}`.
pub fn workspace_path(workspace: &WorkspaceSid) -> String {
    format!("/v1/Workspaces/{workspace}")
}

/// The list resources of a Workspace the workbench reads, by their path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOf {
    Workers,
    Activities,
    Workflows,
    TaskQueues,
    TaskChannels,
}

impl ListOf {
    fn segment(self) -> &'static str {
        match self {
            Self::Workers => "Workers",
            Self::Activities => "Activities",
            Self::Workflows => "Workflows",
            Self::TaskQueues => "TaskQueues",
            Self::TaskChannels => "TaskChannels",
        }
    }

    /// The key of the list in TaskRouter's page envelope (`{"workers": [...], "meta": {...}}`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Workers => "workers",
            Self::Activities => "activities",
            Self::Workflows => "workflows",
            Self::TaskQueues => "task_queues",
            Self::TaskChannels => "channels",
        }
    }
}

impl Client {
    /// A client for `base_url` (no trailing slash needed). `timeout` bounds each attempt.
    pub fn new(
        base_url: &str,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Result<Self, ClientSetupError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let parsed =
            reqwest::Url::parse(&base).map_err(|e| ClientSetupError::BadUrl(base.clone(), e))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(ClientSetupError::NotHttp(base));
        }
        let http = client_builder(Duration::from_secs(5), timeout)
            .user_agent(concat!("taskhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientSetupError::Http)?;
        Ok(Self {
            http,
            base,
            credentials,
            timeout,
        })
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The absolute URL of a call (no credentials in it).
    pub fn url(&self, call: &Call) -> String {
        // A GET carries its parameters in the query string (list paging).
        if call.method == reqwest::Method::GET && !call.params.is_empty() {
            format!("{}{}?{}", self.base, call.path, call.form_body())
        } else {
            format!("{}{}", self.base, call.path)
        }
    }

    /// Sends `call`, retrying only `429`.
    pub async fn send(&self, call: &Call) -> Result<RestResponse, RestError> {
        let credentials = self.credentials.as_ref().ok_or(RestError::NoCredentials)?;
        let url = self.url(call);
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .basic_auth(&credentials.username, Some(credentials.password.expose()))
                .header(reqwest::header::ACCEPT, "application/json");
            if call.method != reqwest::Method::GET {
                request = request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(call.form_body());
            }
            let response = request.send().await.map_err(|e| self.transport_error(&e))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&e))?;
            let body: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            if (200..300).contains(&status) {
                return Ok(RestResponse { status, body });
            }
            if status == 429 && attempt <= MAX_RETRIES {
                let wait =
                    retry_after.unwrap_or(Duration::from_millis(500 * 2u64.pow(attempt - 1)));
                if waited + wait <= MAX_RETRY_WAIT {
                    tracing::info!(?wait, attempt, "TaskRouter answered 429; retrying");
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    continue;
                }
            }
            return Err(twilio_error(status, body));
        }
    }

    fn transport_error(&self, err: &reqwest::Error) -> RestError {
        if err.is_timeout() {
            RestError::Timeout(self.timeout)
        } else {
            // reqwest's Display never includes the Authorization header; show only the root
            // cause anyway, so no URL is echoed.
            RestError::Transport(root_cause(err))
        }
    }

    /// `GET` a reservation through its task.
    pub fn fetch_reservation_call(
        workspace: &WorkspaceSid,
        task: &TaskSid,
        reservation: &ReservationSid,
    ) -> Call {
        Call {
            method: reqwest::Method::GET,
            path: reservation_path(workspace, task, reservation),
            params: Vec::new(),
        }
    }

    /// `POST` a reservation update (`ReservationStatus=accepted`, ...).
    pub fn update_reservation_call(
        workspace: &WorkspaceSid,
        task: &TaskSid,
        reservation: &ReservationSid,
        params: Vec<(String, String)>,
    ) -> Call {
        Call {
            method: reqwest::Method::POST,
            path: reservation_path(workspace, task, reservation),
            params,
        }
    }

    /// `GET` the first page (up to 1,000, TaskRouter's largest page) of a Workspace list.
    pub fn list_call(workspace: &WorkspaceSid, list: ListOf) -> Call {
        Call {
            method: reqwest::Method::GET,
            path: format!("{}/{}", workspace_path(workspace), list.segment()),
            params: vec![("PageSize".to_owned(), "1000".to_owned())],
        }
    }

    /// `GET` the Workspace itself.
    pub fn fetch_workspace_call(workspace: &WorkspaceSid) -> Call {
        Call {
            method: reqwest::Method::GET,
            path: workspace_path(workspace),
            params: Vec::new(),
        }
    }

    /// `POST` a worker update (`ActivitySid=WA…`).
    pub fn update_worker_call(
        workspace: &WorkspaceSid,
        worker: &WorkerSid,
        params: Vec<(String, String)>,
    ) -> Call {
        Call {
            method: reqwest::Method::POST,
            path: format!("{}/Workers/{worker}", workspace_path(workspace)),
            params,
        }
    }

    /// `POST` a new task (`Attributes`, `WorkflowSid`, `Priority`, `Timeout`, `TaskChannel`).
    pub fn create_task_call(workspace: &WorkspaceSid, params: Vec<(String, String)>) -> Call {
        Call {
            method: reqwest::Method::POST,
            path: format!("{}/Tasks", workspace_path(workspace)),
            params,
        }
    }

    /// Sends a list call and reads its items; items that do not parse are skipped.
    pub async fn list<T: serde::de::DeserializeOwned>(
        &self,
        workspace: &WorkspaceSid,
        list: ListOf,
    ) -> Result<Vec<T>, RestError> {
        let response = self.send(&Self::list_call(workspace, list)).await?;
        Ok(response
            .body
            .get(list.key())
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| serde_json::from_value(item.clone()).ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `POST` a task update (`AssignmentStatus=completed&Reason=...`).
    pub fn update_task_call(
        workspace: &WorkspaceSid,
        task: &TaskSid,
        params: Vec<(String, String)>,
    ) -> Call {
        Call {
            method: reqwest::Method::POST,
            path: task_path(workspace, task),
            params,
        }
    }
}

/// Reads TaskRouter's error JSON (`status`, `code`, `message`, `more_info`, reference §3.8).
fn twilio_error(status: u16, body: Value) -> RestError {
    let code = body.get("code").and_then(Value::as_i64);
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| match &body {
            Value::String(text) if !text.is_empty() => text.chars().take(300).collect(),
            _ => format!("HTTP {status}"),
        });
    let more_info = body
        .get("more_info")
        .and_then(Value::as_str)
        .map(str::to_owned);
    RestError::Twilio {
        status,
        code,
        message,
        more_info,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn credentials_come_from_an_auth_token_or_an_api_key_pair() {
        let token = Credentials::from_values(Some(AC), Some("secret-token"), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(token.username, AC);
        let key = "SK0123456789abcdef0123456789abcdef";
        let api = Credentials::from_values(Some(AC), Some("t"), Some(key), Some("s"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (api.username.as_str(), api.account_sid().as_str()),
            (key, AC)
        );
        assert!(
            Credentials::from_values(None, None, None, None)
                .unwrap()
                .is_none()
        );
        assert!(Credentials::from_values(None, Some("t"), None, None).is_err());
        assert!(Credentials::from_values(Some("ACnope"), Some("t"), None, None).is_err());
        assert!(Credentials::from_values(Some(AC), None, Some(key), None).is_err());
        assert!(!format!("{token:?}").contains("secret-token"));
    }

    #[test]
    fn paths_are_built_from_typed_sids() {
        let ws: WorkspaceSid = "WS0123456789abcdef0123456789abcdef".parse().unwrap();
        let wt: TaskSid = "WT0123456789abcdef0123456789abcdef".parse().unwrap();
        let wr: ReservationSid = "WR0123456789abcdef0123456789abcdef".parse().unwrap();
        assert_eq!(
            reservation_path(&ws, &wt, &wr),
            format!("/v1/Workspaces/{ws}/Tasks/{wt}/Reservations/{wr}")
        );
        assert_eq!(
            task_path(&ws, &wt),
            format!("/v1/Workspaces/{ws}/Tasks/{wt}")
        );
    }

    #[test]
    fn twilio_errors_keep_code_message_and_more_info() {
        let body = serde_json::json!({"code": 20404, "message": "The requested resource was not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404});
        let err = twilio_error(404, body);
        assert_eq!(
            err.to_string(),
            "TaskRouter answered HTTP 404 (code 20404): The requested resource was not found"
        );
        assert!(!err.outcome_unknown());
        let auth = twilio_error(
            401,
            serde_json::json!({"code": 20003, "message": "Authenticate"}),
        );
        assert!(auth.to_string().starts_with("credentials rejected"));
        assert!(twilio_error(503, Value::String("<html>".into())).outcome_unknown());
    }

    #[test]
    fn only_http_urls_without_userinfo_are_accepted() {
        assert!(
            Client::new(
                "https://taskrouter.twilio.com",
                None,
                Duration::from_secs(1)
            )
            .is_ok()
        );
        assert!(Client::new("file:///etc/passwd", None, Duration::from_secs(1)).is_err());
        assert!(Client::new("http://user:pw@127.0.0.1:1", None, Duration::from_secs(1)).is_err());
    }
}
