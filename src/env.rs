//! The one place taskhook reads its environment. Flags fall back to the `TASKHOOK_*` variables
//! named here (clap reads them, and `--help` shows each one); the Twilio credentials come only
//! from `TWILIO_*` variables, never from a flag, where other users could read them in `ps`.

use crate::taskrouter::client::{Credentials, CredentialsError};
use crate::taskrouter::sid::AccountSid;
use crate::taskrouter::signature::AuthToken;

pub const LISTEN: &str = "TASKHOOK_LISTEN";
pub const DB: &str = "TASKHOOK_DB";
pub const DEMO_DB: &str = "TASKHOOK_DEMO_DB";
pub const SYNC: &str = "TASKHOOK_SYNC";
pub const MAX_BODY: &str = "TASKHOOK_MAX_BODY";
pub const MAX_REQUESTS: &str = "TASKHOOK_MAX_REQUESTS";
pub const MAX_AGE: &str = "TASKHOOK_MAX_AGE";
pub const MAX_DB_SIZE: &str = "TASKHOOK_MAX_DB_SIZE";
pub const INSPECTOR: &str = "TASKHOOK_INSPECTOR";
pub const INSPECTOR_TOKEN: &str = "TASKHOOK_INSPECTOR_TOKEN";
pub const PUBLIC_URL: &str = "TASKHOOK_PUBLIC_URL";
pub const FORWARD: &str = "TASKHOOK_FORWARD";
pub const REPLAY_TO: &str = "TASKHOOK_REPLAY_TO";
pub const TASKROUTER_URL: &str = "TASKHOOK_TASKROUTER_URL";
pub const WORKSPACE_SID: &str = "TWILIO_WORKSPACE_SID";

const ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
const AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
const API_KEY: &str = "TWILIO_API_KEY";
const API_SECRET: &str = "TWILIO_API_SECRET";

/// A variable's value, or None when it is unset or blank.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// REST credentials: `TWILIO_ACCOUNT_SID` with `TWILIO_API_KEY` + `TWILIO_API_SECRET`, or with
/// `TWILIO_AUTH_TOKEN`. None when no account is named; an error when what is set is unusable.
pub fn twilio_credentials() -> Result<Option<Credentials>, CredentialsError> {
    Credentials::from_values(
        var(ACCOUNT_SID).as_deref(),
        var(AUTH_TOKEN).as_deref(),
        var(API_KEY).as_deref(),
        var(API_SECRET).as_deref(),
    )
}

/// `TWILIO_AUTH_TOKEN`: what X-Twilio-Signature is checked and re-signed with.
pub fn auth_token() -> Option<AuthToken> {
    var(AUTH_TOKEN).map(AuthToken::new)
}

/// `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` when both are set and the SID is well-formed
/// (the sim then accepts the same credentials as Twilio would).
pub fn account_and_token() -> Option<(AccountSid, AuthToken)> {
    let sid = var(ACCOUNT_SID)?.parse().ok()?;
    Some((sid, auth_token()?))
}
