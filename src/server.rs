//! The HTTP/1 accept loop shared by every listener. It knows no routes: a caller supplies, per
//! connection, the IO wrapper and the hyper service.
//!
//! Limits that hyper does not apply on its own are installed here: a cap on open connections
//! (excess connections wait in the kernel backlog), a header-read deadline (hyper only enforces
//! it when a timer is installed, which [`http1_builder`] does) and a bounded drain.
//!
//! Shutdown: when `shutdown` resolves the listener is closed, every connection is told to finish
//! its in-flight request and close, and after `drain_timeout` whatever is left is aborted.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioTimer;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Per-listener connection limits.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// A client must send a whole request head within this time.
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: crate::defaults::MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// The HTTP/1 server settings every listener uses; public so a test can check the timer.
pub fn http1_builder(limits: &ConnectionLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
}

/// Serves connections from `listener` until `shutdown` resolves, then drains.
pub async fn serve<F, I, S, B>(
    listener: TcpListener,
    limits: ConnectionLimits,
    mut connection: F,
    shutdown: impl Future<Output = ()>,
) where
    F: FnMut(TcpStream, SocketAddr) -> (I, S),
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let builder = http1_builder(&limits);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        // Reap finished connection tasks so the set stays small on a long run.
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (io, service) = connection(stream, remote);
        let conn = graceful.watch(builder.serve_connection(io, service));
        tasks.spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%remote, error = %err, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("connections still open after the drain timeout; closing them");
        }
    }
    tasks.shutdown().await;
}
