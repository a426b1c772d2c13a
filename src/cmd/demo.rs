//! `taskhook demo`: sim + serve wired together, and the quickstart's task created.

use std::time::Duration;

use anyhow::Context;

use crate::cli::{DemoArgs, EventsVia};
use crate::config::Config;
use crate::inspector::guard::InspectorToken;
use crate::sim::{Sim, SimConfig};
use crate::startup::{App, shutdown_signal};
use crate::taskrouter::client::{Call, Client, Credentials};

pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let sim = Sim::start(SimConfig {
        listen: args.sim_listen,
        ..super::sim::config(args.reservation_timeout)?
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
    let client = Client::new(
        &sim.base_url(),
        Some(credentials.clone()),
        Duration::from_secs(5),
    )?;
    let workspace = format!("/v1/Workspaces/{}", sim.workspace_sid());
    let streams = args.events == Some(EventsVia::Streams);
    let mut settings = vec![(
        format!("{workspace}/Workflows/{}", sim.workflow_sid()),
        "AssignmentCallbackUrl",
        format!("{capture}/assignment"),
    )];
    if !streams {
        settings.push((
            workspace.clone(),
            "EventCallbackUrl",
            format!("{capture}/events"),
        ));
    }
    for (path, name, url) in settings {
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

    // `--events streams`: the events come as Event Streams batches to a sink on the sim,
    // made (and deleted at exit) the way `serve --connect --events streams` does it.
    let store = app.store().clone();
    if streams {
        let (sink, subscription) =
            crate::connect::connect_streams(&store, &client, &capture).await?;
        tracing::info!(sink, subscription, "events arrive through Event Streams");
    }

    let mut lines = super::sim::lines(&sim);
    lines.push(format!("capture: {capture}"));
    lines.push(format!("inspector: {}", app.inspector_url()));
    super::announce(&lines);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    // The quickstart's task: Alice speaks Spanish, so she is reserved for it.
    let task = sim.create_task(r#"{"selected_language":"es"}"#).await?;
    super::announce(&[format!("task: {task}")]);
    tracing::info!("open the inspector URL above and click Accept on Alice's reservation");

    shutdown_signal().await;
    if streams
        && let Err(err) =
            crate::connect::restore(&store, Some(credentials), Duration::from_secs(5)).await
    {
        tracing::warn!(error = %err, "could not delete the demo's Event Streams sink");
    }
    let _ = stop.send(());
    let _ = running.await;
    sim.shutdown().await;
    Ok(())
}
