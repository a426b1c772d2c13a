//! Wiring: [`App::build`] opens the store, starts the writer and binds the listeners (so the
//! real ports are known before anything is served); [`App::run_until_stopped`] serves until the
//! shutdown future resolves, then drains connections and flushes the writer.

use std::future::Future;
use std::net::SocketAddr;

use std::sync::Arc;

use anyhow::Context;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::actions::Actions;
use crate::capture::Capture;
use crate::config::{Config, InspectorConfig};
use crate::inspector::guard::GuardConfig;
use crate::inspector::guard::InspectorToken;
use crate::inspector::{self, InspectorState};
use crate::replay::{ReplayConfig, Replayer};
use crate::server::{self, ConnectionLimits};
use crate::store::Store;
use crate::store::writer::{Writer, WriterThread};
use crate::taskrouter::client::Client;
use crate::tunnel::{self, Detector, PublicUrl, Via};

/// The forward target may not be taskhook itself: forwarding to the inspector would hand
/// TaskRouter's traffic (anyone's, through the tunnel) to the credential-holding API, and
/// forwarding to the capture port would loop.
fn refuse_forward_to_self(forward: &str, own: &[SocketAddr]) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(forward)?;
    let port = url.port_or_known_default().unwrap_or(0);
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    // Every spelling of an address counts: `::ffff:127.0.0.1` is 127.0.0.1.
    let ip = host
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical());
    let local = host == "localhost"
        || host.ends_with(".localhost")
        || ip.is_some_and(|ip| ip.is_loopback() || ip.is_unspecified());
    for addr in own {
        let same_host = local || ip.is_some_and(|ip| ip == addr.ip().to_canonical());
        anyhow::ensure!(
            !(same_host && port == addr.port()),
            "--forward {forward} points at taskhook itself ({addr}); give your app's address"
        );
    }
    Ok(())
}

/// Binds the inspector; the default address falls back to the next free port when taken
/// (ngrok's agent API defaults to 127.0.0.1:4040 too), saying what holds it.
async fn bind_inspector(config: &InspectorConfig) -> anyhow::Result<TcpListener> {
    let wanted = config.listen;
    let err = match TcpListener::bind(wanted).await {
        Ok(listener) => return Ok(listener),
        Err(err) => err,
    };
    if !config.fallback || err.kind() != std::io::ErrorKind::AddrInUse {
        return Err(err).with_context(|| format!("cannot listen on {wanted} (--inspector)"));
    }
    let holder = if tunnel::is_ngrok_agent(wanted).await {
        "an ngrok agent"
    } else {
        "another program"
    };
    for port in wanted.port().saturating_add(1)..=wanted.port().saturating_add(100) {
        let addr = SocketAddr::new(wanted.ip(), port);
        if let Ok(listener) = TcpListener::bind(addr).await {
            tracing::warn!(
                "{wanted} is taken by {holder}; the inspector listens on {addr} instead"
            );
            return Ok(listener);
        }
    }
    Err(err).with_context(|| format!("cannot listen on {wanted} or the 100 ports after it"))
}

