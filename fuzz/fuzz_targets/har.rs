//! Exports (`taskhook::export::{har, jsonl, curl_command}`) over arbitrary stored requests:
//! HAR is valid JSON whose bodies give back the stored bytes, JSON lines have one line per
//! request, and a curl command is one line of printable ASCII whose quotes cannot be closed
//! by captured bytes.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use taskhook::export::{curl_command, curl_script, har, jsonl};
use taskhook::store::models::{Header, Kind, RecordedResponse, RequestSummary, StoredRequest};

fn opt_string(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<String>> {
    Option::<String>::arbitrary(u)
}

fn headers(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<Header>> {
    let n = u.int_in_range(0..=6)?;
    (0..n)
        .map(|_| {
            let name = if u.arbitrary()? {
                "Content-Type".to_owned()
            } else {
                String::arbitrary(u)?
            };
            Ok(Header::new(name, Vec::<u8>::arbitrary(u)?))
        })
        .collect()
}

fn stored(u: &mut Unstructured<'_>) -> arbitrary::Result<StoredRequest> {
    let kind = *u.choose(&[Kind::Assignment, Kind::Event, Kind::Other])?;
    let summary = RequestSummary {
        id: u.arbitrary()?,
        received_at: String::arbitrary(u)?,
        received_at_us: u.arbitrary()?,
        remote_addr: String::arbitrary(u)?,
        method: String::arbitrary(u)?,
        path: String::arbitrary(u)?,
        query: opt_string(u)?,
        status: u.arbitrary()?,
        kind,
        event_type: opt_string(u)?,
        account_sid: opt_string(u)?,
        workspace_sid: opt_string(u)?,
        task_sid: opt_string(u)?,
        reservation_sid: opt_string(u)?,
        worker_sid: opt_string(u)?,
        signature: String::arbitrary(u)?,
        replay_of: u.arbitrary()?,
        replay_note: opt_string(u)?,
        body_size: u.arbitrary()?,
        body_truncated: u.arbitrary()?,
        duration_us: u.arbitrary()?,
        error: opt_string(u)?,
    };
    Ok(StoredRequest {
        summary,
        signature_reason: opt_string(u)?,
        http_version: String::arbitrary(u)?,
        headers: headers(u)?,
        body: Vec::<u8>::arbitrary(u)?,
        response: RecordedResponse {
            status: u.arbitrary()?,
            headers: headers(u)?,
            body: Vec::<u8>::arbitrary(u)?,
        },
    })
}

/// The bytes a HAR body object stands for.
fn har_bytes(object: &Value) -> Vec<u8> {
    let text = object["text"].as_str().expect("text");
    match object.get("encoding").and_then(Value::as_str) {
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("valid base64"),
        None => text.as_bytes().to_vec(),
        Some(other) => panic!("unknown encoding {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(base) = String::arbitrary(&mut u) else {
        return;
    };
    let mut requests = Vec::new();
    while requests.len() < 4 {
        match stored(&mut u) {
            Ok(r) => requests.push(r),
            Err(_) => break,
        }
    }

    let log = har(&requests, &base);
    let text = serde_json::to_string(&log).expect("HAR serializes");
    // Floats (time, wait) need not round-trip exactly through serde_json; the rest must.
    let back: Value = serde_json::from_str(&text).expect("HAR is JSON");
    assert_eq!(
        back["log"]["entries"].as_array().map(Vec::len),
        Some(requests.len())
    );
    let entries = log["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), requests.len());
    let mut ordered: Vec<&StoredRequest> = requests.iter().collect();
    ordered.sort_by_key(|r| r.summary.id);
    for (entry, r) in entries.iter().zip(&ordered) {
        let url = entry["request"]["url"].as_str().unwrap();
        let expected = match &r.summary.query {
            Some(q) => format!("{base}{}?{q}", r.summary.path),
            None => format!("{base}{}", r.summary.path),
        };
        assert_eq!(url, expected);
        match entry["request"].get("postData") {
            Some(post) => assert_eq!(har_bytes(post), r.body),
            None => assert!(r.body.is_empty()),
        }
        assert_eq!(har_bytes(&entry["response"]["content"]), r.response.body);
        assert_eq!(
            entry["request"]["headers"].as_array().unwrap().len(),
            r.headers.len()
        );
        assert!(entry["time"].is_number());
    }

    let lines = jsonl(&requests);
    assert_eq!(lines.lines().count(), requests.len());
    for line in lines.lines() {
        let _: Value = serde_json::from_str(line).expect("each line is JSON");
    }

    for r in &requests {
        let command = curl_command(r, &base);
        assert!(
            command.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "non-printable byte in {command:?}"
        );
        // Outside the $'…' quotes only the fixed words appear.
        let mut outside = String::new();
        let mut rest = command.as_str();
        while let Some(start) = rest.find("$'") {
            outside.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('\'').expect("quote closed");
            assert!(!after[..end].contains('\''));
            rest = &after[end + 1..];
        }
        outside.push_str(rest);
        for word in outside.split(' ').filter(|w| !w.is_empty()) {
            assert!(
                ["curl", "-sS", "-X", "-H", "--data-binary"].contains(&word),
                "unquoted word {word:?} in {command:?}"
            );
        }
    }
    let script = curl_script(&requests, &base);
    assert!(script.starts_with("#!/usr/bin/env bash\n"));
});
