//! `serve --connect`: point a workspace's callbacks at taskhook, and put them back.
//!
//! What changes: the Workspace's `EventCallbackUrl` (to `PUBLIC/events`) and `EventsFilter`
//! (cleared, so every event arrives), and each chosen Workflow's `AssignmentCallbackUrl` and
//! `FallbackAssignmentCallbackUrl` (to `PUBLIC/assignment`). Every old value is written to the
//! database's ledger ([`crate::store::connect`]) *before* anything is changed, so a restore —
//! at a clean exit, by `taskhook restore` after a crash, or by the next `--connect` — can put
//! them back. A value that no longer holds what taskhook set was changed by someone since; it
//! is left alone, and the restore says so.
//!
//! With `--events streams` the EventCallbackUrl is left alone: a temporary Event Streams
//! webhook sink (`PUBLIC/events-streams`) and a subscription to every TaskRouter event type
//! are made instead, both described `taskhook temporary <run id>`. The ledger row (field
//! [`STREAMS_FIELD`], new value = that description) is written before either exists, so a
//! restore finds and deletes whatever carries the description, even after a crash between the
//! two creations.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::store::connect::{Change, NewChange};
use crate::store::{Store, StoreError};
use crate::taskrouter::client::{Call, Client, Credentials, RestError};
use crate::taskrouter::sid::{WorkflowSid, WorkspaceSid};

/// Why connecting or restoring failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("TaskRouter refused {what}: {source}")]
    Rest {
        what: String,
        #[source]
        source: RestError,
    },
    #[error("TaskRouter's answer to {0} lacks what taskhook needs")]
    Shape(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] crate::taskrouter::client::ClientSetupError),
}

/// A resource field taskhook repoints, with its form parameter and JSON names.
struct Field {
    param: &'static str,
    json: &'static str,
}

const EVENT_CALLBACK_URL: Field = Field {
    param: "EventCallbackUrl",
    json: "event_callback_url",
};
const EVENTS_FILTER: Field = Field {
    param: "EventsFilter",
    json: "events_filter",
};
const ASSIGNMENT_CALLBACK_URL: Field = Field {
    param: "AssignmentCallbackUrl",
    json: "assignment_callback_url",
};
const FALLBACK_ASSIGNMENT_CALLBACK_URL: Field = Field {
    param: "FallbackAssignmentCallbackUrl",
    json: "fallback_assignment_callback_url",
};
const FIELDS: [&Field; 4] = [
    &EVENT_CALLBACK_URL,
    &EVENTS_FILTER,
    &ASSIGNMENT_CALLBACK_URL,
    &FALLBACK_ASSIGNMENT_CALLBACK_URL,
];

fn json_name(param: &str) -> &'static str {
    FIELDS
        .iter()
        .find(|f| f.param == param)
        .map_or("", |f| f.json)
}

