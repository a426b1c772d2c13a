//! The inspector's one error type and the one place it becomes HTTP. Every handler returns
//! `Result<_, Failure>`; [`Failure`]'s `IntoResponse` answers JSON in the one shape
//! `{"error": {"status", "code"?, "message", "more_info"?}}` (TaskRouter's own errors pass
//! through inside it). Page and form routes sit behind [`html_errors`], which turns those same
//! answers into the HTML error page, so the mapping from error to status lives only here.
//!
//! The extractors [`ParsedPath`] and [`ParsedJson`] make axum's own rejections (a malformed SID
//! in a path, a body that is not JSON) answers of the same shape.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::actions::{ActionError, Outcome};
use crate::replay::ReplayError;
use crate::store::StoreError;
use crate::store::writer::WriteError;
use crate::taskrouter::client::RestError;
use crate::taskrouter::status::ReservationStatus;
use crate::wire::ErrorBody;

/// Why a page, an API call or an action failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    /// The request is well-formed but cannot be done now (e.g. no TaskRouter credentials).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Storage refused (disk full, database busy): try again.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TaskRouter answered with an error, or did not answer: its error passes through inside
    /// ours, with what taskhook learned meanwhile (the reservation's state).
    #[error("{}", .0.summary)]
    TaskRouter(Box<TaskRouterFailure>),
}

/// What a [`Failure::TaskRouter`] carries (boxed: it is large and rare).
#[derive(Debug)]
pub struct TaskRouterFailure {
    pub error: ErrorBody,
    pub summary: String,
    pub taskrouter: Option<Value>,
    pub reservation_status: Option<ReservationStatus>,
}

/// The message of a failed page, carried from [`Failure::into_response`] to [`html_errors`].
#[derive(Debug, Clone)]
struct PageMessage(String);

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::NotFound(_) => StatusCode::NOT_FOUND,
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Forbidden(_) => StatusCode::FORBIDDEN,
            Failure::Conflict(_) => StatusCode::CONFLICT,
            Failure::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::Unavailable(_) | Failure::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::TaskRouter(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn body(&self) -> ErrorBody {
        match self {
            Failure::TaskRouter(failure) => failure.error.clone(),
            other => ErrorBody::new(other.status().as_u16(), other.to_string()),
        }
    }

    /// An action that reached TaskRouter (or tried to) and did not do what was asked.
    pub fn from_outcome(outcome: Outcome) -> Self {
        let error = outcome.error.clone().unwrap_or_else(|| {
            ErrorBody::new(StatusCode::BAD_GATEWAY.as_u16(), outcome.summary.clone())
        });
        Failure::TaskRouter(Box::new(TaskRouterFailure {
            error,
            summary: outcome.summary,
            taskrouter: outcome.taskrouter,
            reservation_status: outcome.reservation_status,
        }))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if let Failure::Store(err) = &self {
            tracing::error!(error = %err, "inspector read failed");
        }
        let status = self.status();
        let body = match &self {
            Failure::TaskRouter(failure) => json!({
                "error": self.body(),
                "summary": failure.summary,
                "taskrouter": failure.taskrouter,
                "reservation_status": failure.reservation_status,
            }),
            _ => json!({ "error": self.body() }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        response
            .extensions_mut()
            .insert(PageMessage(self.to_string()));
        response
    }
}

/// For page and form routes: an error answer becomes the HTML error page with the same status
/// and message.
pub async fn html_errors(response: Response) -> Response {
    match response.extensions().get::<PageMessage>() {
        Some(PageMessage(message)) => super::pages::error_page(response.status(), message.clone()),
        None => response,
    }
}

impl From<ActionError> for Failure {
    fn from(err: ActionError) -> Self {
        match err {
            ActionError::Rest(RestError::NoCredentials) => Failure::Conflict(err.to_string()),
            ActionError::Rest(rest) => Failure::TaskRouter(Box::new(TaskRouterFailure {
                error: rest.error_body(),
                summary: rest.to_string(),
                taskrouter: None,
                reservation_status: None,
            })),
            ActionError::Lookup(message) | ActionError::Invalid(message) => {
                Failure::BadRequest(message)
            }
            ActionError::Store(store) => Failure::Store(store),
            ActionError::Audit(_) => Failure::Unavailable(err.to_string()),
        }
    }
}

impl From<ReplayError> for Failure {
    fn from(err: ReplayError) -> Self {
        match err {
            ReplayError::NotFound(_) => Failure::NotFound(err.to_string()),
            ReplayError::Refused(message) => Failure::BadRequest(message),
            ReplayError::Store(store) => Failure::Store(store),
            ReplayError::Record(_) => Failure::Unavailable(err.to_string()),
        }
    }
}

impl From<WriteError> for Failure {
    fn from(err: WriteError) -> Self {
        Failure::Unavailable(err.message)
    }
}

/// `Path<T>` whose rejection (e.g. a malformed SID) is a [`Failure`].
pub struct ParsedPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ParsedPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ParsedPath(value))
            .map_err(|rejection: PathRejection| Failure::BadRequest(rejection.body_text()))
    }
}

/// `Form<T>` whose rejection (not a form, a malformed SID in a field) is a [`Failure`].
pub struct ParsedForm<T>(pub T);

impl<S, T> FromRequest<S> for ParsedForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Failure> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(value)| ParsedForm(value))
            .map_err(|rejection| Failure::BadRequest(rejection.body_text()))
    }
}

/// `Json<T>` whose rejection (wrong content type, not JSON, wrong fields) is a [`Failure`].
pub struct ParsedJson<T>(pub T);

impl<S, T> FromRequest<S> for ParsedJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Failure> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(value)| ParsedJson(value))
            .map_err(|rejection: JsonRejection| match rejection {
                JsonRejection::MissingJsonContentType(_) => {
                    Failure::UnsupportedMediaType("send Content-Type: application/json".into())
                }
                other => Failure::BadRequest(other.body_text()),
            })
    }
}
