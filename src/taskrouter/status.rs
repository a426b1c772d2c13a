//! TaskRouter's closed vocabularies as enums: what kind of callback a request is, a
//! reservation's status, a task's assignment status, and the actions taskhook takes on the
//! user's behalf. Each has `as_str` (the stored and serialized spelling) and `FromStr`, so a
//! wrong string can't be written and an unknown one is refused where it enters.

use serde::{Deserialize, Serialize};
use strum::{AsRefStr, Display, EnumString, IntoStaticStr};

/// Derives `as_str` from strum's `IntoStaticStr` (the same spelling serde uses).
macro_rules! as_str {
    ($($t:ty),*) => {$(
        impl $t {
            /// The stored and serialized spelling.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    )*};
}

/// What kind of callback a request is, derived from its parameters.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    AsRefStr,
    IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Kind {
    /// A Workflow assignment callback: `ReservationSid` present, no `EventType`.
    Assignment,
    /// A Workspace event callback (`EventType` present), or an Event Streams CloudEvent.
    Event,
    /// Anything else.
    Other,
}

/// A reservation's status (reference §2.4; `reservation_status` in REST answers).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    AsRefStr,
    IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ReservationStatus {
    Pending,
    Accepted,
    Rejected,
    Timeout,
    Canceled,
    Rescinded,
    Wrapping,
    Completed,
    Failed,
}

impl ReservationStatus {
    /// The status a reservation event reports, if `event_type` is one.
    pub fn from_event(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "reservation.created" => Self::Pending,
            "reservation.accepted" => Self::Accepted,
            "reservation.rejected" => Self::Rejected,
            "reservation.timeout" => Self::Timeout,
            "reservation.canceled" => Self::Canceled,
            "reservation.rescinded" => Self::Rescinded,
            "reservation.completed" => Self::Completed,
            "reservation.wrapup" => Self::Wrapping,
            "reservation.failed" => Self::Failed,
            _ => return None,
        })
    }

    /// True while the worker may still accept or reject.
    pub fn is_pending(self) -> bool {
        self == Self::Pending
    }
}

/// A task's `assignment_status`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    AsRefStr,
    IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum AssignmentStatus {
    Pending,
    Reserved,
    Assigned,
    Wrapping,
    Completed,
    Canceled,
}

/// What taskhook does through the REST API on the user's behalf (the audit trail's `action`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    AsRefStr,
    IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ActionKind {
    /// `ReservationStatus=accepted`.
    Accept,
    /// `ReservationStatus=rejected`.
    Reject,
    /// Fetch the reservation's live state.
    Refresh,
    /// `AssignmentStatus=completed`.
    Complete,
    /// `AssignmentStatus=canceled`.
    Cancel,
    /// `AssignmentStatus=wrapping`: the worker is done talking, wrap-up begins.
    Wrapup,
    /// A worker's `ActivitySid` changed from the workbench.
    #[serde(rename = "set_activity")]
    #[strum(serialize = "set_activity")]
    SetActivity,
    /// A task created from the workbench.
    #[serde(rename = "create_task")]
    #[strum(serialize = "create_task")]
    CreateTask,
    /// What assignment callbacks are answered with was switched (no REST call).
    Responder,
}

impl ActionKind {
    /// The task status a task action asks for; `None` for reservation actions.
    pub fn task_status(self) -> Option<AssignmentStatus> {
        match self {
            Self::Complete => Some(AssignmentStatus::Completed),
            Self::Cancel => Some(AssignmentStatus::Canceled),
            Self::Wrapup => Some(AssignmentStatus::Wrapping),
            Self::Accept
            | Self::Reject
            | Self::Refresh
            | Self::SetActivity
            | Self::CreateTask
            | Self::Responder => None,
        }
    }

    /// True for the actions on a reservation (accept, reject, refresh).
    pub fn on_reservation(self) -> bool {
        matches!(self, Self::Accept | Self::Reject | Self::Refresh)
    }
}

as_str!(Kind, ReservationStatus, AssignmentStatus, ActionKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_ones_are_refused() {
        for kind in [Kind::Assignment, Kind::Event, Kind::Other] {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert_eq!(ReservationStatus::Wrapping.as_str(), "wrapping");
        assert_eq!(
            serde_json::to_string(&ReservationStatus::Timeout).unwrap(),
            "\"timeout\""
        );
        assert!("Accepted".parse::<ReservationStatus>().is_err());
        assert_eq!("cancel".parse::<ActionKind>(), Ok(ActionKind::Cancel));
        assert!("delete".parse::<ActionKind>().is_err());
        assert_eq!(
            ActionKind::Complete.task_status(),
            Some(AssignmentStatus::Completed)
        );
        assert_eq!(ActionKind::Accept.task_status(), None);
        assert_eq!(
            "set_activity".parse::<ActionKind>(),
            Ok(ActionKind::SetActivity)
        );
        assert_eq!(ActionKind::CreateTask.as_str(), "create_task");
        assert!(!ActionKind::Responder.on_reservation());
        assert_eq!(ActionKind::Responder.task_status(), None);
    }

    #[test]
    fn reservation_events_report_their_status() {
        assert_eq!(
            ReservationStatus::from_event("reservation.wrapup"),
            Some(ReservationStatus::Wrapping)
        );
        assert_eq!(ReservationStatus::from_event("task.created"), None);
    }
}
