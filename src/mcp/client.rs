//! The inspector's JSON API as `taskhook mcp` calls it: one GET or POST with the bearer token,
//! answers as JSON. Every failure becomes a [`ToolError`] carrying the one error shape
//! ([`ErrorBody`]): the inspector's own errors (a 404, TaskRouter's error passed through) are
//! kept as they came; an unreachable inspector or a refused token get a message that says what
//! to do.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::runtime;
use crate::inspector::guard::InspectorToken;
use crate::wire::ErrorBody;

/// A failed tool call: the JSON the agent gets back, `{"error": {status, code?, message,
/// more_info?}, …}` (TaskRouter failures also carry `summary` and `taskrouter`).
#[derive(Debug, Clone)]
pub struct ToolError(pub Value);

impl ToolError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self(json!({ "error": ErrorBody::new(status, message) }))
    }

    /// A malformed argument (a SID of the wrong shape, an unknown kind): nothing was called.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
}

impl rmcp::model::IntoContents for ToolError {
    fn into_contents(self) -> Vec<rmcp::model::ContentBlock> {
        vec![rmcp::model::ContentBlock::text(self.0.to_string())]
    }
}

/// Where the inspector is and how `taskhook mcp` learns its token. Resolved again on every
/// call, so a `serve` started (or restarted with a new token) after the agent is found.
#[derive(Debug, Clone)]
pub struct Target {
    /// `--inspector`: used as given, else the runtime file's, else the default.
    pub inspector: Option<String>,
    /// `--inspector-token` / `TASKHOOK_INSPECTOR_TOKEN`.
    pub token: Option<InspectorToken>,
    /// Databases whose runtime files are looked at, in order (`--db`, or the default
    /// `serve` and `demo` databases of the current folder).
    pub databases: Vec<PathBuf>,
}

/// A resolved inspector: its base URL and the token to send.
struct Endpoint {
    base: String,
    token: InspectorToken,
}

impl Target {
    fn resolve(&self) -> Result<Endpoint, ToolError> {
        let mut found = None;
        for db in &self.databases {
            match runtime::read(db) {
                Ok(Some(runtime)) => {
                    found = Some(runtime);
                    break;
                }
                Ok(None) => {}
                Err(err) => return Err(ToolError::new(503, err.to_string())),
            }
        }
        let base = self
            .inspector
            .clone()
            .or_else(|| found.as_ref().map(|r| r.inspector.clone()))
            .unwrap_or_else(|| format!("http://{}", crate::defaults::INSPECTOR));
        let base = base.trim_end_matches('/').to_owned();
        let token = match (&self.token, found) {
            (Some(token), _) => token.clone(),
            // The runtime file's token goes only to the inspector it belongs to.
            (None, Some(runtime)) if runtime.inspector.trim_end_matches('/') == base => {
                InspectorToken::fixed(&runtime.token).map_err(|err| {
                    ToolError::new(503, format!("the runtime file's token: {err}"))
                })?
            }
            (None, Some(runtime)) => {
                return Err(ToolError::new(
                    503,
                    format!(
                        "the running taskhook's inspector is {}, not {base}: give the token of \
                         {base} with TASKHOOK_INSPECTOR_TOKEN or --inspector-token",
                        runtime.inspector
                    ),
                ));
            }
            (None, None) => {
                let files: Vec<String> = self
                    .databases
                    .iter()
                    .map(|db| runtime::path_for(db).display().to_string())
                    .collect();
                return Err(ToolError::new(
                    503,
                    format!(
                        "no running taskhook found: no runtime file ({}) and no token given. \
                         Start `taskhook serve` or `taskhook demo` in this folder, or give \
                         TASKHOOK_INSPECTOR_TOKEN / --inspector-token (and --inspector {base} \
                         if it is elsewhere)",
                        files.join(", ")
                    ),
                ));
            }
        };
        Ok(Endpoint { base, token })
    }
}

/// The inspector API client.
#[derive(Debug, Clone)]
pub struct Inspector {
    target: Target,
    http: reqwest::Client,
}

