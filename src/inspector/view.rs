//! Turns stored rows into what the pages show: short SIDs, relative times, decoded form fields,
//! pretty JSON attributes, body text or hex. Pure functions; every input is attacker-controlled,
//! so nothing here panics and nothing here emits markup (askama escapes all of it).

use crate::store::models::StoredRequest;
use crate::taskrouter::signature::is_form;
use crate::wire::{self, Header};

/// `WR0123…cdef` — enough to tell SIDs apart at a glance; the full value is copied.
pub fn short_sid(sid: &str) -> String {
    if sid.len() == 34 && sid.is_ascii() {
        format!("{}…{}", &sid[..6], &sid[30..])
    } else {
        sid.to_owned()
    }
}

/// "4s ago", "3m ago", "2h ago", "5d ago".
pub fn relative_time(then_us: i64, now_us: i64) -> String {
    let secs = (now_us - then_us).max(0) / 1_000_000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// A gap between two moments, compact: "850 ms", "12.3 s", "4 m 05 s".
pub fn gap(us: i64) -> String {
    let us = us.max(0);
    if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else if us < 60_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else {
        format!("{} m {:02} s", us / 60_000_000, (us / 1_000_000) % 60)
    }
}

/// Byte counts for people: "512 B", "3.2 KiB", "1.0 MiB".
pub fn size(bytes: u64) -> String {
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// One decoded form field. `pretty` holds indented JSON for the attribute fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Name and value as shown (control and bidi characters made visible).
    pub name: String,
    pub shown: String,
    /// The exact value, for the copy button.
    pub value: String,
    pub pretty: Option<String>,
    /// The value looked like JSON (an attributes field) but did not parse.
    pub invalid_json: bool,
}

/// Form fields whose values TaskRouter sends as JSON strings.
const JSON_FIELDS: [&str; 2] = ["TaskAttributes", "WorkerAttributes"];

/// Most form fields shown as table rows; a callback has a dozen or two, a hostile body can
/// have hundreds of thousands (the raw body and the API still have all of them).
pub const MAX_FIELDS: usize = 500;

/// Decoded form fields in body order, repeated keys included, at most [`MAX_FIELDS`]; empty
/// for non-form bodies.
pub fn form_fields(request: &StoredRequest) -> Vec<Field> {
    if !is_form(
        wire::content_type(&request.headers),
        &request.summary.method,
    ) || request.body.is_empty()
    {
        return Vec::new();
    }
    form_urlencoded::parse(&request.body)
        .take(MAX_FIELDS)
        .map(|(name, value)| {
            let (pretty, invalid_json) = if JSON_FIELDS.contains(&name.as_ref()) {
                match serde_json::from_str::<serde_json::Value>(&value) {
                    Ok(json) => (
                        serde_json::to_string_pretty(&json)
                            .ok()
                            .map(|p| visible_text(&p)),
                        false,
                    ),
                    Err(_) => (None, true),
                }
            } else {
                (None, false)
            };
            Field {
                name: visible(&name),
                shown: visible(&value),
                value: value.into_owned(),
                pretty,
                invalid_json,
            }
        })
        .collect()
}

/// A body as shown: text when it is UTF-8 (pretty-printed when it is JSON), else a hex dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyView {
    pub text: String,
    /// "text", "json" or "hex".
    pub format: &'static str,
}

/// Largest body rendered inline; the API and exports have all of it.
const MAX_INLINE: usize = 256 * 1024;

/// Largest body embedded in a copy button or the replay editor.
pub const MAX_COPY: usize = 64 * 1024;

