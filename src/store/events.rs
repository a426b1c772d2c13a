//! Event Streams CloudEvents under their request (`request_events`, migration 06): written by
//! the writer in the acknowledging transaction, read by the list filters, the request detail
//! and the task timeline.
//!
//! Why an events table under the request rather than one request row per event: the request
//! is one HTTP exchange, recorded byte-exact and acknowledged as a whole, and replay, export
//! and retention all work on that exchange; splitting it would store the batch N times or
//! invent requests that never arrived. Per-event facts (type, SIDs, time, duplicate_of) live
//! here, indexed like the request columns, so a filter finds the request carrying a matching
//! event.
//!
//! Deduplication (Event Streams delivers at least once): an event whose CloudEvent `id` was
//! seen before is stored and marked `duplicate_of` the request that first carried it, and moves
//! no state. Order (Event Streams does not keep it): reservation state follows event time, so a
//! late older event never undoes a newer state.

use rusqlite::{Connection, Row, params, params_from_iter, types::Value};
use serde::Serialize;

use super::StoreError;
use super::indexer::IndexJob;
use super::models::{RequestSummary, format_micros};
use super::read::{Reader, RequestFilter};
use crate::taskrouter::sid::{AccountSid, ReservationSid, TaskSid, WorkerSid, WorkspaceSid};

/// One stored CloudEvent (`events` in `GET /api/requests/{id}` and `GET /api/tasks/{sid}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamEvent {
    pub request_id: i64,
    pub seq: i64,
    /// The CloudEvent `id`.
    pub id: Option<String>,
    /// The CloudEvent `type`, e.g. `com.twilio.taskrouter.reservation.accepted`.
    #[serde(rename = "type")]
    pub ce_type: String,
    pub source: Option<String>,
    /// The TaskRouter event type (`reservation.accepted`), `None` for other products.
    pub event_type: Option<String>,
    pub account_sid: Option<AccountSid>,
    pub workspace_sid: Option<WorkspaceSid>,
    pub task_sid: Option<TaskSid>,
    pub reservation_sid: Option<ReservationSid>,
    pub worker_sid: Option<WorkerSid>,
    pub worker_name: Option<String>,
    /// RFC 3339 event time, when the event carried one.
    pub event_time: Option<String>,
    pub event_time_us: Option<i64>,
    /// The request id that first carried this CloudEvent id, when this is a re-delivery.
    pub duplicate_of: Option<i64>,
}

const EVENT_COLUMNS: &str = "request_id, seq, ce_id, ce_type, source, event_type, account_sid, \
     workspace_sid, task_sid, reservation_sid, worker_sid, worker_name, event_time, duplicate_of";

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<StreamEvent> {
    let event_time_us: Option<i64> = row.get("event_time")?;
    Ok(StreamEvent {
        request_id: row.get("request_id")?,
        seq: row.get("seq")?,
        id: row.get("ce_id")?,
        ce_type: row.get("ce_type")?,
        source: row.get("source")?,
        event_type: row.get("event_type")?,
        account_sid: row.get("account_sid")?,
        workspace_sid: row.get("workspace_sid")?,
        task_sid: row.get("task_sid")?,
        reservation_sid: row.get("reservation_sid")?,
        worker_sid: row.get("worker_sid")?,
        worker_name: row.get("worker_name")?,
        event_time: event_time_us.map(format_micros),
        event_time_us,
        duplicate_of: row.get("duplicate_of")?,
    })
}

