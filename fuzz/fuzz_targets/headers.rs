//! The stored header block (`taskhook::store::models::{encode_headers, decode_headers}`):
//! headers as hyper and httparse accept them round-trip exactly, and decoding any block is
//! total and stable.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use taskhook::store::models::{Header, decode_headers, encode_headers};

/// RFC 9110 token characters: what a header name can be on the wire.
const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn wire_header(u: &mut Unstructured<'_>) -> arbitrary::Result<Header> {
    let name_len = u.int_in_range(1..=40)?;
    let mut name = String::with_capacity(name_len);
    for _ in 0..name_len {
        name.push(*u.choose(TCHAR)? as char);
    }
    // Any byte but CR and LF (httparse allows HTAB, SP, VCHAR, obs-text; be wider: NUL too).
    let raw: Vec<u8> = Arbitrary::arbitrary(u)?;
    let value = raw
        .into_iter()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect::<Vec<u8>>();
    Ok(Header::new(name, value))
}

fuzz_target!(|data: &[u8]| {
    // 1. Arbitrary bytes as a stored block: decoding never panics and is a fixed point after
    //    one re-encode.
    let decoded = decode_headers(data);
    assert_eq!(decode_headers(&encode_headers(&decoded)), decoded);

    // 2. Wire-shaped headers round-trip exactly: names, case, order, repeats, value bytes.
    let mut u = Unstructured::new(data);
    let mut headers = Vec::new();
    while !u.is_empty() && headers.len() < 64 {
        match wire_header(&mut u) {
            Ok(h) => headers.push(h),
            Err(_) => break,
        }
    }
    let block = encode_headers(&headers);
    assert_eq!(decode_headers(&block), headers);
});
