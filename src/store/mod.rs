//! The only place with SQL. Owns the SQLite file: opening it (pragmas, migrations from
//! `migrations/`), the group-commit [`writer`], and the read queries behind the CLI and the
//! inspector.
//!
//! Durability rule: a captured request is answered only after the transaction holding its row
//! has committed. The database runs in WAL mode; with [`SyncMode::Full`] (the default) every
//! commit is fsynced, so an acknowledged request survives a crash and a power loss.

pub mod models;
pub mod retention;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use include_dir::{Dir, include_dir};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter, types::Value,
};
use rusqlite_migration::Migrations;
use tokio::sync::broadcast;

use models::{
    Action, Kind, RecordedResponse, RequestSummary, Reservation, StoredRequest, decode_headers,
    format_micros,
};

static MIGRATIONS_DIR: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// fsync the WAL on every commit: acknowledged requests survive power loss.
    Full,
    /// fsync only at checkpoints: survives a process crash, the newest commits may be lost on
    /// power loss. Faster.
    Normal,
}

impl SyncMode {
    fn pragma(self) -> &'static str {
        match self {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        }
    }
}

/// Settings for opening the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub sync: SyncMode,
    /// How long a writer waits for a lock held by another process before giving up.
    pub busy_timeout: Duration,
    /// What retention keeps.
    pub retention: retention::Retention,
    /// A hard cap on database pages (`PRAGMA max_page_count`) for the write connection: past
    /// it SQLite answers "database or disk is full", exactly as a full disk does. For tests of
    /// that path and for tiny volumes; retention is the normal way to bound the size.
    pub page_limit: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            sync: SyncMode::Full,
            busy_timeout: Duration::from_secs(2),
            retention: retention::Retention::default(),
            page_limit: None,
        }
    }
}

/// Errors from the store, with the path or operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The cause is the `#[source]`, printed by the error chain (`{:#}`), not repeated here.
    #[error("cannot open database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no database at {0} (run `taskhook serve` first, or pass --db)")]
    Missing(PathBuf),
    #[error(
        "database {path} was written by a newer taskhook (schema version {found}, this build knows {known}); it was left untouched"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("cannot migrate database {path}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: rusqlite_migration::Error,
    },
    #[error("database query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("the store writer has stopped")]
    WriterStopped,
}

/// Handle to the database: read connections plus the feed of committed rows. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    path: PathBuf,
    options: StoreOptions,
    read_only: bool,
    /// Idle read connections. SQLite connections are not shareable across threads at once, so
    /// each read takes one out for its duration (inside `spawn_blocking`) and puts it back.
    idle_readers: Mutex<Vec<Connection>>,
    shared: Shared,
}

/// What the writer tells everyone else: committed rows (for live views) and whether the last
/// write failed (for the inspector's banner).
#[derive(Clone)]
pub struct Shared {
    pub(crate) committed: broadcast::Sender<RequestSummary>,
    write_error: Arc<Mutex<Option<String>>>,
}

impl Shared {
    pub(crate) fn set_write_error(&self, error: Option<String>) {
        *self.write_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

fn migrations() -> Migrations<'static> {
    // The directory is embedded at compile time and checked by a unit test, so this only fails
    // for a broken build.
    Migrations::from_directory(&MIGRATIONS_DIR).expect("migrations/ is well-formed")
}

/// Number of migrations this build knows; the schema version it writes.
fn known_version() -> i64 {
    MIGRATIONS_DIR.dirs().count() as i64
}

impl Store {
    /// Opens (creating if missing) the database at `path`, refuses one written by a newer
    /// taskhook without touching it, switches it to WAL and applies pending migrations.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
        check_not_too_new(&conn, path)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self::from_parts(path, options, false, conn))
    }

    /// Opens an existing database for reading only (the `requests` command): never creates a
    /// file, never migrates.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let options = StoreOptions::default();
        let conn = open_reader(path, &options).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        check_not_too_new(&conn, path)?;
        Ok(Self::from_parts(path, options, true, conn))
    }

    fn from_parts(path: &Path, options: StoreOptions, read_only: bool, first: Connection) -> Self {
        let (committed, _) = broadcast::channel(1024);
        let shared = Shared {
            committed,
            write_error: Arc::default(),
        };
        let idle = if read_only { vec![first] } else { Vec::new() };
        Self {
            inner: Arc::new(StoreInner {
                path: path.to_path_buf(),
                options,
                read_only,
                idle_readers: Mutex::new(idle),
                shared,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A receiver of every row summary right after its transaction commits (for live views).
    pub fn subscribe(&self) -> broadcast::Receiver<RequestSummary> {
        self.inner.shared.committed.subscribe()
    }

    /// Starts the single writer that owns the write connection. See [`writer`].
    pub fn start_writer(&self) -> Result<(writer::Writer, writer::WriterThread), StoreError> {
        assert!(!self.inner.read_only, "writer on a read-only store");
        let conn = open_writer(&self.inner.path, &self.inner.options).map_err(|source| {
            StoreError::Open {
                path: self.inner.path.clone(),
                source,
            }
        })?;
        Ok(writer::Writer::start(
            conn,
            self.inner.shared.clone(),
            self.inner.options.retention.clone(),
        ))
    }

    /// The last write failure (e.g. "database or disk is full"), until a write succeeds again.
    pub fn write_error(&self) -> Option<String> {
        self.inner
            .shared
            .write_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What retention keeps, for people.
    pub fn retention(&self) -> &retention::Retention {
        &self.inner.options.retention
    }

    /// Runs `f` with a read connection on the blocking pool, so SQLite never blocks the async
    /// workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
    }

    /// Like [`Store::read`] for synchronous callers (the CLI).
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .inner
            .idle_readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.inner.path, &self.inner.options)?,
        };
        let result = f(&Reader { conn: &conn });
        self.inner
            .idle_readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        result
    }
}

