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
    } else if us < 3_600_000_000 {
        format!("{} m {:02} s", us / 60_000_000, (us / 1_000_000) % 60)
    } else if us < 86_400_000_000 {
        format!("{} h {:02} m", us / 3_600_000_000, (us / 60_000_000) % 60)
    } else {
        format!(
            "{} d {:02} h",
            us / 86_400_000_000,
            (us / 3_600_000_000) % 24
        )
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
                    Ok(_) => (pretty_json(&value), false),
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

/// A body as shown, in three views of the same bytes: Pretty (JSON re-indented from the bytes
/// themselves, so keys keep their order, duplicates and number literals stay as sent; form
/// fields one per line, decoded), Raw (the bytes as text) and Hex. Each shows at most
/// [`MAX_INLINE`] bytes of the body; `cut` says so, and the page links the exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyView {
    /// What the body's own tab shows first: pretty when there is one, else raw or hex.
    pub text: String,
    /// "json", "form", "text" or "hex" (not UTF-8).
    pub format: &'static str,
    /// Re-indented JSON or decoded form fields; `None` when the body is neither.
    pub pretty: Option<String>,
    /// The shown bytes as text, lossily decoded, control characters made visible.
    pub raw: String,
    /// Hex dump of the first [`MAX_HEX`] bytes.
    pub hex: String,
    /// Bytes stored.
    pub total: usize,
    /// Bytes shown in Pretty and Raw.
    pub shown: usize,
    /// Bytes shown in Hex.
    pub hex_shown: usize,
}

impl BodyView {
    /// Only part of the body is on the page.
    pub fn cut(&self) -> bool {
        self.shown < self.total
    }

    /// "showing the first 256 KiB of 300.1 KiB (307,216 bytes)".
    pub fn cut_note(&self) -> String {
        format!(
            "showing the first {} of {} ({} bytes)",
            size(self.shown as u64),
            size(self.total as u64),
            thousands(self.total as u64)
        )
    }

    /// The tab the body opens on: "pretty", "raw" or "hex".
    pub fn first_tab(&self) -> &'static str {
        match (&self.pretty, self.format) {
            (Some(_), _) => "pretty",
            (None, "hex") => "hex",
            (None, _) => "raw",
        }
    }

    /// The page leaves out tab `tab` (fetched when chosen): the body is large and that tab is
    /// not the one it opens on.
    pub fn lazy(&self, tab: &str) -> bool {
        self.shown.max(self.hex_shown) > LAZY_OVER && self.first_tab() != tab
    }

    /// "Hex of the first 16 KiB of 300.1 KiB", when the hex dump is shorter than the body.
    pub fn hex_note(&self) -> Option<String> {
        (self.hex_shown < self.total).then(|| {
            format!(
                "hex of the first {} of {}",
                size(self.hex_shown as u64),
                size(self.total as u64)
            )
        })
    }
}

/// Largest body rendered inline; the API and exports have all of it.
pub const MAX_INLINE: usize = 256 * 1024;

/// Largest part of a body dumped as hex in a page (a hex dump is four times the bytes).
pub const MAX_HEX: usize = 16 * 1024;

/// Largest body validated as JSON before it is pretty-printed from its first bytes.
const MAX_JSON_CHECK: usize = 4 * 1024 * 1024;

/// Longest pretty view: indentation can make a small document much longer (128 levels of
/// nesting put 256 spaces before each one-byte line); past this the Raw tab has the rest.
const MAX_PRETTY: usize = 2 * MAX_INLINE;

/// Largest body embedded in a copy button or the replay editor.
pub const MAX_COPY: usize = 64 * 1024;

/// `body` is a JSON document (checked on all of it, not just the part shown).
fn is_json(body: &[u8]) -> bool {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    matches!(start.map(|i| body[i]), Some(b'{' | b'['))
        && body.len() <= MAX_JSON_CHECK
        // A parsed Value, not IgnoredAny: serde_json skips ignored values without its nesting
        // limit, and 100,000 levels would then be indented into gigabytes.
        && serde_json::from_slice::<serde_json::Value>(body).is_ok()
}