/// A string field of a resource; empty and null both mean unset.
fn current(resource: &Value, json: &str) -> Option<String> {
    resource
        .get(json)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

async fn get(client: &Client, path: &str) -> Result<Value, ConnectError> {
    let call = Call {
        method: reqwest::Method::GET,
        path: path.to_owned(),
        params: Vec::new(),
    };
    let response = client
        .send(&call)
        .await
        .map_err(|source| ConnectError::Rest {
            what: format!("GET {path}"),
            source,
        })?;
    Ok(response.body)
}

async fn update(
    client: &Client,
    path: &str,
    params: Vec<(String, String)>,
) -> Result<(), ConnectError> {
    let call = Call {
        method: reqwest::Method::POST,
        path: path.to_owned(),
        params,
    };
    client
        .send(&call)
        .await
        .map(drop)
        .map_err(|source| ConnectError::Rest {
            what: format!("the update of {path}"),
            source,
        })
}

/// Repoints the workspace (and `workflows`, or every Workflow in it when empty) at `public`,
/// recording each old value first. Returns what was changed.
pub async fn connect(
    store: &Store,
    client: &Client,
    workspace: &WorkspaceSid,
    workflows: &[WorkflowSid],
    public: &str,
    repoint_events: bool,
) -> Result<Vec<Change>, ConnectError> {
    let workspace_path = format!("/v1/Workspaces/{workspace}");
    let mut plan: Vec<(String, &Field, Option<String>, String)> = Vec::new();

    let ws = get(client, &workspace_path).await?;
    let events = format!("{public}/events");
    plan.push((
        workspace_path.clone(),
        &EVENT_CALLBACK_URL,
        current(&ws, EVENT_CALLBACK_URL.json),
        events,
    ));
    plan.push((
        workspace_path.clone(),
        &EVENTS_FILTER,
        current(&ws, EVENTS_FILTER.json),
        String::new(),
    ));

    let workflow_paths: Vec<String> = if workflows.is_empty() {
        let list = get(client, &format!("{workspace_path}/Workflows?PageSize=1000")).await?;
        list.get("workflows")
            .and_then(Value::as_array)
            .ok_or_else(|| ConnectError::Shape("the Workflows list".into()))?
            .iter()
            .filter_map(|w| w.get("sid").and_then(Value::as_str))
            .filter_map(|sid| sid.parse::<WorkflowSid>().ok())
            .map(|sid| format!("{workspace_path}/Workflows/{sid}"))
            .collect()
    } else {
        workflows
            .iter()
            .map(|sid| format!("{workspace_path}/Workflows/{sid}"))
            .collect()
    };
    let assignment = format!("{public}/assignment");
    for path in &workflow_paths {
        let wf = get(client, path).await?;
        for field in [&ASSIGNMENT_CALLBACK_URL, &FALLBACK_ASSIGNMENT_CALLBACK_URL] {
            plan.push((
                path.clone(),
                field,
                current(&wf, field.json),
                assignment.clone(),
            ));
        }
    }
    if !repoint_events {
        // Event Streams carries the events; the workspace's own callback stays as it was.
        plan.retain(|(path, _, _, _)| *path != workspace_path);
    }
    // Nothing to do (and nothing to restore) where the value already is what taskhook sets.
    plan.retain(|(_, _, old, new)| old.as_deref().unwrap_or("") != new);

    let new: Vec<NewChange> = plan
        .iter()
        .map(|(path, field, old, new)| NewChange {
            base_url: client.base_url().to_owned(),
            resource_path: path.clone(),
            field: field.param.to_owned(),
            old_value: old.clone(),
            new_value: new.clone(),
        })
        .collect();
    let recorded = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.record_connect_changes(&new))
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?
    };
    for (path, changes) in by_resource(&recorded) {
        let params = changes
            .iter()
            .map(|c| (c.field.clone(), c.new_value.clone()))
            .collect();
        update(client, path, params).await?;
    }
    Ok(recorded)
}

fn by_resource(changes: &[Change]) -> BTreeMap<&str, Vec<&Change>> {
    let mut grouped: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for change in changes {
        grouped
            .entry(change.resource_path.as_str())
            .or_default()
            .push(change);
    }
    grouped
}

/// What became of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub resource_path: String,
    pub field: String,
    /// `None` when put back; otherwise the value someone set since, left alone.
    pub changed_since: Option<String>,
}

impl std::fmt::Display for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.changed_since {
            None => write!(f, "restored {} {}", self.resource_path, self.field),
            Some(now) => write!(
                f,
                "left {} {} alone: it was changed since taskhook set it (now {now:?})",
                self.resource_path, self.field
            ),
        }
    }
}

