//! A stand-in for https://taskrouter.twilio.com, started by a test: real paths, real-shaped JSON
//! and errors (reference §3), HTTP basic auth, and a record of every call it received so tests
//! can assert the exact method, path, Authorization, content type and form body.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{ACCOUNT, WORKER};

/// The fake's Auth Token.
pub const TOKEN: &str = "fake-auth-token-0123456789abcdef";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    /// reservation SID → status.
    reservations: HashMap<String, String>,
    /// Answers to give before normal handling, oldest first: status, body, Retry-After.
    scripted: VecDeque<(u16, Value, Option<u64>)>,
}

#[derive(Clone, Default)]
pub struct FakeTaskRouter {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTaskRouter {
    pub async fn start() -> Self {
        let mut fake = FakeTaskRouter::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route(
                "/v1/Workspaces/{ws}/Tasks/{wt}/Reservations/{wr}",
                post(reservation).get(reservation),
            )
            .route("/v1/Workspaces/{ws}/Tasks/{wt}", post(task))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    /// The `Authorization` header a correct client sends.
    pub fn expected_authorization() -> String {
        let pair = format!("{ACCOUNT}:{TOKEN}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// Makes `reservation` exist in `status`.
    pub fn set_reservation(&self, reservation: &str, status: &str) {
        self.inner
            .lock()
            .unwrap()
            .reservations
            .insert(reservation.to_owned(), status.to_owned());
    }

    /// The next call gets this answer instead of the normal one.
    pub fn script(&self, status: u16, body: Value, retry_after: Option<u64>) {
        self.inner
            .lock()
            .unwrap()
            .scripted
            .push_back((status, body, retry_after));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
}

fn error(status: u16, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

/// Records the call; returns a scripted or authentication answer if there is one.
fn intake(
    fake: &FakeTaskRouter,
    method: &Method,
    path: String,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut inner = fake.inner.lock().unwrap();
    inner.calls.push(Call {
        method: method.to_string(),
        path,
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(body).into_owned(),
    });
    if header("authorization") != Some(FakeTaskRouter::expected_authorization()) {
        return Some(error(401, 20003, "Authenticate"));
    }
    let (status, body, retry_after) = inner.scripted.pop_front()?;
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.to_string().parse().unwrap());
    }
    Some(response)
}

fn reservation_json(fake: &FakeTaskRouter, ws: &str, wt: &str, wr: &str, status: &str) -> Value {
    let url = format!(
        "{}/v1/Workspaces/{ws}/Tasks/{wt}/Reservations/{wr}",
        fake.url
    );
    json!({
        "account_sid": ACCOUNT,
        "date_created": "2026-11-28T10:00:00Z",
        "date_updated": "2026-11-28T10:00:05Z",
        "reservation_status": status,
        "sid": wr,
        "task_sid": wt,
        "worker_name": "Alice",
        "worker_sid": WORKER,
        "workspace_sid": ws,
        "url": url,
        "links": {"task": "", "worker": "", "workspace": ""}
    })
}

async fn reservation(
    State(fake): State<FakeTaskRouter>,
    method: Method,
    Path((ws, wt, wr)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/Workspaces/{ws}/Tasks/{wt}/Reservations/{wr}");
    if let Some(answer) = intake(&fake, &method, path, &headers, &body) {
        return answer;
    }
    let current = fake.inner.lock().unwrap().reservations.get(&wr).cloned();
    let Some(current) = current else {
        return error(404, 20404, "The requested resource was not found");
    };
    if method == Method::GET {
        return axum::Json(reservation_json(&fake, &ws, &wt, &wr, &current)).into_response();
    }
    let wanted = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "ReservationStatus")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if current != "pending" {
        // Wording seen from TaskRouter (reference §3.9); the numeric code is unconfirmed.
        return error(
            400,
            20001,
            &format!(
                "Reservation {wr} is already in state [{current}] and cannot be updated to [{wanted}]"
            ),
        );
    }
    fake.inner
        .lock()
        .unwrap()
        .reservations
        .insert(wr.clone(), wanted.clone());
    axum::Json(reservation_json(&fake, &ws, &wt, &wr, &wanted)).into_response()
}

async fn task(
    State(fake): State<FakeTaskRouter>,
    method: Method,
    Path((ws, wt)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/Workspaces/{ws}/Tasks/{wt}");
    if let Some(answer) = intake(&fake, &method, path, &headers, &body) {
        return answer;
    }
    let status = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "AssignmentStatus")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "assigned".into());
    axum::Json(
        json!({"sid": wt, "workspace_sid": ws, "assignment_status": status, "attributes": "{}"}),
    )
    .into_response()
}
