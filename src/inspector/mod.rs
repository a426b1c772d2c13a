//! The inspector listener: HTML pages (askama), live updates (SSE), the JSON API and static
//! assets, all behind the [`guard`] (Host allowlist, token, cross-site refusal, CSP).
//! It binds loopback by default and is never reachable through the capture listener.

pub mod actions;
pub mod api;
pub mod assets;
pub mod clear;
pub mod diff;
pub mod error;
pub mod guard;
pub mod live;
pub mod pages;
pub mod replay;
pub mod timeline;
pub mod view;
pub mod view_models;
pub mod workbench;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use tower_http::trace::TraceLayer;

use crate::store::{RequestFilter, Store};
use crate::taskrouter::sid::Sid;
use crate::taskrouter::status::Kind;
pub use error::Failure;
use guard::GuardConfig;

/// What the handlers share.
pub struct InspectorState {
    pub store: Store,
    /// `http://HOST:PORT` of the capture listener, for "copy as curl".
    pub capture_base: String,
    /// Turns true at shutdown; live streams end then, so the drain does not wait on them.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Accept, Reject, Refresh, Complete, Cancel.
    pub actions: crate::actions::Actions,
    /// Per-run token the HTML forms carry.
    pub csrf: String,
    /// From an assignment callback until TaskRouter times the reservation out.
    pub reservation_timeout_us: i64,
    /// Sends and records replays.
    pub replayer: crate::replay::Replayer,
    /// What assignment callbacks are answered with; shared with the capture listener.
    pub responder: crate::capture::responder::Responder,
    /// Names and the Workflow's reservation timeout, read from TaskRouter and cached.
    pub directory: workbench::Directory,
    /// The public URL TaskRouter calls: `--public-url`, or the tunnel once found.
    pub public_url: tokio::sync::watch::Receiver<Option<crate::tunnel::PublicUrl>>,
}

/// Builds the router with every route behind the guard. Page and form routes answer errors
/// as HTML ([`error::html_errors`]); `/api/…` routes as JSON in the one error shape.
pub fn router(state: Arc<InspectorState>, guard: Arc<GuardConfig>) -> Router {
    workbench::follow_events(Arc::downgrade(&state), &state.store);
    let pages = Router::new()
        .route("/", get(pages::list))
        .route("/requests/{id}", get(pages::detail))
        .route("/requests/{id}/body", get(pages::request_body))
        .route("/requests/{id}/panel", get(pages::panel))
        .route("/requests/{id}/response/body", get(pages::response_body))
        .route("/reservations", get(pages::reservations))
        .route("/tasks/{sid}", get(pages::task))
        .route(
            "/reservations/{sid}/{action}",
            post(actions::reservation_form),
        )
        .route("/tasks/{sid}/{action}", post(actions::task_form))
        .route("/requests/{id}/replay", post(replay::replay_form))
        .route("/requests/clear", post(clear::clear_form))
        .route("/workers", get(workbench::page))
        .route("/workers/{sid}/activity", post(workbench::activity_form))
        .route("/tasks", post(workbench::create_task_form))
        .route("/responder", post(workbench::responder_form))
        .fallback(|| async { Failure::NotFound("no such page".into()) })
        .layer(axum::middleware::map_response(error::html_errors));
    let api = Router::new()
        .route("/live", get(live::stream))
        .route("/api/requests", get(api::requests))
        .route("/api/requests/{id}", get(api::request))
        .route("/api/reservations", get(api::reservations))
        .route("/api/tasks/{sid}", get(api::task))
        .route(
            "/api/reservations/{sid}/{action}",
            post(actions::reservation_json),
        )
        .route("/api/tasks/{sid}/{action}", post(actions::task_json))
        .route("/api/requests/clear", post(clear::clear_json))
        .route("/api/workers", get(workbench::workers_json))
        .route(
            "/api/workers/{sid}/activity",
            post(workbench::activity_json),
        )
        .route("/api/tasks", post(workbench::create_task_json))
        .route(
            "/api/responder",
            get(workbench::responder_get).put(workbench::responder_put),
        )
        .route("/api/tray", get(workbench::tray_json))
        .route("/api/stats", get(api::stats))
        .route("/api/requests/{id}/replay", post(replay::replay_json))
        .route("/api/export", get(api::export))
        .route("/static/app.css", get(assets::css))
        .route("/static/app.js", get(assets::js));
    api.merge(pages)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
        // Outermost, so refused requests are traced too. The span names the path only: the
        // query can hold the inspector token (`/?token=…`), which must never reach a log.
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
                tracing::info_span!(
                    "inspector",
                    method = %req.method(),
                    path = ?req.uri().path(),
                )
            }),
        )
}

/// List filters as they appear in page URLs and API queries. Everything is optional and read
/// leniently: a malformed number is ignored rather than failing the page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    pub before: Option<String>,
    pub limit: Option<String>,
    pub kind: Option<String>,
    pub event_type: Option<String>,
    pub path: Option<String>,
    pub task_sid: Option<String>,
    pub reservation_sid: Option<String>,
    pub worker_sid: Option<String>,
    pub status: Option<String>,
    pub q: Option<String>,
    /// The request shown in the split-view pane (`/?open=ID`); not a filter.
    pub open: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A SID filter: empty means none; anything else must be a well-formed SID of its kind.
fn sid_filter<P: crate::taskrouter::sid::Prefix>(
    value: &Option<String>,
) -> Result<Option<Sid<P>>, Failure> {
    non_empty(value)
        .map(|v| v.parse().map_err(|e| Failure::BadRequest(format!("{e}"))))
        .transpose()
}

impl ListQuery {
    /// The store filter; a malformed SID or kind is a clear 400, never a silent empty list.
    pub fn to_filter(&self, default_limit: usize) -> Result<RequestFilter, Failure> {
        let kind = non_empty(&self.kind)
            .map(|k| {
                k.parse::<Kind>()
                    .map_err(|_| Failure::BadRequest("kind is assignment, event or other".into()))
            })
            .transpose()?;
        Ok(RequestFilter {
            before: self.before.as_deref().and_then(|b| b.parse().ok()),
            limit: self
                .limit
                .as_deref()
                .and_then(|l| l.parse().ok())
                .unwrap_or(default_limit)
                .clamp(1, 1000),
            kind,
            event_type: non_empty(&self.event_type),
            workspace_sid: None,
            task_sid: sid_filter(&self.task_sid)?,
            reservation_sid: sid_filter(&self.reservation_sid)?,
            worker_sid: sid_filter(&self.worker_sid)?,
            path: non_empty(&self.path),
            status: self.status.as_deref().and_then(|s| s.trim().parse().ok()),
            q: non_empty(&self.q),
        })
    }

    /// The same filters as a query string, paging to rows older than `before`.
    pub fn with_before(&self, before: i64) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.pairs() {
            out.append_pair(name, &value);
        }
        out.append_pair("before", &before.to_string());
        out.finish()
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("kind", &self.kind),
            ("event_type", &self.event_type),
            ("path", &self.path),
            ("task_sid", &self.task_sid),
            ("reservation_sid", &self.reservation_sid),
            ("worker_sid", &self.worker_sid),
            ("status", &self.status),
            ("q", &self.q),
        ]
        .into_iter()
        .filter_map(|(name, value)| non_empty(value).map(|v| (name, v)))
        .collect()
    }

    /// True when any filter is set (live rows then need client-side matching).
    pub fn is_filtered(&self) -> bool {
        !self.pairs().is_empty()
    }

    /// A filter's current value for the form fields, or "".
    pub fn value(&self, name: &str) -> String {
        self.pairs()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }
}
