//! The local TaskRouter (`taskhook sim` / `taskhook demo`): a REST API with TaskRouter's real
//! paths, parameters, JSON and errors (reference §3), seeded like Twilio's quickstart, that
//! routes tasks to workers and sends real, signed assignment and event callbacks — so the
//! whole lifecycle runs with no Twilio account, and Twilio's helper libraries work against it
//! with only their base URL changed (twilio-python: `client.taskrouter.base_url = sim_url`).
//!
//! - `state`: the world (one `State` per Workspace) and the lifecycle rules; no I/O.
//! - `stats`: the Statistics resources, computed from a Workspace's state and events.
//! - `expr`: TaskRouter expressions (`languages HAS "es"`, `a == 1`, `a IN [...]`, AND/OR).
//! - `rest`: the axum REST API, basic auth, TaskRouter's error JSON.
//! - `json`: resource JSON and list envelopes.
//! - `dispatch`: the single callback dispatcher, in order, signed; applies instructions.
//!
//! Concurrency: all state sits behind one std `Mutex`, never held across an `.await`. Every
//! change goes through `Shared::with_state`, which afterwards — still under the lock — queues
//! the callbacks the change caused (so they leave in the order things happened) and starts or
//! cancels timers. Timers (a reservation's timeout, a task's TTL, a task's Workflow step
//! timeout) are spawned tasks that re-check what they are for when they fire.
//!
//! Choices where TaskRouter's behaviour is not documented (reference: UNCONFIRMED):
//! - a task goes to the matching available worker who has been available longest;
//! - a worker who rejected a task is not offered that task again;
//! - reject without `WorkerActivitySid` puts the worker back in the activity it had before
//!   the reservation (reference §3.3);
//! - every 400 carries code 20001, including "Reservation WR… is already in state [x] and
//!   cannot be updated to [y]" (TaskRouter's wording; its numeric code is unconfirmed);
//! - an instruction answered without `Content-Type: application/json` is ignored (40000);
//! - the Workflow routing choices listed in `state::routing` (rescinding on a step change, the
//!   canceled reasons, a target without `queue` keeping the previous one's).
//!
//! Every operation of Twilio's TaskRouter v1 OpenAPI description is served (Workspaces with
//! `Template=FIFO`, Activities, TaskChannels, TaskQueues, Workflows, Workers and their
//! Channels with multitasking capacity, Tasks, Reservations, Events, all Statistics computed
//! from the sim's own state, `ETag` / `If-Match`); `tests/integration/sim_spec.rs` walks the
//! spec file to keep it so. Workflow routing steps (timeouts, escalation, `skip_if`,
//! `order_by`, priority) and `MaxReservedWorkers` are emulated (`state::routing`). Not
//! simulated: `known_worker_*` targeting, `supervise`, LIFO task order, transfers, and `#ct=…`
//! connection overrides.

mod dispatch;
mod expr;
mod json;
mod rest;
mod state;
mod stats;
mod streams;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinHandle};

use crate::taskrouter::sid::is_sid;
use crate::taskrouter::signature::AuthToken;
use state::{Fail, NewTask, Outgoing, State, Timer, World};

/// How long [`Sim::shutdown`] waits for the REST server and for queued callbacks.
const SERVER_DRAIN: Duration = Duration::from_secs(5);
const CALLBACK_DRAIN: Duration = Duration::from_secs(10);

/// How to start a [`Sim`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    /// `AC…`: from TWILIO_ACCOUNT_SID, or [`SimConfig::generated_credentials`].
    pub account_sid: String,
    /// Checks REST basic auth and signs every callback.
    pub auth_token: AuthToken,
    /// The Workflow's AssignmentCallbackUrl (also settable through the REST API).
    pub assignment_callback_url: Option<String>,
    /// The Workspace's EventCallbackUrl (also settable through the REST API).
    pub event_callback_url: Option<String>,
    /// The Workflow's TaskReservationTimeout; sub-second values are allowed for tests.
    pub reservation_timeout: Duration,
}

impl SimConfig {
    /// A random Account SID (`AC` + 32 hex) and Auth Token (32 hex), for when the environment
    /// has none.
    pub fn generated_credentials() -> (String, AuthToken) {
        (state::new_sid("AC"), AuthToken::new(state::random_hex(16)))
    }

