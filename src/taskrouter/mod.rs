//! TaskRouter knowledge: SID formats and reading callback parameters (kind, EventType, SIDs)
//! out of captured bytes. Nothing here does I/O.

pub mod callback;
pub mod sid;
