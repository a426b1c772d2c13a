//! The read queries behind the CLI, the inspector and exports. Every read runs on a pooled
//! read connection ([`super::Store::read`]); columns are read by name, so adding a column
//! never shifts another. Lists are keyset-paginated (never OFFSET) and served by an index.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter, types::Value};

use super::StoreError;
use super::models::{
    Action, RequestSummary, Reservation, StoredRequest, decode_headers, format_micros,
};
use crate::taskrouter::sid::{ReservationSid, TaskSid, WorkerSid, WorkspaceSid};
use crate::taskrouter::status::Kind;
use crate::wire::RecordedResponse;

/// Filters for listing requests, newest first. Pagination is keyset: `before` is the smallest
/// id already shown; rows with smaller ids follow. Never OFFSET.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub before: Option<i64>,
    pub limit: usize,
    pub kind: Option<Kind>,
    pub event_type: Option<String>,
    pub workspace_sid: Option<WorkspaceSid>,
    pub task_sid: Option<TaskSid>,
    pub reservation_sid: Option<ReservationSid>,
    pub worker_sid: Option<WorkerSid>,
    /// Exact path.
    pub path: Option<String>,
    /// Response status sent.
    pub status: Option<u16>,
    /// Full-text search over decoded fields and body text; matched as a phrase prefix.
    pub q: Option<String>,
}

