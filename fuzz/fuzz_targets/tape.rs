//! The capture tape (`taskhook::capture::raw_head::Tape`) skips body bytes as they arrive
//! instead of keeping them. However a body is split across reads, the tape must end in the
//! same place as when the whole wire was there at once: the same verdict (in step or lost)
//! and the same next head. Never a panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use taskhook::capture::raw_head::Tape;

#[derive(Debug, Arbitrary)]
struct Input {
    chunked: bool,
    body: Vec<u8>,
    /// Where the body is cut into reads.
    cuts: Vec<u16>,
}

const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nX: y\r\n\r\n";

fn head(input: &Input) -> Vec<u8> {
    if input.chunked {
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
    } else {
        format!("POST /c HTTP/1.1\r\nContent-Length: {}\r\n\r\n", input.body.len()).into_bytes()
    }
}

/// (lost after the body, the next head's target)
fn run(tape: &Tape) -> (bool, Option<String>) {
    tape.finish_body();
    let lost = tape.is_lost();
    (lost, tape.take_head("GET", "/next").map(|h| h.target))
}

fuzz_target!(|input: Input| {
    let head = head(&input);

    // All at once, before the head is taken (pipelined).
    let whole = Tape::new(1 << 20);
    whole.push(&head);
    whole.push(&input.body);
    whole.push(NEXT);
    assert!(whole.take_head("POST", "/c").is_some());
    let at_once = run(&whole);

    // The head first, then the body in pieces, then the next request.
    let split = Tape::new(1 << 20);
    split.push(&head);
    assert!(split.take_head("POST", "/c").is_some());
    let mut rest = &input.body[..];
    for &cut in &input.cuts {
        let n = usize::from(cut).min(rest.len());
        split.push(&rest[..n]);
        rest = &rest[n..];
    }
    split.push(rest);
    split.push(NEXT);
    assert_eq!(run(&split), at_once);

    // A Content-Length body of any bytes is always skipped exactly.
    if !input.chunked {
        assert_eq!(at_once, (false, Some("/next".to_owned())));
    }
});
