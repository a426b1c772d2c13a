//! `taskhook serve`: bind, print the addresses (and the public URL when known), serve until
//! SIGINT or SIGTERM. With `--connect`, point the workspace at taskhook once the public URL is
//! known, and put it back before stopping.

use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::startup::{App, shutdown_signal};
use crate::store::Store;
use crate::tunnel::PublicUrl;

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(&args)?;
    let connect = config.connect.clone();
    let events_via = config.events_via;
    let taskrouter = config.taskrouter.clone();
    let app = App::build(config).await?;
    super::announce(&[
        format!("capture: http://{}", app.capture_addr()),
        format!("inspector: {}", app.inspector_url()),
    ]);
    tracing::info!(db = %app.store().path().display(), "recording");
    let store = app.store().clone();
    let public = app.public_url();
    tokio::spawn(print_public_url(app.public_url()));

    let Some(workflows) = connect else {
        app.run_until_stopped(shutdown_signal()).await;
        return Ok(());
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let connected = tokio::select! {
        connected = connect_workspace(&store, &taskrouter, &workflows, events_via, public) => connected,
        () = &mut shutdown => Ok(()),
    };
    if connected.is_ok() {
        (&mut shutdown).await;
    }
    // Put the workspace back while still recording (its last events still arrive), then stop.
    let restored = restore(&store, &taskrouter).await;
    let _ = stop.send(());
    let _ = running.await;
    connected.and(restored)
}

/// `--public-url` at once; a tunnel when found and each time its URL changes.
async fn print_public_url(mut public: watch::Receiver<Option<PublicUrl>>) {
    loop {
        if let Some(found) = public.borrow_and_update().clone() {
            super::announce(&[format!("public: {}", found.url)]);
        }
        if public.changed().await.is_err() {
            return;
        }
    }
}

async fn connect_workspace(
    store: &Store,
    taskrouter: &crate::config::TaskRouterConfig,
    workflows: &[crate::taskrouter::sid::WorkflowSid],
    events_via: crate::cli::EventsVia,
    mut public: watch::Receiver<Option<PublicUrl>>,
) -> anyhow::Result<()> {
    // A killed run may have left the workspace pointing at an old tunnel.
    let left = restore_outcomes(store, taskrouter).await?;
    if !left.is_empty() {
        tracing::warn!(
            count = left.len(),
            "an earlier `serve --connect` did not restore the workspace; restored it now"
        );
    }
    if public.borrow().is_none() {
        tracing::warn!(
            "--connect is waiting for the tunnel's public URL: start `ngrok http` or \
             `cloudflared tunnel` for the capture port, or pass --public-url"
        );
    }
    let url = public
        .wait_for(Option::is_some)
        .await?
        .clone()
        .map(|p| p.url);
    let url = url.unwrap_or_default();
    let workspace = taskrouter
        .workspace
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--connect needs --workspace"))?;
    let streams = events_via == crate::cli::EventsVia::Streams;
    let changes = crate::connect::connect(
        store,
        &taskrouter.client()?,
        &workspace,
        workflows,
        &url,
        !streams,
    )
    .await?;
    // The workspace, then each Workflow repointed, then the sink and subscription.
    let mut sids = vec![workspace.to_string()];
    for change in &changes {
        let sid = change.resource_path.rsplit('/').next().unwrap_or_default();
        if !sids.iter().any(|s| s == sid) {
            sids.push(sid.to_owned());
        }
    }
    if streams {
        let (sink, subscription) =
            crate::connect::connect_streams(store, &taskrouter.events_client()?, &url).await?;
        sids.push(sink);
        sids.push(subscription);
    }
    super::announce(&[format!("connected: {}", sids.join(" "))]);
    Ok(())
}

async fn restore_outcomes(
    store: &Store,
    taskrouter: &crate::config::TaskRouterConfig,
) -> anyhow::Result<Vec<crate::connect::Restored>> {
    Ok(crate::connect::restore(store, taskrouter.credentials.clone(), taskrouter.timeout).await?)
}

async fn restore(
    store: &Store,
    taskrouter: &crate::config::TaskRouterConfig,
) -> anyhow::Result<()> {
    let outcomes = restore_outcomes(store, taskrouter).await?;
    super::announce(&outcomes.iter().map(ToString::to_string).collect::<Vec<_>>());
    Ok(())
}