/// JSON re-indented token by token from its own text: key order, repeated keys, number
/// literals and string escapes stay exactly as sent (a parsed value would lose all four).
/// The caller has checked that `text` (or the document it begins) is JSON within serde_json's
/// nesting limit.
pub fn pretty_json(text: &str) -> Option<String> {
    let pretty = jsonxf::pretty_print(text).ok()?;
    let pretty = pretty.trim_end();
    Some(if pretty.len() > MAX_PRETTY {
        let mut end = MAX_PRETTY;
        while !pretty.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}\n… the pretty view stops here; Raw shows the rest",
            visible_text(&pretty[..end])
        )
    } else {
        visible_text(pretty)
    })
}

/// `1234567` → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The part of a body that Pretty and Raw show: at most [`MAX_INLINE`] bytes, ended before a
/// character cut in two; a binary body only as much as Hex shows.
fn shown_part(body: &[u8]) -> &[u8] {
    let mut shown = &body[..body.len().min(MAX_INLINE)];
    // A cut inside a multi-byte character is not binary data: end the text before it.
    if shown.len() < body.len()
        && let Err(err) = std::str::from_utf8(shown)
        && err.error_len().is_none()
    {
        shown = &shown[..err.valid_up_to()];
    }
    // Binary shown as text is mostly replacement characters (three bytes each): a binary body
    // shows as much raw as hex, and the note says so.
    if std::str::from_utf8(shown).is_err() {
        shown = &body[..body.len().min(MAX_HEX)];
    }
    shown
}

/// The Raw tab's text of a body, exactly as [`body_view`] has it: for the Raw tab of a body
/// over [`LAZY_OVER`], which the page fetches when the tab is chosen instead of carrying it.
pub fn raw_text(body: &[u8]) -> String {
    visible_text(&String::from_utf8_lossy(shown_part(body)))
}

/// The Hex tab's dump of a body, exactly as [`body_view`] has it (fetched like [`raw_text`]).
pub fn hex_text(body: &[u8]) -> String {
    hex_dump(&body[..body.len().min(MAX_HEX)])
}

/// Past this many shown bytes, a page carries only the tab a body opens on (Pretty, else Raw
/// or Hex) and fetches the others when chosen: a large JSON body is sent once, not twice.
pub const LAZY_OVER: usize = 16 * 1024;

/// `form` says the body is form-encoded (from its Content-Type), so Pretty decodes it.
pub fn body_view(body: &[u8], form: bool) -> BodyView {
    let shown = shown_part(body);
    let hex = hex_text(body);
    let raw = visible_text(&String::from_utf8_lossy(shown));
    let (format, pretty) = match std::str::from_utf8(shown) {
        Ok(text) if is_json(body) => ("json", pretty_json(text)),
        Ok(text) if form && !text.is_empty() => ("form", Some(form_lines(shown))),
        Ok(_) => ("text", None),
        Err(_) => ("hex", None),
    };
    let text = match (&pretty, format) {
        (Some(p), _) => p.clone(),
        (None, "hex") => hex.clone(),
        (None, _) => raw.clone(),
    };
    BodyView {
        text,
        format,
        pretty,
        raw,
        hex,
        total: body.len(),
        shown: shown.len(),
        hex_shown: body.len().min(MAX_HEX),
    }
}

