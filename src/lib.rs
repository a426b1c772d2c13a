//! taskhook records every Twilio TaskRouter callback that reaches it into SQLite, byte-exact
//! and durably, and answers each the way TaskRouter expects.
//!
//! # Layout
//!
//! - [`cli`]: clap definitions (raw flags with environment fallbacks).
//! - [`config`]: the validated [`config::Config`] that tests can build directly.
//! - [`commands`]: what each subcommand does.
//! - [`telemetry`]: tracing-subscriber set-up.
//! - [`startup`]: [`startup::App`] — open the store, bind the listeners, run until stopped.
//! - [`server`]: the hyper accept loop with connection limits and graceful drain; knows no routes.
//! - [`capture`]: the catch-all capture service and the responder.
//! - [`inspector`]: the inspector listener — pages, live updates, JSON API, and the guard.
//! - [`export`]: stored requests as curl commands.
//! - [`store`]: the only module with SQL — migrations, the group-commit writer, read queries.
//! - [`taskrouter`]: TaskRouter knowledge — SIDs and callback classification.

pub mod actions;
pub mod capture;
pub mod cli;
pub mod commands;
pub mod config;
pub mod export;
pub mod inspector;
pub mod replay;
pub mod server;
pub mod sim;
pub mod startup;
pub mod store;
pub mod taskrouter;
pub mod telemetry;
