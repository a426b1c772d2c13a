//! The indexer: what only serves reading, built right behind the acknowledging commit.
//!
//! The writer's acknowledging transaction stores a request's raw record (the `requests` row,
//! `indexed = 0`) and nothing else, so a callback is answered after one B-tree append and one
//! fsync. The same writer thread then indexes what it acknowledged, in its own transaction:
//! it sets `indexed = 1` (which enters the row into every partial filter index), writes the
//! full-text entry, the CloudEvents rows and the reservation state. Those transactions are not
//! fsynced on their own: everything they write is rebuilt from the raw records, and the next
//! acknowledging commit's fsync covers them anyway.
//!
//! After a crash, rows still at `indexed = 0` are re-derived from their raw bytes (through
//! [`crate::taskrouter::callback::analyze`], the same code capture uses) and indexed before the
//! writer takes new work. A row is announced on the live stream once it is indexed.

use rusqlite::{Connection, params};

use super::models::{NewRequest, RequestSummary, decode_headers};
use crate::taskrouter::callback::{Derived, analyze};
use crate::wire;

/// One acknowledged request waiting to be indexed.
pub(super) struct IndexJob {
    pub id: i64,
    pub received_at_us: i64,
    pub derived: Derived,
    pub search_text: String,
    /// A replay (its original kept or gone): it never moves reservation state.
    pub replay: bool,
    /// Announced on the live stream once indexed; `None` for rows recovered at start, which
    /// nobody is watching yet.
    pub summary: Option<RequestSummary>,
}

impl IndexJob {
    /// What indexing needs of a request just stored: the derived facts move over, the raw
    /// bytes (already committed) are dropped.
    pub fn from_request(id: i64, request: NewRequest, summary: RequestSummary) -> Self {
        Self {
            id,
            received_at_us: request.received_at_us,
            replay: request.replay_of.is_some(),
            derived: request.derived,
            search_text: request.search_text,
            summary: Some(summary),
        }
    }
}

/// Indexes `jobs` in one transaction (each row in its own savepoint). A row that cannot be
/// indexed (a constraint SQLite refuses) is still marked indexed, without its derived rows, so
/// it cannot stall the indexer; it stays readable and listed. Errors about the database fail
/// the whole step, which is retried.
pub(super) fn index(conn: &mut Connection, jobs: &[IndexJob]) -> rusqlite::Result<()> {
    let mut tx = conn.transaction()?;
    for job in jobs {
        let sp = tx.savepoint()?;
        match index_one(&sp, job) {
            Ok(()) => sp.commit()?,
            Err(err) if super::writer::is_row_error(&err) => {
                drop(sp);
                tracing::warn!(id = job.id, error = %err, "could not index one request; it is listed and filtered, but not searchable");
                tx.prepare_cached("UPDATE requests SET indexed = 1 WHERE id = ?1")?
                    .execute([job.id])?;
            }
            Err(err) => return Err(err),
        }
    }
    tx.commit()
}

fn index_one(tx: &Connection, job: &IndexJob) -> rusqlite::Result<()> {
    // Zero rows: the request is gone already (Clear all or retention got there first), so
    // nothing may be written under its id.
    let marked = tx
        .prepare_cached("UPDATE requests SET indexed = 1 WHERE id = ?1 AND indexed = 0")?
        .execute([job.id])?;
    if marked == 0 {
        return Ok(());
    }
    tx.prepare_cached("INSERT INTO requests_fts (rowid, text) VALUES (?1, ?2)")?
        .execute(params![job.id, job.search_text])?;
    super::events::insert_events(tx, job)?;
    let d = &job.derived;
    // Replays re-send old callbacks; they must not move a reservation's state.
    if let (Some(reservation_sid), Some(status), false) =
        (&d.reservation_sid, d.reservation_status, job.replay)
    {
        let offered_at = status.is_pending().then_some(job.received_at_us);
        tx.prepare_cached(UPSERT_RESERVATION)?.execute(params![
            reservation_sid,
            d.task_sid,
            d.workspace_sid,
            d.worker_sid,
            d.worker_name,
            offered_at,
            status,
            job.received_at_us,
            job.id,
        ])?;
    }
    Ok(())
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

/// Most recovered rows read and indexed per transaction at start.
const RECOVERY_STEP: usize = 1000;

/// Indexes every row a crash left acknowledged but unindexed, re-deriving each from its raw
/// record, oldest first. Returns how many rows it indexed.
pub(super) fn recover(conn: &mut Connection) -> rusqlite::Result<u64> {
    let mut total = 0;
    let mut after = 0i64;
    loop {
        let jobs = {
            let mut stmt = conn.prepare_cached(
                "SELECT id, received_at, method, path, query, headers, body, replay_of, \
                 replay_note FROM requests WHERE indexed = 0 AND id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, RECOVERY_STEP as i64], |row| {
                let headers = decode_headers(&row.get::<_, Vec<u8>>("headers")?);
                let body: Vec<u8> = row.get("body")?;
                let method: String = row.get("method")?;
                let path: String = row.get("path")?;
                let query: Option<String> = row.get("query")?;
                let (derived, search_text) = analyze(
                    &method,
                    &path,
                    query.as_deref(),
                    wire::content_type(&headers),
                    &body,
                );
                Ok(IndexJob {
                    id: row.get("id")?,
                    received_at_us: row.get("received_at")?,
                    derived,
                    search_text,
                    replay: row.get::<_, Option<i64>>("replay_of")?.is_some()
                        || row.get::<_, Option<String>>("replay_note")?.is_some(),
                    summary: None,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let Some(last) = jobs.last() else {
            return Ok(total);
        };
        after = last.id;
        index(conn, &jobs)?;
        total += jobs.len() as u64;
    }
}
