//! Command-line definitions (clap derive). Only raw flags live here, each with its environment
//! fallback; [`crate::config`] turns them into a checked [`crate::config::Config`]. Doc comments
//! are the `--help` text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::defaults;
use crate::env;
use crate::export::Format;
use crate::store::SyncMode;
use crate::taskrouter::sid::{ActivitySid, ReservationSid, TaskSid, WorkspaceSid};
use crate::taskrouter::status::Kind;

/// A local inspector and recorder for Twilio TaskRouter callbacks.
#[derive(Debug, Parser)]
#[command(name = "taskhook", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record every callback that reaches the capture listener and answer it as TaskRouter expects.
    // Boxed: the other commands are small, and the enum is as large as its largest variant.
    Serve(Box<ServeArgs>),
    /// List recorded requests, newest first.
    Requests(RequestsArgs),
    /// Accept a reservation through the TaskRouter REST API (what the inspector's button does).
    Accept(ReservationArgs),
    /// Reject a reservation through the TaskRouter REST API.
    Reject(ReservationArgs),
    /// Send recorded requests again, re-signed for their new URL.
    Replay(ReplayArgs),
    /// Export recorded requests as HAR 1.2, JSON lines or curl commands.
    Export(ExportArgs),
    /// Run a local TaskRouter (REST API + signed callbacks) to test your own app against.
    Sim(SimArgs),
    /// The whole quickstart with no Twilio account: a local TaskRouter wired to the recorder
    /// and the inspector; open the printed URL and accept Alice's reservation.
    Demo(DemoArgs),
    /// Put back what a killed `serve --connect` left pointing at taskhook (the callback URLs it
    /// recorded in the database), unless someone changed them since.
    Restore(RestoreArgs),
    /// An MCP server on stdin/stdout for AI coding agents: read the recorded callbacks and
    /// accept, reject or replay through a running `serve` or `demo`.
    Mcp(McpArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The inspector of the running `serve` or `demo`, as a URL or HOST:PORT. Default: the one
    /// in its runtime file, else http://127.0.0.1:4040.
    #[arg(long, env = env::INSPECTOR, value_name = "URL")]
    pub inspector: Option<String>,

    /// That inspector's token. Default: the one `serve` and `demo` write, readable only by
    /// you, next to their database (taskhook.db-inspector).
    #[arg(long, env = env::INSPECTOR_TOKEN, hide_env_values = true)]
    pub inspector_token: Option<String>,

    /// The database of the `serve` to find. Default: taskhook.db, then taskhook-demo.db, in
    /// the current folder.
    #[arg(long, env = env::DB, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address of the local TaskRouter REST API.
    #[arg(long, default_value_t = defaults::SIM)]
    pub listen: SocketAddr,

    /// The Workflow's AssignmentCallbackUrl (settable later through the REST API too).
    #[arg(long, value_name = "URL")]
    pub assignment_callback_url: Option<String>,

    /// The Workspace's EventCallbackUrl (settable later through the REST API too).
    #[arg(long, value_name = "URL")]
    pub event_callback_url: Option<String>,

    /// The Workflow's TaskReservationTimeout, in seconds.
    #[arg(long, default_value_t = defaults::RESERVATION_TIMEOUT_SECS, value_name = "SECONDS")]
    pub reservation_timeout: u64,
}

