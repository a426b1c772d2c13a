//! TaskRouter knowledge: SIDs as types, the closed vocabularies (callback kind, reservation and
//! task statuses, actions), reading callback parameters out of captured bytes, X-Twilio-Signature,
//! and the REST client. Pure: nothing here imports the store, a listener or a page (the store
//! depends on this module, never the reverse), and only [`client`] does I/O.

pub mod callback;
pub mod client;
pub mod cloudevents;
pub mod sid;
pub mod signature;
pub mod status;
