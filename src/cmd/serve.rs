//! `taskhook serve`: bind, print the addresses (and the public URL when known), serve until
//! SIGINT or SIGTERM.

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
    let mut public = app.public_url();
    tokio::spawn(async move {
        // `--public-url` at once; a tunnel when found and each time its URL changes.
        loop {
            if let Some(found) = public.borrow_and_update().clone() {
                super::announce(&[format!("public: {}", found.url)]);
            }
            if public.changed().await.is_err() {
                return;
            }
        }
    });
    app.run_until_stopped(shutdown_signal()).await;
    Ok(())
}