    /// Generated credentials, no callback URLs, the default timeout.
    pub fn new(listen: SocketAddr) -> Self {
        let (account_sid, auth_token) = Self::generated_credentials();
        Self {
            listen,
            account_sid,
            auth_token,
            assignment_callback_url: None,
            event_callback_url: None,
            reservation_timeout: crate::defaults::RESERVATION_TIMEOUT,
        }
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::NotFound => f.write_str("not found"),
            Fail::Invalid(message) | Fail::Stale(message) => f.write_str(message),
            Fail::Refused { code, message } => write!(f, "{message} ({code})"),
        }
    }
}

/// What every part of a running sim shares.
pub(crate) struct Shared {
    core: Mutex<Core>,
    account_sid: String,
    auth_token: AuthToken,
    /// `http://127.0.0.1:PORT`, used in every `url` and `links` value.
    base_url: String,
}

struct Core {
    world: World,
    /// Running timers (reservation timeouts, task TTLs) by the SID they are for.
    timers: HashMap<Timer, AbortHandle>,
    /// The dispatcher's queue; `None` once the sim is shutting down.
    queue: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Event Streams sinks and subscriptions.
    streams: streams::Streams,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than stopping the sim would; keep serving.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on every Workspace, then queues the callbacks it caused and starts / cancels
    /// the timers it asked for — all under the lock. Must be called inside the tokio runtime.
    fn with_world<R>(self: &Arc<Self>, f: impl FnOnce(&mut World) -> R) -> R {
        let mut core = self.lock();
        let result = f(&mut core.world);
        self.flush(&mut core);
        result
    }

    /// Not generic, so the timer it spawns does not instantiate `with_state` recursively.
    fn flush(self: &Arc<Self>, core: &mut Core) {
        let world = &mut core.world;
        let mut outgoing: Vec<Outgoing> = std::mem::take(&mut world.outbox);
        let mut ended: Vec<Timer> = std::mem::take(&mut world.ended_timers);
        let mut started: Vec<(Timer, Duration)> = Vec::new();
        let mut stream_events = Vec::new();
        for state in &mut world.workspaces {
            outgoing.append(&mut state.outbox);
            stream_events.append(&mut state.stream_outbox);
            ended.append(&mut state.ended_timers);
            started.append(&mut state.new_timers);
        }
        if !stream_events.is_empty() {
            outgoing.extend(core.streams.deliveries(&stream_events));
        }
        for outgoing in outgoing {
            if let Some(queue) = &core.queue {
                // Fails only when the dispatcher is gone (shutting down): nothing to deliver to.
                let _ = queue.send(outgoing);
            }
        }
        for key in ended {
            if let Some(timer) = core.timers.remove(&key) {
                timer.abort();
            }
        }
        for (key, after) in started {
            if core.queue.is_none() {
                continue; // shutting down: no new timers
            }
            let shared = Arc::clone(self);
            let fired = key.clone();
            let timer = tokio::spawn(async move {
                tokio::time::sleep(after).await;
                shared.timer_fired(&fired);
            });
            if let Some(replaced) = core.timers.insert(key, timer.abort_handle()) {
                replaced.abort();
            }
        }
    }

    /// A reservation's timeout, a task's TTL or a task's Workflow step timeout.
    fn timer_fired(self: &Arc<Self>, timer: &Timer) {
        self.with_world(|world| world.timer_fired(timer));
    }

    /// Stops timers and closes the dispatcher's queue (it drains what is already queued).
    fn close(&self) {
        let mut core = self.lock();
        core.queue = None;
        for (_, timer) in core.timers.drain() {
            timer.abort();
        }
    }
}

/// A running local TaskRouter. Dropping it stops serving; [`Sim::shutdown`] also waits for the
/// callbacks already queued.
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    workspace_sid: String,
    workflow_sid: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    dispatcher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("addr", &self.addr)
            .field("account_sid", &self.shared.account_sid)
            .field("workspace_sid", &self.workspace_sid)
            .finish_non_exhaustive()
    }
}

