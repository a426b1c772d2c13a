//! The HTTP/1 accept loop shared by every listener. It knows no routes: a caller supplies, per
//! connection, the IO wrapper and the hyper service.
//!
//! Limits that hyper does not apply on its own are installed here: a cap on open connections,
//! a header-read deadline (hyper only enforces it when a timer is installed, which
//! [`http1_builder`] does) and a bounded drain.
//!
//! **Slots.** At most `max_connections` connections are open at once. When all are taken, the
//! next accepted connection takes the slot of the *stalest* one — the connection whose current
//! exchange began longest ago (it opened, or got its last response, and has not finished a
//! request since) — and that one is closed. Slow-head, slow-body and idle sockets are exactly the
//! stalest, while a real callback finishes its exchange in milliseconds, so a flood of them
//! cannot make a callback wait (issue 19: 300 slow-body, 300 slow-head and 256 idle sockets
//! made every callback wait 29 s when excess connections queued in the kernel backlog). A
//! connection whose request has arrived whole and is being worked on ([`Slot::working`]) is
//! never closed; if every slot is working, the new connection waits for one to end. Per-IP caps
//! would not help: behind a tunnel every connection comes from the tunnel agent.
//!
//! Shutdown: when `shutdown` resolves the listener is closed, every connection is told to finish
//! its in-flight request and close, and after `drain_timeout` whatever is left is aborted.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Incoming};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioTimer;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Per-listener connection limits.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Most connections open at once; past it the stalest is closed (see the module docs).
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

/// What the accept loop knows about one open connection.
pub struct Slot {
    epoch: Instant,
    /// Milliseconds after `epoch` at which the current exchange began: when the connection
    /// opened, then each time a response was written.
    exchange_began_ms: AtomicU64,
    /// Requests received whole and being worked on (stored, forwarded).
    working: AtomicUsize,
    evicted: Notify,
}

impl Slot {
    fn new(epoch: Instant) -> Self {
        let slot = Self {
            epoch,
            exchange_began_ms: AtomicU64::new(0),
            working: AtomicUsize::new(0),
            evicted: Notify::new(),
        };
        slot.begin_exchange();
        slot
    }

    fn begin_exchange(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.exchange_began_ms.store(ms, Ordering::Relaxed);
    }

    /// Marks the connection as waiting on us, not on its client, until the guard drops: the
    /// service has the whole request and is storing or forwarding it. Such a connection is
    /// never closed to make room.
    pub fn working(self: &Arc<Self>) -> Working {
        self.working.fetch_add(1, Ordering::AcqRel);
        Working(Arc::clone(self))
    }
}

/// See [`Slot::working`].
pub struct Working(Arc<Slot>);

impl Drop for Working {
    fn drop(&mut self) {
        self.0.working.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections of one listener.
struct Slots {
    max: usize,
    epoch: Instant,
    next_id: u64,
    open: Arc<Mutex<HashMap<u64, Arc<Slot>>>>,
    /// Signalled whenever a connection ends, for an accepted connection waiting for a slot.
    freed: Arc<Notify>,
}

/// Removes a connection's slot when its task ends, however it ends.
struct Release {
    id: u64,
    open: Arc<Mutex<HashMap<u64, Arc<Slot>>>>,
    freed: Arc<Notify>,
}

impl Drop for Release {
    fn drop(&mut self) {
        lock(&self.open).remove(&self.id);
        self.freed.notify_waiters();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Slots {
    fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            epoch: Instant::now(),
            next_id: 0,
            open: Arc::default(),
            freed: Arc::default(),
        }
    }

    /// A slot for a newly accepted connection: a free one, else the stalest connection's
    /// (which is told to close), else — every connection is working — the first to end.
    async fn take(&mut self) -> (Arc<Slot>, Release) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut open = lock(&self.open);
                if open.len() >= self.max {
                    let stalest = open
                        .iter()
                        .filter(|(_, slot)| slot.working.load(Ordering::Acquire) == 0)
                        .min_by_key(|(_, slot)| slot.exchange_began_ms.load(Ordering::Relaxed))
                        .map(|(&id, _)| id);
                    if let Some(victim) = stalest.and_then(|id| open.remove(&id)) {
                        // notify_one keeps the permit if the task is not waiting yet.
                        victim.evicted.notify_one();
                        tracing::debug!("all connection slots taken; closed the stalest");
                    }
                }
                if open.len() < self.max {
                    let id = self.next_id;
                    self.next_id += 1;
                    let slot = Arc::new(Slot::new(self.epoch));
                    open.insert(id, Arc::clone(&slot));
                    let release = Release {
                        id,
                        open: Arc::clone(&self.open),
                        freed: Arc::clone(&self.freed),
                    };
                    return (slot, release);
                }
            }
            freed.await;
        }
    }
}