fn check_not_too_new(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let known = known_version();
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    Ok(())
}

fn open_writer(path: &Path, options: &StoreOptions) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.pragma_update(None, "synchronous", options.sync.pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if let Some(pages) = options.page_limit {
        conn.pragma_update(None, "max_page_count", pages.min(i64::MAX as u64) as i64)?;
    }
    Ok(conn)
}

fn open_reader(path: &Path, options: &StoreOptions) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(options.busy_timeout)?;
    Ok(conn)
}

/// Filters for listing requests, newest first. Pagination is keyset: `before` is the smallest
/// id already shown; rows with smaller ids follow. Never OFFSET.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub before: Option<i64>,
    pub limit: usize,
    pub kind: Option<Kind>,
    pub event_type: Option<String>,
    pub workspace_sid: Option<String>,
    pub task_sid: Option<String>,
    pub reservation_sid: Option<String>,
    pub worker_sid: Option<String>,
    /// Exact path.
    pub path: Option<String>,
    /// Response status sent.
    pub status: Option<u16>,
    /// Full-text search over decoded fields and body text; matched as a phrase prefix.
    pub q: Option<String>,
}

impl RequestFilter {
    /// True when no column filter is set (paging fields aside).
    fn is_unfiltered(&self) -> bool {
        self.kind.is_none()
            && self.event_type.is_none()
            && self.workspace_sid.is_none()
            && self.task_sid.is_none()
            && self.reservation_sid.is_none()
            && self.worker_sid.is_none()
            && self.path.is_none()
            && self.status.is_none()
    }
}

/// Quotes user input as one FTS5 phrase (with prefix match on the last word), so search text
/// is never parsed as FTS5 query syntax.
fn fts_phrase(q: &str) -> String {
    // FTS5 ends a string at NUL, so control characters become spaces (word breaks anyway).
    let cleaned: String = q
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("\"{}\" *", cleaned.replace('"', "\"\""))
}

const SUMMARY_COLUMNS: &str = "id, received_at, remote_addr, method, path, query, response_status, \
     kind, event_type, account_sid, workspace_sid, task_sid, reservation_sid, worker_sid, \
     signature, replay_of, body_size, body_truncated, duration_us, error";

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<RequestSummary> {
    let received_at_us: i64 = row.get(1)?;
    let kind: String = row.get(7)?;
    Ok(RequestSummary {
        id: row.get(0)?,
        received_at: format_micros(received_at_us),
        received_at_us,
        remote_addr: row.get(2)?,
        method: row.get(3)?,
        path: row.get(4)?,
        query: row.get(5)?,
        status: row.get(6)?,
        kind: Kind::parse(&kind).unwrap_or(Kind::Other),
        event_type: row.get(8)?,
        account_sid: row.get(9)?,
        workspace_sid: row.get(10)?,
        task_sid: row.get(11)?,
        reservation_sid: row.get(12)?,
        worker_sid: row.get(13)?,
        signature: row.get(14)?,
        replay_of: row.get(15)?,
        body_size: row.get::<_, i64>(16)?.max(0) as u64,
        body_truncated: row.get(17)?,
        duration_us: row.get(18)?,
        error: row.get(19)?,
    })
}

