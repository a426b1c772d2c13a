//! Operations of Twilio's TaskRouter v1 description that the sim does not emulate yet. Each is
//! routed, so a client gets 501 with a TaskRouter-shaped error naming the operation rather
//! than a misleading 404 ("no such thing") or 405 ("no such operation").

use axum::Router;
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use std::sync::Arc;

use super::super::Shared;
use super::{Authed, error};

/// Method, path (axum syntax) and the spec's `operationId`.
pub const UNEMULATED: &[(&str, &str, &str)] = &[];

/// Twilio has no code for "not implemented by this emulator"; 20501 is the sim's own
/// (UNCONFIRMED as a Twilio code), inside Twilio's error shape.
pub const NOT_EMULATED_CODE: u32 = 20501;

pub fn routes(mut router: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    for &(method, path, operation) in UNEMULATED {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "DELETE" => MethodFilter::DELETE,
            _ => continue,
        };
        router = router.route(
            path,
            on(filter, move |_: Authed| async move {
                not_emulated(method, operation)
            }),
        );
    }
    router
}

fn not_emulated(method: &str, operation: &str) -> Response {
    error(
        501,
        NOT_EMULATED_CODE,
        &format!("{operation} ({method}) is not emulated by the local TaskRouter (taskhook sim)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_not_emulated_operation_answers_501_naming_it() {
        let response = not_emulated("GET", "FetchSomething");
        assert_eq!(response.status().as_u16(), 501);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], 501);
        assert_eq!(body["code"], NOT_EMULATED_CODE);
        assert!(body["message"].as_str().unwrap().contains("FetchSomething"));
    }
}
