//! `taskhook restore`: settle what a killed `serve --connect` left behind.

use crate::cli::RestoreArgs;
use crate::store::{Store, StoreOptions};

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.db.exists(),
        "no database at {} (pass the --db that `serve --connect` used)",
        args.db.display()
    );
    let store = {
        let db = args.db.clone();
        tokio::task::spawn_blocking(move || Store::open(&db, StoreOptions::default())).await??
    };
    let credentials = crate::env::twilio_credentials()?;
    let outcomes =
        crate::connect::restore(&store, credentials, crate::defaults::TASKROUTER_TIMEOUT).await?;
    if outcomes.is_empty() {
        super::announce(&["nothing to restore".to_owned()]);
    }
    super::announce(&outcomes.iter().map(ToString::to_string).collect::<Vec<_>>());
    Ok(())
}
