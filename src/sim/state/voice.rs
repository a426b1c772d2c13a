//! The voice instructions — `dequeue`, `call`, `redirect`, `conference` — in an assignment
//! callback's answer or a Reservation update's `Instruction` parameter. The sim places no call:
//! it checks each instruction's parameters and the task as TaskRouter does (the 401xx error
//! codes of Twilio's error dictionary), logs what it would have dialled, and moves the
//! reservation as the call would: `dequeue` and `conference` accept it (the worker is
//! connected), `call` and `redirect` accept it only with `accept: true` (otherwise it waits,
//! as it does while the worker's phone rings), and a call that cannot be set up (an
//! unroutable `to`) cancels it with `reservation.canceled` and offers the task again.

use serde_json::{Map, Value};

use super::model::Params;
use super::{State, reservation_status as rs};

/// A voice instruction with the parameters the sim checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voice {
    Dequeue {
        to: Option<String>,
        from: Option<String>,
        post_work_activity_sid: Option<String>,
    },
    Call {
        to: Option<String>,
        from: Option<String>,
        url: Option<String>,
        accept: bool,
    },
    Redirect {
        call_sid: Option<String>,
        url: Option<String>,
        accept: bool,
    },
    Conference {
        to: Option<String>,
        from: Option<String>,
    },
}

/// A voice instruction TaskRouter would refuse: its error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceError {
    pub code: u32,
    pub message: String,
}

fn refuse(code: u32, message: &str) -> VoiceError {
    VoiceError {
        code,
        message: message.to_owned(),
    }
}

impl Voice {
    /// From an assignment callback's JSON answer (`{"instruction": "dequeue", "from": …}`).
    pub fn from_answer(name: &str, object: &Map<String, Value>) -> Option<Self> {
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
        let flag = |key: &str| match object.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        Some(match name {
            "dequeue" => Voice::Dequeue {
                to: text("to"),
                from: text("from"),
                post_work_activity_sid: text("post_work_activity_sid"),
            },
            "call" => Voice::Call {
                to: text("to"),
                from: text("from"),
                url: text("url"),
                accept: flag("accept"),
            },
            "redirect" => Voice::Redirect {
                call_sid: text("call_sid"),
                url: text("url"),
                accept: flag("accept"),
            },
            "conference" => Voice::Conference {
                to: text("to"),
                from: text("from"),
            },
            _ => return None,
        })
    }

    /// From a Reservation update's form (`Instruction=dequeue&DequeueFrom=…`).
    pub fn from_params(name: &str, params: &Params) -> Option<Self> {
        let text = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let flag = |key: &str| text(key).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Some(match name {
            "dequeue" => Voice::Dequeue {
                to: text("DequeueTo"),
                from: text("DequeueFrom"),
                post_work_activity_sid: text("DequeuePostWorkActivitySid"),
            },
            "call" => Voice::Call {
                to: text("CallTo"),
                from: text("CallFrom"),
                url: text("CallUrl"),
                accept: flag("CallAccept"),
            },
            "redirect" => Voice::Redirect {
                call_sid: text("RedirectCallSid"),
                url: text("RedirectUrl"),
                accept: flag("RedirectAccept"),
            },
            "conference" => Voice::Conference {
                to: text("To"),
                from: text("From"),
            },
            _ => return None,
        })
    }
}

/// What a checked instruction does.
enum Outcome {
    Accept(String),
    Wait(String),
    /// The call could not be set up: the error TaskRouter logs, then `reservation.canceled`.
    Cancel(VoiceError),
}

