//! The single writer: one OS thread owns the write connection and commits everything queued
//! in one transaction (group commit), so durability costs one fsync per batch, not per request.
//!
//! Callers hand a [`NewRequest`] to [`Writer::insert`] and get the row id only after the batch
//! holding it has committed; that is what lets the capture path promise "acknowledged means
//! stored". If the batch cannot be committed (disk full, database locked past the busy
//! timeout), every caller in it gets a [`WriteError`] and must not acknowledge.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};
use tokio::sync::{mpsc, oneshot};

use super::Shared;
use super::models::{NewAction, NewRequest, RequestSummary, encode_headers, format_micros};
use super::retention::Retention;

/// Most rows committed in one transaction; bounds the latency a batch adds to its first row.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer; senders wait (backpressure) when it is full.
const QUEUE_DEPTH: usize = 4096;

/// Why a row was not stored. Carries SQLite's message, never request data.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct WriteError {
    pub message: String,
    /// SQLite said the database or disk is full.
    pub full: bool,
    /// SQLite gave up waiting for a lock held by someone else.
    pub busy: bool,
}

impl From<rusqlite::Error> for WriteError {
    fn from(err: rusqlite::Error) -> Self {
        let code = err.sqlite_error_code();
        Self {
            message: err.to_string(),
            full: code == Some(rusqlite::ErrorCode::DiskFull),
            busy: matches!(
                code,
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
        }
    }
}

/// What the writer stores: a captured request, or an audit record of a REST call.
enum Row {
    // Boxed: the queue then moves a pointer, not hundreds of bytes, per row.
    Request(Box<NewRequest>),
    Action(Box<NewAction>),
    /// Delete every recorded request, reservation and action ("clear all").
    ClearAll,
}

struct Job {
    row: Row,
    done: oneshot::Sender<Result<i64, WriteError>>,
}

/// Handle to the writer thread. Clone it freely; the thread stops after the last clone is
/// dropped and the queue is drained (see [`Writer::shutdown`]).
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

/// Joins the writer thread once every [`Writer`] clone is gone.
pub struct WriterThread {
    handle: JoinHandle<()>,
}

impl WriterThread {
    /// Waits until the writer has committed everything queued and closed its connection.
    pub async fn join(self) {
        let handle = self.handle;
        // Joining blocks, so do it off the async workers.
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
}

impl Writer {
    pub(super) fn start(
        conn: Connection,
        shared: Shared,
        retention: Retention,
    ) -> (Writer, WriterThread) {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let handle = std::thread::Builder::new()
            .name("taskhook-writer".into())
            .spawn(move || run(conn, rx, shared, retention))
            .expect("spawning the writer thread");
        (Writer { queue }, WriterThread { handle })
    }

    /// Stores `request`; resolves with its id once the row is committed.
    pub async fn insert(&self, request: NewRequest) -> Result<i64, WriteError> {
        self.submit(Row::Request(Box::new(request))).await
    }

    /// Deletes everything recorded; resolves with the number of requests deleted.
    pub async fn clear_all(&self) -> Result<i64, WriteError> {
        self.submit(Row::ClearAll).await
    }

    /// Records a REST call in the audit trail (and the reservation state it reported).
    pub async fn record_action(&self, action: NewAction) -> Result<i64, WriteError> {
        self.submit(Row::Action(Box::new(action))).await
    }

