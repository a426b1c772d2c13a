//! X-Twilio-Signature (`taskhook::taskrouter::signature`): every function is total over
//! attacker bytes, and what `sign_request` signs, `verify` accepts.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use taskhook::taskrouter::signature::{
    AuthToken, Verdict, compute, parse_form, sign_request, signing_string, url_with_body_sha256,
    verify,
};

#[derive(Arbitrary, Debug)]
enum ContentType<'a> {
    Absent,
    Form,
    Json,
    Other(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    token: &'a str,
    url: &'a str,
    /// Sign a JSON body the way Twilio does: `bodySHA256` in the URL.
    with_body_hash: bool,
    content_type: ContentType<'a>,
    body: &'a [u8],
    method: &'a str,
    /// An arbitrary X-Twilio-Signature to check as well.
    header: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let token = AuthToken::new(input.token);
    let content_type: Option<&[u8]> = match input.content_type {
        ContentType::Absent => None,
        ContentType::Form => Some(b"application/x-www-form-urlencoded"),
        ContentType::Json => Some(b"application/json"),
        ContentType::Other(ct) => Some(ct),
    };

    let params = parse_form(input.body);
    assert!(signing_string(input.url, &params).starts_with(input.url));
    assert_eq!(compute(&token, input.url, &params).len(), 28);

    // Round trip: a request signed for a URL verifies against that URL. A URL that already
    // carries some bodySHA256 is only consistent with its body when built for it.
    let url = if input.with_body_hash {
        url_with_body_sha256(input.url, input.body)
    } else {
        input.url.to_owned()
    };
    let signature = sign_request(&token, &url, content_type, input.body, input.method);
    let check = verify(
        Some(&token),
        Some(signature.as_bytes()),
        &url,
        content_type,
        input.body,
        input.method,
    );
    if input.with_body_hash || !url.contains("bodySHA256") {
        assert_eq!(check.verdict, Verdict::Valid, "{url:?}: {:?}", check.reason);
    }

    // A signature made with another key never verifies.
    let other = AuthToken::new(format!("{}x", input.token));
    let forged = sign_request(&other, &url, content_type, input.body, input.method);
    let check = verify(
        Some(&token),
        Some(forged.as_bytes()),
        &url,
        content_type,
        input.body,
        input.method,
    );
    assert_ne!(check.verdict, Verdict::Valid);
    assert!(check.reason.is_some());

    // Arbitrary header bytes: any verdict but Missing/Unchecked, never a panic.
    let check = verify(
        Some(&token),
        Some(input.header),
        input.url,
        content_type,
        input.body,
        input.method,
    );
    assert!(matches!(check.verdict, Verdict::Valid | Verdict::Invalid));
    assert_eq!(
        verify(
            None,
            Some(input.header),
            input.url,
            content_type,
            input.body,
            input.method
        )
        .verdict,
        Verdict::Unchecked
    );
});
