//! Full-text search that can stop at the first page.
//!
//! Search is a phrase with a prefix match on its last word (`"task wt1a" *`). FTS5 answers a
//! prefix query by first merging the whole list of every matching term into memory, so a word
//! that is in every row (`inbound`) cost 36 ms at a million rows however few rows the page
//! shows, and 172 ms combined with a filter. A phrase made of whole terms is read lazily,
//! newest first, and stops at the page size.
//!
//! So the last word's completions are looked up in the index's term list (`requests_fts_vocab`,
//! migration 08) and the prefix becomes an OR of whole-term phrases — the same rows, read
//! lazily. The term list is asked only for terms *longer* than the word, which are usually few
//! and rare; with many completions (a partial SID or phone number) the prefix query stays, and
//! then it is cheap anyway, because each completion is rare.

use rusqlite::{Connection, params};

/// Most completions of the last word spelled out; past this the prefix query is used.
const MAX_COMPLETIONS: usize = 16;

/// The FTS5 MATCH expression for user text `q` (already trimmed, not empty). User text is
/// never parsed as FTS5 syntax: it is always quoted.
pub(super) fn match_expression(conn: &Connection, q: &str) -> rusqlite::Result<String> {
    let Some(tokens) = ascii_tokens(q) else {
        return Ok(prefix_phrase(q));
    };
    let Some((last, _)) = tokens.split_last() else {
        return Ok(prefix_phrase(q));
    };
    let mut stmt = conn.prepare_cached(
        "SELECT term FROM requests_fts_vocab WHERE term > ?1 AND term < ?2 LIMIT ?3",
    )?;
    let completions: Vec<String> = stmt
        .query_map(
            params![last, upper_bound(last), MAX_COMPLETIONS as i64 + 1],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    if completions.len() > MAX_COMPLETIONS {
        return Ok(prefix_phrase(q));
    }
    let head = &tokens[..tokens.len() - 1];
    let phrase = |last: &str| {
        let mut words: Vec<&str> = head.iter().map(String::as_str).collect();
        words.push(last);
        // Tokens are ASCII letters and digits only: nothing to escape.
        format!("\"{}\"", words.join(" "))
    };
    let mut alternatives = vec![phrase(last)];
    alternatives.extend(completions.iter().map(|c| phrase(c)));
    Ok(alternatives.join(" OR "))
}

/// The words of `q` as FTS5's default tokenizer (unicode61) makes them, when `q` is plain
/// ASCII: runs of letters and digits, lowercased; anything else separates. `None` for text
/// with other characters, whose tokens only FTS5 itself can say.
fn ascii_tokens(q: &str) -> Option<Vec<String>> {
    if !q.is_ascii() {
        return None;
    }
    Some(
        q.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase)
            .collect(),
    )
}

/// The least string greater than every string that starts with `prefix` (ASCII, not empty).
fn upper_bound(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    // Tokens are [0-9a-z]: the last byte is below 0x7f, so it can be incremented.
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// Quotes user input as one FTS5 phrase with a prefix match on the last word.
pub(super) fn prefix_phrase(q: &str) -> String {
    // FTS5 ends a string at NUL, so control characters become spaces (word breaks anyway).
    let cleaned: String = q
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("\"{}\" *", cleaned.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_text_splits_like_the_default_tokenizer() {
        assert_eq!(
            ascii_tokens("+1628-555 WT1aB_x").unwrap(),
            ["1628", "555", "wt1ab", "x"]
        );
        assert_eq!(ascii_tokens("café"), None);
        assert_eq!(upper_bound("inbound"), "inboune");
        assert_eq!(upper_bound("a9"), "a:");
    }

    #[test]
    fn completions_become_whole_term_phrases_and_quotes_stay_quoted() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE requests_fts USING fts5 (text, content = '', contentless_delete = 1);
             CREATE VIRTUAL TABLE requests_fts_vocab USING fts5vocab (requests_fts, 'row');
             INSERT INTO requests_fts (rowid, text) VALUES (1, 'inbound call'), (2, 'inbounds'), (3, 'outbound');",
        )
        .unwrap();
        assert_eq!(
            match_expression(&conn, "Inbound").unwrap(),
            "\"inbound\" OR \"inbounds\""
        );
        assert_eq!(
            match_expression(&conn, "inbound ca").unwrap(),
            "\"inbound ca\" OR \"inbound call\""
        );
        // Syntax in the user's text is never FTS5 syntax.
        assert_eq!(match_expression(&conn, "a\" OR \"b").unwrap(), "\"a or b\"");
        assert_eq!(match_expression(&conn, "naïve").unwrap(), "\"naïve\" *");
        let hits = |expr: String| -> Vec<i64> {
            conn.prepare("SELECT rowid FROM requests_fts WHERE requests_fts MATCH ? ORDER BY rowid")
                .unwrap()
                .query_map([expr], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        // The same rows as the prefix query.
        assert_eq!(
            hits(match_expression(&conn, "inbou").unwrap()),
            hits(prefix_phrase("inbou"))
        );
        assert_eq!(hits(match_expression(&conn, "inbou").unwrap()), [1, 2]);
    }
}
