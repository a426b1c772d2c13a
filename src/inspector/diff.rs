//! Two stored requests side by side: a replay against its original, or any request against one
//! the user pinned. Form fields and headers are compared by name (in the order they were sent,
//! repeats kept), bodies line by line on their pretty views (the `similar` crate), so a changed
//! attribute shows as one changed line. Pure functions over stored rows; every value is
//! attacker-controlled and only ever becomes template text.

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

use super::view;
use crate::store::models::StoredRequest;
use crate::taskrouter::signature::is_form;
use crate::wire;

/// How one named value (a field or a header) differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueChange {
    pub name: String,
    /// `None`: not in that request.
    pub before: Option<String>,
    pub after: Option<String>,
    /// "same", "changed", "added" or "removed".
    pub change: &'static str,
}

/// One line of the body diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// "same", "added" or "removed".
    pub change: &'static str,
    /// "+", "-" or " ".
    pub sign: &'static str,
    pub text: String,
}

/// What the Diff tab shows.
#[derive(Debug, Clone)]
pub struct DiffView {
    /// The request compared against (the "before" side).
    pub against: i64,
    pub against_label: String,
    /// Why these two: "replay of" or "pinned".
    pub reason: &'static str,
    pub fields: Vec<ValueChange>,
    pub headers: Vec<ValueChange>,
    pub body: Vec<Line>,
    /// Lines that are equal and far from any change, folded away.
    pub body_folded: usize,
    pub body_same: bool,
    pub changed: usize,
}

/// Lines of context kept around each changed body line.
const CONTEXT: usize = 3;

/// Longest diff computation; past it `similar` gives a coarser (still correct) answer.
const DIFF_TIMEOUT: Duration = Duration::from_millis(300);

/// Headers that differ on every delivery and say nothing about the change.
const NOISY: [&str; 4] = [
    "content-length",
    "host",
    "x-taskhook-replay",
    "i-twilio-idempotency-token",
];

fn pairs_changes(before: &[(String, String)], after: &[(String, String)]) -> Vec<ValueChange> {
    let mut out: Vec<ValueChange> = Vec::new();
    let mut used = vec![false; after.len()];
    for (name, value) in before {
        let found = after
            .iter()
            .enumerate()
            .position(|(i, (n, _))| !used[i] && n == name);
        match found {
            Some(i) => {
                used[i] = true;
                let new = &after[i].1;
                out.push(ValueChange {
                    name: name.clone(),
                    before: Some(value.clone()),
                    after: Some(new.clone()),
                    change: if new == value { "same" } else { "changed" },
                });
            }
            None => out.push(ValueChange {
                name: name.clone(),
                before: Some(value.clone()),
                after: None,
                change: "removed",
            }),
        }
    }
    for (i, (name, value)) in after.iter().enumerate() {
        if !used[i] {
            out.push(ValueChange {
                name: name.clone(),
                before: None,
                after: Some(value.clone()),
                change: "added",
            });
        }
    }
    out
}

fn fields_of(r: &StoredRequest) -> Vec<(String, String)> {
    if !is_form(wire::content_type(&r.headers), &r.summary.method) {
        return Vec::new();
    }
    form_urlencoded::parse(&r.body)
        .take(view::MAX_FIELDS)
        .map(|(k, v)| (view::visible(&k), view::visible(&v)))
        .collect()
}

fn headers_of(r: &StoredRequest) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|h| !NOISY.contains(&h.name.to_ascii_lowercase().as_str()))
        .map(|h| {
            let (n, v) = view::header_text(h);
            (n.to_ascii_lowercase(), v)
        })
        .collect()
}

/// The text a body diff compares: the pretty view when there is one, else the raw text.
fn body_text(r: &StoredRequest) -> String {
    let b = view::body_view(
        &r.body,
        is_form(wire::content_type(&r.headers), &r.summary.method),
    );
    b.pretty.unwrap_or(b.raw)
}

/// `after` compared against `before`.
pub fn diff(before: &StoredRequest, after: &StoredRequest, reason: &'static str) -> DiffView {
    let fields = pairs_changes(&fields_of(before), &fields_of(after));
    let headers = pairs_changes(&headers_of(before), &headers_of(after));
    let (old, new) = (body_text(before), body_text(after));
    let text = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old.as_str(), new.as_str());
    let all: Vec<Line> = text
        .iter_all_changes()
        .map(|c| {
            let (change, sign) = match c.tag() {
                ChangeTag::Equal => ("same", " "),
                ChangeTag::Delete => ("removed", "-"),
                ChangeTag::Insert => ("added", "+"),
            };
            Line {
                change,
                sign,
                text: c.value().trim_end_matches(['\n', '\r']).to_owned(),
            }
        })
        .collect();
    // Keep changed lines and CONTEXT lines around them.
    let near: Vec<bool> = (0..all.len())
        .map(|i| {
            let lo = i.saturating_sub(CONTEXT);
            let hi = (i + CONTEXT + 1).min(all.len());
            all[lo..hi].iter().any(|l| l.change != "same")
        })
        .collect();
    let body_same = all.iter().all(|l| l.change == "same");
    let body: Vec<Line> = all
        .iter()
        .zip(&near)
        .filter(|(_, keep)| **keep)
        .map(|(l, _)| l.clone())
        .collect();
    let changed = fields.iter().filter(|c| c.change != "same").count()
        + headers.iter().filter(|c| c.change != "same").count()
        + all.iter().filter(|l| l.change != "same").count();
    DiffView {
        against: before.summary.id,
        against_label: format!(
            "#{} {} {}",
            before.summary.id,
            view::visible(&before.summary.method),
            view::truncate(&view::visible(&before.summary.path), 80)
        ),
        reason,
        body_folded: all.len() - body.len(),
        body_same,
        fields,
        headers,
        body,
        changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn named_values_are_matched_in_order_with_repeats() {
        let got = pairs_changes(
            &pairs(&[("a", "1"), ("b", "2"), ("b", "3"), ("gone", "x")]),
            &pairs(&[("b", "2"), ("a", "9"), ("b", "4"), ("new", "y")]),
        );
        let summary: Vec<(&str, &str)> = got.iter().map(|c| (c.name.as_str(), c.change)).collect();
        assert_eq!(
            summary,
            [
                ("a", "changed"),
                ("b", "same"),
                ("b", "changed"),
                ("gone", "removed"),
                ("new", "added")
            ]
        );
        assert_eq!(got[0].before.as_deref(), Some("1"));
        assert_eq!(got[0].after.as_deref(), Some("9"));
        assert_eq!(got[3].after, None);
    }
}