pub fn body_view(body: &[u8]) -> BodyView {
    let mut shown = &body[..body.len().min(MAX_INLINE)];
    // A cut inside a multi-byte character is not binary data: end the text before it.
    if shown.len() < body.len()
        && let Err(err) = std::str::from_utf8(shown)
        && err.error_len().is_none()
    {
        shown = &shown[..err.valid_up_to()];
    }
    match std::str::from_utf8(shown) {
        Ok(text) => {
            let trimmed = text.trim_start();
            if (trimmed.starts_with('{') || trimmed.starts_with('['))
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(text)
                && let Ok(pretty) = serde_json::to_string_pretty(&json)
            {
                return BodyView {
                    text: visible_text(&pretty),
                    format: "json",
                };
            }
            BodyView {
                text: visible_text(text),
                format: "text",
            }
        }
        Err(_) => BodyView {
            text: hex_dump(shown),
            format: "hex",
        },
    }
}

/// Classic 16-bytes-per-line dump: offset, hex, printable ASCII.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 + 16);
    for (line, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", line * 16));
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}

/// A header for display: name and value, lossily decoded; control characters made visible.
pub fn header_text(header: &Header) -> (String, String) {
    (
        visible(&header.name),
        visible(&String::from_utf8_lossy(&header.value)),
    )
}

/// Replaces control characters (NUL, ESC, ...) and bidi overrides with visible escapes.
pub fn visible(text: &str) -> String {
    escape_hidden(text, false)
}

/// Like [`visible`], but keeps line breaks and tabs, for multi-line bodies.
pub fn visible_text(text: &str) -> String {
    escape_hidden(text, true)
}

fn escape_hidden(text: &str, keep_layout: bool) -> String {
    text.chars()
        .flat_map(|c| {
            let layout = keep_layout && matches!(c, '\n' | '\r' | '\t');
            let hidden = !layout && c.is_control()
                || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
            let shown: Vec<char> = if hidden {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect()
}

/// At most `max` characters of `text`, with `…` when cut (list cells stay one line and small
/// however long a captured path or query is).
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Number of form fields in a body (to say how many were left out).
pub fn form_field_count(body: &[u8]) -> usize {
    form_urlencoded::parse(body).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_sids_keep_prefix_and_tail() {
        assert_eq!(
            short_sid("WR0123456789abcdef0123456789abcdef"),
            "WR0123…cdef"
        );
        assert_eq!(
            short_sid("WRé"),
            "WRé",
            "odd values are shown whole, never sliced mid-char"
        );
    }

    #[test]
    fn times_and_sizes_read_naturally() {
        assert_eq!(relative_time(0, 4_000_000), "4s ago");
        assert_eq!(relative_time(0, 7_200_000_000), "2h ago");
        assert_eq!(relative_time(10, 0), "0s ago");
        assert_eq!(gap(850_000), "850 ms");
        assert_eq!(gap(12_340_000), "12.3 s");
        assert_eq!(gap(245_000_000), "4 m 05 s");
        assert_eq!(size(3277), "3.2 KiB");
    }

    #[test]
    fn non_utf8_bodies_become_a_hex_dump_and_json_is_pretty() {
        let view = body_view(b"\xff\x00ab");
        assert_eq!(view.format, "hex");
        assert!(
            view.text.starts_with("00000000  ff 00 61 62"),
            "{}",
            view.text
        );
        assert!(view.text.trim_end().ends_with("..ab"));
        let json = body_view(br#"{"a":[1,2]}"#);
        assert_eq!(json.format, "json");
        assert!(json.text.contains("\n  \"a\": ["));
        assert_eq!(body_view(b"{broken").format, "text");
    }

    #[test]
    fn a_long_text_body_cut_inside_a_character_is_still_text() {
        let mut body = vec![b'a'; MAX_INLINE - 1];
        body.extend_from_slice("é and more".as_bytes());
        let view = body_view(&body);
        assert_eq!(view.format, "text");
        assert_eq!(view.text.len(), MAX_INLINE - 1);
    }

    #[test]
    fn control_and_bidi_characters_are_made_visible() {
        assert_eq!(
            visible("a\u{1b}[0m\u{202e}b\0"),
            "a\\u{1b}[0m\\u{202e}b\\u{0}"
        );
    }
}
