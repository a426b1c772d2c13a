//! `taskhook replay`: send one request (or a task's callbacks, in order) again, re-signed for
//! the target with TWILIO_AUTH_TOKEN unless `--no-resign`; each replay is recorded.

use crate::cli::ReplayArgs;
use crate::replay::{ReplayConfig, ReplayEdits, Replayer};
use crate::store::{Store, StoreOptions};

use super::terminal_safe;

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
        token: crate::env::auth_token(),
        // A running `serve` has its own mark, so it records these as new requests; this
        // process records each replay itself.
        mark: crate::replay::ReplayMark::random(),
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
                result = Err(anyhow::Error::new(err).context(format!("replay of #{id} failed")));
                break;
            }
        }
    }
    drop(replayer);
    writer_thread.join().await;
    result
}
