//! The ledger of `serve --connect`: every Workspace and Workflow field taskhook repoints at the
//! tunnel, recorded *before* the change is made, and settled when it is put back. It outlives
//! the process on purpose — a killed `serve` leaves pending rows that `taskhook restore` (or
//! the next `serve --connect`) settles.
//!
//! These writes are rare and made outside the capture path, so they use a connection of their
//! own (opened per call, with the store's busy timeout) instead of the group-commit writer;
//! `taskhook restore` runs with no server at all.

use rusqlite::{Connection, params};

use super::models::now_micros;
use super::{Store, StoreError, open_writer};

/// A change to make, or made and not yet settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    pub base_url: String,
    pub resource_path: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: String,
}

/// A change before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub base_url: String,
    pub resource_path: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: String,
}

impl Store {
    fn ledger(&self) -> Result<Connection, StoreError> {
        open_writer(&self.inner.path, &self.inner.options).map_err(|source| StoreError::Open {
            path: self.inner.path.clone(),
            source,
        })
    }

    /// Records `changes` in one transaction, before any is made.
    pub fn record_connect_changes(&self, changes: &[NewChange]) -> Result<Vec<Change>, StoreError> {
        let mut conn = self.ledger()?;
        let tx = conn.transaction()?;
        let mut recorded = Vec::with_capacity(changes.len());
        for c in changes {
            tx.execute(
                "INSERT INTO connect_changes
                   (made_at_us, base_url, resource_path, field, old_value, new_value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    now_micros(),
                    c.base_url,
                    c.resource_path,
                    c.field,
                    c.old_value,
                    c.new_value
                ],
            )?;
            recorded.push(Change {
                id: tx.last_insert_rowid(),
                base_url: c.base_url.clone(),
                resource_path: c.resource_path.clone(),
                field: c.field.clone(),
                old_value: c.old_value.clone(),
                new_value: c.new_value.clone(),
            });
        }
        tx.commit()?;
        Ok(recorded)
    }

    /// Changes not yet settled, oldest first.
    pub fn pending_connect_changes(&self) -> Result<Vec<Change>, StoreError> {
        let conn = self.ledger()?;
        let mut stmt = conn.prepare(
            "SELECT id, base_url, resource_path, field, old_value, new_value
               FROM connect_changes WHERE settled_at_us IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(Change {
                id: row.get("id")?,
                base_url: row.get("base_url")?,
                resource_path: row.get("resource_path")?,
                field: row.get("field")?,
                old_value: row.get("old_value")?,
                new_value: row.get("new_value")?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks a change settled with what became of it ("restored", "left alone: …").
    pub fn settle_connect_change(&self, id: i64, outcome: &str) -> Result<(), StoreError> {
        self.ledger()?.execute(
            "UPDATE connect_changes SET settled_at_us = ?1, outcome = ?2 WHERE id = ?3",
            params![now_micros(), outcome, id],
        )?;
        Ok(())
    }
}
