//! The single writer: one OS thread owns the write connection and commits everything queued
//! in one transaction (group commit), so durability costs one fsync per batch, not per request.
//!
//! Callers hand a [`NewRequest`] to [`Writer::insert`] and get the row id only after the batch
//! holding it has committed; that is what lets the capture path promise "acknowledged means
//! stored". If the batch cannot be committed (disk full, database locked past the busy
//! timeout), every caller in it gets a [`WriteError`] and must not acknowledge.
//!
//! That acknowledging transaction holds the raw records only. The same thread indexes them
//! right after, in transactions of its own ([`super::indexer`]), and a [`Checkpointer`] on its
//! own thread and connection copies the WAL back, so neither is paid for by the callers waiting
//! on a commit.

use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::Shared;
use super::checkpoint::Checkpointer;
use super::indexer::{self, IndexJob};
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
        settings: WriterSettings,
    ) -> (Writer, WriterThread) {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        // Its own thread and connection; without one the writer's commits checkpoint
        // themselves (SQLite's automatic checkpoint), as they did before issue 17.
        let checkpointer = match Checkpointer::start(&settings.file.path) {
            Ok(checkpointer) => {
                if let Err(err) = conn.pragma_update(None, "wal_autocheckpoint", 0) {
                    tracing::warn!(error = %err, "cannot turn off automatic checkpoints");
                }
                Some(checkpointer)
            }
            Err(err) => {
                tracing::warn!(error = %err, "no checkpointer; commits checkpoint the WAL themselves");
                None
            }
        };
        let handle = std::thread::Builder::new()
            .name("taskhook-writer".into())
            .spawn(move || run(conn, rx, shared, settings, checkpointer))
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
/// How often the idle writer wakes to check that its database file is still the one it opened
/// (and the WAL); a deleted or replaced file is noticed within this, or at the next commit.
const TICK: Duration = Duration::from_millis(250);
/// Most rows one retention step deletes; small steps interleave with capture batches, so
/// retention never stalls recording (a backlog is worked off one step per batch or tick).
pub(super) const RETENTION_STEP: i64 = 2000;
/// Rows one Clear all step deletes by default, in one transaction between capture batches.
/// Measured with 100k rows of callbacks on the project's VM, see docs/reliability.md.
pub const CLEAR_STEP: i64 = 500;

/// Most acknowledged rows indexed in one transaction.
const INDEX_BATCH: usize = 4096;
/// How long acknowledged rows may wait to be indexed while more requests keep coming: waiting
/// gathers bigger index transactions (each full-text flush and each randomly placed index page
/// is then paid once for many rows); with nothing else queued they are indexed at once.
const INDEX_DELAY: Duration = Duration::from_millis(2);

/// What the writer needs besides its connection.
pub(super) struct WriterSettings {
    pub retention: Retention,
    /// `synchronous=FULL`: the indexer's commits switch to NORMAL and back.
    pub sync_full: bool,
    pub clear_step: i64,
    /// The connection's busy timeout (restored after a shorter wait).
    pub busy_timeout: Duration,
    /// The database file as opened; checked before each commit and on every tick.
    pub file: FileIdentity,
}

/// Device and inode of the database file when it was opened. If the path later names another
/// file (replaced) or none (deleted), commits would go to an unlinked inode and be lost at exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileIdentity {
    pub path: std::path::PathBuf,
    pub dev: u64,
    pub ino: u64,
}

impl FileIdentity {
    pub fn of(path: &std::path::Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// `Some(reason)` when the path no longer names the file that was opened.
    fn lost(&self) -> Option<String> {
        let now = match Self::of(&self.path) {
            Ok(now) => now,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Some(format!(
                    "the database file {} was deleted while taskhook was running; restart taskhook",
                    self.path.display()
                ));
            }
            // Any other failure to stat (permissions, I/O) is not proof the file is gone; the
            // commit itself will say what is wrong.
            Err(_) => return None,
        };
        (now != *self).then(|| {
            format!(
                "the database file {} was replaced by another file while taskhook was running; restart taskhook",
                self.path.display()
            )
        })
    }
}

