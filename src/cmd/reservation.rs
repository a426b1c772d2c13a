//! `taskhook accept` / `taskhook reject`: the inspector's buttons from the shell. The task and
//! workspace come from the recorded callbacks unless given; the call is recorded in the audit
//! trail like a click.

use crate::actions::{Actions, ReservationInput};
use crate::cli::ReservationArgs;
use crate::config::TaskRouterConfig;
use crate::store::{Store, StoreOptions};

/// Which way `taskhook accept` / `reject` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Reject,
}

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
    // The writer thread finishes once its last sender (inside `actions`) is gone.
    drop(actions);
    writer_thread.join().await;
    let outcome = outcome?;
    anyhow::ensure!(outcome.ok, "{}", super::terminal_safe(&outcome.summary));
    println!("{}", super::terminal_safe(&outcome.summary));
    Ok(())
}