fn is_http_url(url: Option<&str>) -> bool {
    url.and_then(|u| reqwest::Url::parse(u).ok())
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

fn is_call_sid(sid: Option<&str>) -> bool {
    sid.is_some_and(|s| {
        s.len() == 34 && s.starts_with("CA") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A phone number, `client:NAME` or `sip:ADDRESS`: what Twilio can dial.
fn is_routable(to: &str) -> bool {
    let digits = to.strip_prefix('+').unwrap_or(to);
    (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        || to.strip_prefix("client:").is_some_and(|n| !n.is_empty())
        || to.strip_prefix("sip:").is_some_and(|n| n.contains('@'))
}

impl State {
    /// Checks `voice` for the pending reservation `ri` and moves it as the call would.
    pub(super) fn apply_voice(&mut self, ri: usize, voice: &Voice) -> Result<(), VoiceError> {
        let outcome = self.check_voice(ri, voice)?;
        let sid = self.reservations[ri].sid.clone();
        match outcome {
            Outcome::Accept(said) => {
                tracing::info!(reservation = %sid, "{said}; no call is placed by the local TaskRouter");
                self.accept(ri);
            }
            Outcome::Wait(said) => {
                tracing::info!(reservation = %sid, "{said}; no call is placed, the reservation stays pending until accepted");
            }
            Outcome::Cancel(error) => {
                tracing::warn!(reservation = %sid, code = error.code, "{}", error.message);
                self.cancel_reservation(ri);
            }
        }
        Ok(())
    }

    fn check_voice(&self, ri: usize, voice: &Voice) -> Result<Outcome, VoiceError> {
        let reservation = &self.reservations[ri];
        let task = self
            .task_index(&reservation.task_sid)
            .map(|ti| &self.tasks[ti]);
        let task_attr = |key: &str| {
            task.and_then(|t| t.attrs.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        // `to` defaults to the worker's contact_uri, as TaskRouter's does.
        let contact_uri = self
            .worker_index(&reservation.worker_sid)
            .and_then(|wi| self.workers[wi].attrs.get("contact_uri"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let dial = |to: &Option<String>, missing: (u32, &str), failed: u32| {
            let to = to
                .clone()
                .or_else(|| contact_uri.clone())
                .ok_or_else(|| refuse(missing.0, missing.1))?;
            Ok::<_, VoiceError>(if is_routable(&to) {
                Ok(to)
            } else {
                Err(refuse(
                    failed,
                    &format!(
                        "the call to {to:?} could not be set up: not a phone number, client: or sip: address"
                    ),
                ))
            })
        };
        match voice {
            Voice::Dequeue {
                to,
                from,
                post_work_activity_sid,
            } => {
                let call_sid = task_attr("call_sid").ok_or_else(|| {
                    refuse(
                        40140,
                        "Failed to issue Dequeue instruction due to missing 'call_sid' property",
                    )
                })?;
                let from = from.as_deref().filter(|f| !f.is_empty()).ok_or_else(|| {
                    refuse(
                        40132,
                        "Missing or invalid 'from' parameter - Dequeue instruction",
                    )
                })?;
                if let Some(activity) = post_work_activity_sid
                    && self.activity(activity).is_none()
                {
                    return Err(refuse(
                        40130,
                        "Invalid 'post_work_activity_sid' - Dequeue instruction",
                    ));
                }
                let to = dial(
                    to,
                    (
                        40131,
                        "Missing or invalid 'to' parameter - Dequeue instruction",
                    ),
                    40133,
                )?;
                Ok(match to {
                    Ok(to) => Outcome::Accept(format!(
                        "dequeue: would bridge {call_sid} to {to} from {from}"
                    )),
                    Err(error) => Outcome::Cancel(error),
                })
            }
            Voice::Call {
                to,
                from,
                url,
                accept,
            } => {
                let from = from.as_deref().filter(|f| !f.is_empty()).ok_or_else(|| {
                    refuse(
                        40111,
                        "Missing or invalid 'from' parameter - Call instruction",
                    )
                })?;
                if !is_http_url(url.as_deref()) {
                    return Err(refuse(
                        40112,
                        "Missing or invalid 'url' parameter - Call instruction",
                    ));
                }
                let to = dial(
                    to,
                    (
                        40110,
                        "Missing or invalid 'to' parameter - Call instruction",
                    ),
                    40113,
                )?;
                let url = url.as_deref().unwrap_or_default();
                Ok(match (to, accept) {
                    (Err(error), _) => Outcome::Cancel(error),
                    (Ok(to), true) => Outcome::Accept(format!(
                        "call: would dial {to} from {from} with {url}, accepted on answer"
                    )),
                    (Ok(to), false) => {
                        Outcome::Wait(format!("call: would dial {to} from {from} with {url}"))
                    }
                })
            }
            Voice::Redirect {
                call_sid,
                url,
                accept,
            } => {
                if !is_call_sid(call_sid.as_deref()) {
                    return Err(refuse(
                        40121,
                        "Missing or invalid 'call_sid' parameter - Redirect instruction",
                    ));
                }
                if !is_http_url(url.as_deref()) {
                    return Err(refuse(
                        40120,
                        "Missing or invalid 'url' parameter - Redirect instruction",
                    ));
                }
                let said = format!(
                    "redirect: would redirect {} to {}",
                    call_sid.as_deref().unwrap_or_default(),
                    url.as_deref().unwrap_or_default()
                );
                Ok(if *accept {
                    Outcome::Accept(said)
                } else {
                    Outcome::Wait(said)
                })
            }
            Voice::Conference { to, from } => {
                let from = from.as_deref().filter(|f| !f.is_empty()).ok_or_else(|| {
                    refuse(
                        40141,
                        "Missing or invalid 'from' parameter - Conference instruction",
                    )
                })?;
                let caller = task_attr("call_sid").or_else(|| task_attr("outbound_to")).ok_or_else(|| {
                    refuse(40142, "Failed to issue Conference instruction due to missing 'call_sid' or 'outbound_to' properties")
                })?;
                let to = dial(
                    to,
                    (
                        40137,
                        "Missing 'to' parameter when issuing Conference instruction",
                    ),
                    40143,
                )?;
                Ok(match to {
                    Ok(to) => Outcome::Accept(format!(
                        "conference: would join {caller} and {to} from {from}"
                    )),
                    Err(error) => Outcome::Cancel(error),
                })
            }
        }
    }

    /// The call for a reservation failed: `reservation.canceled`, the worker back to the
    /// activity it had, the task offered again.
    fn cancel_reservation(&mut self, ri: usize) {
        self.release(
            ri,
            rs::CANCELED,
            "canceled: the call could not be set up",
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routable_addresses_are_what_twilio_can_dial() {
        for ok in [
            "+14155550100",
            "14155550100",
            "client:alice",
            "sip:alice@example.com",
        ] {
            assert!(is_routable(ok), "{ok}");
        }
        for bad in [
            "",
            "alice",
            "client:",
            "sip:alice",
            "+1",
            "+1415555010012345",
        ] {
            assert!(!is_routable(bad), "{bad}");
        }
    }

    #[test]
    fn rest_parameters_and_answer_fields_name_the_same_instruction() {
        let params: Params = vec![
            ("DequeueFrom".into(), "+14155550100".into()),
            ("DequeueTo".into(), "client:alice".into()),
        ];
        let object: Map<String, Value> =
            serde_json::from_str(r#"{"from":"+14155550100","to":"client:alice"}"#).unwrap();
        assert_eq!(
            Voice::from_params("dequeue", &params),
            Voice::from_answer("dequeue", &object)
        );
        assert_eq!(Voice::from_answer("dance", &object), None);
    }
}
