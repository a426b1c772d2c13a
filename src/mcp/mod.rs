//! `taskhook mcp`: a Model Context Protocol server over stdio (the official Rust SDK, `rmcp`)
//! that lets an AI coding agent read what TaskRouter sent the app and act on it. It holds no
//! data of its own: every tool is one call to the inspector JSON API of a running
//! `taskhook serve` or `demo`, with the same token and behind the same guard as the page.
//!
//! - [`runtime`]: the owner-only file `serve`/`demo` write next to their database, through
//!   which `taskhook mcp` finds the inspector and its token when it is not told them.
//! - [`client`]: the inspector API client and the tool error shape.
//! - [`tools`]: the tools, their input schemas, structured results and annotations.
//! - [`server`]: the server handler — instructions, tools, resources.
//! - [`data`]: captured text returned as inert data.

pub mod client;
pub mod data;
pub mod runtime;
pub mod server;
pub mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use rmcp::ServiceExt;

use crate::cli::McpArgs;
use crate::inspector::guard::InspectorToken;
use client::{Inspector, Target};
use tools::Taskhook;

/// `--inspector`: a URL, or `HOST:PORT` as `serve --inspector` takes it (so one
/// `TASKHOOK_INSPECTOR` serves both).
pub fn inspector_base(value: &str) -> anyhow::Result<String> {
    let value = value.trim();
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(runtime::reachable_url(addr));
    }
    let url = url::Url::parse(value)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .with_context(|| {
            format!(
                "--inspector {value:?} is neither a URL like http://127.0.0.1:4040 nor HOST:PORT"
            )
        })?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Serves MCP on stdin/stdout until the client closes stdin. Starts whether or not a `serve`
/// is running: the agent usually starts first, and each tool call looks again.
pub async fn run(args: McpArgs) -> anyhow::Result<()> {
    let inspector = args.inspector.as_deref().map(inspector_base).transpose()?;
    let token = args
        .inspector_token
        .as_deref()
        .map(InspectorToken::fixed)
        .transpose()?;
    let databases = match args.db {
        Some(db) => vec![db],
        None => vec![
            PathBuf::from(crate::defaults::DB),
            PathBuf::from(crate::defaults::DEMO_DB),
        ],
    };
    let client = Inspector::new(Target {
        inspector,
        token,
        databases,
    })?;
    let service = Taskhook::new(client)
        .serve(rmcp::transport::stdio())
        .await
        .context("MCP initialization over stdin/stdout failed")?;
    service.waiting().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inspector_is_a_url_or_an_address() {
        assert_eq!(
            inspector_base("http://127.0.0.1:4040/").unwrap(),
            "http://127.0.0.1:4040"
        );
        assert_eq!(
            inspector_base("127.0.0.1:5050").unwrap(),
            "http://127.0.0.1:5050"
        );
        assert_eq!(
            inspector_base("0.0.0.0:4040").unwrap(),
            "http://127.0.0.1:4040"
        );
        assert!(inspector_base("ftp://example").is_err());
        assert!(inspector_base("nonsense").is_err());
    }
}
