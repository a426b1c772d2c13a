//! TaskRouter SIDs as types: a two-letter prefix and 32 hex digits (`^WR[0-9a-fA-F]{32}$`,
//! reference §3.7). A [`Sid`] can only hold a well-formed SID of its kind, so a hostile
//! `ReservationSid=WR../../Accounts` is refused where it enters (path, form, JSON, callback)
//! and can never reach a REST URL or an indexed column.
//!
//! One generic newtype with a prefix marker: `TaskSid` and `ReservationSid` are different
//! types, so passing one where the other is expected does not compile.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A SID kind: its two-letter prefix and what people call it.
pub trait Prefix: Copy + Eq + Hash + Send + Sync + 'static {
    const PREFIX: &'static str;
    /// The parameter name TaskRouter uses, for error messages (`TaskSid`).
    const NAME: &'static str;
}

macro_rules! prefixes {
    ($($marker:ident => $prefix:literal, $name:literal, $alias:ident;)*) => {$(
        #[doc = concat!("Marker for `", $prefix, "…` SIDs (", $name, ").")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $marker;
        impl Prefix for $marker {
            const PREFIX: &'static str = $prefix;
            const NAME: &'static str = $name;
        }
        #[doc = concat!("A well-formed ", $name, " (`", $prefix, "` + 32 hex digits).")]
        pub type $alias = Sid<$marker>;
    )*};
}

prefixes! {
    Account => "AC", "AccountSid", AccountSid;
    Workspace => "WS", "WorkspaceSid", WorkspaceSid;
    Task => "WT", "TaskSid", TaskSid;
    Reservation => "WR", "ReservationSid", ReservationSid;
    Worker => "WK", "WorkerSid", WorkerSid;
    Activity => "WA", "ActivitySid", ActivitySid;
    Workflow => "WW", "WorkflowSid", WorkflowSid;
    TaskQueue => "WQ", "TaskQueueSid", TaskQueueSid;
}

/// A SID of kind `P`. Parse with [`str::parse`]; it is checked once, then carried typed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid<P> {
    value: String,
    kind: PhantomData<P>,
}

/// Why a value is not a SID of the expected kind. Never repeats the value: it may be hostile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be {prefix} followed by 32 hex digits")]
pub struct InvalidSid {
    pub name: &'static str,
    pub prefix: &'static str,
}

impl<P: Prefix> Sid<P> {
    /// The SID as text, e.g. for a URL path segment (safe: prefix + hex only).
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The SID's kind name, e.g. `"TaskSid"`.
    pub fn name() -> &'static str {
        P::NAME
    }

    /// `Some` when `value` is a well-formed SID of this kind.
    pub fn parse_opt(value: &str) -> Option<Self> {
        value.parse().ok()
    }
}

/// True when `value` is `prefix` followed by exactly 32 ASCII hex digits: for SID kinds that
/// have no type here (API keys, the sim's many resources).
pub fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

impl<P: Prefix> FromStr for Sid<P> {
    type Err = InvalidSid;

    fn from_str(value: &str) -> Result<Self, InvalidSid> {
        if is_sid(value, P::PREFIX) {
            Ok(Self {
                value: value.to_owned(),
                kind: PhantomData,
            })
        } else {
            Err(InvalidSid {
                name: P::NAME,
                prefix: P::PREFIX,
            })
        }
    }
}

impl<P: Prefix> fmt::Display for Sid<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<P: Prefix> fmt::Debug for Sid<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", P::NAME, self.value)
    }
}

impl<P: Prefix> AsRef<str> for Sid<P> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl<P: Prefix> PartialEq<str> for Sid<P> {
    fn eq(&self, other: &str) -> bool {
        self.value == other
    }
}

impl<P: Prefix> PartialEq<&str> for Sid<P> {
    fn eq(&self, other: &&str) -> bool {
        self.value == *other
    }
}

impl<P: Prefix> Serialize for Sid<P> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de, P: Prefix> Deserialize<'de> for Sid<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Deserializes an optional SID where an empty string (an HTML form's empty field) means none.
pub fn empty_as_none<'de, D, P>(deserializer: D) -> Result<Option<Sid<P>>, D::Error>
where
    D: Deserializer<'de>,
    P: Prefix,
{
    let text = Option::<String>::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => value.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_prefix_plus_32_hex() {
        let good = "WR0123456789abcdef0123456789ABCDEF";
        assert_eq!(good.parse::<ReservationSid>().unwrap().as_str(), good);
        assert!(good.parse::<TaskSid>().is_err(), "wrong prefix");
        for bad in [
            &good[..33],
            &format!("{good}0"),
            "wr0123456789abcdef0123456789abcdef",
            "WR../../Accounts/AC0123456789abcdef01",
            "WR0123456789abcdef0123456789abcde%2F",
            // Non-ASCII digits: same char count, different byte length; must not pass or panic.
            "WR0123456789abcdef0123456789abcde٣",
            "",
        ] {
            assert!(bad.parse::<ReservationSid>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_kind_and_never_echo_the_value() {
        let err = "<script>".parse::<TaskSid>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "TaskSid must be WT followed by 32 hex digits"
        );
    }

    #[test]
    fn serde_round_trips_and_refuses_malformed_values() {
        let sid: WorkerSid =
            serde_json::from_str("\"WK0123456789abcdef0123456789abcdef\"").unwrap();
        assert_eq!(
            serde_json::to_string(&sid).unwrap(),
            "\"WK0123456789abcdef0123456789abcdef\""
        );
        assert!(serde_json::from_str::<WorkerSid>("\"WK1\"").is_err());
    }
}