impl RequestFilter {
    /// The event-type and SID conditions, as SQL clauses with their values: columns that
    /// `requests` and `request_events` share, so both queries build them from here.
    pub(super) fn event_conditions(&self) -> [(&'static str, Option<&str>); 5] {
        [
            (" AND event_type = ?", self.event_type.as_deref()),
            (
                " AND workspace_sid = ?",
                self.workspace_sid.as_ref().map(|s| s.as_str()),
            ),
            (
                " AND task_sid = ?",
                self.task_sid.as_ref().map(|s| s.as_str()),
            ),
            (
                " AND reservation_sid = ?",
                self.reservation_sid.as_ref().map(|s| s.as_str()),
            ),
            (
                " AND worker_sid = ?",
                self.worker_sid.as_ref().map(|s| s.as_str()),
            ),
        ]
    }

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

/// Full-text matches read per window when search is combined with a filter.
const SEARCH_WINDOW: i64 = 1000;
/// Windows read before the rest is one query.
const SEARCH_WINDOWS: usize = 20;

const SUMMARY_COLUMNS: &str = "id, received_at, remote_addr, method, path, query, response_status, \
     kind, event_type, account_sid, workspace_sid, task_sid, reservation_sid, worker_sid, \
     signature, replay_of, replay_note, body_size, body_truncated, duration_us, error";

pub(super) fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<RequestSummary> {
    let received_at_us: i64 = row.get("received_at")?;
    Ok(RequestSummary {
        id: row.get("id")?,
        received_at: format_micros(received_at_us),
        received_at_us,
        remote_addr: row.get("remote_addr")?,
        method: row.get("method")?,
        path: row.get("path")?,
        query: row.get("query")?,
        status: row.get("response_status")?,
        kind: row.get("kind")?,
        event_type: row.get("event_type")?,
        account_sid: row.get("account_sid")?,
        workspace_sid: row.get("workspace_sid")?,
        task_sid: row.get("task_sid")?,
        reservation_sid: row.get("reservation_sid")?,
        worker_sid: row.get("worker_sid")?,
        signature: row.get("signature")?,
        replay_of: row.get("replay_of")?,
        replay_note: row.get("replay_note")?,
        body_size: row.get::<_, i64>("body_size")?.max(0) as u64,
        body_truncated: row.get("body_truncated")?,
        duration_us: row.get("duration_us")?,
        error: row.get("error")?,
    })
}

/// Builds the keyset-paginated list query for `filter`: newest first, never OFFSET. `matching`
/// is the FTS5 expression of `filter.q` ([`super::search::match_expression`]); `window` narrows
/// the full-text matches to ids in `[low, high)` (see [`Reader::list_requests`]).
fn list_query(
    filter: &RequestFilter,
    matching: Option<&str>,
    window: Option<(i64, i64)>,
) -> (String, Vec<Value>) {
    let mut args: Vec<Value> = Vec::new();
    let mut sql = match matching {
        Some(m) if window.is_some() => {
            let (low, high) = window.unwrap_or_default();
            args.push(Value::Text(m.to_owned()));
            args.push(Value::Integer(low));
            args.push(Value::Integer(high));
            format!(
                "SELECT {SUMMARY_COLUMNS} FROM requests WHERE id IN \
                 (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ? \
                  AND rowid >= ? AND rowid < ?)"
            )
        }
        Some(m) => {
            args.push(Value::Text(m.to_owned()));
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
    // The filter indexes hold indexed rows only (see the indexer); saying so, as a literal the
    // planner can match against the indexes' WHERE, lets SQLite use them. Rows not indexed yet
    // are milliseconds old, and reads wait for them anyway.
    if !filter.is_unfiltered() {
        sql.push_str(" AND indexed = 1");
    }
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
    let path = (" AND path = ?", filter.path.as_deref());
    for (clause, value) in filter.event_conditions().into_iter().chain([path]) {
        if let Some(value) = value {
            push(clause, Value::Text(value.to_owned()));
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
    let offered_at_us: Option<i64> = row.get("offered_at")?;
    Ok(Reservation {
        reservation_sid: row.get("reservation_sid")?,
        task_sid: row.get("task_sid")?,
        workspace_sid: row.get("workspace_sid")?,
        worker_sid: row.get("worker_sid")?,
        worker_name: row.get("worker_name")?,
        offered_at: offered_at_us.map(format_micros),
        offered_at_us,
        status: row.get("status")?,
        status_at: format_micros(row.get("status_at")?),
        first_request_id: row.get("first_request_id")?,
        last_request_id: row.get("last_request_id")?,
    })
}

const ACTION_COLUMNS: &str = "id, at, action, method, url, params, workspace_sid, task_sid, \
     reservation_sid, response_status, response_body, error, duration_us";

fn action_from_row(row: &Row<'_>) -> rusqlite::Result<Action> {
    let at_us: i64 = row.get("at")?;
    Ok(Action {
        id: row.get("id")?,
        at: format_micros(at_us),
        at_us,
        action: row.get("action")?,
        method: row.get("method")?,
        url: row.get("url")?,
        params: row.get("params")?,
        workspace_sid: row.get("workspace_sid")?,
        task_sid: row.get("task_sid")?,
        reservation_sid: row.get("reservation_sid")?,
        response_status: row.get("response_status")?,
        response_body: row.get("response_body")?,
        error: row.get("error")?,
        duration_us: row.get("duration_us")?,
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
    pub task_sid: TaskSid,
    pub requests: Vec<RequestSummary>,
    pub reservations: Vec<Reservation>,
    /// REST calls made about this task or its reservations.
    pub actions: Vec<Action>,
    /// Its Event Streams CloudEvents, in event-time order (re-deliveries marked).
    pub events: Vec<super::events::StreamEvent>,
}

/// A borrowed read connection; all read queries live here.
pub struct Reader<'c> {
    pub(super) conn: &'c Connection,
}

impl Reader<'_> {
    /// Requests matching `filter`, newest first.
    pub fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<RequestSummary>, StoreError> {
        let matching = match filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) => Some(super::search::match_expression(self.conn, q)?),
            None => None,
        };
        let own = match &matching {
            // Search and a filter: the matches are taken newest first a window at a time and
            // filtered, so a common word does not first collect every row it is in.
            Some(m) if !filter.is_unfiltered() => self.search_in_windows(filter, m)?,
            _ => self.query_list(filter, matching.as_deref(), None)?,
        };
        if !super::events::has_event_filter(filter) {
            return Ok(own);
        }
        // Event Streams batches match through their events too (a second indexed query, so
        // the first keeps walking its index with no sort).
        let by_event = self.requests_by_event(filter, SUMMARY_COLUMNS, matching.as_deref())?;
        Ok(super::events::merge_newest(
            own,
            by_event,
            filter.limit.min(10_000),
        ))
    }

    fn query_list(
        &self,
        filter: &RequestFilter,
        matching: Option<&str>,
        window: Option<(i64, i64)>,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        let (sql, args) = list_query(filter, matching, window);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), summary_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Search combined with column filters: full-text matches are read newest first in
    /// windows of [`SEARCH_WINDOW`] and each window is filtered, until the page is full. After
    /// [`SEARCH_WINDOWS`] windows (a rare filter on a common word) the rest is one query over
    /// every match below the last window.
    fn search_in_windows(
        &self,
        filter: &RequestFilter,
        matching: &str,
    ) -> Result<Vec<RequestSummary>, StoreError> {
        let limit = filter.limit.min(10_000);
        let mut high = filter.before.unwrap_or(i64::MAX);
        let mut found = Vec::new();
        let mut lowest = self.conn.prepare_cached(
            "SELECT min(rowid), count(*) FROM (SELECT rowid FROM requests_fts \
             WHERE requests_fts MATCH ?1 AND rowid < ?2 ORDER BY rowid DESC LIMIT ?3)",
        )?;
        for _ in 0..SEARCH_WINDOWS {
            let (low, n): (Option<i64>, i64) = lowest
                .query_row(params![matching, high, SEARCH_WINDOW], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let Some(low) = low else {
                return Ok(found);
            };
            let page = RequestFilter {
                limit: limit - found.len(),
                ..filter.clone()
            };
            found.extend(self.query_list(&page, Some(matching), Some((low, high)))?);
            if found.len() >= limit || n < SEARCH_WINDOW {
                return Ok(found);
            }
            high = low;
        }
        let rest = RequestFilter {
            before: Some(high),
            limit: limit - found.len(),
            ..filter.clone()
        };
        found.extend(self.query_list(&rest, Some(matching), None)?);
        Ok(found)
    }

    /// SQLite's `EXPLAIN QUERY PLAN` lines for the list query of `filter`, to check (in tests
    /// and when debugging) that every filter is served by an index.
    pub fn explain_list(&self, filter: &RequestFilter) -> Result<Vec<String>, StoreError> {
        let matching = filter.q.as_deref().map(super::search::prefix_phrase);
        let (sql, args) = list_query(filter, matching.as_deref(), None);
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
                    signature_reason: row.get("signature_reason")?,
                    events: Vec::new(),
                    http_version: row.get("http_version")?,
                    headers: decode_headers(&row.get::<_, Vec<u8>>("headers")?),
                    body: row.get("body")?,
                    response: RecordedResponse {
                        status,
                        headers: decode_headers(&row.get::<_, Vec<u8>>("response_headers")?),
                        body: row.get("response_body")?,
                    },
                })
            })
            .optional()?;
        let Some(mut found) = found else {
            return Ok(None);
        };
        found.events = self.request_events(id)?;
        Ok(Some(found))
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
        reservation_sid: &ReservationSid,
    ) -> Result<Option<Reservation>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE reservation_sid = ?"
        ))?;
        Ok(stmt
            .query_row([reservation_sid.as_str()], reservation_from_row)
            .optional()?)
    }

    /// Everything recorded about one task, in time order.
    pub fn task_history(
        &self,
        task_sid: &TaskSid,
        limit: usize,
    ) -> Result<TaskHistory, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM requests WHERE task_sid = ?1 OR id IN \
             (SELECT request_id FROM request_events WHERE task_sid = ?1) ORDER BY id ASC LIMIT ?2"
        ))?;
        let requests = stmt
            .query_map(
                params![task_sid.as_str(), limit.min(10_000) as i64],
                summary_from_row,
            )?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE task_sid = ? \
             ORDER BY first_request_id ASC"
        ))?;
        let reservations = stmt
            .query_map([task_sid.as_str()], reservation_from_row)?
            .collect::<Result<_, _>>()?;
        let actions = self.actions(None, Some(task_sid))?;
        let events = self.task_events(task_sid, limit)?;
        Ok(TaskHistory {
            task_sid: task_sid.clone(),
            requests,
            reservations,
            actions,
            events,
        })
    }

    /// REST calls about one reservation or one task, oldest first.
    pub fn actions(
        &self,
        reservation_sid: Option<&ReservationSid>,
        task_sid: Option<&TaskSid>,
    ) -> Result<Vec<Action>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS} FROM actions \
             WHERE (?1 IS NOT NULL AND reservation_sid = ?1) OR (?2 IS NOT NULL AND task_sid = ?2) \
             ORDER BY id ASC LIMIT 1000"
        ))?;
        let rows = stmt.query_map(
            params![
                reservation_sid.map(|s| s.as_str()),
                task_sid.map(|s| s.as_str())
            ],
            action_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The first `max` bytes of each request's body, for the names list rows show (worker,
    /// queue, task label, EventDescription) without loading whole bodies.
    pub fn body_prefixes(
        &self,
        ids: &[i64],
        max: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, substr(body, 1, ?2) FROM requests WHERE id = ?1")?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = stmt
                .query_row(params![id, max as i64], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?
            {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// The newest audit entries of the given kinds (the workbench's history), newest first.
    pub fn recent_actions(
        &self,
        kinds: &[crate::taskrouter::status::ActionKind],
        limit: usize,
    ) -> Result<Vec<Action>, StoreError> {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS} FROM actions \
             WHERE action IN (SELECT value FROM json_each(?1)) ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            params![
                serde_json::to_string(&kinds).unwrap_or_default(),
                limit.min(1000) as i64
            ],
            action_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest REST call for each of `reservation_sids` (for showing results in lists).
    pub fn latest_actions(
        &self,
        reservation_sids: &[ReservationSid],
    ) -> Result<Vec<Action>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTION_COLUMNS} FROM actions WHERE id = \
             (SELECT max(id) FROM actions WHERE reservation_sid = ?1)"
        ))?;
        let mut out = Vec::new();
        for sid in reservation_sids {
            if let Some(action) = stmt.query_row([sid.as_str()], action_from_row).optional()? {
                out.push(action);
            }
        }
        Ok(out)
    }

    /// Reservations by SID (those never seen are left out).
    pub fn reservations_by_sid(
        &self,
        sids: &[ReservationSid],
    ) -> Result<Vec<Reservation>, StoreError> {
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
