//! What the capture listener answers, per callback kind (reference §1.3, §2.1):
//! an assignment callback gets `200 {}` (the reservation stays pending for the Accept button)
//! or a configured instruction; an event callback gets `204` with a JSON content type;
//! anything else gets `200 {}`.

use std::path::Path;

use crate::store::models::{Header, Kind, RecordedResponse};

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
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read assignment response {}: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("assignment response {} is not JSON: {e}", path.display()))?;
        match value.as_object() {
            Some(obj) if obj.contains_key("instruction") => Ok(Self::Instruction(bytes)),
            _ => Err(format!(
                "assignment response {} must be a JSON object with an \"instruction\" key",
                path.display()
            )),
        }
    }
}

/// Decides the response for a captured callback.
#[derive(Debug, Clone)]
pub struct Responder {
    pub assignment: AssignmentReply,
}

fn json_header() -> Vec<Header> {
    vec![Header::new("Content-Type", b"application/json".to_vec())]
}

impl Responder {
    pub fn respond(&self, kind: Kind) -> RecordedResponse {
        match kind {
            Kind::Event => RecordedResponse {
                status: 204,
                headers: json_header(),
                body: Vec::new(),
            },
            Kind::Assignment => match &self.assignment {
                AssignmentReply::Hold => json_response(200, b"{}".to_vec()),
                AssignmentReply::Instruction(body) => json_response(200, body.clone()),
            },
            Kind::Other => json_response(200, b"{}".to_vec()),
        }
    }
}

/// A JSON response with `status` and `body`.
pub fn json_response(status: u16, body: Vec<u8>) -> RecordedResponse {
    RecordedResponse {
        status,
        headers: json_header(),
        body,
    }
}

/// A JSON error body `{"error": message}`.
pub fn json_error(status: u16, message: &str) -> RecordedResponse {
    let body = serde_json::json!({ "error": message })
        .to_string()
        .into_bytes();
    json_response(status, body)
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
            assert!(err.contains(name), "{err}");
        }
        assert!(AssignmentReply::from_file(&dir.path().join("missing.json")).is_err());
    }
}
