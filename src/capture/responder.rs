//! What the capture listener answers, per callback kind (reference §1.3, §2.1):
//! an assignment callback gets `200 {}` (the reservation stays pending for the Accept button)
//! or a configured instruction; an event callback gets `204` with a JSON content type;
//! anything else gets `200 {}`.
//!
//! The assignment answer can be switched while taskhook runs (`PUT /api/responder`): the
//! [`Responder`] holds it behind a shared lock, so every clone — the capture service's and the
//! inspector's — sees a switch from the next callback on, with no restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::Value;

use crate::taskrouter::status::Kind;
use crate::wire::{Header, RecordedResponse, json_response};

/// How assignment callbacks are answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentReply {
    /// `{}`: no instruction, the reservation stays pending.
    Hold,
    /// This JSON object (it has an `instruction` key) is returned as is.
    Instruction(Vec<u8>),
}

impl AssignmentReply {
    /// `{"instruction":"accept"}`.
    pub fn accept() -> Self {
        Self::Instruction(br#"{"instruction":"accept"}"#.to_vec())
    }

    /// Reads an instruction from a file: a JSON object with an `instruction` key.
    pub fn from_file(path: &Path) -> Result<Self, InstructionFileError> {
        let path_buf = path.to_path_buf();
        let bytes = std::fs::read(path).map_err(|source| InstructionFileError::Read {
            path: path_buf.clone(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| InstructionFileError::NotJson {
                path: path_buf.clone(),
                source,
            })?;
        match value.as_object() {
            Some(obj) if obj.contains_key("instruction") => Ok(Self::Instruction(bytes)),
            _ => Err(InstructionFileError::NoInstruction(path_buf)),
        }
    }
}

/// The instructions TaskRouter documents for an assignment callback's answer (reference §2.1).
pub const INSTRUCTIONS: &[&str] = &[
    "accept",
    "reject",
    "dequeue",
    "call",
    "redirect",
    "conference",
];

impl AssignmentReply {
    /// `{"instruction":"reject"}`: the worker keeps its activity.
    pub fn reject() -> Self {
        Self::Instruction(br#"{"instruction":"reject"}"#.to_vec())
    }

    /// Reads what `PUT /api/responder` sends: `"hold"`, `"accept"`, `"reject"` or an instruction
    /// object, checked against TaskRouter's list and the fields each instruction requires, so a
    /// mistake is refused here rather than answered to TaskRouter (which would log 40100 etc.).
    pub fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) => match s.as_str() {
                "hold" => Ok(Self::Hold),
                "accept" => Ok(Self::accept()),
                "reject" => Ok(Self::reject()),
                other => Err(format!(
                    "assignment is \"hold\", \"accept\", \"reject\" or an instruction object, not {other:?}"
                )),
            },
            Value::Object(map) => {
                let Some(instruction) = map.get("instruction").and_then(Value::as_str) else {
                    return Err("an instruction object needs an \"instruction\" key (TaskRouter warns 40005 without one)".into());
                };
                if !INSTRUCTIONS.contains(&instruction) {
                    return Err(format!(
                        "unknown instruction {instruction:?} (TaskRouter error 55555); one of {}",
                        INSTRUCTIONS.join(", ")
                    ));
                }
                let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or("");
                let sid = |key: &str, prefix: &str| {
                    let v = text(key);
                    v.is_empty() || crate::taskrouter::sid::is_sid(v, prefix)
                };
                let required: &[&str] = match instruction {
                    "call" => &["from", "url"],
                    "redirect" => &["call_sid", "url"],
                    _ => &[],
                };
                if let Some(missing) = required.iter().find(|k| text(k).is_empty()) {
                    return Err(format!("the {instruction} instruction needs {missing:?}"));
                }
                if !sid("activity_sid", "WA") || !sid("post_work_activity_sid", "WA") {
                    return Err(
                        "activity_sid and post_work_activity_sid must be Activity SIDs (WA + 32 hex; TaskRouter error 40100)"
                            .into(),
                    );
                }
                Ok(Self::Instruction(value.to_string().into_bytes()))
            }
            _ => Err("assignment is a string or an instruction object".into()),
        }
    }

    /// The shape `GET /api/responder` answers: `"hold"`, `"accept"`, `"reject"` or the object.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Hold => Value::String("hold".into()),
            Self::Instruction(bytes) => {
                let value: Value = serde_json::from_slice(bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()));
                match value.as_object() {
                    Some(map) if map.len() == 1 => {
                        match map.get("instruction").and_then(Value::as_str) {
                            Some(simple @ ("accept" | "reject")) => Value::String(simple.into()),
                            _ => value,
                        }
                    }
                    _ => value,
                }
            }
        }
    }

    /// The instruction's name, or `hold`.
    pub fn name(&self) -> String {
        match self.to_value() {
            Value::String(s) => s,
            other => other
                .get("instruction")
                .and_then(Value::as_str)
                .unwrap_or("instruction")
                .to_owned(),
        }
    }

    /// Why this answer will fail for a task with `attributes` (TaskRouter's 40140 / 40142: dequeue
    /// and conference need a voice task's `call_sid`).
    pub fn warning_for(&self, attributes: Option<&Value>) -> Option<String> {
        let name = self.name();
        if !matches!(name.as_str(), "dequeue" | "conference") {
            return None;
        }
        let has_call = attributes
            .and_then(|a| a.get("call_sid"))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        (!has_call).then(|| {
            let code = if name == "dequeue" { 40140 } else { 40142 };
            format!(
                "{name} needs a voice task with call_sid in its attributes; TaskRouter answers {code} for this task"
            )
        })
    }
}