/// Builds the keyset-paginated list query for `filter`: newest first, never OFFSET.
fn list_query(filter: &RequestFilter) -> (String, Vec<Value>) {
    let mut args: Vec<Value> = Vec::new();
    let mut sql = match filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            args.push(Value::Text(fts_phrase(q)));
            // With no other filter, walk the full-text matches newest first and stop at the
            // page size, instead of collecting every match of a common word.
            if filter.is_unfiltered() {
                args.push(Value::Integer(filter.before.unwrap_or(i64::MAX)));
                args.push(Value::Integer(filter.limit.min(10_000) as i64));
                format!(
                    "SELECT {SUMMARY_COLUMNS} FROM requests WHERE id IN \
                     (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ? AND rowid < ? \
                      ORDER BY rowid DESC LIMIT ?)"
                )
            } else {
                format!(
                    "SELECT {SUMMARY_COLUMNS} FROM requests WHERE id IN \
                     (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?)"
                )
            }
        }
        None => format!("SELECT {SUMMARY_COLUMNS} FROM requests WHERE 1"),
    };
    let mut push = |clause: &str, value: Value| {
        sql.push_str(clause);
        args.push(value);
    };
    if let Some(before) = filter.before {
        push(" AND id < ?", Value::Integer(before));
    }
    if let Some(kind) = filter.kind {
        push(" AND kind = ?", Value::Text(kind.as_str().to_owned()));
    }
    let text_filters = [
        (" AND event_type = ?", &filter.event_type),
        (" AND workspace_sid = ?", &filter.workspace_sid),
        (" AND task_sid = ?", &filter.task_sid),
        (" AND reservation_sid = ?", &filter.reservation_sid),
        (" AND worker_sid = ?", &filter.worker_sid),
        (" AND path = ?", &filter.path),
    ];
    for (clause, value) in text_filters {
        if let Some(value) = value {
            push(clause, Value::Text(value.clone()));
        }
    }
    if let Some(status) = filter.status {
        push(" AND response_status = ?", Value::Integer(status.into()));
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Value::Integer(filter.limit.min(10_000) as i64));
    (sql, args)
}

const RESERVATION_COLUMNS: &str = "reservation_sid, task_sid, workspace_sid, worker_sid, \
     worker_name, offered_at, status, status_at, first_request_id, last_request_id";

fn reservation_from_row(row: &Row<'_>) -> rusqlite::Result<Reservation> {
    let offered_at_us: Option<i64> = row.get(5)?;
    Ok(Reservation {
        reservation_sid: row.get(0)?,
        task_sid: row.get(1)?,
        workspace_sid: row.get(2)?,
        worker_sid: row.get(3)?,
        worker_name: row.get(4)?,
        offered_at: offered_at_us.map(format_micros),
        offered_at_us,
        status: row.get(6)?,
        status_at: format_micros(row.get(7)?),
        first_request_id: row.get(8)?,
        last_request_id: row.get(9)?,
    })
}

const ACTION_COLUMNS: &str = "id, at, action, method, url, params, workspace_sid, task_sid, \
     reservation_sid, response_status, response_body, error, duration_us";

fn action_from_row(row: &Row<'_>) -> rusqlite::Result<Action> {
    let at_us: i64 = row.get(1)?;
    Ok(Action {
        id: row.get(0)?,
        at: format_micros(at_us),
        at_us,
        action: row.get(2)?,
        method: row.get(3)?,
        url: row.get(4)?,
        params: row.get(5)?,
        workspace_sid: row.get(6)?,
        task_sid: row.get(7)?,
        reservation_sid: row.get(8)?,
        response_status: row.get(9)?,
        response_body: row.get(10)?,
        error: row.get(11)?,
        duration_us: row.get(12)?,
    })
}

/// What the database holds (`taskhook` footer, `GET /api/stats`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub requests: i64,
    pub oldest_at: Option<String>,
    /// Bytes of pages in use.
    pub bytes: u64,
}

/// A task's callbacks and reservations, oldest first (`GET /api/tasks/{sid}`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskHistory {
    pub task_sid: String,
    pub requests: Vec<RequestSummary>,
    pub reservations: Vec<Reservation>,
    /// REST calls made about this task or its reservations.
    pub actions: Vec<Action>,
}

/// A borrowed read connection; all read queries live here.
pub struct Reader<'c> {
    conn: &'c Connection,
}