/// `http://HOST:PORT` for a bound address; an unspecified address is reached on loopback.
fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl Sim {
    /// Validates `config`, binds, seeds the quickstart Workspace and serves in the background.
    pub async fn start(config: SimConfig) -> anyhow::Result<Sim> {
        anyhow::ensure!(
            is_sid(&config.account_sid, "AC"),
            "the sim's Account SID must be AC followed by 32 hex digits"
        );
        anyhow::ensure!(
            !config.auth_token.expose().is_empty(),
            "the sim's Auth Token must not be empty"
        );
        anyhow::ensure!(
            !config.reservation_timeout.is_zero()
                && config.reservation_timeout <= state::MAX_RESERVATION_TIMEOUT,
            "the reservation timeout must be more than 0 and at most 86400 seconds"
        );
        let url = |name: &str, value: &Option<String>| -> anyhow::Result<Option<String>> {
            match value {
                Some(v) => state::callback_url(name, v).map_err(|e| anyhow::anyhow!("{e}")),
                None => Ok(None),
            }
        };
        let assignment = url(
            "the assignment callback URL",
            &config.assignment_callback_url,
        )?;
        let events = url("the event callback URL", &config.event_callback_url)?;

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the sim", config.listen))?;
        let addr = listener
            .local_addr()
            .context("cannot read the sim's bound address")?;
        let http = dispatch::client().context("cannot build the sim's callback client")?;

        let (state, _) = State::seed(
            config.account_sid.clone(),
            config.reservation_timeout,
            assignment,
            events,
        );
        let workspace_sid = state.workspace.sid.clone();
        let workflow_sid = state
            .workflows
            .first()
            .map(|w| w.sid.clone())
            .unwrap_or_default();
        let (queue, queued) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                world: World::new(
                    config.account_sid.clone(),
                    config.reservation_timeout,
                    state,
                ),
                timers: HashMap::new(),
                queue: Some(queue),
                streams: streams::Streams::default(),
            }),
            account_sid: config.account_sid,
            auth_token: config.auth_token,
            base_url: base_url(addr),
        });
        let dispatcher = tokio::spawn(dispatch::run(Arc::clone(&shared), queued, http));
        let (stop, stopped) = oneshot::channel::<()>();
        let app = rest::router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // A send or a dropped Sim both stop the server.
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "the sim's REST server stopped");
            }
        });
        tracing::info!(url = %shared.base_url, workspace = %workspace_sid, "local TaskRouter listening");
        Ok(Sim {
            shared,
            addr,
            workspace_sid,
            workflow_sid,
            stop: Some(stop),
            server: Some(server),
            dispatcher: Some(dispatcher),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (loopback when bound to an unspecified address).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    pub fn auth_token(&self) -> &AuthToken {
        &self.shared.auth_token
    }

    pub fn workspace_sid(&self) -> &str {
        &self.workspace_sid
    }

    pub fn workflow_sid(&self) -> &str {
        &self.workflow_sid
    }

    /// Creates a task with these attributes (a JSON object) in the seeded Workflow, exactly as
    /// `POST /v1/Workspaces/{WS}/Tasks` does; returns its `WT…` SID.
    pub async fn create_task(&self, attributes: &str) -> anyhow::Result<String> {
        let input = NewTask {
            attributes: Some(attributes.to_owned()),
            workflow_sid: Some(self.workflow_sid.clone()),
            ..NewTask::default()
        };
        let workspace = self.workspace_sid.clone();
        self.shared
            .with_world(|world| world.get(&workspace)?.create_task(input))
            .map_err(|e| anyhow::anyhow!("cannot create the task: {e}"))
    }

    /// Stops serving, cancels timers, and waits (up to 10 s) for the callbacks already queued.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SERVER_DRAIN, server).await.is_err() {
                abort.abort();
            }
        }
        self.shared.close();
        if let Some(dispatcher) = self.dispatcher.take() {
            let abort = dispatcher.abort_handle();
            if tokio::time::timeout(CALLBACK_DRAIN, dispatcher)
                .await
                .is_err()
            {
                tracing::warn!("the sim stopped before delivering every queued callback");
                abort.abort();
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.close();
    }
}