impl Inspector {
    pub fn new(target: Target) -> anyhow::Result<Self> {
        // Accept and Reject wait on TaskRouter (10 s per attempt); replays on the app.
        let http =
            crate::wire::client_builder(Duration::from_secs(3), Duration::from_secs(60)).build()?;
        Ok(Self { target, http })
    }

    /// `GET {path}` with `query` pairs.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ToolError> {
        let endpoint = self.target.resolve()?;
        let request = self
            .http
            .get(format!("{}{path}", endpoint.base))
            .query(query);
        self.send(request, &endpoint).await
    }

    /// `POST {path}` with a JSON body (the API's action routes take only JSON).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ToolError> {
        let endpoint = self.target.resolve()?;
        let request = self
            .http
            .post(format!("{}{path}", endpoint.base))
            .json(body);
        self.send(request, &endpoint).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &Endpoint,
    ) -> Result<Value, ToolError> {
        let response = request
            .bearer_auth(endpoint.token.expose())
            .send()
            .await
            .map_err(|err| {
                ToolError::new(
                    503,
                    format!(
                        "no taskhook serve is reachable at {} ({}): start `taskhook serve` or \
                         `taskhook demo`, or point --inspector at it",
                        endpoint.base,
                        crate::wire::root_cause(&err)
                    ),
                )
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|err| {
            ToolError::new(
                502,
                format!(
                    "the inspector at {} broke off its answer: {}",
                    endpoint.base,
                    crate::wire::root_cause(&err)
                ),
            )
        })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        match (status.as_u16(), body) {
            (200..=299, Some(body)) => Ok(body),
            (200..=299, None) => Err(ToolError::new(
                502,
                format!("the inspector at {} answered without JSON", endpoint.base),
            )),
            // The guard answers these in plain text, before any route.
            (401 | 403, None) => Err(ToolError::new(
                status.as_u16(),
                format!(
                    "the inspector at {} refused the token: is it the token of the taskhook \
                     running there?",
                    endpoint.base
                ),
            )),
            (_, Some(body)) if body.get("error").is_some() => Err(ToolError(body)),
            (code, _) => Err(ToolError::new(
                code,
                format!("the inspector at {} answered {status}", endpoint.base),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &std::path::Path, inspector: Option<&str>, token: Option<&str>) -> Target {
        Target {
            inspector: inspector.map(str::to_owned),
            token: token.map(|t| InspectorToken::fixed(t).unwrap()),
            databases: vec![dir.join("taskhook.db"), dir.join("taskhook-demo.db")],
        }
    }

    fn message(err: ToolError) -> String {
        err.0["error"]["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn the_runtime_file_names_the_inspector_and_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let token = InspectorToken::fixed("demo-token-0123456789abc").unwrap();
        let _file = runtime::RuntimeFile::write(
            &dir.path().join("taskhook-demo.db"),
            "127.0.0.1:4999".parse().unwrap(),
            &token,
        )
        .unwrap();

        let found = target(dir.path(), None, None).resolve().unwrap();
        assert_eq!(found.base, "http://127.0.0.1:4999");
        assert_eq!(found.token.expose(), token.expose());

        // A token given explicitly wins; the file's token never goes to another inspector.
        let given = target(dir.path(), None, Some("given-token-0123456789ab"))
            .resolve()
            .unwrap();
        assert_eq!(given.token.expose(), "given-token-0123456789ab");
        let elsewhere = target(dir.path(), Some("http://127.0.0.1:5000"), None).resolve();
        let text = message(elsewhere.err().unwrap());
        assert!(
            text.contains("is http://127.0.0.1:4999, not http://127.0.0.1:5000"),
            "{text}"
        );
    }

    #[test]
    fn without_a_runtime_file_or_token_the_error_says_what_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let text = message(target(dir.path(), None, None).resolve().err().unwrap());
        assert!(text.contains("taskhook.db-inspector"), "{text}");
        assert!(text.contains("taskhook-demo.db-inspector"), "{text}");
        assert!(text.contains("taskhook serve") && text.contains("TASKHOOK_INSPECTOR_TOKEN"));
        // A token alone is enough: the default inspector address is used.
        let found = target(dir.path(), None, Some("given-token-0123456789ab"))
            .resolve()
            .unwrap();
        assert_eq!(found.base, "http://127.0.0.1:4040");
    }
}