/// How TaskRouter events reach taskhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EventsVia {
    /// The Workspace's one EventCallbackUrl (form-encoded event callbacks).
    #[default]
    Callback,
    /// An Event Streams webhook sink and subscription (CloudEvents batches), leaving the
    /// EventCallbackUrl as it is.
    Streams,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How the local TaskRouter sends its events: the EventCallbackUrl, or an Event Streams
    /// sink (CloudEvents batches to /events-streams).
    #[arg(long, value_enum, value_name = "VIA")]
    pub events: Option<EventsVia>,

    /// Address of the capture listener.
    #[arg(long, default_value_t = defaults::CAPTURE)]
    pub listen: SocketAddr,

    /// Address of the inspector.
    #[arg(long, default_value_t = defaults::INSPECTOR)]
    pub inspector: SocketAddr,

    /// Address of the local TaskRouter.
    #[arg(long, default_value_t = defaults::SIM)]
    pub sim_listen: SocketAddr,

    /// SQLite database file (kept apart from a real recording by default).
    #[arg(long, env = env::DEMO_DB, default_value = defaults::DEMO_DB)]
    pub db: PathBuf,

    /// Reservation timeout of the demo workflow, in seconds.
    #[arg(long, default_value_t = defaults::RESERVATION_TIMEOUT_SECS, value_name = "SECONDS")]
    pub reservation_timeout: u64,

    /// Fix the inspector token instead of a random one.
    #[arg(long, env = env::INSPECTOR_TOKEN, hide_env_values = true)]
    pub inspector_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The request id to replay (see `taskhook requests`).
    #[arg(required_unless_present = "task", conflicts_with = "task")]
    pub id: Option<i64>,

    /// Replay every callback of this task, in the order they arrived.
    #[arg(long, value_name = "WT…")]
    pub task: Option<TaskSid>,

    /// Target base URL (or full URL). Default: the capture listener at its default address.
    #[arg(
        long,
        env = env::REPLAY_TO,
        default_value = defaults::CAPTURE_URL,
        value_name = "URL"
    )]
    pub to: String,

    /// Send the captured X-Twilio-Signature unchanged instead of re-signing with TWILIO_AUTH_TOKEN.
    #[arg(long)]
    pub no_resign: bool,

    /// Also allow replays to this host (loopback always is); repeatable.
    #[arg(long, value_name = "HOST")]
    pub allow_replay_to: Vec<String>,

    /// SQLite database file written by `taskhook serve`.
    #[arg(long, env = env::DB, default_value = defaults::DB)]
    pub db: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = Format::Har)]
    pub format: Format,

    /// Only this task's requests.
    #[arg(long, value_name = "WT…")]
    pub task: Option<TaskSid>,

    /// Only requests of this kind (assignment, event, other).
    #[arg(long)]
    pub kind: Option<Kind>,

    /// Most requests, newest first.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,

    /// Base URL the exported requests are addressed to.
    #[arg(long, default_value = defaults::CAPTURE_URL, value_name = "URL")]
    pub base: String,

    /// SQLite database file written by `taskhook serve`.
    #[arg(long, env = env::DB, default_value = defaults::DB)]
    pub db: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReservationArgs {
    /// The ReservationSid (WR…).
    pub reservation: ReservationSid,

    /// The TaskSid (WT…); looked up in the recorded callbacks when omitted.
    #[arg(long, value_name = "WT…")]
    pub task: Option<TaskSid>,

    /// Reject only: the Activity (WA…) to move the worker to.
    #[arg(long, value_name = "WA…")]
    pub activity: Option<ActivitySid>,

    /// SQLite database file written by `taskhook serve`.
    #[arg(long, env = env::DB, default_value = defaults::DB)]
    pub db: PathBuf,

    #[command(flatten)]
    pub taskrouter: TaskRouterArgs,
}