/// Why `--assignment-response FILE` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InstructionFileError {
    #[error("cannot read assignment response {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("assignment response {} is not JSON", path.display())]
    NotJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("assignment response {} must be a JSON object with an \"instruction\" key", .0.display())]
    NoInstruction(PathBuf),
}

/// Decides the response for a captured callback. Clones share the assignment answer.
#[derive(Debug, Clone)]
pub struct Responder {
    assignment: Arc<RwLock<AssignmentReply>>,
}

impl Responder {
    pub fn new(assignment: AssignmentReply) -> Self {
        Self {
            assignment: Arc::new(RwLock::new(assignment)),
        }
    }

    /// What assignment callbacks get now.
    pub fn assignment(&self) -> AssignmentReply {
        // A panic while holding the lock cannot leave a half-written value: it is one assignment.
        self.assignment
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Switches what assignment callbacks get, from the next one on; returns the previous answer.
    pub fn set_assignment(&self, reply: AssignmentReply) -> AssignmentReply {
        let mut current = self
            .assignment
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, reply)
    }

    pub fn respond(&self, kind: Kind) -> RecordedResponse {
        match kind {
            Kind::Event => RecordedResponse {
                status: 204,
                headers: vec![Header::new("Content-Type", b"application/json".to_vec())],
                body: Vec::new(),
            },
            Kind::Assignment => match &self.assignment() {
                AssignmentReply::Hold => json_response(200, b"{}".to_vec()),
                AssignmentReply::Instruction(body) => json_response(200, body.clone()),
            },
            Kind::Other => json_response(200, b"{}".to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_file_must_be_an_object_with_instruction() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let ok = write("ok.json", r#"{"instruction":"dequeue","from":"+15550100"}"#);
        assert!(matches!(
            AssignmentReply::from_file(&ok),
            Ok(AssignmentReply::Instruction(_))
        ));
        for (name, text) in [
            ("a.json", "[]"),
            ("b.json", r#"{"accept":true}"#),
            ("c.json", "{"),
        ] {
            let err = AssignmentReply::from_file(&write(name, text)).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        assert!(AssignmentReply::from_file(&dir.path().join("missing.json")).is_err());
    }

    #[test]
    fn switched_answers_reach_every_clone_and_instructions_are_checked() {
        let responder = Responder::new(AssignmentReply::Hold);
        let capture_side = responder.clone();
        assert_eq!(capture_side.respond(Kind::Assignment).body, b"{}");
        responder.set_assignment(AssignmentReply::accept());
        assert_eq!(
            capture_side.respond(Kind::Assignment).body,
            br#"{"instruction":"accept"}"#
        );
        let ok = |v: Value| AssignmentReply::from_value(&v).map(|r| r.to_value());
        assert_eq!(ok(serde_json::json!("hold")), Ok(serde_json::json!("hold")));
        assert_eq!(
            ok(serde_json::json!({"instruction": "accept"})),
            Ok(serde_json::json!("accept"))
        );
        let reject = serde_json::json!({"instruction": "reject", "activity_sid": "WA0123456789abcdef0123456789abcdef"});
        assert_eq!(ok(reject.clone()), Ok(reject));
        for bad in [
            serde_json::json!("maybe"),
            serde_json::json!({"instruction": "teleport"}),
            serde_json::json!({"accept": true}),
            serde_json::json!({"instruction": "reject", "activity_sid": "Offline"}),
            serde_json::json!({"instruction": "redirect", "url": "https://example.com/twiml"}),
            serde_json::json!([1]),
        ] {
            assert!(AssignmentReply::from_value(&bad).is_err(), "{bad}");
        }
        let dequeue =
            AssignmentReply::from_value(&serde_json::json!({"instruction": "dequeue"})).unwrap();
        assert!(
            dequeue
                .warning_for(Some(&serde_json::json!({"selected_language": "es"})))
                .unwrap()
                .contains("40140")
        );
        assert!(
            dequeue
                .warning_for(Some(&serde_json::json!({"call_sid": "CA1"})))
                .is_none()
        );
        assert!(AssignmentReply::accept().warning_for(None).is_none());
    }
}