    async fn submit(&self, row: Row) -> Result<i64, WriteError> {
        let (done, result) = oneshot::channel();
        let stopped = || WriteError {
            message: "the store writer has stopped".into(),
            full: false,
            busy: false,
        };
        self.queue
            .send(Job { row, done })
            .await
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

/// How often retention runs when the writer is otherwise idle.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);
/// Most rows one retention step deletes; small steps interleave with capture batches, so
/// retention never stalls recording (a backlog is worked off one step per batch or tick).
pub(super) const RETENTION_STEP: i64 = 2000;

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, shared: Shared, retention: Retention) {
    // A small single-threaded runtime on this thread gives the loop a timeout, so retention
    // runs even when no requests arrive; all SQLite work stays on this one thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "store writer cannot start");
            return;
        }
    };
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut retry_after = Instant::now();
    runtime.block_on(async {
        loop {
            // recv returns None once every sender is dropped and the queue is empty, which is
            // how a graceful shutdown flushes: nothing queued is dropped.
            let first = match tokio::time::timeout(MAINTENANCE_INTERVAL, rx.recv()).await {
                Ok(Some(job)) => Some(job),
                Ok(None) => break,
                Err(_) => None,
            };
            if let Some(first) = first {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                write(&mut conn, &mut batch, &shared);
            }
            // After every batch (the checks are index lookups) and on idle ticks; a failed
            // step is retried at the next tick instead of after every batch.
            if retention.is_set()
                && Instant::now() >= retry_after
                && let Err(err) = retention.step(&mut conn)
            {
                tracing::warn!(error = %err, "retention step failed; will retry");
                retry_after = Instant::now() + MAINTENANCE_INTERVAL;
            }
        }
    });
    tracing::debug!("store writer stopped");
}

fn write(conn: &mut Connection, batch: &mut Vec<Job>, shared: &Shared) {
    match commit_batch(conn, batch) {
        Ok(ids) => {
            shared.set_write_error(None);
            for (job, id) in batch.drain(..).zip(ids) {
                let _ = job.done.send(Ok(id));
                if let Row::Request(request) = &job.row {
                    // No subscribers is normal (no inspector open).
                    let _ = shared.committed.send(summarize(id, request));
                }
            }
        }
        Err(err) => {
            tracing::error!(error = %err.message, rows = batch.len(), "could not store requests");
            shared.set_write_error(Some(err.message.clone()));
            for job in batch.drain(..) {
                let _ = job.done.send(Err(err.clone()));
            }
        }
    }
}

fn commit_batch(conn: &mut Connection, batch: &[Job]) -> Result<Vec<i64>, WriteError> {
    // On any error the transaction is dropped, which rolls it back: a batch is all or nothing.
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(batch.len());
    for job in batch {
        ids.push(match &job.row {
            Row::Request(r) => insert_request(&tx, r)?,
            Row::Action(a) => insert_action(&tx, a)?,
            Row::ClearAll => clear_all(&tx)?,
        });
    }
    tx.commit()?;
    Ok(ids)
}

fn insert_request(tx: &Transaction<'_>, r: &NewRequest) -> rusqlite::Result<i64> {
    let d = &r.derived;
    tx.prepare_cached(
        "INSERT INTO requests (received_at, remote_addr, method, path, query, http_version, \
         headers, body, body_size, body_truncated, response_status, response_headers, \
         response_body, duration_us, kind, event_type, account_sid, workspace_sid, task_sid, \
         reservation_sid, worker_sid, signature, signature_reason, replay_of, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    )?
    .execute(params![
        r.received_at_us,
        r.remote_addr,
        r.method,
        r.path,
        r.query,
        r.http_version,
        encode_headers(&r.headers),
        r.body,
        r.body_size as i64,
        r.body_truncated,
        r.response.status,
        encode_headers(&r.response.headers),
        r.response.body,
        r.duration_us,
        d.kind.as_str(),
        d.event_type,
        d.account_sid,
        d.workspace_sid,
        d.task_sid,
        d.reservation_sid,
        d.worker_sid,
        r.signature,
        r.signature_reason,
        r.replay_of,
        r.error,
    ])?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO requests_fts (rowid, text) VALUES (?1, ?2)")?
        .execute(params![id, r.search_text])?;
    super::events::insert_events(tx, id, r)?;
    // Replays re-send old callbacks; they must not move a reservation's state.
    if let (Some(reservation_sid), Some(status), None) =
        (&d.reservation_sid, d.reservation_status, r.replay_of)
    {
        let offered_at = status.is_pending().then_some(r.received_at_us);
        tx.prepare_cached(UPSERT_RESERVATION)?.execute(params![
            reservation_sid,
            d.task_sid,
            d.workspace_sid,
            d.worker_sid,
            d.worker_name,
            offered_at,
            status,
            r.received_at_us,
            id,
        ])?;
    }
    Ok(id)
}

fn clear_all(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    let deleted = tx.execute("DELETE FROM requests", [])?;
    // The contentless index is emptied with its own command.
    tx.execute(
        "INSERT INTO requests_fts (requests_fts) VALUES ('delete-all')",
        [],
    )?;
    tx.execute("DELETE FROM reservations", [])?;
    tx.execute("DELETE FROM actions", [])?;
    Ok(deleted as i64)
}

fn insert_action(tx: &Transaction<'_>, a: &NewAction) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO actions (at, action, method, url, params, workspace_sid, task_sid, \
         reservation_sid, response_status, response_body, error, duration_us) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        a.at_us,
        a.action,
        a.method,
        a.url,
        a.params,
        a.workspace_sid,
        a.task_sid,
        a.reservation_sid,
        a.response_status,
        a.response_body,
        a.error,
        a.duration_us,
    ])?;
    let id = tx.last_insert_rowid();
    if let (Some(update), Some(reservation_sid)) = (&a.reservation_update, &a.reservation_sid) {
        tx.prepare_cached(
            "UPDATE reservations SET status = ?1, status_at = ?2, \
             worker_name = coalesce(?3, worker_name) WHERE reservation_sid = ?4",
        )?
        .execute(params![
            update.status,
            a.at_us,
            update.worker_name,
            reservation_sid
        ])?;
    }
    Ok(id)
}

/// Keeps one row per reservation current. A `pending` report never overrides a later state
/// (an assignment callback replayed after the accept must not reopen the reservation).
const UPSERT_RESERVATION: &str = "\
    INSERT INTO reservations (reservation_sid, task_sid, workspace_sid, worker_sid, worker_name, \
        offered_at, status, status_at, first_request_id, last_request_id) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) \
    ON CONFLICT (reservation_sid) DO UPDATE SET \
        task_sid = coalesce(excluded.task_sid, task_sid), \
        workspace_sid = coalesce(excluded.workspace_sid, workspace_sid), \
        worker_sid = coalesce(excluded.worker_sid, worker_sid), \
        worker_name = coalesce(excluded.worker_name, worker_name), \
        offered_at = coalesce(offered_at, excluded.offered_at), \
        status = CASE WHEN excluded.status = 'pending' THEN status ELSE excluded.status END, \
        status_at = CASE WHEN excluded.status = 'pending' THEN status_at ELSE excluded.status_at END, \
        last_request_id = excluded.last_request_id";

fn summarize(id: i64, r: &NewRequest) -> RequestSummary {
    let d = &r.derived;
    RequestSummary {
        id,
        received_at: format_micros(r.received_at_us),
        received_at_us: r.received_at_us,
        remote_addr: r.remote_addr.clone(),
        method: r.method.clone(),
        path: r.path.clone(),
        query: r.query.clone(),
        status: r.response.status,
        kind: d.kind,
        event_type: d.event_type.clone(),
        account_sid: d.account_sid.clone(),
        workspace_sid: d.workspace_sid.clone(),
        task_sid: d.task_sid.clone(),
        reservation_sid: d.reservation_sid.clone(),
        worker_sid: d.worker_sid.clone(),
        signature: r.signature,
        replay_of: r.replay_of,
        body_size: r.body_size,
        body_truncated: r.body_truncated,
        duration_us: r.duration_us,
        error: r.error.clone(),
    }
}
