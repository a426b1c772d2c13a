//! Form/JSON/query parameter collection and callback classification
//! (`taskhook::taskrouter::callback`): total over any bytes, and the derived columns obey
//! their documented rules (only well-formed SIDs, EventType capped, kind consistent).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use taskhook::store::models::Kind;
use taskhook::taskrouter::callback::{Params, derive, is_form, search_text};
use taskhook::taskrouter::sid::is_sid;

#[derive(Arbitrary, Debug)]
enum ContentType<'a> {
    Absent,
    Form,
    FormCharset,
    Json,
    Other(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    path: &'a str,
    query: Option<&'a str>,
    content_type: ContentType<'a>,
    body: &'a [u8],
}

/// An independent statement of the SID rule: prefix + 32 ASCII hex digits.
fn well_formed(value: &str, prefix: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 34
        && &bytes[..2] == prefix.as_bytes()
        && bytes[2..]
            .iter()
            .all(|b| b"0123456789abcdefABCDEF".contains(b))
}

fuzz_target!(|input: Input<'_>| {
    let content_type: Option<&[u8]> = match input.content_type {
        ContentType::Absent => None,
        ContentType::Form => Some(b"application/x-www-form-urlencoded"),
        ContentType::FormCharset => Some(b"application/x-www-form-urlencoded; charset=utf-8"),
        ContentType::Json => Some(b"application/json"),
        ContentType::Other(ct) => Some(ct),
    };
    let params = Params::collect(input.query, content_type, input.body);
    let derived = derive(&params);

    // Kind follows EventType, then ReservationSid.
    match derived.kind {
        Kind::Event => assert!(derived.event_type.is_some()),
        Kind::Assignment => {
            assert!(derived.event_type.is_none());
            assert!(params.first("ReservationSid").is_some());
            assert_eq!(derived.reservation_status, Some("pending"));
        }
        Kind::Other => {
            assert!(derived.event_type.is_none());
            assert!(params.first("ReservationSid").is_none());
            assert_eq!(derived.reservation_status, None);
        }
    }
    if let Some(event_type) = &derived.event_type {
        assert!(event_type.chars().count() <= 100);
        assert!(!event_type.is_empty());
    }
    if let Some(name) = &derived.worker_name {
        assert!(name.chars().count() <= 100);
    }

    // Only well-formed SIDs reach the indexed columns (and from there REST URLs), and each is
    // exactly the first value shown for its parameter.
    for (value, name, prefix) in [
        (&derived.account_sid, "AccountSid", "AC"),
        (&derived.workspace_sid, "WorkspaceSid", "WS"),
        (&derived.task_sid, "TaskSid", "WT"),
        (&derived.reservation_sid, "ReservationSid", "WR"),
        (&derived.worker_sid, "WorkerSid", "WK"),
    ] {
        let first = params.first(name);
        match value {
            Some(sid) => {
                assert!(well_formed(sid, prefix), "{sid:?}");
                assert_eq!(Some(sid.as_str()), first);
            }
            None => assert!(first.is_none_or(|v| !well_formed(v, prefix))),
        }
        if let Some(v) = first {
            assert_eq!(is_sid(v, prefix), well_formed(v, prefix), "{v:?}");
            assert!(!v.is_empty());
        }
    }

    let text = search_text(input.path, &params, is_form(content_type), input.body);
    assert!(text.starts_with(input.path));
});
