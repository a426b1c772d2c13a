//! The validated configuration of `taskhook serve`. Tests build a [`Config`] directly;
//! the binary builds it from [`crate::cli::ServeArgs`] with [`Config::from_args`], which checks
//! everything that can be checked before anything is opened or bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::capture::CaptureSettings;
use crate::capture::forward::Forwarder;
use crate::capture::responder::{AssignmentReply, Responder};
use crate::cli::{AssignmentMode, ServeArgs, TaskRouterArgs};
use crate::defaults;
use crate::inspector::guard::InspectorToken;
use crate::server::ConnectionLimits;
use crate::store::StoreOptions;
use crate::store::retention::Retention;
use crate::taskrouter::client::{Client, Credentials, DEFAULT_BASE_URL};

/// Twilio's Event Streams API.
const EVENTS_BASE_URL: &str = "https://events.twilio.com";
use crate::taskrouter::sid::{WorkflowSid, WorkspaceSid};

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
    pub taskrouter: TaskRouterConfig,
    /// How long a reservation stays pending before TaskRouter times it out.
    pub reservation_timeout: Duration,
    /// `--allow-replay-to`: hosts replays may go to besides loopback and the forward target.
    pub replay_allowed_hosts: Vec<String>,
    /// Finding the tunnel's public URL when `--public-url` is not given.
    pub tunnel: TunnelConfig,
    /// `--connect`: the Workflows to repoint (empty: all of the workspace's).
    pub connect: Option<Vec<WorkflowSid>>,
    /// `--events`: with --connect, how events are pointed at taskhook.
    pub events_via: crate::cli::EventsVia,
}

/// Whether and where to look for a tunnel agent (see [`crate::tunnel`]).
#[derive(Debug, Clone, Default)]
pub struct TunnelConfig {
    pub detect: bool,
    /// `--tunnel-api`: ask only this agent.
    pub api: Option<String>,
}

/// How to reach the TaskRouter REST API.
#[derive(Debug, Clone)]
pub struct TaskRouterConfig {
    pub base_url: String,
    pub credentials: Option<Credentials>,
    pub workspace: Option<WorkspaceSid>,
    /// Per attempt.
    pub timeout: Duration,
}

impl TaskRouterConfig {
    /// From the flags and the TWILIO_* environment variables.
    pub fn from_args(args: &TaskRouterArgs) -> anyhow::Result<Self> {
        let credentials = crate::env::twilio_credentials()?;
        Ok(Self {
            base_url: args.taskrouter_url.clone(),
            credentials,
            workspace: args.workspace.clone(),
            timeout: defaults::TASKROUTER_TIMEOUT,
        })
    }

    /// The Event Streams API: events.twilio.com beside the real TaskRouter, otherwise the same
    /// base (the local TaskRouter serves both).
    pub fn events_url(&self) -> String {
        if self.base_url.trim_end_matches('/') == DEFAULT_BASE_URL.trim_end_matches('/') {
            EVENTS_BASE_URL.to_owned()
        } else {
            self.base_url.clone()
        }
    }

    /// The REST client for the Event Streams API ([`Self::events_url`]).
    pub fn events_client(&self) -> Result<Client, crate::taskrouter::client::ClientSetupError> {
        Client::new(&self.events_url(), self.credentials.clone(), self.timeout)
    }

    /// The REST client for this configuration.
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(
            &self.base_url,
            self.credentials.clone(),
            self.timeout,
        )?)
    }
}

/// Settings of the inspector listener.
#[derive(Debug, Clone)]
pub struct InspectorConfig {
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    pub token: InspectorToken,
    /// Extra `Host` names accepted besides localhost, 127.0.0.1 and [::1].
    pub extra_hosts: Vec<String>,
    /// When `listen` is taken, use the next free port after it (the default address only:
    /// ngrok's agent may hold 4040; an address the user gave never moves).
    pub fallback: bool,
}

impl Config {
    /// Defaults for a database at `db_path`, listening on `listen`.
    pub fn new(listen: SocketAddr, db_path: PathBuf) -> Self {
        Self {
            listen,
            db_path,
            store: StoreOptions::default(),
            capture: CaptureSettings {
                responder: Responder::new(AssignmentReply::Hold),
                max_body: defaults::MAX_BODY_BYTES,
                body_read_timeout: Duration::from_secs(30),
                signature_token: None,
                public_url: None,
                forward: None,
                max_in_flight: defaults::MAX_IN_FLIGHT_BYTES,
                replay_mark: crate::replay::ReplayMark::random(),
            },
            capture_limits: ConnectionLimits::default(),
            inspector: InspectorConfig {
                listen: defaults::INSPECTOR,
                token: InspectorToken::random(),
                extra_hosts: Vec::new(),
                fallback: false,
            },
            taskrouter: TaskRouterConfig {
                base_url: DEFAULT_BASE_URL.to_owned(),
                credentials: None,
                workspace: None,
                timeout: defaults::TASKROUTER_TIMEOUT,
            },
            reservation_timeout: defaults::RESERVATION_TIMEOUT,
            replay_allowed_hosts: Vec::new(),
            tunnel: TunnelConfig::default(),
            connect: None,
            events_via: crate::cli::EventsVia::Callback,
        }
    }

