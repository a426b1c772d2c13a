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
        .route(
            "/requests/{id}/body/{shown}",
            get(pages::request_body_shown),
        )
        .route("/requests/{id}/panel", get(pages::panel))
        .route("/requests/{id}/row", get(pages::row))
        .route("/requests/{id}/response/body", get(pages::response_body))
        .route(
            "/requests/{id}/response/body/{shown}",
            get(pages::response_body_shown),
        )
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

/// Terms of the one query box and the filter each sets.
const TERMS: [(&str, &str); 8] = [
    ("kind", "kind"),
    ("event", "event_type"),
    ("event_type", "event_type"),
    ("task", "task_sid"),
    ("reservation", "reservation_sid"),
    ("worker", "worker_sid"),
    ("status", "status"),
    ("path", "path"),
];

/// Splits the query box into `term:value` filters (`kind:` `event:` `task:` `reservation:`
/// `worker:` `status:` `path:`, names case-insensitive) and the free text left over, which
/// searches bodies. A word with an unknown term or an empty value stays free text.
pub fn parse_query_box(text: &str) -> (Vec<(&'static str, String)>, String) {
    let mut terms = Vec::new();
    let mut free: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        let known = word.split_once(':').and_then(|(name, value)| {
            TERMS
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(name))
                .filter(|_| !value.is_empty())
                .map(|(_, field)| (*field, value.to_owned()))
        });
        match known {
            Some(term) => terms.push(term),
            None => free.push(word),
        }
    }
    (terms, free.join(" "))
}

impl ListQuery {
    /// The query box read into filters: its terms fill the filters that the URL does not set
    /// itself (the old one-parameter-per-filter URLs keep working), its free text stays `q`.
    pub fn normalized(&self) -> ListQuery {
        let mut out = self.clone();
        let Some(text) = non_empty(&self.q) else {
            return out;
        };
        let (terms, free) = parse_query_box(&text);
        for (field, value) in terms {
            let slot = match field {
                "kind" => &mut out.kind,
                "event_type" => &mut out.event_type,
                "task_sid" => &mut out.task_sid,
                "reservation_sid" => &mut out.reservation_sid,
                "worker_sid" => &mut out.worker_sid,
                "status" => &mut out.status,
                _ => &mut out.path,
            };
            if non_empty(slot).is_none() {
                *slot = Some(value);
            }
        }
        out.q = (!free.is_empty()).then_some(free);
        out
    }

    /// What the query box shows: every filter as a term, then the free text.
    pub fn query_text(&self) -> String {
        let mut words: Vec<String> = self
            .pairs()
            .into_iter()
            .filter(|(name, _)| *name != "q")
            .map(|(name, value)| {
                let term = TERMS
                    .iter()
                    .find(|(_, f)| *f == name)
                    .map_or(name, |(t, _)| *t);
                format!("{term}:{value}")
            })
            .collect();
        if let Some(q) = non_empty(&self.q) {
            words.push(q);
        }
        words.join(" ")
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_box_reads_terms_and_free_text() {
        let (terms, free) = parse_query_box(
            "kind:assignment  Event:reservation.accepted task:WT0123 needle worker:WK1 status:500 \
             path:/cb foo:bar x: in haystack",
        );
        assert_eq!(
            terms,
            [
                ("kind", "assignment".to_owned()),
                ("event_type", "reservation.accepted".to_owned()),
                ("task_sid", "WT0123".to_owned()),
                ("worker_sid", "WK1".to_owned()),
                ("status", "500".to_owned()),
                ("path", "/cb".to_owned()),
            ]
        );
        assert_eq!(free, "needle foo:bar x: in haystack");
    }

    #[test]
    fn old_parameters_win_over_terms_and_the_box_shows_both() {
        let query = ListQuery {
            q: Some("kind:event status:204 hello".into()),
            kind: Some("assignment".into()),
            ..ListQuery::default()
        };
        let n = query.normalized();
        assert_eq!(
            n.kind.as_deref(),
            Some("assignment"),
            "the URL's own parameter wins"
        );
        assert_eq!(n.status.as_deref(), Some("204"));
        assert_eq!(n.q.as_deref(), Some("hello"));
        assert_eq!(n.query_text(), "kind:assignment status:204 hello");
        let filter = n.to_filter(10).unwrap();
        assert_eq!(filter.status, Some(204));
        assert_eq!(filter.q.as_deref(), Some("hello"));
        // Terms only: no free-text search at all.
        let only = ListQuery {
            q: Some("event:task.created".into()),
            ..ListQuery::default()
        }
        .normalized();
        assert_eq!(only.q, None);
        assert_eq!(only.event_type.as_deref(), Some("task.created"));
    }

    #[test]
    fn a_bad_term_is_a_clear_error() {
        let bad = |q: &str| {
            ListQuery {
                q: Some(q.into()),
                ..ListQuery::default()
            }
            .normalized()
            .to_filter(10)
            .unwrap_err()
            .to_string()
        };
        assert!(bad("kind:bogus").contains("kind is assignment, event or other"));
        assert!(
            bad("task:WR0123456789abcdef0123456789abcdef").contains("WT"),
            "{}",
            bad("task:WR0123456789abcdef0123456789abcdef")
        );
    }
}
