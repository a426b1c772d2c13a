//! taskhook records every Twilio TaskRouter callback that reaches it into SQLite, byte-exact
//! and durably, answers each the way TaskRouter expects, and serves an inspector page with
//! one-click Accept/Reject, replay and a local TaskRouter for working without an account.
//!
//! # Layout
//!
//! - [`cli`]: clap definitions (raw flags with environment fallbacks).
//! - [`config`]: the validated [`config::Config`] that tests can build directly.
//! - [`cmd`]: what each subcommand does, one file each.
//! - [`defaults`]: the default addresses, files and timeouts, written once.
//! - [`env`]: the one place the environment is read (`TASKHOOK_*`, `TWILIO_*`).
//! - [`telemetry`]: tracing-subscriber set-up.
//! - [`startup`]: [`startup::App`] — open the store, bind the listeners, run until stopped.
//! - [`server`]: the hyper accept loop with connection limits and graceful drain; knows no routes.
//! - [`capture`]: the catch-all capture service, the responder, forward mode, raw header case.
//! - [`inspector`]: the inspector listener — pages, live updates, JSON API, and the guard.
//! - [`actions`]: Accept / Reject / Refresh / Complete / Cancel, with the audit trail.
//! - [`replay`]: sending stored requests again, re-signed for their new URL.
//! - [`export`]: stored requests as JSON, HAR 1.2 and curl commands.
//! - [`store`]: the only module with SQL — migrations, the group-commit writer, retention,
//!   read queries.
//! - [`taskrouter`]: TaskRouter knowledge — SIDs, callback classification, X-Twilio-Signature,
//!   the REST client.
//! - [`wire`]: HTTP as on the wire, shared by capture, forward, replay and export — headers,
//!   hop-by-hop, capped reads, the one JSON error shape, outbound client settings.
//! - [`sim`]: the local TaskRouter — REST API, routing, signed callbacks, reservation timers.
//! - [`mcp`]: `taskhook mcp`, the MCP server for AI coding agents, over the inspector API.

pub mod actions;
pub mod capture;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod connect;
pub mod defaults;
pub mod env;
pub mod export;
pub mod inspector;
pub mod mcp;
pub mod memory;
pub mod replay;
pub mod server;
pub mod sim;
pub mod startup;
pub mod store;
pub mod taskrouter;
pub mod telemetry;
pub mod tunnel;
pub mod wire;
