//! Delivers the sim's callbacks one at a time, in the order the transitions happened: event
//! callbacks to the EventCallbackUrl (15 s) and assignment callbacks to the
//! AssignmentCallbackUrl (5 s, then the fallback URL), each form-encoded and signed with the
//! sim's Auth Token over the exact URL (reference §1, §2, §4). An assignment callback's answer
//! is read like TaskRouter reads it (§1.3) and applied to the state. A target that is down or
//! slow is logged, never fatal; REST answers never wait for a callback.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::Shared;
use super::state::voice::Voice;
use super::state::{Instruction, Outgoing, random_hex};
use crate::taskrouter::signature::{self, AuthToken};

/// TaskRouter waits this long for an assignment callback answer (reference §1.1).
const ASSIGNMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// ... and this long for an event callback answer (reference §2.1).
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer that is read.
const MAX_ANSWER: usize = 64 * 1024;
const FORM: &str = "application/x-www-form-urlencoded";

/// The HTTP client for callbacks: no redirects, no proxy (callbacks usually go to a local
/// app), Twilio's User-Agent.
pub fn client() -> anyhow::Result<reqwest::Client> {
    // Each request sets its own timeout (assignment or event); this total is the longest.
    Ok(
        crate::wire::client_builder(ASSIGNMENT_TIMEOUT, EVENT_TIMEOUT)
            .no_proxy()
            .user_agent("TwilioProxy/1.1")
            .build()?,
    )
}

/// Runs until every sender is gone and the queue is empty.
pub async fn run(
    shared: Arc<Shared>,
    mut queue: UnboundedReceiver<Outgoing>,
    http: reqwest::Client,
) {
    while let Some(outgoing) = queue.recv().await {
        match outgoing {
            Outgoing::Event { url, params } => {
                let event = params.first().map(|(_, v)| v.clone()).unwrap_or_default();
                match post(&http, &shared.auth_token, &url, &params, EVENT_TIMEOUT).await {
                    Ok(answer) if (200..300).contains(&answer.status) => {}
                    Ok(answer) => tracing::warn!(
                        url = %loggable(&url),
                        event,
                        status = answer.status,
                        "event callback was not answered with 2xx (TaskRouter expects 204)"
                    ),
                    Err(error) => tracing::warn!(
                        url = %loggable(&url),
                        event,
                        %error,
                        "event callback failed"
                    ),
                }
            }
            Outgoing::Stream { url, body } => {
                match post_batch(&http, &shared.auth_token, &url, body).await {
                    Ok(status) if (200..300).contains(&status) => {}
                    Ok(status) => tracing::warn!(
                        url = %loggable(&url),
                        status,
                        "Event Streams batch was not answered with 2xx"
                    ),
                    Err(error) => tracing::warn!(
                        url = %loggable(&url),
                        %error,
                        "Event Streams batch failed"
                    ),
                }
            }
            Outgoing::Assignment {
                reservation_sid,
                url,
                fallback_url,
                params,
            } => {
                let mut answer = assignment(&http, &shared.auth_token, &url, &params).await;
                if answer.is_none()
                    && let Some(fallback) = fallback_url
                {
                    answer = assignment(&http, &shared.auth_token, &fallback, &params).await;
                }
                let instruction = answer
                    .as_ref()
                    .and_then(|a| read_instruction(a, &reservation_sid));
                if let Some(instruction) = instruction {
                    shared.with_world(|world| {
                        if let Some(state) = world.state_of_reservation(&reservation_sid) {
                            state.apply_instruction(&reservation_sid, instruction);
                        }
                    });
                }
            }
        }
    }
}

/// What a callback target answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// POSTs an Event Streams batch as a webhook sink receives it: JSON, signed over the sink URL
/// with `bodySHA256` added (the body hash is in the URL, so the signature covers the body).
async fn post_batch(
    http: &reqwest::Client,
    token: &AuthToken,
    url: &str,
    body: Vec<u8>,
) -> Result<u16, reqwest::Error> {
    let signed_url = signature::url_with_body_sha256(url, &body);
    let content_type = "application/json; charset=utf-8";
    let sig = signature::sign_request(
        token,
        &signed_url,
        Some(content_type.as_bytes()),
        &body,
        "POST",
    );
    let response = http
        .post(&signed_url)
        .header(signature::HEADER, sig)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .timeout(BATCH_TIMEOUT)
        .body(body)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

/// Event Streams gives a webhook sink 5 s to answer.
const BATCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One assignment callback attempt; `Some` only for a `200` (anything else sends TaskRouter to
/// the fallback URL).
async fn assignment(
    http: &reqwest::Client,
    token: &AuthToken,
    url: &str,
    params: &[(String, String)],
) -> Option<Answer> {
    match post(http, token, url, params, ASSIGNMENT_TIMEOUT).await {
        Ok(answer) if answer.status == 200 => Some(answer),
        Ok(answer) => {
            tracing::warn!(url = %loggable(url), status = answer.status, "assignment callback was not answered with 200; the reservation stays pending");
            None
        }
        Err(error) => {
            tracing::warn!(url = %loggable(url), %error, "assignment callback failed; the reservation stays pending");
            None
        }
    }
}

/// POSTs `params` form-encoded to `url` with `X-Twilio-Signature`.
async fn post(
    http: &reqwest::Client,
    token: &AuthToken,
    url: &str,
    params: &[(String, String)],
    timeout: Duration,
) -> Result<Answer, String> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let signature =
        signature::sign_request(token, url, Some(FORM.as_bytes()), body.as_bytes(), "POST");
    let request = http
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .header(reqwest::header::ACCEPT, "*/*")
        .header(signature::HEADER, signature)
        .header("I-Twilio-Idempotency-Token", random_hex(16))
        .body(body);
    let mut response = request.send().await.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            body.truncate(MAX_ANSWER);
            break;
        }
    }
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer in time".to_owned();
    }
    let mut cause = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    cause
}