/// Form fields one per line, `name = value`, decoded and made visible.
fn form_lines(body: &[u8]) -> String {
    let mut out = String::new();
    for (name, value) in form_urlencoded::parse(body) {
        out.push_str(&visible(&name));
        out.push_str(" = ");
        out.push_str(&visible(&value));
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
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
        assert_eq!(gap(7_380_000_000), "2 h 03 m");
        assert_eq!(
            gap(29_000_000_000_000),
            "335 d 15 h",
            "long gaps stay short"
        );
        assert_eq!(size(3277), "3.2 KiB");
    }

    #[test]
    fn non_utf8_bodies_become_a_hex_dump_and_json_is_pretty() {
        let view = body_view(b"\xff\x00ab", false);
        assert_eq!(view.format, "hex");
        assert!(
            view.text.starts_with("00000000  ff 00 61 62"),
            "{}",
            view.text
        );
        assert!(view.text.trim_end().ends_with("..ab"));
        assert_eq!(view.raw, "\u{fffd}\\u{0}ab", "raw: lossy, NUL made visible");
        let mut binary = vec![0xffu8; MAX_INLINE * 2];
        binary[0] = 0;
        let big = body_view(&binary, false);
        assert_eq!(
            (big.format, big.shown, big.hex_shown),
            ("hex", MAX_HEX, MAX_HEX)
        );
        assert!(
            big.cut_note()
                .starts_with("showing the first 16.0 KiB of 512.0 KiB")
        );
        let json = body_view(br#"{"a":[1,2]}"#, false);
        assert_eq!(json.format, "json");
        assert!(json.text.contains("\n  \"a\": ["));
        assert_eq!(body_view(b"{broken", false).format, "text");
    }

    #[test]
    fn json_keeps_its_key_order_repeated_keys_and_number_literals() {
        let body = br#"{"zeta":1,"alpha":{"b":2,"a":1},"zeta":3,"big":123456789012345678901234567890,"f":1.50}"#;
        let view = body_view(body, false);
        assert_eq!(
            view.pretty.as_deref(),
            Some(
                "{\n  \"zeta\": 1,\n  \"alpha\": {\n    \"b\": 2,\n    \"a\": 1\n  },\n  \"zeta\": 3,\n  \"big\": 123456789012345678901234567890,\n  \"f\": 1.50\n}"
            )
        );
        assert_eq!(view.raw, std::str::from_utf8(body).unwrap());
    }

    #[test]
    fn a_json_body_over_the_display_limit_is_pretty_from_its_first_bytes_and_says_so() {
        let mut body = br#"{"zeta":1,"items":["#.to_vec();
        while body.len() < MAX_INLINE + 1000 {
            body.extend_from_slice(br#""abc","#);
        }
        body.extend_from_slice(br#""end"]}"#);
        let view = body_view(&body, false);
        assert_eq!(view.format, "json");
        assert!(view.cut());
        assert_eq!(view.shown, MAX_INLINE);
        assert_eq!(view.total, body.len());
        assert!(
            view.pretty
                .as_deref()
                .unwrap()
                .starts_with("{\n  \"zeta\": 1,")
        );
        assert_eq!(
            view.cut_note(),
            format!(
                "showing the first 256.0 KiB of 257.0 KiB ({} bytes)",
                thousands(body.len() as u64)
            )
        );
        assert_eq!(view.hex_shown, MAX_HEX);
        assert!(!body_view(b"{}", false).cut());
    }

    #[test]
    fn deeply_nested_json_is_raw_text_and_deep_but_legal_json_stays_small() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let view = body_view(deep.as_bytes(), false);
        assert_eq!(view.format, "text", "past serde_json's nesting limit");
        assert!(view.text.len() <= MAX_INLINE);
        // 100 levels, repeated: every line indented, the pretty view capped.
        let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let body = format!("[{}]", vec![nested; 1200].join(","));
        let view = body_view(body.as_bytes(), false);
        assert_eq!(view.format, "json");
        let pretty = view.pretty.unwrap();
        assert!(pretty.len() < MAX_PRETTY + 100, "{}", pretty.len());
        assert!(pretty.ends_with("Raw shows the rest"));
    }

    #[test]
    fn form_bodies_are_pretty_one_decoded_field_per_line() {
        let view = body_view(b"EventType=task.created&Name=%3Cb%3E+x&Bad=%1b", true);
        assert_eq!(view.format, "form");
        assert_eq!(
            view.pretty.as_deref(),
            Some("EventType = task.created\nName = <b> x\nBad = \\u{1b}")
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn a_long_text_body_cut_inside_a_character_is_still_text() {
        let mut body = vec![b'a'; MAX_INLINE - 1];
        body.extend_from_slice("é and more".as_bytes());
        let view = body_view(&body, false);
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