/// Puts back every pending change in the ledger that still holds what taskhook set, through
/// the API it was made with and `credentials`; settles each.
pub async fn restore(
    store: &Store,
    credentials: Option<Credentials>,
    timeout: std::time::Duration,
) -> Result<Vec<Restored>, ConnectError> {
    let pending = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.pending_connect_changes())
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?
    };
    let mut outcomes = Vec::new();
    let mut clients: BTreeMap<String, Client> = BTreeMap::new();
    let (streams, pending): (Vec<Change>, Vec<Change>) =
        pending.into_iter().partition(|c| c.field == STREAMS_FIELD);
    for change in &streams {
        let client = Client::new(&change.base_url, credentials.clone(), timeout)?;
        let deleted = remove_tagged(&client, &change.new_value).await?;
        let outcome = Restored {
            resource_path: deleted.join(" "),
            field: "deleted (Event Streams)".to_owned(),
            changed_since: None,
        };
        let (store, id, text) = (store.clone(), change.id, outcome.to_string());
        tokio::task::spawn_blocking(move || store.settle_connect_change(id, &text))
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
        outcomes.push(outcome);
    }
    for (path, changes) in by_resource(&pending) {
        let base = &changes[0].base_url;
        if !clients.contains_key(base) {
            clients.insert(
                base.clone(),
                Client::new(base, credentials.clone(), timeout)?,
            );
        }
        let client = &clients[base];
        let resource = get(client, path).await?;
        let mut params = Vec::new();
        let mut settled = Vec::new();
        for change in changes {
            let now = current(&resource, json_name(&change.field));
            let still_ours = now.as_deref().unwrap_or("") == change.new_value;
            if still_ours {
                let old = change.old_value.clone().unwrap_or_default();
                params.push((change.field.clone(), old));
            }
            settled.push((change, (!still_ours).then(|| now.unwrap_or_default())));
        }
        if !params.is_empty() {
            update(client, path, params).await?;
        }
        for (change, changed_since) in settled {
            let outcome = Restored {
                resource_path: change.resource_path.clone(),
                field: change.field.clone(),
                changed_since,
            };
            let (store, id, text) = (store.clone(), change.id, outcome.to_string());
            tokio::task::spawn_blocking(move || store.settle_connect_change(id, &text))
                .await
                .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

/// The ledger's `field` for a temporary Event Streams sink + subscription; `new_value` is the
/// description they carry.
pub const STREAMS_FIELD: &str = "EventStreamsSink";

/// The description prefix of every sink and subscription taskhook makes.
pub const STREAMS_TAG: &str = "taskhook temporary";

/// The path a temporary sink delivers to, under the public URL.
pub const STREAMS_PATH: &str = "/events-streams";

/// Makes the temporary sink and subscription (recording them in the ledger first); returns
/// their SIDs.
pub async fn connect_streams(
    store: &Store,
    events: &Client,
    public: &str,
) -> Result<(String, String), ConnectError> {
    let mut id = [0u8; 6];
    // A clock-derived id is unique enough if the OS random source is missing.
    if getrandom::fill(&mut id).is_err() {
        id = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64).to_le_bytes()[..6]
            .try_into()
            .unwrap_or_default();
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let tag = format!("{STREAMS_TAG} {hex} (serve --connect --events streams)");
    let new = vec![NewChange {
        base_url: events.base_url().to_owned(),
        resource_path: "/v1/Sinks".into(),
        field: STREAMS_FIELD.into(),
        old_value: None,
        new_value: tag.clone(),
    }];
    {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.record_connect_changes(&new))
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
    }
    let types = get(events, "/v1/Types?PageSize=1000").await?;
    let types: Vec<(String, String)> = types
        .get("types")
        .and_then(Value::as_array)
        .ok_or_else(|| ConnectError::Shape("the event Types list".into()))?
        .iter()
        .filter_map(|t| t.get("type").and_then(Value::as_str))
        .filter(|t| t.starts_with("com.twilio.taskrouter."))
        .map(|t| {
            let entry = serde_json::json!({"type": t, "schema_version": 1});
            ("Types".to_owned(), entry.to_string())
        })
        .collect();
    if types.is_empty() {
        return Err(ConnectError::Shape(
            "the event Types list (no TaskRouter types)".into(),
        ));
    }
    let configuration = serde_json::json!({
        "destination": format!("{public}{STREAMS_PATH}"),
        "method": "POST",
        "batch_events": true,
    });
    let sink = send(
        events,
        reqwest::Method::POST,
        "/v1/Sinks",
        vec![
            ("Description".into(), tag.clone()),
            ("SinkType".into(), "webhook".into()),
            ("SinkConfiguration".into(), configuration.to_string()),
        ],
    )
    .await?;
    let sink_sid = sid_of(&sink, "the new Sink").map_err(|e| *e)?;
    let mut params = vec![
        ("Description".to_owned(), tag.clone()),
        ("SinkSid".to_owned(), sink_sid.clone()),
    ];
    params.extend(types);
    let subscription = send(events, reqwest::Method::POST, "/v1/Subscriptions", params).await?;
    let subscription_sid = sid_of(&subscription, "the new Subscription").map_err(|e| *e)?;
    Ok((sink_sid, subscription_sid))
}

fn sid_of(v: &Value, what: &str) -> Result<String, Box<ConnectError>> {
    v.get("sid")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Box::new(ConnectError::Shape(what.into())))
}

async fn send(
    client: &Client,
    method: reqwest::Method,
    path: &str,
    params: Vec<(String, String)>,
) -> Result<Value, ConnectError> {
    let call = Call {
        method: method.clone(),
        path: path.to_owned(),
        params,
    };
    client
        .send(&call)
        .await
        .map(|r| r.body)
        .map_err(|source| ConnectError::Rest {
            what: format!("{method} {path}"),
            source,
        })
}

/// Deletes every subscription, then every sink, described `tag`; returns their paths.
async fn remove_tagged(client: &Client, tag: &str) -> Result<Vec<String>, ConnectError> {
    let mut deleted = Vec::new();
    // Subscriptions first: Event Streams refuses to delete a sink in use.
    for (list, key) in [
        ("/v1/Subscriptions", "subscriptions"),
        ("/v1/Sinks", "sinks"),
    ] {
        let found = get(client, &format!("{list}?PageSize=1000")).await?;
        let sids: Vec<String> = found
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|item| item.get("description").and_then(Value::as_str) == Some(tag))
            .filter_map(|item| item.get("sid").and_then(Value::as_str).map(str::to_owned))
            .collect();
        for sid in sids {
            let path = format!("{list}/{sid}");
            send(client, reqwest::Method::DELETE, &path, Vec::new()).await?;
            deleted.push(path);
        }
    }
    Ok(deleted)
}
