//! What each subcommand does, called by `main` after parsing.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use crate::actions::{Actions, ReservationInput};
use crate::cli::{
    DemoArgs, ExportArgs, ExportFormat, ReplayArgs, RequestsArgs, ReservationArgs, ServeArgs,
    SimArgs,
};
use crate::config::{Config, TaskRouterConfig};
use crate::export;
use crate::inspector::guard::InspectorToken;
use crate::replay::{ReplayConfig, ReplayEdits, Replayer};
use crate::sim::{Sim, SimConfig};
use crate::startup::App;
use crate::store::models::RequestSummary;
use crate::store::{RequestFilter, Store, StoreOptions};
use crate::taskrouter::client::{Call, Client, Credentials};
use crate::taskrouter::sid::AccountSid;
use crate::taskrouter::signature::AuthToken;

/// `taskhook serve`: bind, print the addresses, serve until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(&args)?;
    let app = App::build(config).await?;
    announce(&[
        format!("capture: http://{}", app.capture_addr()),
        format!("inspector: {}", app.inspector_url()),
    ]);
    tracing::info!(db = %app.store().path().display(), "recording");
    app.run_until_stopped(shutdown_signal()).await;
    Ok(())
}

/// Prints the address lines scripts read. Best effort: a script that reads the first line and
/// closes the pipe must not take the server down with a broken-pipe error.
fn announce(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if let Err(err) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            tracing::warn!(error = %err, "cannot print to stdout; carrying on");
            return;
        }
    }
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

/// `taskhook replay`: send one request (or a task's callbacks, in order) again, re-signed for
/// the target with TWILIO_AUTH_TOKEN unless `--no-resign`; each replay is recorded.
pub async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let store = {
        let path = args.db.clone();
        tokio::task::spawn_blocking(move || Store::open(&path, StoreOptions::default())).await??
    };
    let (writer, writer_thread) = store.start_writer()?;
    let config = ReplayConfig {
        capture_base: args.to.trim_end_matches('/').to_owned(),
        forward_base: None,
        allowed_hosts: args.allow_replay_to.clone(),
        token: std::env::var("TWILIO_AUTH_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(AuthToken::new),
    };
    let replayer = Replayer::new(config, store.clone(), writer)?;
    let ids: Vec<i64> = match (&args.task, args.id) {
        (Some(task), _) => {
            let sid = task.clone();
            let history = store.read(move |r| r.task_history(&sid, 10_000)).await?;
            history
                .requests
                .iter()
                .filter(|r| r.replay_of.is_none())
                .map(|r| r.id)
                .collect()
        }
        (None, Some(id)) => vec![id],
        (None, None) => anyhow::bail!("give a request id or --task"),
    };
    anyhow::ensure!(!ids.is_empty(), "nothing recorded for that task");
    let edits = ReplayEdits {
        resign: Some(!args.no_resign),
        ..ReplayEdits::default()
    };
    let mut result = Ok(());
    for id in ids {
        match replayer.replay(id, &edits).await {
            Ok(sent) => println!(
                "#{id} → #{}: {} {} → {}{}",
                sent.id,
                sent.method,
                terminal_safe(&sent.path),
                sent.status,
                sent.error
                    .map(|e| format!(" ({})", terminal_safe(&e)))
                    .unwrap_or_default()
            ),
            Err(err) => {
                result = Err(anyhow::anyhow!("replay of #{id} failed: {err}"));
                break;
            }
        }
    }
    drop(replayer);
    writer_thread.join().await;
    result
}

/// `taskhook export`: HAR 1.2, JSON lines or a curl script on stdout.
pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let store = Store::open_read_only(&args.db)?;
    let filter = RequestFilter {
        limit: args.limit.clamp(1, 10_000),
        task_sid: args.task.clone(),
        kind: args.kind,
        ..RequestFilter::default()
    };
    let format = match args.format {
        ExportFormat::Har => export::Format::Har,
        ExportFormat::Jsonl => export::Format::Jsonl,
        ExportFormat::Curl => export::Format::Curl,
    };
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    export::write_export(&store, &filter, format, &args.base, out)?;
    Ok(())
}

/// The sim's credentials: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN when both are set (so the
/// same values work against Twilio and the sim), else generated.
fn sim_credentials() -> (String, AuthToken) {
    match (
        std::env::var("TWILIO_ACCOUNT_SID"),
        std::env::var("TWILIO_AUTH_TOKEN"),
    ) {
        (Ok(sid), Ok(token)) if sid.parse::<AccountSid>().is_ok() && !token.is_empty() => {
            (sid, AuthToken::new(token))
        }
        _ => SimConfig::generated_credentials(),
    }
}

