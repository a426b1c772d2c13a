//! What each subcommand does, called by `main` after parsing.

use std::io::Write;

use anyhow::Context;

use crate::actions::{Actions, ReservationInput};
use crate::cli::{RequestsArgs, ReservationArgs, ServeArgs};
use crate::config::{Config, TaskRouterConfig};
use crate::startup::App;
use crate::store::models::RequestSummary;
use crate::store::{RequestFilter, Store, StoreOptions};

/// `taskhook serve`: bind, print the addresses, serve until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(&args)?;
    let app = App::build(config).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "capture: http://{}", app.capture_addr())?;
    writeln!(out, "inspector: {}", app.inspector_url())?;
    out.flush()?;
    drop(out);
    tracing::info!(db = %app.store().path().display(), "recording");
    app.run_until_stopped(shutdown_signal()).await;
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Which way `taskhook accept` / `reject` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Reject,
}

/// `taskhook accept` / `taskhook reject`: the inspector's buttons from the shell. The task and
/// workspace come from the recorded callbacks unless given; the call is recorded in the audit
/// trail like a click.
pub async fn reservation(args: ReservationArgs, decision: Decision) -> anyhow::Result<()> {
    let taskrouter = TaskRouterConfig::from_args(&args.taskrouter)?;
    let client = taskrouter.client()?;
    let store = {
        let path = args.db.clone();
        tokio::task::spawn_blocking(move || Store::open(&path, StoreOptions::default())).await??
    };
    let (writer, writer_thread) = store.start_writer()?;
    let actions = Actions {
        store,
        writer,
        client,
        default_workspace: taskrouter.workspace,
    };
    let input = ReservationInput {
        task_sid: args.task,
        workspace_sid: None,
        worker_activity_sid: args.activity,
    };
    let outcome = match decision {
        Decision::Accept => actions.accept(&args.reservation, &input).await,
        Decision::Reject => actions.reject(&args.reservation, &input).await,
    };
    drop(actions);
    writer_thread.join().await;
    let outcome = outcome?;
    anyhow::ensure!(outcome.ok, "{}", outcome.summary);
    println!("{}", terminal_safe(&outcome.summary));
    Ok(())
}

/// `taskhook requests`: newest first, as a table or JSON lines.
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
            row.task_sid.as_deref().unwrap_or("-"),
            row.reservation_sid.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(())
}

/// Captured text is attacker-controlled: escape control characters so it cannot drive the
/// terminal (ANSI escapes, carriage returns).
fn terminal_safe(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(terminal_safe("a\u{1b}[31mb\r"), "a\\u{1b}[31mb\\u{d}");
        assert_eq!(terminal_safe("task.created"), "task.created");
    }
}