impl Reader<'_> {
    /// Requests matching `filter`, newest first.
    pub fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<RequestSummary>, StoreError> {
        let (sql, args) = list_query(filter);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), summary_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// SQLite's `EXPLAIN QUERY PLAN` lines for the list query of `filter`, to check (in tests
    /// and when debugging) that every filter is served by an index.
    pub fn explain_list(&self, filter: &RequestFilter) -> Result<Vec<String>, StoreError> {
        let (sql, args) = list_query(filter);
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt.query_map(params_from_iter(args), |row| row.get::<_, String>(3))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One request with everything captured, or `None` if there is no such id.
    pub fn get_request(&self, id: i64) -> Result<Option<StoredRequest>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, http_version, headers, body, response_headers, response_body, \
             signature_reason FROM requests WHERE id = ?"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let found = stmt
            .query_row([id], |row| {
                let summary = summary_from_row(row)?;
                let status = summary.status;
                Ok(StoredRequest {
                    summary,
                    signature_reason: row.get(25)?,
                    http_version: row.get(20)?,
                    headers: decode_headers(&row.get::<_, Vec<u8>>(21)?),
                    body: row.get(22)?,
                    response: RecordedResponse {
                        status,
                        headers: decode_headers(&row.get::<_, Vec<u8>>(23)?),
                        body: row.get(24)?,
                    },
                })
            })
            .optional()?;
        Ok(found)
    }

    /// Reservations, most recently active first; `before` is a `last_request_id` for paging.
    pub fn list_reservations(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Reservation>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations \
             WHERE last_request_id < ?1 ORDER BY last_request_id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            params![before.unwrap_or(i64::MAX), limit.min(10_000) as i64],
            reservation_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One reservation, if it was seen.
    pub fn get_reservation(
        &self,
        reservation_sid: &str,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE reservation_sid = ?"
        ))?;
        Ok(stmt
            .query_row([reservation_sid], reservation_from_row)
            .optional()?)
    }

    /// Everything recorded about one task, in time order.
    pub fn task_history(&self, task_sid: &str, limit: usize) -> Result<TaskHistory, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM requests WHERE task_sid = ?1 ORDER BY id ASC LIMIT ?2"
        ))?;
        let requests = stmt
            .query_map(
                params![task_sid, limit.min(10_000) as i64],
                summary_from_row,
            )?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE task_sid = ? \
             ORDER BY first_request_id ASC"
        ))?;
        let reservations = stmt
            .query_map([task_sid], reservation_from_row)?
            .collect::<Result<_, _>>()?;
        let actions = self.actions(None, Some(task_sid))?;
        Ok(TaskHistory {
            task_sid: task_sid.to_owned(),
            requests,
            reservations,
            actions,
        })
    }

    /// REST calls about one reservation or one task, oldest first.
    pub fn actions(
        &self,
        reservation_sid: Option<&str>,
        task_sid: Option<&str>,
    ) -> Result<Vec<Action>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS} FROM actions \
             WHERE (?1 IS NOT NULL AND reservation_sid = ?1) OR (?2 IS NOT NULL AND task_sid = ?2) \
             ORDER BY id ASC LIMIT 1000"
        ))?;
        let rows = stmt.query_map(params![reservation_sid, task_sid], action_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest REST call for each of `reservation_sids` (for showing results in lists).
    pub fn latest_actions(&self, reservation_sids: &[String]) -> Result<Vec<Action>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS} FROM actions WHERE id = \
             (SELECT max(id) FROM actions WHERE reservation_sid = ?1)"
        ))?;
        let mut out = Vec::new();
        for sid in reservation_sids {
            if let Some(action) = stmt.query_row([sid], action_from_row).optional()? {
                out.push(action);
            }
        }
        Ok(out)
    }

    /// Reservations by SID (those never seen are left out).
    pub fn reservations_by_sid(&self, sids: &[String]) -> Result<Vec<Reservation>, StoreError> {
        let mut out = Vec::new();
        for sid in sids {
            if let Some(r) = self.get_reservation(sid)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Full requests matching `filter`, newest first (for exports).
    pub fn full_requests(&self, filter: &RequestFilter) -> Result<Vec<StoredRequest>, StoreError> {
        let rows = self.list_requests(filter)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(full) = self.get_request(row.id)? {
                out.push(full);
            }
        }
        Ok(out)
    }

    /// Replays of request `id`, oldest first.
    pub fn replays_of(&self, id: i64) -> Result<Vec<RequestSummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM requests WHERE replay_of = ? ORDER BY id ASC LIMIT 500"
        ))?;
        let rows = stmt.query_map([id], summary_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How much is kept: requests, the oldest one's time, bytes of data.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let (oldest, newest, oldest_at): (Option<i64>, Option<i64>, Option<i64>) =
            self.conn.query_row(
                // Three rowid-ordered lookups; `SELECT min(id), max(id)` in one query would scan
                // the whole table (SQLite's min/max shortcut needs a single aggregate).
                "SELECT (SELECT id FROM requests ORDER BY id LIMIT 1), \
                    (SELECT id FROM requests ORDER BY id DESC LIMIT 1), \
                    (SELECT received_at FROM requests ORDER BY id LIMIT 1)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
        let bytes: i64 = self.conn.query_row(
            "SELECT (page_count - freelist_count) * page_size \
             FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )?;
        Ok(Stats {
            // Ids are contiguous: only retention and "clear all" delete, oldest first.
            requests: match (oldest, newest) {
                (Some(o), Some(n)) => n - o + 1,
                _ => 0,
            },
            oldest_at: oldest_at.map(format_micros),
            bytes: bytes.max(0) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_are_valid() {
        migrations().validate().expect("migrations validate");
        assert!(known_version() >= 1);
    }
}
