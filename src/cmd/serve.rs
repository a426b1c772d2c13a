//! `taskhook serve`: bind, print the addresses, serve until SIGINT or SIGTERM.

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::startup::{App, shutdown_signal};

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(&args)?;
    let app = App::build(config).await?;
    super::announce(&[
        format!("capture: http://{}", app.capture_addr()),
        format!("inspector: {}", app.inspector_url()),
    ]);
    tracing::info!(db = %app.store().path().display(), "recording");
    app.run_until_stopped(shutdown_signal()).await;
    Ok(())
}