/// Stores the CloudEvents of request `id` (if it carried any) and moves reservation state for
/// each first-seen TaskRouter event. Runs inside the indexer's transaction.
pub(super) fn insert_events(tx: &Connection, job: &IndexJob) -> rusqlite::Result<()> {
    let id = job.id;
    let Some(batch) = &job.derived.batch else {
        return Ok(());
    };
    let mut first = tx.prepare_cached(
        "SELECT coalesce(duplicate_of, request_id) FROM request_events \
         WHERE ce_id = ?1 ORDER BY id LIMIT 1",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO request_events (request_id, seq, ce_id, ce_type, source, event_type, \
         account_sid, workspace_sid, task_sid, reservation_sid, worker_sid, worker_name, \
         reservation_status, event_time, duplicate_of) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    let mut upsert = tx.prepare_cached(UPSERT_RESERVATION_BY_EVENT_TIME)?;
    for e in &batch.events {
        let duplicate_of: Option<i64> = match &e.id {
            Some(ce_id) => first
                .query_row([ce_id], |row| row.get(0))
                .map(Some)
                .or_else(|err| match err {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    err => Err(err),
                })?,
            None => None,
        };
        insert.execute(params![
            id,
            e.seq,
            e.id,
            e.ce_type,
            e.source,
            e.event_type,
            e.account_sid,
            e.workspace_sid,
            e.task_sid,
            e.reservation_sid,
            e.worker_sid,
            e.worker_name,
            e.reservation_status,
            e.time_us,
            duplicate_of,
        ])?;
        // A re-delivered event or a replay has already been counted once.
        if duplicate_of.is_some() || job.replay {
            continue;
        }
        if let (Some(reservation_sid), Some(status)) = (&e.reservation_sid, e.reservation_status) {
            let at = e.time_us.unwrap_or(job.received_at_us);
            upsert.execute(params![
                reservation_sid,
                e.task_sid,
                e.workspace_sid,
                e.worker_sid,
                e.worker_name,
                status.is_pending().then_some(at),
                status,
                at,
                id,
            ])?;
        }
    }
    Ok(())
}

/// Like the indexer's reservation upsert, but ordered by event time: a status older than the one
/// held is not applied (its SIDs and names still fill gaps), and `pending` never reopens a
/// reservation. `offered_at` is the earliest offer seen.
const UPSERT_RESERVATION_BY_EVENT_TIME: &str = "\
    INSERT INTO reservations (reservation_sid, task_sid, workspace_sid, worker_sid, worker_name, \
        offered_at, status, status_at, first_request_id, last_request_id) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) \
    ON CONFLICT (reservation_sid) DO UPDATE SET \
        task_sid = coalesce(task_sid, excluded.task_sid), \
        workspace_sid = coalesce(workspace_sid, excluded.workspace_sid), \
        worker_sid = coalesce(worker_sid, excluded.worker_sid), \
        worker_name = coalesce(excluded.worker_name, worker_name), \
        offered_at = CASE WHEN offered_at IS NULL OR excluded.offered_at < offered_at \
            THEN coalesce(excluded.offered_at, offered_at) ELSE offered_at END, \
        status = CASE WHEN excluded.status = 'pending' AND status <> 'pending' THEN status \
            WHEN excluded.status_at < status_at THEN status ELSE excluded.status END, \
        status_at = CASE WHEN excluded.status = 'pending' AND status <> 'pending' THEN status_at \
            WHEN excluded.status_at < status_at THEN status_at ELSE excluded.status_at END, \
        last_request_id = max(last_request_id, excluded.last_request_id)";

/// Column filters that can match an event of a batch (the rest apply to the request).
pub(super) fn has_event_filter(f: &RequestFilter) -> bool {
    f.event_type.is_some()
        || f.workspace_sid.is_some()
        || f.task_sid.is_some()
        || f.reservation_sid.is_some()
        || f.worker_sid.is_some()
}

impl Reader<'_> {
    /// The CloudEvents request `id` carried, in batch order.
    pub fn request_events(&self, id: i64) -> Result<Vec<StreamEvent>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM request_events WHERE request_id = ? \
             ORDER BY seq LIMIT 10000"
        ))?;
        let rows = stmt.query_map([id], event_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A task's CloudEvents in event-time order (arrival order where the time is missing or
    /// equal), duplicates included and marked.
    pub fn task_events(
        &self,
        task_sid: &TaskSid,
        limit: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM request_events WHERE task_sid = ?1 \
             ORDER BY coalesce(event_time, (SELECT received_at FROM requests \
                 WHERE requests.id = request_id)), request_id, seq LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            params![task_sid.as_str(), limit.min(10_000) as i64],
            event_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Requests that match `filter` through one of their CloudEvents (the newest `limit`
    /// below `before`); the caller merges them with the requests matched by their own
    /// columns. Every event condition must hold for the same event.
    pub(super) fn requests_by_event(
        &self,
        filter: &RequestFilter,
        columns: &str,
        matching: Option<&str>,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        let mut args: Vec<Value> = vec![Value::Integer(filter.before.unwrap_or(i64::MAX))];
        let mut inner =
            String::from("SELECT DISTINCT request_id FROM request_events WHERE request_id < ?");
        for (clause, value) in filter.event_conditions() {
            if let Some(value) = value {
                inner.push_str(clause);
                args.push(Value::Text(value.to_owned()));
            }
        }
        let mut sql = format!("SELECT {columns} FROM requests WHERE id IN ({inner})");
        if let Some(kind) = filter.kind {
            sql.push_str(" AND kind = ?");
            args.push(Value::Text(kind.as_str().to_owned()));
        }
        if let Some(path) = &filter.path {
            sql.push_str(" AND path = ?");
            args.push(Value::Text(path.clone()));
        }
        if let Some(status) = filter.status {
            sql.push_str(" AND response_status = ?");
            args.push(Value::Integer(status.into()));
        }
        if let Some(m) = matching {
            sql.push_str(" AND id IN (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?)");
            args.push(Value::Text(m.to_owned()));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(Value::Integer(filter.limit.min(10_000) as i64));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), super::read::summary_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Merges two newest-first lists of requests (each the newest `limit` of its set) into the
/// newest `limit` of their union: keyset pagination stays exact.
pub(super) fn merge_newest(
    mut a: Vec<RequestSummary>,
    b: Vec<RequestSummary>,
    limit: usize,
) -> Vec<RequestSummary> {
    a.extend(b);
    a.sort_by_key(|r| std::cmp::Reverse(r.id));
    a.dedup_by_key(|r| r.id);
    a.truncate(limit);
    a
}
