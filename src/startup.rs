//! Wiring: [`App::build`] opens the store, starts the writer and binds the listeners (so the
//! real ports are known before anything is served); [`App::run_until_stopped`] serves until the
//! shutdown future resolves, then drains connections and flushes the writer.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::capture::Capture;
use crate::config::Config;
use crate::server;
use crate::store::Store;
use crate::store::writer::{Writer, WriterThread};

/// A built, bound, not yet serving taskhook.
pub struct App {
    config: Config,
    store: Store,
    writer: Writer,
    writer_thread: WriterThread,
    capture_listener: TcpListener,
    capture_addr: SocketAddr,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = {
            let path = config.db_path.clone();
            let options = config.store.clone();
            tokio::task::spawn_blocking(move || Store::open(&path, options)).await??
        };
        let (writer, writer_thread) = store.start_writer()?;
        let capture_listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
        let capture_addr = capture_listener.local_addr()?;
        Ok(Self {
            config,
            store,
            writer,
            writer_thread,
            capture_listener,
            capture_addr,
        })
    }

    /// The address the capture listener actually bound.
    pub fn capture_addr(&self) -> SocketAddr {
        self.capture_addr
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` resolves; returns once in-flight requests are answered and
    /// everything queued is committed.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let capture = Capture::new(self.config.capture.clone(), self.writer);
        server::serve(
            self.capture_listener,
            self.config.capture_limits.clone(),
            move |stream, remote| capture.connection(stream, remote),
            shutdown,
        )
        .await;
        // The last Writer clone went away with the capture service, so the writer thread
        // commits what is queued and exits.
        self.writer_thread.join().await;
        tracing::info!("stopped");
    }
}