/// A Clear all in progress: what existed at the click is deleted a step at a time.
struct Clearing {
    /// Requests with ids up to this one existed at the click.
    upto_request: i64,
    upto_action: i64,
    deleted: i64,
    waiters: Vec<oneshot::Sender<Result<i64, WriteError>>>,
}

struct State {
    conn: Connection,
    shared: Shared,
    settings: WriterSettings,
    clearing: Option<Clearing>,
    /// Set once the database file is found deleted or replaced: from then every write fails.
    lost: Option<WriteError>,
    /// Acknowledged, not yet indexed, oldest first; and since when the oldest has waited.
    pending: Vec<IndexJob>,
    pending_since: Option<Instant>,
    checkpointer: Option<Checkpointer>,
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    shared: Shared,
    settings: WriterSettings,
    checkpointer: Option<Checkpointer>,
) {
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
    let mut state = State {
        conn,
        shared,
        settings,
        clearing: None,
        lost: None,
        pending: Vec::new(),
        pending_since: None,
        checkpointer,
    };
    state.recover();
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut retry_after = Instant::now();
    let mut last_maintenance = Instant::now();
    runtime.block_on(async {
        loop {
            // While clearing or indexing, take only what is already queued: the next step
            // follows at once.
            let first = if state.clearing.is_some() || !state.pending.is_empty() {
                rx.try_recv().ok()
            } else {
                // recv returns None once every sender is dropped and the queue is empty, which
                // is how a graceful shutdown flushes: nothing queued is dropped.
                match tokio::time::timeout(TICK, rx.recv()).await {
                    Ok(Some(job)) => Some(job),
                    Ok(None) => break,
                    Err(_) => None,
                }
            };
            let mut clear_request = None;
            let wrote = first.is_some();
            if let Some(first) = first {
                let mut next = Some(first);
                while let Some(job) = next.take() {
                    match job.row {
                        // What was queued before the click is written first; what comes after
                        // waits for the next round, so it is not part of what is cleared.
                        Row::ClearAll => {
                            clear_request = Some(job);
                            break;
                        }
                        // An action moves reservation state that callbacks set: what came
                        // before it is committed and indexed first, so the action lands last.
                        Row::Action(_) => {
                            if !batch.is_empty() {
                                state.write(&mut batch);
                            }
                            state.index_all();
                        }
                        Row::Request(_) => {}
                    }
                    batch.push(job);
                    if batch.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    state.write(&mut batch);
                }
            }
            if let Some(job) = clear_request {
                // Clear all covers what was acknowledged before the click, indexed or not.
                state.index_all();
                state.start_clearing(job.done);
            }
            if state.clearing.is_some() {
                state.clear_step();
            } else {
                state.check_file();
            }
            if state.index_due(rx.is_empty()) {
                state.index_pending();
            }
            // After every batch (the checks are index lookups) and on idle ticks; a failed
            // step is retried at the next tick instead of after every batch. Never with rows
            // waiting to be indexed: retention must not delete a row under the indexer.
            let idle_due = last_maintenance.elapsed() >= MAINTENANCE_INTERVAL;
            if (wrote || idle_due) && state.pending.is_empty() && Instant::now() >= retry_after {
                last_maintenance = Instant::now();
                if state.settings.retention.is_set()
                    && state.lost.is_none()
                    && let Err(err) = state.settings.retention.step(&mut state.conn)
                {
                    tracing::warn!(error = %err, "retention step failed; will retry");
                    retry_after = Instant::now() + MAINTENANCE_INTERVAL;
                }
            }
        }
        // Queued Clear all callers are answered even when the queue closes mid-clear, and
        // nothing acknowledged is left unindexed by a graceful stop.
        while state.clearing.is_some() {
            state.clear_step();
        }
        state.index_all();
    });
    tracing::debug!("store writer stopped");
}