/// How assignment callbacks are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssignmentMode {
    /// `200 {}`: the reservation stays pending until you accept or reject it.
    Hold,
    /// `200 {"instruction":"accept"}`: TaskRouter accepts the reservation at once.
    Accept,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// SQLite database file written by `taskhook serve --connect`.
    #[arg(long, env = env::DB, default_value = defaults::DB)]
    pub db: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the capture listener (point your tunnel here).
    #[arg(long, env = env::LISTEN, default_value_t = defaults::CAPTURE)]
    pub listen: SocketAddr,

    /// SQLite database file; created if missing.
    #[arg(long, env = env::DB, default_value = defaults::DB)]
    pub db: PathBuf,

    /// Durability of each commit: `full` survives power loss, `normal` only a process crash.
    #[arg(long, env = env::SYNC, value_enum, default_value_t = SyncMode::Full)]
    pub sync: SyncMode,

    /// How to answer assignment callbacks.
    #[arg(long, value_enum, default_value_t = AssignmentMode::Hold)]
    pub assignment: AssignmentMode,

    /// Answer assignment callbacks with this JSON file (an object with an "instruction" key).
    #[arg(long, value_name = "FILE", conflicts_with = "assignment")]
    pub assignment_response: Option<PathBuf>,

    /// Largest body stored, e.g. 1MiB, 512KiB or 65536; larger bodies get 413 (and are still
    /// recorded, truncated).
    #[arg(long, env = env::MAX_BODY, default_value = defaults::MAX_BODY, value_parser = parse_size)]
    pub max_body: usize,

    /// Most body bytes held in memory by all connections together before they are stored;
    /// past it callers get 503 with Retry-After (and the refusal is recorded).
    #[arg(long, default_value = defaults::MAX_IN_FLIGHT, value_parser = parse_size)]
    pub max_in_flight: usize,

    /// Most connections served at once on the capture listener.
    #[arg(long, default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Keep at most this many requests; older ones are deleted in the background.
    #[arg(long, env = env::MAX_REQUESTS, value_name = "N")]
    pub max_requests: Option<u64>,

    /// Delete requests older than this (e.g. 7d, 12h, 30m).
    #[arg(long, env = env::MAX_AGE, value_name = "DURATION", value_parser = crate::store::retention::parse_max_age)]
    pub max_age: Option<std::time::Duration>,

    /// Keep the data under this size (e.g. 512MiB) by deleting the oldest requests.
    #[arg(long, env = env::MAX_DB_SIZE, value_name = "SIZE", value_parser = parse_size)]
    pub max_db_size: Option<usize>,

    /// How long an unused read connection stays open (it is closed at the next check, every
    /// 30 s). Hidden: tuning for tests.
    #[arg(long, hide = true, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub reader_idle_timeout: std::time::Duration,

    /// Address of the inspector (the page and its API). Loopback only, unless
    /// --allow-remote-inspector. Default 127.0.0.1:4040, or the next free port from 4041 when
    /// 4040 is taken (by an ngrok agent, say); a given address never falls back.
    #[arg(long, env = env::INSPECTOR)]
    pub inspector: Option<SocketAddr>,

    /// Fix the inspector token instead of a random one per run (at least 16 characters).
    #[arg(long, env = env::INSPECTOR_TOKEN, hide_env_values = true)]
    pub inspector_token: Option<String>,

    /// Also accept this Host name for the inspector (e.g. a name in /etc/hosts); repeatable.
    #[arg(long, value_name = "HOST")]
    pub inspector_host: Vec<String>,

    /// Allow binding the inspector to a non-loopback address. It is still token-protected,
    /// but anyone who can reach it can try.
    #[arg(long)]
    pub allow_remote_inspector: bool,

    #[command(flatten)]
    pub taskrouter: TaskRouterArgs,

    /// The public base URL TaskRouter calls (your tunnel, e.g. https://abc.ngrok.app);
    /// signatures are checked against it. Without it, the tunnel is found by asking ngrok's
    /// agent API (127.0.0.1:4040-4050) and cloudflared's metrics (127.0.0.1:20241-20245), else
    /// X-Forwarded-Proto (http or https, default http) + the Host header is used.
    #[arg(long, env = env::PUBLIC_URL, value_name = "URL")]
    pub public_url: Option<String>,

    /// Point the workspace at taskhook while it runs: its EventCallbackUrl, and each Workflow's
    /// AssignmentCallbackUrl and FallbackAssignmentCallbackUrl, go to the public URL; the old
    /// values are kept in the database and put back at exit (or by `taskhook restore`).
    /// Needs credentials and --workspace.
    #[arg(long)]
    pub connect: bool,

    /// With --connect: `streams` leaves the EventCallbackUrl alone and makes a temporary Event
    /// Streams sink (PUBLIC/events-streams) subscribed to every TaskRouter event type instead,
    /// deleted at exit (or by `taskhook restore`).
    #[arg(long, value_enum, value_name = "VIA", requires = "connect")]
    pub events: Option<EventsVia>,

    /// With --connect, only this Workflow (repeatable). Default: every Workflow in the workspace.
    #[arg(long, value_name = "WW…", requires = "connect")]
    pub workflow: Vec<crate::taskrouter::sid::WorkflowSid>,

    /// Ask only this tunnel agent for the public URL (an ngrok agent API or a cloudflared
    /// metrics server, e.g. http://127.0.0.1:4041).
    #[arg(long, value_name = "URL", conflicts_with = "public_url")]
    pub tunnel_api: Option<String>,

    /// Seconds from an assignment callback until TaskRouter times the reservation out
    /// (the Workflow's TaskReservationTimeout); drives the countdown on the page.
    #[arg(long, default_value_t = defaults::RESERVATION_TIMEOUT_SECS, value_name = "SECONDS")]
    pub reservation_timeout: u64,

    /// Sit in front of your own app: forward every request to this base URL, answer TaskRouter
    /// with the app's response, record both sides.
    #[arg(long, env = env::FORWARD, value_name = "URL")]
    pub forward: Option<String>,

    /// Send the app's own address as Host instead of the original Host header.
    #[arg(long)]
    pub forward_host_rewrite: bool,

    /// Seconds to wait for the app before answering 504.
    #[arg(long, default_value_t = defaults::FORWARD_TIMEOUT_SECS, value_name = "SECONDS")]
    pub forward_timeout: u64,

    /// Also allow replays to this host (loopback and the forward target always are); repeatable.
    #[arg(long, value_name = "HOST")]
    pub allow_replay_to: Vec<String>,
}

