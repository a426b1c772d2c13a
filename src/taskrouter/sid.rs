//! TaskRouter SIDs: a two-letter prefix and 32 hex digits (`^WR[0-9a-fA-F]{32}$`, reference
//! §3.7). Only values that pass [`is_sid`] are stored in the indexed SID columns or ever put into
//! a REST URL, so a hostile `ReservationSid=WR../../Accounts` never reaches a path.

/// The prefixes taskhook extracts and acts on.
pub const ACCOUNT: &str = "AC";
pub const WORKSPACE: &str = "WS";
pub const TASK: &str = "WT";
pub const RESERVATION: &str = "WR";
pub const WORKER: &str = "WK";

/// True when `value` is `prefix` followed by exactly 32 ASCII hex digits.
pub fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_prefix_plus_32_hex() {
        let good = "WR0123456789abcdef0123456789ABCDEF";
        assert!(is_sid(good, RESERVATION));
        assert!(!is_sid(good, TASK), "wrong prefix");
        assert!(!is_sid(&good[..33], RESERVATION), "31 hex digits");
        assert!(!is_sid(&format!("{good}0"), RESERVATION), "33 hex digits");
        assert!(
            !is_sid("wr0123456789abcdef0123456789abcdef", RESERVATION),
            "lowercase prefix"
        );
        assert!(!is_sid(
            "WR../../Accounts/AC0123456789abcdef01",
            RESERVATION
        ));
        assert!(!is_sid("WR0123456789abcdef0123456789abcde%2F", RESERVATION));
        // Non-ASCII digits: same char count, different byte length, must not pass or panic.
        assert!(!is_sid("WR0123456789abcdef0123456789abcde٣", RESERVATION));
        assert!(!is_sid("", RESERVATION));
    }
}
