//! One integration-test binary. Each module drives the real server on port 0 with a temp
//! database; see `helpers` for `spawn_app`.

/// Spawning the app in-process, HTTP and raw-socket clients, TaskRouter-shaped fixtures.
mod helpers;

/// Accept, Reject, Complete, Cancel through the TaskRouter REST API; CSRF; signature verdicts.
mod actions;
/// Issue 19 on the capture port: slow and idle sockets, the in-flight body budget, memory.
mod attack;
/// The inspector in headless Chromium: live rows, copy buttons, keyboard, hostile payloads.
mod browser;
/// Recording and answering callbacks: what is stored, byte for byte, and what is answered.
mod capture;
/// The `taskhook` binary: address lines, startup errors, the `requests` command.
mod cli;
/// `serve --connect` and `taskhook restore` against the local TaskRouter.
mod connect;
/// The bad-input corpus (tests/data/corpus/): recorded or refused, never a panic, inert in Chromium.
mod corpus;
/// Acknowledged means stored: lock contention, graceful shutdown, SIGKILL under load.
mod durability;
/// A stand-in for the TaskRouter REST API that records every call.
mod fake_taskrouter;
/// Bodies over the limit, broken encodings, odd requests: recorded or refused, never a panic.
mod hostile;
/// The inspector: pages, JSON API, live updates, and the guard in front of them.
mod inspector;
/// `taskhook mcp` driven by the MCP Rust SDK's client against `taskhook demo`.
mod mcp;
/// Replays (re-signed, edited, refused), forward mode, HAR export.
mod replay;
/// Retention limits, a full database, clearing everything.
mod retention;
/// The Auth Token never leaks; `taskhook accept` / `reject` from the shell.
mod secrets;
/// The local TaskRouter wired to the app: quickstart lifecycle, reject, timeout, REST shapes.
mod sim;
/// The sim's Workflow routing steps: step timeouts and escalation, skip_if, order_by, priority.
mod sim_routing;
/// Issue 19, store side: bad rows, Clear all under load, a deleted database file, pool, WAL, lock.
mod store_attacks;
/// Event Streams: CloudEvents batches split, deduplicated, ordered by event time (issue 15).
mod streams;
/// Behind a tunnel with no flags: fake ngrok and cloudflared agents, signatures by twilio-python.
mod tunnel;
/// Issue 13: every page accessible and fitting at every width, split view, stream controls, diff.
mod ui;
/// The workbench: workers, new tasks, the responder switch, the tray — in Chromium and by API.
mod workbench;
// The sim against every operation of Twilio's TaskRouter v1 OpenAPI description.
mod sim_spec;

/// A headless Chromium through chromedriver: clicks, clipboard, screenshots; skipped if absent.
mod browser_support;
