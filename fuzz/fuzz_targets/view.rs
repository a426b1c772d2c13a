//! What the inspector shows of captured text (`taskhook::inspector::view`): control and bidi
//! characters are always made visible (README "Safety"), bodies and form fields render without
//! panicking whatever the bytes.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use taskhook::inspector::view::{
    body_view, form_fields, header_text, hex_dump, visible, visible_text,
};
use taskhook::store::models::{Header, Kind, RecordedResponse, RequestSummary, StoredRequest};

/// Unicode Bidi_Control characters (UAX #9) and the invisible format characters the README
/// promises to show as escapes.
fn hidden(c: char, keep_layout: bool) -> bool {
    if keep_layout && matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    text: &'a str,
    header_name: &'a str,
    header_value: &'a [u8],
    form: bool,
    body: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let shown = visible(input.text);
    assert!(!shown.chars().any(|c| hidden(c, false)), "{shown:?}");
    let shown = visible_text(input.text);
    assert!(!shown.chars().any(|c| hidden(c, true)), "{shown:?}");

    let (name, value) = header_text(&Header::new(input.header_name, input.header_value));
    assert!(!name.chars().chain(value.chars()).any(|c| hidden(c, false)));

    let view = body_view(input.body);
    assert!(!view.text.chars().any(|c| hidden(c, true)), "{view:?}");
    assert!(matches!(view.format, "text" | "json" | "hex"));
    let dump = hex_dump(input.body);
    assert_eq!(dump.lines().count(), input.body.len().div_ceil(16));

    let content_type = if input.form {
        "application/x-www-form-urlencoded"
    } else {
        "text/plain"
    };
    let request = StoredRequest {
        summary: RequestSummary {
            id: 1,
            received_at: String::new(),
            received_at_us: 0,
            remote_addr: String::new(),
            method: "POST".into(),
            path: "/".into(),
            query: None,
            status: 200,
            kind: Kind::Other,
            event_type: None,
            account_sid: None,
            workspace_sid: None,
            task_sid: None,
            reservation_sid: None,
            worker_sid: None,
            signature: "unchecked".into(),
            replay_of: None,
            replay_note: None,
            body_size: input.body.len() as u64,
            body_truncated: false,
            duration_us: 0,
            error: None,
        },
        signature_reason: None,
        http_version: "HTTP/1.1".into(),
        headers: vec![Header::new("Content-Type", content_type)],
        body: input.body.to_vec(),
        response: RecordedResponse {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        },
    };
    for field in form_fields(&request) {
        assert!(!field.name.chars().any(|c| hidden(c, false)), "{field:?}");
        assert!(!field.shown.chars().any(|c| hidden(c, false)), "{field:?}");
        if let Some(pretty) = &field.pretty {
            assert!(!pretty.chars().any(|c| hidden(c, true)), "{field:?}");
        }
    }
});
