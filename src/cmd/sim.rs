//! `taskhook sim`: the local TaskRouter alone, until Ctrl-C.

use anyhow::Context;

use crate::cli::SimArgs;
use crate::sim::{Sim, SimConfig};
use crate::startup::shutdown_signal;
use crate::taskrouter::signature::AuthToken;

pub async fn sim(args: SimArgs) -> anyhow::Result<()> {
    let sim = Sim::start(SimConfig {
        listen: args.listen,
        assignment_callback_url: args.assignment_callback_url,
        event_callback_url: args.event_callback_url,
        ..config(args.reservation_timeout)?
    })
    .await
    .with_context(|| format!("cannot start the local TaskRouter on {}", args.listen))?;
    super::announce(&lines(&sim));
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}

/// A sim configuration with the environment's credentials (TWILIO_ACCOUNT_SID and
/// TWILIO_AUTH_TOKEN, so the same values work against Twilio and the sim) or generated ones.
pub(super) fn config(reservation_timeout_secs: u64) -> anyhow::Result<SimConfig> {
    anyhow::ensure!(
        reservation_timeout_secs > 0,
        "--reservation-timeout must be at least 1 second"
    );
    let (account_sid, auth_token): (String, AuthToken) = match crate::env::account_and_token() {
        Some((sid, token)) => (sid.to_string(), token),
        None => SimConfig::generated_credentials(),
    };
    Ok(SimConfig {
        account_sid,
        auth_token,
        reservation_timeout: std::time::Duration::from_secs(reservation_timeout_secs),
        ..SimConfig::new(crate::defaults::SIM)
    })
}

/// The lines `taskhook sim` prints (design.md): where it is and how to sign in.
pub(super) fn lines(sim: &Sim) -> Vec<String> {
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
