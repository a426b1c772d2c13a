//! The defaults every part agrees on: the listeners' addresses, the database files, the
//! reservation timeout. clap's `--help`, [`crate::config::Config::new`] and the sim all read
//! them from here, so "127.0.0.1:8088" is written once.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The capture listener (what the tunnel points at).
pub const CAPTURE: SocketAddr = SocketAddr::new(LOOPBACK, 8088);
/// The capture listener as a base URL (replay and export targets).
pub const CAPTURE_URL: &str = "http://127.0.0.1:8088";
/// The inspector, where ngrok's own inspector is.
pub const INSPECTOR: SocketAddr = SocketAddr::new(LOOPBACK, 4040);
/// The local TaskRouter: outside 4040–4050, where ngrok's agents (and a displaced inspector)
/// take ports.
pub const SIM: SocketAddr = SocketAddr::new(LOOPBACK, 4100);

/// The recording `serve` writes and the other subcommands read.
pub const DB: &str = "taskhook.db";
/// `demo`'s recording, kept apart from a real one.
pub const DEMO_DB: &str = "taskhook-demo.db";

/// A Workflow's TaskReservationTimeout when none is set (TaskRouter's default), in seconds.
pub const RESERVATION_TIMEOUT_SECS: u64 = 120;
pub const RESERVATION_TIMEOUT: Duration = Duration::from_secs(RESERVATION_TIMEOUT_SECS);

/// Largest body stored.
pub const MAX_BODY: &str = "1MiB";
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Body bytes all capture connections together may hold before they are stored.
pub const MAX_IN_FLIGHT: &str = "64MiB";
pub const MAX_IN_FLIGHT_BYTES: usize = 64 * 1024 * 1024;
/// Connections the capture listener serves at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Seconds forward mode waits for the app.
pub const FORWARD_TIMEOUT_SECS: u64 = 15;
/// Per attempt, for TaskRouter REST calls.
pub const TASKROUTER_TIMEOUT: Duration = Duration::from_secs(10);