/// Where and how to call the TaskRouter REST API. Credentials come only from the environment
/// (TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN, or TWILIO_API_KEY + TWILIO_API_SECRET), never
/// from the command line, where other users could read them.
#[derive(Debug, Args)]
pub struct TaskRouterArgs {
    /// TaskRouter REST base URL (the local sim, or a test server).
    #[arg(long, env = env::TASKROUTER_URL, default_value = crate::taskrouter::client::DEFAULT_BASE_URL)]
    pub taskrouter_url: String,

    /// WorkspaceSid to use when no recorded callback names one.
    #[arg(long, env = env::WORKSPACE_SID, value_name = "WS…")]
    pub workspace: Option<WorkspaceSid>,
}

#[derive(Debug, Args)]
pub struct RequestsArgs {
    /// SQLite database file written by `taskhook serve`.
    #[arg(long, env = env::DB, default_value = defaults::DB)]
    pub db: PathBuf,

    /// Print JSON lines (the fields of the inspector's API) instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Most requests to print.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Parses a byte size: a plain number, or a number with B, KiB, MiB or GiB.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 1MiB, 512KiB or 65536"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return Err(format!("unknown unit in `{text}` (use B, KiB, MiB or GiB)")),
    };
    let size = number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if size == 0 {
        return Err("the size must be at least 1 byte".into());
    }
    Ok(size)
}

/// The README's command-line reference: each subcommand's `--help`, as clap renders it. A test
/// keeps README.md equal to this, so the flags listed there are the flags that parse.
pub fn reference() -> String {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let mut out = String::new();
    for sub in cli.get_subcommands_mut() {
        // The variables' names, not whatever values the environment holds right now.
        let mut sub = sub.clone().mut_args(|arg| arg.hide_env_values(true));
        let help = sub.render_help().to_string();
        out.push_str(&format!(
            "### `{}`\n\n```text\n{}\n```\n\n",
            sub.get_bin_name().unwrap_or_default(),
            help.trim_end()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README.md's block between the cli markers is [`reference`]; `UPDATE_README=1 cargo test`
    /// rewrites it after a flag changes.
    #[test]
    fn the_readme_lists_exactly_the_flags_each_subcommand_accepts() {
        const START: &str = "<!-- cli:start -->\n";
        const END: &str = "<!-- cli:end -->";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let start = readme
            .find(START)
            .expect("README.md has a cli:start marker")
            + START.len();
        let end = readme.find(END).expect("README.md has a cli:end marker");
        let expected = reference();
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{expected}{}", &readme[..start], &readme[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert!(
            readme[start..end] == expected,
            "README.md's command-line reference is out of date: run `UPDATE_README=1 cargo test \
             the_readme_lists` and commit README.md"
        );
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12parsecs").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
