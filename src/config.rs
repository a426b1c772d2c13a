//! The validated configuration of `taskhook serve`. Tests build a [`Config`] directly;
//! the binary builds it from [`crate::cli::ServeArgs`] with [`Config::from_args`], which checks
//! everything that can be checked before anything is opened or bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::capture::CaptureSettings;
use crate::capture::responder::{AssignmentReply, Responder};
use crate::cli::{AssignmentMode, ServeArgs};
use crate::inspector::guard::InspectorToken;
use crate::server::ConnectionLimits;
use crate::store::StoreOptions;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Capture listener address; port 0 picks a free port.
    pub listen: SocketAddr,
    pub db_path: PathBuf,
    pub store: StoreOptions,
    pub capture: CaptureSettings,
    pub capture_limits: ConnectionLimits,
    pub inspector: InspectorConfig,
}

/// Settings of the inspector listener.
#[derive(Debug, Clone)]
pub struct InspectorConfig {
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    pub token: InspectorToken,
    /// Extra `Host` names accepted besides localhost, 127.0.0.1 and [::1].
    pub extra_hosts: Vec<String>,
}

impl Config {
    /// Defaults for a database at `db_path`, listening on `listen`.
    pub fn new(listen: SocketAddr, db_path: PathBuf) -> Self {
        Self {
            listen,
            db_path,
            store: StoreOptions::default(),
            capture: CaptureSettings {
                responder: Responder {
                    assignment: AssignmentReply::Hold,
                },
                max_body: 1024 * 1024,
                body_read_timeout: Duration::from_secs(30),
            },
            capture_limits: ConnectionLimits::default(),
            inspector: InspectorConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 4040)),
                token: InspectorToken::random(),
                extra_hosts: Vec::new(),
            },
        }
    }

    /// Validates command-line arguments into a configuration.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let mut config = Self::new(args.listen, args.db.clone());
        config.store.sync = args.sync;
        config.capture.max_body = args.max_body;
        config.capture.responder.assignment = match (&args.assignment_response, args.assignment) {
            (Some(path), _) => AssignmentReply::from_file(path).map_err(anyhow::Error::msg)?,
            (None, AssignmentMode::Accept) => AssignmentReply::accept(),
            (None, AssignmentMode::Hold) => AssignmentReply::Hold,
        };
        anyhow::ensure!(
            args.max_connections > 0,
            "--max-connections must be at least 1"
        );
        config.capture_limits.max_connections = args.max_connections;

        config.inspector.listen = args.inspector;
        if let Some(token) = &args.inspector_token {
            config.inspector.token = InspectorToken::fixed(token).map_err(anyhow::Error::msg)?;
        }
        config.inspector.extra_hosts = args.inspector_host.clone();
        if !args.inspector.ip().is_loopback() {
            anyhow::ensure!(
                args.allow_remote_inspector,
                "--inspector {} is not a loopback address; the inspector can accept and reject \
                 reservations with your credentials, so it binds loopback only unless you pass \
                 --allow-remote-inspector",
                args.inspector
            );
            tracing::warn!(
                address = %args.inspector,
                "the inspector listens on a non-loopback address; anyone who can reach it and \
                 learns the token can use it"
            );
        }
        Ok(config)
    }
}
