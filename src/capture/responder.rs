//! What the capture listener answers, per callback kind (reference §1.3, §2.1):
//! an assignment callback gets `200 {}` (the reservation stays pending for the Accept button)
//! or a configured instruction; an event callback gets `204` with a JSON content type;
//! anything else gets `200 {}`.

use std::path::{Path, PathBuf};

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

/// Decides the response for a captured callback.
#[derive(Debug, Clone)]
pub struct Responder {
    pub assignment: AssignmentReply,
}

impl Responder {
    pub fn respond(&self, kind: Kind) -> RecordedResponse {
        match kind {
            Kind::Event => RecordedResponse {
                status: 204,
                headers: vec![Header::new("Content-Type", b"application/json".to_vec())],
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
}
