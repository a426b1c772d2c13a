//! `taskhook requests`: newest first, as a table or JSON lines.

use std::io::Write;

use anyhow::Context;

use crate::cli::RequestsArgs;
use crate::store::models::RequestSummary;
use crate::store::{RequestFilter, Store};

use super::terminal_safe;

pub fn requests(args: RequestsArgs) -> anyhow::Result<()> {
    let store = Store::open_read_only(&args.db)?;
    let filter = RequestFilter {
        limit: args.limit,
        ..RequestFilter::default()
    };
    let rows = store
        .read_blocking(|r| r.list_requests(&filter))
        .context("cannot list requests")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for row in &rows {
            serde_json::to_writer(&mut out, row)?;
            writeln!(out)?;
        }
    } else {
        print_table(&mut out, &rows)?;
    }
    Ok(())
}

fn print_table(out: &mut impl Write, rows: &[RequestSummary]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>6}  {:<24}  {:<6} {:<28} {:<24} {:>3}  {:<34}  {:<34}",
        "ID", "RECEIVED", "METHOD", "PATH", "KIND", "ST", "TASK", "RESERVATION"
    )?;
    for row in rows {
        let kind = row.event_type.as_deref().unwrap_or(row.kind.as_str());
        writeln!(
            out,
            "{:>6}  {:<24}  {:<6} {:<28} {:<24} {:>3}  {:<34}  {:<34}",
            row.id,
            &row.received_at[..row.received_at.len().min(23)],
            terminal_safe(&row.method),
            terminal_safe(&row.path),
            terminal_safe(kind),
            row.status,
            row.task_sid.as_ref().map_or("-", |s| s.as_str()),
            row.reservation_sid.as_ref().map_or("-", |s| s.as_str()),
        )?;
    }
    Ok(())
}