/// The connection's IO, noting each response written as the start of a new exchange.
pub struct Tracked<I> {
    inner: I,
    slot: Arc<Slot>,
}

impl<I: Read + Unpin> Read for Tracked<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for Tracked<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.slot.begin_exchange();
        }
        res
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.slot.begin_exchange();
        }
        res
    }
}

/// Serves connections from `listener` until `shutdown` resolves, then drains. `connection`
/// builds the IO wrapper and service of each accepted connection; it gets the connection's
/// [`Slot`] to mark the time its service works on a whole request.
pub async fn serve<F, I, S, B>(
    listener: TcpListener,
    limits: ConnectionLimits,
    mut connection: F,
    shutdown: impl Future<Output = ()>,
) where
    F: FnMut(TcpStream, SocketAddr, &Arc<Slot>) -> (I, S),
    I: Read + Write + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let builder = http1_builder(&limits);
    let graceful = GracefulShutdown::new();
    let mut slots = Slots::new(limits.max_connections);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        // Reap finished connection tasks so the set stays small on a long run.
        while tasks.try_join_next().is_some() {}
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
        let (slot, release) = tokio::select! {
            taken = slots.take() => taken,
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (io, service) = connection(stream, remote, &slot);
        let io = Tracked {
            inner: io,
            slot: Arc::clone(&slot),
        };
        let conn = graceful.watch(builder.serve_connection(io, service));
        tasks.spawn(async move {
            tokio::select! {
                result = conn => {
                    if let Err(err) = result {
                        tracing::debug!(%remote, error = %err, "connection ended with an error");
                    }
                }
                // Dropping the connection closes the socket.
                () = slot.evicted.notified() => {
                    tracing::debug!(%remote, "connection closed to make room");
                }
            }
            drop(release);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets when a slot's exchange began, in ms after the listener started (smaller = staler).
    fn began_at(slot: &Arc<Slot>, ms: u64) {
        slot.exchange_began_ms.store(ms, Ordering::Relaxed);
    }

    #[tokio::test]
    async fn a_full_listener_closes_the_stalest_connection_that_is_not_working() {
        let mut slots = Slots::new(3);
        let (a, _ra) = slots.take().await;
        let (b, _rb) = slots.take().await;
        let (c, _rc) = slots.take().await;
        began_at(&a, 10); // the stalest, but working on a whole request
        began_at(&b, 20); // stale: the one to close
        began_at(&c, 30);
        let _working = a.working();
        let (_d, _rd) = slots.take().await;
        let open: Vec<_> = lock(&slots.open).values().cloned().collect();
        assert_eq!(open.len(), 3);
        assert!(!open.iter().any(|s| Arc::ptr_eq(s, &b)), "b was closed");
        assert!(
            open.iter().any(|s| Arc::ptr_eq(s, &a)),
            "working a was kept"
        );
        // b's task is told to close even though it was not waiting yet.
        tokio::time::timeout(Duration::from_secs(1), b.evicted.notified())
            .await
            .expect("b notified");
    }

    #[tokio::test]
    async fn when_every_connection_is_working_a_new_one_waits_for_a_slot() {
        let mut slots = Slots::new(1);
        let (a, ra) = slots.take().await;
        let working = a.working();
        let mut waiting = Box::pin(async { slots.take().await });
        assert!(
            tokio::time::timeout(Duration::from_millis(50), waiting.as_mut())
                .await
                .is_err(),
            "no slot while the only connection works"
        );
        drop(working);
        drop(ra);
        let (_b, _rb) = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("a slot once the connection ended");
    }
}
