//! Retention: what the writer deletes so a database left running for days stays bounded —
//! at most `--max-requests` rows, none older than `--max-age`, and no more than
//! `--max-db-size` on disk (the database's pages in use and its WAL). Oldest rows go first, a
//! bounded step at a time, between capture batches; what hangs off them (reservations,
//! CloudEvent rows, older actions) goes with them.
//!
//! The file does not shrink (that would need VACUUM, which blocks writers); pages freed by
//! retention are reused, so the file stops growing at about the cap.

use std::time::Duration;

use rusqlite::{Connection, params};

use super::writer::RETENTION_STEP;

/// Limits on what is kept. All `None` keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_requests: Option<u64>,
    pub max_age: Option<Duration>,
    /// Bytes of database pages in use.
    pub max_bytes: Option<u64>,
}

impl Retention {
    pub fn is_set(&self) -> bool {
        self.max_requests.is_some() || self.max_age.is_some() || self.max_bytes.is_some()
    }

    /// A line for people: "keeping the newest 100000 requests, 7d at most".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.max_requests {
            parts.push(format!("the newest {n} requests"));
        }
        if let Some(age) = self.max_age {
            parts.push(format!("{} at most", humantime::format_duration(age)));
        }
        if let Some(bytes) = self.max_bytes {
            parts.push(format!("{} MiB of data", bytes / (1024 * 1024)));
        }
        if parts.is_empty() {
            "keeping everything".to_owned()
        } else {
            format!("keeping {}", parts.join(", "))
        }
    }

    /// Deletes up to one step of the oldest rows that break a limit, in one transaction.
    /// Returns how many requests were deleted.
    pub(super) fn step(&self, conn: &mut Connection) -> rusqlite::Result<i64> {
        // Two rowid lookups: `SELECT min(id), max(id)` in one query scans the table.
        let (oldest, newest): (Option<i64>, Option<i64>) = conn.query_row(
            "SELECT (SELECT id FROM requests ORDER BY id LIMIT 1), \
                    (SELECT id FROM requests ORDER BY id DESC LIMIT 1)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (Some(oldest), Some(newest)) = (oldest, newest) else {
            return Ok(0);
        };
        // Ids are contiguous (only retention and "clear all" delete, oldest first), so the
        // count is a subtraction, not a scan.
        let count = newest - oldest + 1;
        let mut cut_below = oldest;
        if let Some(max) = self.max_requests {
            cut_below = cut_below.max(newest - max as i64 + 1);
        }
        if let Some(age) = self.max_age {
            let now_us = super::models::now_micros();
            let cutoff = now_us - age.as_micros() as i64;
            let first_young: Option<i64> = conn.query_row(
                "SELECT min(id) FROM requests WHERE received_at >= ?1",
                [cutoff],
                |r| r.get(0),
            )?;
            cut_below = cut_below.max(first_young.unwrap_or(newest + 1));
        }
        if let Some(max_bytes) = self.max_bytes {
            let used: i64 = conn.query_row(
                "SELECT (page_count - freelist_count) * page_size \
                 FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )?;
            // The footprint on disk is the database and its WAL: the pages get what the WAL's
            // share leaves (`keep_wal_within`, after every commit, keeps the WAL inside it).
            let used = used as u64 + wal_share(max_bytes);
            if used > max_bytes && count > 1 {
                cut_below = cut_below.max(oldest + RETENTION_STEP.min(count - 1));
            }
        }
        let upto = cut_below.min(oldest + RETENTION_STEP);
        if upto <= oldest {
            return Ok(0);
        }
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM requests_fts WHERE rowid < ?1", params![upto])?;
        let deleted = tx.execute("DELETE FROM requests WHERE id < ?1", params![upto])?;
        // What hangs off the deleted requests goes with them, or a flood of fresh SIDs would
        // grow these tables without bound: reservations whose every callback is gone, and
        // actions older than the oldest request kept.
        tx.execute(
            "DELETE FROM reservations WHERE last_request_id < ?1",
            params![upto],
        )?;
        tx.execute(
            "DELETE FROM actions WHERE at < \
             (SELECT received_at FROM requests WHERE id >= ?1 ORDER BY id LIMIT 1)",
            params![upto],
        )?;
        tx.commit()?;
        tracing::debug!(deleted, "retention");
        Ok(deleted as i64)
    }

    /// Called by the writer after every commit: with a size budget, a WAL past half its share
    /// is checkpointed and truncated at once (the checkpointer's own bound, 16 MiB, is for
    /// databases without one). Waits at most [`TRUNCATE_WAIT`] for readers (a WAL a reader
    /// keeps is truncated after a later commit), then restores the connection's
    /// `busy_timeout`.
    pub(super) fn keep_wal_within(&self, conn: &Connection, busy_timeout: Duration) {
        let Some(max_bytes) = self.max_bytes else {
            return;
        };
        if wal_bytes(conn) <= wal_share(max_bytes) / 2 {
            return;
        }
        let _ = conn.busy_timeout(TRUNCATE_WAIT);
        let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = conn.busy_timeout(busy_timeout);
        if let Err(err) = result {
            tracing::debug!(error = %err, "WAL over its share of --max-db-size; will retry");
        }
    }
}

/// How long a truncation for the budget waits for readers.
const TRUNCATE_WAIT: Duration = Duration::from_millis(20);

/// The part of `--max-db-size` kept for the WAL: it is truncated past half of it, and one
/// transaction's growth fits in the rest.
fn wal_share(max_bytes: u64) -> u64 {
    max_bytes / 4
}

/// Size of the WAL file beside the database (0 when there is none).
fn wal_bytes(conn: &Connection) -> u64 {
    conn.path()
        .and_then(|db| std::fs::metadata(format!("{db}-wal")).ok())
        .map_or(0, |m| m.len())
}

/// Parses `--max-age` with humantime ("7d", "12h", "1h 30m", "45s"); zero is refused, since
/// it would delete every request as it arrives.
pub fn parse_max_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    // A bare number has always meant seconds.
    let age = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("`{text}` is not a duration like 7d, 12h, 30m or 45s: {e}"))?,
    };
    if age < Duration::from_secs(1) {
        return Err("the age must be at least 1 second".into());
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_in_the_same_units() {
        assert_eq!(parse_max_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_max_age("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_max_age("90"), Ok(Duration::from_secs(90)));
        assert!(parse_max_age("0s").is_err());
        assert!(
            parse_max_age("3 parsecs")
                .unwrap_err()
                .contains("3 parsecs")
        );
        let r = Retention {
            max_requests: Some(1000),
            max_age: Some(Duration::from_secs(86_400)),
            max_bytes: None,
        };
        assert_eq!(
            r.describe(),
            "keeping the newest 1000 requests, 1day at most"
        );
    }
}