/// The lines `taskhook sim` prints (design.md): where it is and how to sign in.
fn sim_lines(sim: &Sim) -> Vec<String> {
    vec![
        format!("sim: {}", sim.base_url()),
        format!("account_sid: {}", sim.account_sid()),
        // A local, per-run credential (or the one from the environment): printing it is the
        // point, so other clients can authenticate against the sim.
        format!("auth_token: {}", sim.auth_token().expose()),
        format!("workspace_sid: {}", sim.workspace_sid()),
        format!("workflow_sid: {}", sim.workflow_sid()),
    ]
}

/// `taskhook sim`: the local TaskRouter alone, until Ctrl-C.
pub async fn sim(args: SimArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.reservation_timeout > 0,
        "--reservation-timeout must be at least 1 second"
    );
    let (account_sid, auth_token) = sim_credentials();
    let sim = Sim::start(SimConfig {
        listen: args.listen,
        account_sid,
        auth_token,
        assignment_callback_url: args.assignment_callback_url,
        event_callback_url: args.event_callback_url,
        reservation_timeout: Duration::from_secs(args.reservation_timeout),
    })
    .await
    .with_context(|| format!("cannot start the local TaskRouter on {}", args.listen))?;
    announce(&sim_lines(&sim));
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}

/// `taskhook demo`: sim + serve wired together, and the quickstart's task created.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.reservation_timeout > 0,
        "--reservation-timeout must be at least 1 second"
    );
    let (account_sid, auth_token) = sim_credentials();
    let sim = Sim::start(SimConfig {
        listen: args.sim_listen,
        account_sid,
        auth_token,
        assignment_callback_url: None,
        event_callback_url: None,
        reservation_timeout: Duration::from_secs(args.reservation_timeout),
    })
    .await
    .with_context(|| {
        format!(
            "cannot start the local TaskRouter on {} (--sim-listen)",
            args.sim_listen
        )
    })?;

    let mut config = Config::new(args.listen, args.db.clone());
    config.inspector.listen = args.inspector;
    if let Some(token) = &args.inspector_token {
        config.inspector.token = InspectorToken::fixed(token)?;
    }
    let credentials =
        Credentials::auth_token(&sim.account_sid().parse()?, sim.auth_token().clone());
    config.taskrouter.base_url = sim.base_url();
    config.taskrouter.credentials = Some(credentials.clone());
    config.taskrouter.workspace = Some(sim.workspace_sid().parse()?);
    config.capture.signature_token = Some(sim.auth_token().clone());
    config.reservation_timeout = Duration::from_secs(args.reservation_timeout);
    let app = App::build(config).await?;

    // Point the sim's callbacks at the capture listener through its REST API, as one would
    // configure a real Workflow and Workspace.
    let capture = format!("http://{}", app.capture_addr());
    let client = Client::new(&sim.base_url(), Some(credentials), Duration::from_secs(5))?;
    let workspace = format!("/v1/Workspaces/{}", sim.workspace_sid());
    for (path, name, url) in [
        (
            format!("{workspace}/Workflows/{}", sim.workflow_sid()),
            "AssignmentCallbackUrl",
            format!("{capture}/assignment"),
        ),
        (
            workspace.clone(),
            "EventCallbackUrl",
            format!("{capture}/events"),
        ),
    ] {
        let call = Call {
            method: reqwest::Method::POST,
            path,
            params: vec![(name.to_owned(), url)],
        };
        client
            .send(&call)
            .await
            .with_context(|| format!("cannot set the sim's {name}"))?;
    }

    let mut lines = sim_lines(&sim);
    lines.push(format!("capture: {capture}"));
    lines.push(format!("inspector: {}", app.inspector_url()));
    announce(&lines);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    // The quickstart's task: Alice speaks Spanish, so she is reserved for it.
    let task = sim.create_task(r#"{"selected_language":"es"}"#).await?;
    announce(&[format!("task: {task}")]);
    tracing::info!("open the inspector URL above and click Accept on Alice's reservation");

    shutdown_signal().await;
    let _ = stop.send(());
    let _ = running.await;
    sim.shutdown().await;
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
            row.task_sid.as_ref().map_or("-", |s| s.as_str()),
            row.reservation_sid.as_ref().map_or("-", |s| s.as_str()),
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
