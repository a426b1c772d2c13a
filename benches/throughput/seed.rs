//! Bulk-seeds a taskhook database with realistic traffic: tasks of six callbacks each
//! (task.created, reservation.created, the assignment callback, reservation.accepted,
//! task.wrapup, task.completed) spread over the last seven days, 50 workers, ~50,000 callers.
//!
//! The schema comes from taskhook itself (`Store::open` runs the migrations); each row's
//! derived columns and full-text entry are computed by taskhook's own functions
//! (`Params::collect`, `derive`, `search_text`), so a seeded row is what capture would have
//! stored. Rows are generated on a second thread and inserted in one transaction.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use taskhook::store::models::encode_headers;
use taskhook::store::{Store, StoreOptions};
use taskhook::taskrouter::callback::{Params, derive, search_text};
use taskhook::wire::Header;

use crate::callbacks::{ACCOUNT, STEPS, Step, Template, WORKERS, stored_headers, worker_name};

const DAY_US: i64 = 86_400_000_000;

/// One generated request row.
struct Row {
    step: Step,
    worker: usize,
    received_at: i64,
    remote_addr: String,
    path: &'static str,
    headers: Vec<u8>,
    body: Vec<u8>,
    status: i64,
    response_body: &'static [u8],
    duration_us: i64,
    kind: &'static str,
    event_type: Option<String>,
    workspace_sid: Option<String>,
    task_sid: Option<String>,
    reservation_sid: Option<String>,
    worker_sid: Option<String>,
}

/// What was seeded.
pub struct Seeded {
    pub rows: u64,
    pub tasks: u64,
    pub elapsed: Duration,
    /// Of which: inserting the rows (and their full-text entries), building the indexes.
    pub rows_elapsed: Duration,
    pub index_elapsed: Duration,
}

fn generate(
    rows: u64,
    tx: mpsc::SyncSender<Vec<Row>>,
    fts_tx: mpsc::SyncSender<Vec<(i64, String)>>,
) {
    let templates: Vec<Vec<Template>> = STEPS
        .iter()
        .map(|&step| (0..WORKERS).map(|w| Template::new(step, w)).collect())
        .collect();
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let start_us = now_us - 7 * DAY_US;
    let step_us = (7 * DAY_US / rows.max(1) as i64).max(1);
    let content_type: &[u8] = b"application/x-www-form-urlencoded; charset=utf-8";
    let mut batch = Vec::with_capacity(1024);
    let mut texts = Vec::with_capacity(1024);
    for r in 0..rows {
        let task = r / STEPS.len() as u64;
        let step_index = (r % STEPS.len() as u64) as usize;
        let step = STEPS[step_index];
        let worker = (crate::callbacks::mix(task) % WORKERS as u64) as usize;
        let received_at = start_us + r as i64 * step_us;
        let body = templates[step_index][worker].fill(task, (received_at / 1_000_000) as u64);
        let params = Params::collect(None, Some(content_type), "POST", &body);
        let derived = derive(&params);
        let text = search_text(step.path(), &params, true, &body);
        let headers: Vec<Header> = stored_headers(task, step_index, body.len());
        let assignment = step == Step::Assignment;
        batch.push(Row {
            step,
            worker,
            received_at,
            remote_addr: format!("127.0.0.1:{}", 40_000 + r % 20_000),
            path: step.path(),
            headers: encode_headers(&headers),
            status: if assignment { 200 } else { 204 },
            response_body: if assignment { b"{}" } else { b"" },
            duration_us: 40 + (crate::callbacks::mix(r) % 160) as i64,
            kind: derived.kind.as_str(),
            event_type: derived.event_type,
            workspace_sid: derived.workspace_sid.map(|s| s.to_string()),
            task_sid: derived.task_sid.map(|s| s.to_string()),
            reservation_sid: derived.reservation_sid.map(|s| s.to_string()),
            worker_sid: derived.worker_sid.map(|s| s.to_string()),
            body,
        });
        // A fresh database numbers its rows 1, 2, … in insertion order.
        texts.push((r as i64 + 1, text));
        if batch.len() == batch.capacity() {
            if tx.send(std::mem::take(&mut batch)).is_err()
                || fts_tx.send(std::mem::take(&mut texts)).is_err()
            {
                return;
            }
            batch.reserve(1024);
            texts.reserve(1024);
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch);
        let _ = fts_tx.send(texts);
    }
}

