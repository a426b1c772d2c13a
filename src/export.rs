//! Turning stored requests into things other tools take: a curl command that re-sends a
//! request exactly (headers in order, body bytes included).

use crate::store::models::StoredRequest;

/// Headers curl computes itself, or that would be wrong for the new target.
const SKIPPED: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];

/// A shell command that re-sends `request` to `base` (e.g. `http://127.0.0.1:8088`).
///
/// Every captured value is quoted with bash's `$'…'` form, in which only `\xHH` escapes and
/// plain printable ASCII appear, so no captured byte can end the quote or run a command
/// (mitmproxy's 2019 "export as curl" injection).
pub fn curl_command(request: &StoredRequest, base: &str) -> String {
    let s = &request.summary;
    let mut url = format!("{base}{}", s.path);
    if let Some(query) = &s.query {
        url.push('?');
        url.push_str(query);
    }
    let mut parts = vec![
        "curl".to_owned(),
        "-sS".to_owned(),
        "-X".to_owned(),
        quote(s.method.as_bytes()),
        quote(url.as_bytes()),
    ];
    for header in &request.headers {
        if SKIPPED.contains(&header.name.to_ascii_lowercase().as_str()) {
            continue;
        }
        let mut line = header.name.as_bytes().to_vec();
        line.extend_from_slice(b": ");
        line.extend_from_slice(&header.value);
        parts.push("-H".to_owned());
        parts.push(quote(&line));
    }
    if !request.body.is_empty() {
        parts.push("--data-binary".to_owned());
        parts.push(quote(&request.body));
    }
    parts.join(" ")
}

/// bash ANSI-C quoting: `$'…'` with everything outside safe printable ASCII as `\xHH`.
fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push_str("$'");
    for &b in bytes {
        if (b.is_ascii_alphanumeric() || b" -_./:=&?%+,;@~*()[]{}<>#|".contains(&b)) && b != b'\'' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_no_way_out_of_the_string() {
        assert_eq!(quote(b"a'b"), "$'a\\x27b'");
        assert_eq!(
            quote(b"$(rm -rf /)`x`\\"),
            "$'\\x24(rm -rf /)\\x60x\\x60\\x5c'"
        );
        assert_eq!(quote(b"\xff\0\n"), "$'\\xff\\x00\\x0a'");
    }
}