/// A built, bound, not yet serving taskhook.
pub struct App {
    config: Config,
    store: Store,
    writer: Writer,
    writer_thread: WriterThread,
    capture_listener: TcpListener,
    capture_addr: SocketAddr,
    inspector_listener: TcpListener,
    inspector_addr: SocketAddr,
    client: Client,
    replayer: Replayer,
    /// `--public-url`, or the tunnel's URL once [`crate::tunnel::watch`] finds it.
    public_url: watch::Sender<Option<PublicUrl>>,
    /// Held for its drop, at the end of a clean shutdown: removes the file `taskhook mcp` reads.
    _runtime: Option<crate::mcp::runtime::RuntimeFile>,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = {
            let path = config.db_path.clone();
            let options = config.store.clone();
            tokio::task::spawn_blocking(move || Store::open_exclusive(&path, options)).await??
        };
        let client = config.taskrouter.client()?;
        let (writer, writer_thread) = store.start_writer()?;
        let capture_listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
        let capture_addr = capture_listener.local_addr()?;
        let inspector_listener = bind_inspector(&config.inspector).await?;
        let inspector_addr = inspector_listener.local_addr()?;
        let public_url =
            watch::Sender::new(config.capture.public_url.clone().map(|url| PublicUrl {
                url,
                via: Via::Flag,
            }));
        if let Some(forward) = &config.capture.forward {
            refuse_forward_to_self(forward.base(), &[inspector_addr, capture_addr])?;
        }
        let replayer = Replayer::new(
            ReplayConfig {
                capture_base: format!("http://{capture_addr}"),
                forward_base: config.capture.forward.as_ref().map(|f| f.base().to_owned()),
                allowed_hosts: config.replay_allowed_hosts.clone(),
                token: config.capture.signature_token.clone(),
                mark: config.capture.replay_mark.clone(),
            },
            store.clone(),
            writer.clone(),
        )?;
        // Lets `taskhook mcp` find this inspector; removed when the App is dropped.
        let runtime = crate::mcp::runtime::RuntimeFile::write(
            &config.db_path,
            inspector_addr,
            &config.inspector.token,
        );
        Ok(Self {
            _runtime: runtime,
            config,
            store,
            writer,
            writer_thread,
            capture_listener,
            capture_addr,
            inspector_listener,
            inspector_addr,
            client,
            replayer,
            public_url,
        })
    }

    /// The public URL signatures are checked against, and its changes: `--public-url`, or
    /// the tunnel once found.
    pub fn public_url(&self) -> watch::Receiver<Option<PublicUrl>> {
        self.public_url.subscribe()
    }

    /// The address the capture listener actually bound.
    pub fn capture_addr(&self) -> SocketAddr {
        self.capture_addr
    }

    /// The address the inspector actually bound.
    pub fn inspector_addr(&self) -> SocketAddr {
        self.inspector_addr
    }

    /// The inspector URL with its token, as printed at start.
    pub fn inspector_url(&self) -> String {
        format!(
            "http://{}/?token={}",
            self.inspector_addr,
            self.config.inspector.token.expose()
        )
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` resolves; returns once in-flight requests are answered and
    /// everything queued is committed.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        // One trigger, many listeners: each server and every live stream waits on this.
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };

        let guard = Arc::new(GuardConfig::new(
            self.config.inspector.token.clone(),
            self.inspector_addr.port(),
            &self.config.inspector.extra_hosts,
        ));
        let state = Arc::new(InspectorState {
            store: self.store.clone(),
            capture_base: format!("http://{}", self.capture_addr),
            shutdown: stop_rx.clone(),
            actions: Actions {
                store: self.store.clone(),
                writer: self.writer.clone(),
                client: self.client,
                default_workspace: self.config.taskrouter.workspace.clone(),
            },
            csrf: InspectorToken::random().expose().to_owned(),
            reservation_timeout_us: self.config.reservation_timeout.as_micros() as i64,
            replayer: self.replayer,
            responder: self.config.capture.responder.clone(),
            directory: inspector::workbench::Directory::new(
                self.config.reservation_timeout.as_micros() as i64,
            ),
            public_url: self.public_url.subscribe(),
        });
        let router = inspector::router(state, guard);
        let inspector = tokio::spawn(server::serve(
            self.inspector_listener,
            ConnectionLimits::default(),
            move |stream, _remote, _slot: &_| {
                (
                    TokioIo::new(stream),
                    TowerToHyperService::new(router.clone()),
                )
            },
            stopped(stop_rx.clone()),
        ));

        tokio::spawn(
            self.store
                .clone()
                .release_memory_after_reads(stopped(stop_rx.clone())),
        );
        if self.config.tunnel.detect {
            let detector = Detector::new(
                self.capture_addr.port(),
                &[self.inspector_addr.port()],
                self.config.tunnel.api.as_deref(),
            );
            tokio::spawn(tunnel::watch(
                detector,
                self.public_url.clone(),
                stop_rx.clone(),
            ));
        }
        let capture = Capture::new(
            self.config.capture.clone(),
            self.writer,
            self.public_url.subscribe(),
        );
        let capture = tokio::spawn(server::serve(
            self.capture_listener,
            self.config.capture_limits.clone(),
            move |stream, remote, slot: &_| capture.connection(stream, remote, slot),
            stopped(stop_rx),
        ));

        // Lets `taskhook mcp` find this inspector; removed when this function returns.
        let _runtime = crate::mcp::runtime::RuntimeFile::write(
            &self.config.db_path,
            self.inspector_addr,
            &self.config.inspector.token,
        );
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = tokio::join!(capture, inspector);
        // The last Writer clone went away with the capture service, so the writer thread
        // commits what is queued and exits.
        self.writer_thread.join().await;
        tracing::info!("stopped");
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM: what `serve`, `sim` and `demo` run until.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_own_address_is_refused_as_a_forward_target() {
        let own = [SocketAddr::from(([127, 0, 0, 1], 4040))];
        for url in [
            "http://127.0.0.1:4040",
            "http://localhost:4040",
            "http://LOCALHOST.:4040",
            "http://app.localhost:4040",
            "http://[::1]:4040",
            "http://[::ffff:127.0.0.1]:4040",
            "http://127.1:4040",
            "http://0.0.0.0:4040",
            "http://2130706433:4040",
        ] {
            assert!(refuse_forward_to_self(url, &own).is_err(), "{url} allowed");
        }
        assert!(refuse_forward_to_self("http://127.0.0.1:8080", &own).is_ok());
        assert!(refuse_forward_to_self("http://192.0.2.1:4040", &own).is_ok());
    }
}