/// Builds the full-text index for rows `1..` in a scratch database of its own (the same
/// CREATE VIRTUAL TABLE statement), on its own thread, so tokenizing runs beside the row inserts.
fn build_fts(path: &Path, rx: mpsc::Receiver<Vec<(i64, String)>>) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000;",
    )?;
    // FTS5's defaults (a segment per 1 MiB of terms, merged four at a time), so the index has
    // the levels of segments a long-running taskhook builds up, not one big optimized segment:
    // search, and the merges that new captures trigger, cost what they cost in real use.
    let txn = conn.transaction()?;
    {
        let mut insert = txn.prepare("INSERT INTO requests_fts (rowid, text) VALUES (?1, ?2)")?;
        for batch in rx {
            for (id, text) in batch {
                insert.execute(params![id, text])?;
            }
        }
    }
    txn.commit()
}

/// Creates the database at `path` and fills it with `rows` requests in one transaction.
pub fn seed(path: &Path, rows: u64) -> Result<Seeded, Box<dyn std::error::Error>> {
    let started = Instant::now();
    // The schema, exactly as taskhook creates it.
    drop(Store::open(path, StoreOptions::default())?);
    let mut conn = Connection::open(path)?;
    // A throwaway bulk load: no journal, no fsync, a large page cache. The file is switched
    // back to WAL (what taskhook runs in) at the end.
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000; \
         PRAGMA temp_store = MEMORY; PRAGMA threads = 2;",
    )?;
    // Indexes keyed by a task or reservation SID (random keys: every row lands on a different
    // page) are built once at the end, by a sort, instead of row by row, with the same CREATE
    // INDEX statements; the others (an id after a few distinct prefixes) are cheap to maintain.
    let random_keyed: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('requests', 'reservations')",
        )?;
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|(_, sql)| sql.contains("task_sid") || sql.contains("reservation_sid"))
            .collect()
    };
    for (name, _) in &random_keyed {
        conn.execute_batch(&format!("DROP INDEX \"{name}\";"))?;
    }
    // The full-text index is built next door and its shadow tables copied in at the end.
    let create_fts: String = conn.query_row(
        "SELECT sql FROM sqlite_schema WHERE name = 'requests_fts'",
        [],
        |r| r.get(0),
    )?;
    let shadow: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name LIKE 'requests\\_fts\\_%' ESCAPE '\\' AND name NOT IN ('requests_fts_config', 'requests_fts_vocab')",
        )?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let fts_path = path.with_extension("fts-build");
    Connection::open(&fts_path)?.execute_batch(&create_fts)?;
    // ATTACH is refused inside a transaction.
    conn.execute(
        "ATTACH DATABASE ?1 AS fts_build",
        [fts_path.to_string_lossy()],
    )?;
    let (tx, rx) = mpsc::sync_channel::<Vec<Row>>(64);
    let (fts_tx, fts_rx) = mpsc::sync_channel::<Vec<(i64, String)>>(64);
    let generator = std::thread::Builder::new()
        .name("seed-generator".into())
        .spawn(move || generate(rows, tx, fts_tx))?;
    let fts_builder = {
        let fts_path = fts_path.clone();
        std::thread::Builder::new()
            .name("seed-fts".into())
            .spawn(move || build_fts(&fts_path, fts_rx))?
    };

    let response_headers =
        encode_headers(&[Header::new("Content-Type", b"application/json".to_vec())]);
    let txn = conn.transaction()?;
    let mut last_id = 0;
    {
        let mut insert = txn.prepare(
            "INSERT INTO requests (received_at, remote_addr, method, path, query, http_version, \
             headers, body, body_size, body_truncated, response_status, response_headers, \
             response_body, duration_us, kind, event_type, account_sid, workspace_sid, task_sid, \
             reservation_sid, worker_sid, signature) \
             VALUES (?1, ?2, 'POST', ?3, NULL, 'HTTP/1.1', ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?11, \
             ?12, ?13, ?14, ?15, ?16, ?17, 'unchecked')",
        )?;
        let mut reservation = txn.prepare(
            "INSERT INTO reservations (reservation_sid, task_sid, workspace_sid, worker_sid, \
             worker_name, offered_at, status, status_at, first_request_id, last_request_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        // The reservation of the task being inserted: (sid, first id, offered_at, last id, row).
        let mut open: Option<(String, i64, i64, i64, Row)> = None;
        for batch in rx {
            for row in batch {
                insert.execute(params![
                    row.received_at,
                    row.remote_addr,
                    row.path,
                    row.headers,
                    row.body,
                    row.body.len() as i64,
                    row.status,
                    response_headers,
                    row.response_body,
                    row.duration_us,
                    row.kind,
                    row.event_type,
                    ACCOUNT,
                    row.workspace_sid,
                    row.task_sid,
                    row.reservation_sid,
                    row.worker_sid,
                ])?;
                let id = txn.last_insert_rowid();
                last_id = id;
                match row.step {
                    Step::ReservationCreated => {
                        let sid = row.reservation_sid.clone().unwrap_or_default();
                        let at = row.received_at;
                        open = Some((sid, id, at, id, row));
                    }
                    Step::Assignment => {
                        if let Some(open) = open.as_mut() {
                            open.3 = id;
                        }
                    }
                    Step::ReservationAccepted => {
                        if let Some((sid, first, offered, _, _)) = open.take() {
                            reservation.execute(params![
                                sid,
                                row.task_sid,
                                row.workspace_sid,
                                row.worker_sid,
                                worker_name(row.worker),
                                offered,
                                "accepted",
                                row.received_at,
                                first,
                                id,
                            ])?;
                        }
                    }
                    _ => {}
                }
            }
        }
        // The newest task's reservation may still be pending.
        if let Some((sid, first, offered, last, row)) = open.take() {
            reservation.execute(params![
                sid,
                row.task_sid,
                row.workspace_sid,
                row.worker_sid,
                worker_name(row.worker),
                offered,
                "pending",
                row.received_at,
                first,
                last,
            ])?;
        }
    }
    if last_id != rows as i64 {
        return Err(format!("rows were numbered up to {last_id}, not {rows}").into());
    }
    let rows_elapsed = started.elapsed();
    for (_, sql) in &random_keyed {
        txn.execute_batch(sql)?;
    }
    fts_builder
        .join()
        .map_err(|_| "full-text builder panicked")??;
    for table in &shadow {
        txn.execute_batch(&format!(
            "DELETE FROM main.\"{table}\"; \
             INSERT INTO main.\"{table}\" SELECT * FROM fts_build.\"{table}\";"
        ))?;
    }
    txn.commit()?;
    drop(conn);
    std::fs::remove_file(&fts_path)?;
    let conn = Connection::open(path)?;
    let index_elapsed = started.elapsed() - rows_elapsed;
    generator.join().map_err(|_| "generator thread panicked")?;
    // Every row mentions an inbound call: the copied index must find them all.
    let found: i64 = conn.query_row(
        "SELECT count(*) FROM requests_fts WHERE requests_fts MATCH 'inbound'",
        [],
        |r| r.get(0),
    )?;
    if found != rows as i64 {
        return Err(format!("the full-text index finds {found} of {rows} rows").into());
    }
    conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    drop(conn);
    Ok(Seeded {
        rows,
        tasks: rows.div_ceil(STEPS.len() as u64),
        elapsed: started.elapsed(),
        rows_elapsed,
        index_elapsed,
    })
}

/// A database seeded earlier (`--keep`), reused with `--db`: nothing is inserted.
pub fn existing(path: &Path) -> Result<Seeded, Box<dyn std::error::Error>> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM requests", [], |r| r.get(0))?;
    let rows = rows as u64;
    Ok(Seeded {
        rows,
        tasks: rows.div_ceil(STEPS.len() as u64),
        elapsed: Duration::ZERO,
        rows_elapsed: Duration::ZERO,
        index_elapsed: Duration::ZERO,
    })
}