    /// Validates command-line arguments into a configuration.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let mut config = Self::new(args.listen, args.db.clone());
        config.store.sync = args.sync;
        config.store.reader_idle_timeout = args.reader_idle_timeout;
        anyhow::ensure!(
            args.max_requests != Some(0),
            "--max-requests must be at least 1"
        );
        config.store.retention = Retention {
            max_requests: args.max_requests,
            max_age: args.max_age,
            max_bytes: args.max_db_size.map(|b| b as u64),
        };
        config.capture.max_body = args.max_body;
        anyhow::ensure!(
            args.max_in_flight >= args.max_body,
            "--max-in-flight must be at least --max-body, or the largest body could never be stored"
        );
        config.capture.max_in_flight = args.max_in_flight;
        config.capture.responder.set_assignment(
            match (&args.assignment_response, args.assignment) {
                (Some(path), _) => AssignmentReply::from_file(path)?,
                (None, AssignmentMode::Accept) => AssignmentReply::accept(),
                (None, AssignmentMode::Hold) => AssignmentReply::Hold,
            },
        );
        anyhow::ensure!(
            args.max_connections > 0,
            "--max-connections must be at least 1"
        );
        config.capture_limits.max_connections = args.max_connections;

        config.inspector.listen = args.inspector.unwrap_or(defaults::INSPECTOR);
        config.inspector.fallback = args.inspector.is_none();
        if let Some(token) = &args.inspector_token {
            config.inspector.token = InspectorToken::fixed(token)?;
        }
        config.inspector.extra_hosts = args.inspector_host.clone();
        if !config.inspector.listen.ip().is_loopback() {
            anyhow::ensure!(
                args.allow_remote_inspector,
                "--inspector {} is not a loopback address; the inspector can accept and reject \
                 reservations with your credentials, so it binds loopback only unless you pass \
                 --allow-remote-inspector",
                config.inspector.listen
            );
            tracing::warn!(
                address = %config.inspector.listen,
                "the inspector listens on a non-loopback address; anyone who can reach it and \
                 learns the token can use it"
            );
        }

        config.taskrouter = TaskRouterConfig::from_args(&args.taskrouter)?;
        config.taskrouter.client()?;
        config.capture.signature_token = crate::env::auth_token();
        if let Some(url) = &args.public_url {
            let trimmed = url.trim_end_matches('/');
            let parsed = reqwest::Url::parse(trimmed).ok();
            anyhow::ensure!(
                parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.path() == "/"
                    && u.query().is_none()),
                "--public-url must be a base URL such as https://abc.ngrok.app (no path or query)"
            );
            config.capture.public_url = Some(trimmed.to_owned());
        }
        if args.connect {
            anyhow::ensure!(
                config.taskrouter.credentials.is_some(),
                "--connect changes your workspace through the REST API: set TWILIO_ACCOUNT_SID and \
                 TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)"
            );
            anyhow::ensure!(
                config.taskrouter.workspace.is_some(),
                "--connect needs the workspace to point at taskhook: --workspace WS… or \
                 TWILIO_WORKSPACE_SID"
            );
            config.connect = Some(args.workflow.clone());
            config.events_via = args.events.unwrap_or_default();
        }
        config.tunnel = TunnelConfig {
            detect: args.public_url.is_none(),
            api: args.tunnel_api.clone(),
        };
        anyhow::ensure!(
            args.reservation_timeout > 0,
            "--reservation-timeout must be at least 1 second"
        );
        config.reservation_timeout = Duration::from_secs(args.reservation_timeout);

        if let Some(forward) = &args.forward {
            let url = reqwest::Url::parse(forward)
                .map_err(|e| anyhow::anyhow!("--forward {forward:?} is not a URL: {e}"))?;
            anyhow::ensure!(
                matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
                "--forward must be an http(s) URL such as http://127.0.0.1:8080"
            );
            anyhow::ensure!(
                args.forward_timeout > 0,
                "--forward-timeout must be at least 1 second"
            );
            config.capture.forward = Some(Forwarder::new(
                &url,
                args.forward_host_rewrite,
                Duration::from_secs(args.forward_timeout),
            )?);
        }
        config.replay_allowed_hosts = args.allow_replay_to.clone();
        Ok(config)
    }
}