/// `scheme://host[:port]/path` of a URL: no credentials, query or fragment in logs.
fn loggable(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default(),
            parsed.path()
        ),
        Err(_) => "(invalid URL)".to_owned(),
    }
}

/// Reads an assignment callback's `200` answer as TaskRouter does (reference §1.3). `None`:
/// the reservation stays pending (an empty body or `{}` on purpose; anything unusable with the
/// warning TaskRouter would put in the Debugger).
pub fn read_instruction(answer: &Answer, reservation: &str) -> Option<Instruction> {
    let text = String::from_utf8_lossy(&answer.body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let is_json = answer.content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) => {
            tracing::warn!(reservation, code = 40001, %error, "Could not parse Assignment Instruction response as JSON; the reservation stays pending");
            return None;
        }
    };
    let Some(object) = value.as_object() else {
        tracing::warn!(
            reservation,
            code = 40001,
            "Assignment Instruction response is not a JSON object; the reservation stays pending"
        );
        return None;
    };
    if object.is_empty() {
        return None;
    }
    let Some(instruction) = object.get("instruction") else {
        tracing::warn!(
            reservation,
            code = 40005,
            "Assignment Callback response does not contain 'instruction'; the reservation stays pending"
        );
        return None;
    };
    if !is_json {
        tracing::warn!(
            reservation,
            code = 40000,
            content_type = answer.content_type.as_deref().unwrap_or(""),
            "Content-Type of 'application/json' not set on the assignment instruction; it is ignored"
        );
        return None;
    }
    match instruction.as_str() {
        Some("accept") => Some(Instruction::Accept),
        Some("reject") => match object.get("activity_sid") {
            None | Some(Value::Null) => Some(Instruction::Reject { activity_sid: None }),
            Some(Value::String(sid)) => Some(Instruction::Reject {
                activity_sid: Some(sid.clone()),
            }),
            Some(_) => {
                tracing::warn!(
                    reservation,
                    code = 40100,
                    "reject instruction has an invalid activity_sid; the reservation stays pending"
                );
                None
            }
        },
        Some(name @ ("dequeue" | "call" | "redirect" | "conference")) => {
            Voice::from_answer(name, object).map(Instruction::Voice)
        }
        Some("supervise") => {
            tracing::warn!(
                reservation,
                "supervise is not simulated (it joins a supervisor to a live conference); the reservation stays pending"
            );
            None
        }
        _ => {
            tracing::warn!(reservation, code = 55555, instruction = %instruction, "invalid assignment instruction; the reservation stays pending");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(content_type: Option<&str>, body: &str) -> Answer {
        Answer {
            status: 200,
            content_type: content_type.map(str::to_owned),
            body: body.as_bytes().to_vec(),
        }
    }

    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[test]
    fn answers_are_read_like_taskrouter_reads_them() {
        let read = |a: Answer| read_instruction(&a, "WR1");
        assert_eq!(read(answer(JSON, "")), None);
        assert_eq!(read(answer(None, "  ")), None);
        assert_eq!(read(answer(JSON, "{}")), None);
        assert_eq!(
            read(answer(JSON, r#"{"instruction":"accept"}"#)),
            Some(Instruction::Accept)
        );
        assert_eq!(
            read(answer(
                JSON,
                r#"{"instruction":"reject","activity_sid":"WA1"}"#
            )),
            Some(Instruction::Reject {
                activity_sid: Some("WA1".into())
            })
        );
        assert_eq!(
            read(answer(JSON, r#"{"instruction":"reject"}"#)),
            Some(Instruction::Reject { activity_sid: None })
        );
        assert_eq!(
            read(answer(JSON, r#"{"instruction":"reject","activity_sid":5}"#)),
            None
        );
        assert_eq!(
            read(answer(JSON, r#"{"instruction": "accept""#)),
            None,
            "40001"
        );
        assert_eq!(
            read(answer(JSON, r#""{\"instruction\":\"accept\"}""#)),
            None,
            "escaped JSON"
        );
        assert_eq!(read(answer(JSON, r#"{"accept":true}"#)), None, "40005");
        assert_eq!(
            read(answer(Some("text/html"), r#"{"instruction":"accept"}"#)),
            None,
            "40000"
        );
        assert_eq!(
            read(answer(
                JSON,
                r#"{"instruction":"dequeue","from":"+14155550100"}"#
            )),
            Some(Instruction::Voice(Voice::Dequeue {
                to: None,
                from: Some("+14155550100".into()),
                post_work_activity_sid: None,
            }))
        );
        assert_eq!(read(answer(JSON, r#"{"instruction":"supervise"}"#)), None);
        assert_eq!(
            read(answer(JSON, r#"{"instruction":"dance"}"#)),
            None,
            "55555"
        );
        assert_eq!(read(answer(JSON, r#"{"instruction":["accept"]}"#)), None);
        let bytes = Answer {
            status: 200,
            content_type: JSON.map(str::to_owned),
            body: vec![0xff, 0xfe, b'{'],
        };
        assert_eq!(read(bytes), None);
    }

    #[test]
    fn logged_urls_lose_credentials_and_query() {
        assert_eq!(
            loggable("https://user:secret@example.com:8443/cb?token=x#rc=2"),
            "https://example.com:8443/cb"
        );
        assert_eq!(loggable("nope"), "(invalid URL)");
    }
}
