//! How TaskRouter's typed values are stored: SIDs and the closed vocabularies as their text
//! spelling. A stored value that no longer parses (a file edited by hand, or written by a
//! future taskhook) is a read error naming the column's type, never a panic.

use rusqlite::ToSql;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};

use crate::taskrouter::sid::{Prefix, Sid};
use crate::taskrouter::signature::Verdict;
use crate::taskrouter::status::{ActionKind, Kind, ReservationStatus};

/// The error a stored value that does not parse becomes.
#[derive(Debug, thiserror::Error)]
#[error("stored value is not a valid {0}")]
struct Unparsable(&'static str);

fn parse_text<T: std::str::FromStr>(value: ValueRef<'_>, what: &'static str) -> FromSqlResult<T> {
    value
        .as_str()?
        .parse()
        .map_err(|_| FromSqlError::Other(Box::new(Unparsable(what))))
}

impl<P: Prefix> ToSql for Sid<P> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl<P: Prefix> FromSql for Sid<P> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        parse_text(value, P::NAME)
    }
}

macro_rules! text_enum {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                parse_text(value, stringify!($t))
            }
        }
    )*};
}

text_enum!(Kind, ReservationStatus, ActionKind, Verdict);