impl State {
    /// Indexes what a crash left acknowledged but unindexed, before any new work.
    fn recover(&mut self) {
        match indexer::recover(&mut self.conn) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                rows = n,
                "indexed requests acknowledged before the last stop but not yet indexed"
            ),
            // They stay at indexed = 0 (stored, listed, readable) and are tried at next start.
            Err(err) => tracing::error!(error = %err, "cannot index requests left unindexed"),
        }
        self.committed();
    }

    /// True when the waiting rows should be indexed now: nothing else is queued, or enough
    /// rows or time have gathered.
    fn index_due(&self, queue_empty: bool) -> bool {
        let Some(since) = self.pending_since else {
            return false;
        };
        queue_empty || self.pending.len() >= INDEX_BATCH || since.elapsed() >= INDEX_DELAY
    }

    fn index_all(&mut self) {
        while !self.pending.is_empty() {
            if !self.index_pending() {
                return;
            }
        }
    }

    /// Indexes up to [`INDEX_BATCH`] waiting rows in one transaction, then announces them.
    /// `false` when the step failed (the rows stay waiting and are tried again).
    fn index_pending(&mut self) -> bool {
        if self.pending.is_empty() || self.lost.is_some() {
            return self.lost.is_none();
        }
        let take = self.pending.len().min(INDEX_BATCH);
        // What the indexer writes is rebuilt from the raw records after a crash, so its
        // commits need no fsync of their own; the next acknowledging commit's covers them.
        let full = self.settings.sync_full;
        if full {
            let _ = self.conn.pragma_update(None, "synchronous", "NORMAL");
        }
        let result = indexer::index(&mut self.conn, &self.pending[..take]);
        if full {
            let _ = self.conn.pragma_update(None, "synchronous", "FULL");
        }
        self.committed();
        match result {
            Ok(()) => {
                let done: Vec<IndexJob> = self.pending.drain(..take).collect();
                self.pending_since = (!self.pending.is_empty()).then(Instant::now);
                if let Some(last) = done.last() {
                    self.shared.progress.indexed.send_replace(last.id);
                }
                for job in done {
                    // No subscribers is normal (no inspector open).
                    if let Some(summary) = job.summary {
                        let _ = self.shared.committed.send(summary);
                    }
                }
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, rows = take, "indexing failed; will retry");
                false
            }
        }
    }

    /// Tells the checkpointer a commit went in; with `--max-db-size`, keeps the WAL within
    /// its share.
    fn committed(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.committed();
        }
        self.settings
            .retention
            .keep_wal_within(&self.conn, self.settings.busy_timeout);
    }

    /// Notices a deleted or replaced database file (once; logged once).
    fn check_file(&mut self) -> bool {
        if self.lost.is_some() {
            return false;
        }
        if let Some(message) = self.settings.file.lost() {
            tracing::error!("{message}; every callback is now answered 503 and nothing is stored");
            self.shared.set_write_error(Some(message.clone()));
            self.lost = Some(WriteError {
                message,
                full: false,
                busy: false,
            });
            return false;
        }
        true
    }

    fn write(&mut self, batch: &mut Vec<Job>) {
        // Checked before every commit: a row committed to an unlinked file would be
        // acknowledged and lost.
        if !self.check_file()
            && let Some(lost) = &self.lost
        {
            for job in batch.drain(..) {
                let _ = job.done.send(Err(lost.clone()));
            }
            return;
        }
        let stored = write(&mut self.conn, batch, &self.shared);
        self.committed();
        if !stored.is_empty() && self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        self.pending.extend(stored);
    }

    fn start_clearing(&mut self, done: oneshot::Sender<Result<i64, WriteError>>) {
        if let Some(lost) = &self.lost {
            let _ = done.send(Err(lost.clone()));
            return;
        }
        let newest = self.conn.query_row(
            "SELECT (SELECT id FROM requests ORDER BY id DESC LIMIT 1), \
                    (SELECT id FROM actions ORDER BY id DESC LIMIT 1)",
            [],
            |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?)),
        );
        let (requests, actions) = match newest {
            Ok((r, a)) => (r.unwrap_or(0), a.unwrap_or(0)),
            Err(err) => {
                let _ = done.send(Err(err.into()));
                return;
            }
        };
        // Everything that exists now is covered (what was queued before the click is indexed
        // already), so the whole full-text index goes at once: FTS5 drops its segments in one
        // command, where deleting its rows a step at a time adds tombstones that make FTS5
        // rewrite whole segments (commits of 100-180 ms every few steps).
        if let Err(err) = self.conn.execute(
            "INSERT INTO requests_fts (requests_fts) VALUES ('delete-all')",
            [],
        ) {
            let _ = done.send(Err(err.into()));
            return;
        }
        self.committed();
        // A second click while clearing widens the range to what exists now.
        let clearing = self.clearing.get_or_insert(Clearing {
            upto_request: 0,
            upto_action: 0,
            deleted: 0,
            waiters: Vec::new(),
        });
        clearing.upto_request = clearing.upto_request.max(requests);
        clearing.upto_action = clearing.upto_action.max(actions);
        clearing.waiters.push(done);
    }

    /// Deletes one step of what Clear all covers, in its own transaction; answers the callers
    /// once nothing of it is left.
    fn clear_step(&mut self) {
        // Each step commits, so it is checked like any other commit.
        self.check_file();
        let Some(clearing) = self.clearing.as_mut() else {
            return;
        };
        let result = match &self.lost {
            Some(lost) => Err(lost.clone()),
            None => clear_step(&mut self.conn, clearing, self.settings.clear_step)
                .map_err(WriteError::from),
        };
        match result {
            Ok(true) => {}
            Ok(false) => {
                let clearing = self.clearing.take().expect("clearing");
                tracing::info!(deleted = clearing.deleted, "cleared all");
                for waiter in clearing.waiters {
                    let _ = waiter.send(Ok(clearing.deleted));
                }
            }
            Err(err) => {
                tracing::error!(error = %err.message, "clear all failed");
                let clearing = self.clearing.take().expect("clearing");
                for waiter in clearing.waiters {
                    let _ = waiter.send(Err(err.clone()));
                }
            }
        }
    }
}

