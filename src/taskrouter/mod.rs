//! TaskRouter knowledge: SID formats, reading callback parameters (kind, EventType, SIDs) out
//! of captured bytes, and X-Twilio-Signature. Nothing here does I/O.

pub mod callback;
pub mod client;
pub mod sid;
pub mod signature;