/// One step of Clear all: up to `step` of the oldest requests that existed at the click, then
/// their reservations and the actions, in one transaction. `Ok(false)` when nothing was left.
fn clear_step(conn: &mut Connection, c: &mut Clearing, step: i64) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let oldest: Option<i64> = tx
        .query_row("SELECT id FROM requests ORDER BY id LIMIT 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let more = if let Some(oldest) = oldest.filter(|&o| o <= c.upto_request) {
        let cut = (oldest + step).min(c.upto_request + 1);
        c.deleted += tx.execute("DELETE FROM requests WHERE id < ?1", params![cut])? as i64;
        true
    } else {
        // The requests are gone; then what hung off them, a step at a time too.
        let reservations = tx.execute(
            "DELETE FROM reservations WHERE rowid IN (SELECT rowid FROM reservations \
             WHERE last_request_id <= ?1 LIMIT ?2)",
            params![c.upto_request, step],
        )?;
        let actions = tx.execute(
            "DELETE FROM actions WHERE id IN (SELECT id FROM actions WHERE id <= ?1 \
             ORDER BY id LIMIT ?2)",
            params![c.upto_action, step],
        )?;
        reservations > 0 || actions > 0
    };
    tx.commit()?;
    Ok(more)
}

/// Commits `batch` and answers its callers; returns the stored requests, for the indexer.
fn write(conn: &mut Connection, batch: &mut Vec<Job>, shared: &Shared) -> Vec<IndexJob> {
    let mut stored_requests = Vec::new();
    match commit_batch(conn, batch) {
        Ok(outcomes) => {
            shared.set_write_error(None);
            // Published before any caller hears back, so a read that starts after an
            // acknowledgement waits for that row's indexing (see `Store::read`).
            let newest = batch
                .iter()
                .zip(&outcomes)
                .filter(|(job, outcome)| matches!(job.row, Row::Request(_)) && outcome.is_ok())
                .filter_map(|(_, outcome)| outcome.as_ref().ok().map(|s| s.id))
                .max();
            if let Some(newest) = newest {
                shared.progress.acked.fetch_max(newest, Ordering::Release);
            }
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                match outcome {
                    Ok(stored) => {
                        let _ = job.done.send(Ok(stored.id));
                        if let Row::Request(request) = job.row {
                            let summary = summarize(&stored, &request);
                            stored_requests
                                .push(IndexJob::from_request(stored.id, *request, summary));
                        }
                    }
                    Err(err) => {
                        // Only this row: its caller answers 503, the rest of the batch stands.
                        tracing::warn!(error = %err.message, "could not store one row");
                        let _ = job.done.send(Err(err));
                    }
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
    stored_requests
}

/// What was stored for one row.
struct Stored {
    id: i64,
    /// The `replay_of` link as stored (dropped when the original was gone).
    replay_of: Option<i64>,
    replay_note: Option<String>,
}

impl Stored {
    fn plain(id: i64) -> Self {
        Self {
            id,
            replay_of: None,
            replay_note: None,
        }
    }
}

/// True for an error that belongs to the row being written (a constraint, a value SQLite
/// refuses), as opposed to one about the database (full, busy, I/O), which fails the batch.
pub(super) fn is_row_error(err: &rusqlite::Error) -> bool {
    match err.sqlite_error_code() {
        Some(code) => matches!(
            code,
            rusqlite::ErrorCode::ConstraintViolation
                | rusqlite::ErrorCode::TooBig
                | rusqlite::ErrorCode::TypeMismatch
        ),
        // Conversions and the like happen before SQLite sees the row.
        None => true,
    }
}

/// Commits the batch in one transaction, each row inside its own savepoint: a row that fails
/// on its own (a constraint) is rolled back alone and reported to its caller only. An error
/// about the database itself, or the commit failing, fails every row of the batch.
fn commit_batch(
    conn: &mut Connection,
    batch: &[Job],
) -> Result<Vec<Result<Stored, WriteError>>, WriteError> {
    // On a batch-wide error the transaction is dropped, which rolls it back.
    let mut tx = conn.transaction()?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        let sp = tx.savepoint()?;
        let result = match &job.row {
            Row::Request(r) => insert_request(&sp, r),
            Row::Action(a) => insert_action(&sp, a).map(Stored::plain),
            // Taken out of batches by the loop and run in steps.
            Row::ClearAll => unreachable!("Clear all is never part of a batch"),
        };
        match result {
            Ok(stored) => {
                sp.commit()?;
                outcomes.push(Ok(stored));
            }
            // Dropping the savepoint rolls back this row only.
            Err(err) if is_row_error(&err) => outcomes.push(Err(WriteError::from(err))),
            Err(err) => return Err(err.into()),
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// The note stored on a replay whose original is no longer there.
fn original_gone_note(original: i64) -> String {
    format!("replay of #{original}, which was deleted before this replay was stored")
}

/// The acknowledging insert: the raw record (and the derived columns, written inline at no
/// extra cost), `indexed = 0`; the indexer does the rest.
fn insert_request(tx: &Connection, r: &NewRequest) -> rusqlite::Result<Stored> {
    let d = &r.derived;
    // The original of a replay may have been deleted (retention, Clear all) while the replay
    // was on its way: the replay is still recorded, without the link (its foreign key would
    // fail) and with a note saying so.
    let (replay_of, replay_note) = match r.replay_of {
        Some(original) => {
            let exists = tx
                .prepare_cached("SELECT 1 FROM requests WHERE id = ?1")?
                .exists([original])?;
            if exists {
                (Some(original), None)
            } else {
                (None, Some(original_gone_note(original)))
            }
        }
        None => (None, None),
    };
    tx.prepare_cached(
        "INSERT INTO requests (received_at, remote_addr, method, path, query, http_version, \
         headers, body, body_size, body_truncated, response_status, response_headers, \
         response_body, duration_us, kind, event_type, account_sid, workspace_sid, task_sid, \
         reservation_sid, worker_sid, signature, signature_reason, replay_of, error, replay_note, \
         indexed) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, 0)",
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
        replay_of,
        r.error,
        replay_note,
    ])?;
    let id = tx.last_insert_rowid();
    Ok(Stored {
        id,
        replay_of,
        replay_note,
    })
}

fn insert_action(tx: &Connection, a: &NewAction) -> rusqlite::Result<i64> {
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

fn summarize(stored: &Stored, r: &NewRequest) -> RequestSummary {
    let d = &r.derived;
    RequestSummary {
        id: stored.id,
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
        replay_of: stored.replay_of,
        replay_note: stored.replay_note.clone(),
        body_size: r.body_size,
        body_truncated: r.body_truncated,
        duration_us: r.duration_us,
        error: r.error.clone(),
    }
}
