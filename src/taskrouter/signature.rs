//! Twilio's `X-Twilio-Signature` (reference §4): the string Twilio signs, HMAC-SHA1 over it, the
//! `bodySHA256` check for JSON bodies, the URL port variants a validator must try, and the
//! [`AuthToken`] wrapper that keeps the token out of logs. Owns the per-request [`Verdict`] stored
//! in the `signature` column. Nothing here does I/O.
//!
//! Signed string: the URL Twilio requested (query exactly as configured, without `#…` and
//! `user:pass@`), then for form-encoded POSTs each parameter as `name` + `value`, sorted by name
//! byte-wise, the values of a repeated name sorted and de-duplicated (twilio-python/node rule).
//! Whether Twilio keeps the port is not documented for TaskRouter, so [`verify`] accepts the URL
//! as given, without its port, or with the scheme's default port added (§4.2).
//!
//! Request bodies are attacker-controlled: every parser here is total (lossy UTF-8, stray `%`,
//! `a=b=c`, empty names) and never panics.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::{Choice, ConstantTimeEq};

/// The request header carrying the signature.
pub const HEADER: &str = "X-Twilio-Signature";
/// The query parameter Twilio adds for JSON bodies: lowercase hex SHA-256 of the raw body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

const FORM_MEDIA_TYPE: &[u8] = b"application/x-www-form-urlencoded";
/// Length of a Base64 (padded) HMAC-SHA1: 20 bytes → 28 characters.
const SIGNATURE_LEN: usize = 28;

/// The per-request verdict stored in the `signature` column.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Verdict {
    /// The header matched one of the URL variants (and the body matched `bodySHA256`).
    Valid,
    /// A header was sent but nothing matched; see [`Check::reason`].
    Invalid,
    /// A token is configured but the request had no `X-Twilio-Signature`.
    Missing,
    /// No token is configured, so nothing was checked.
    Unchecked,
}

impl Verdict {
    /// The column value: `"valid"`, `"invalid"`, `"missing"` or `"unchecked"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An Auth Token. Never printed: Debug and Display show `***`. Not Serialize.
///
/// The token is used byte-for-byte as the HMAC key; callers reading it from a file should trim
/// the trailing newline themselves.
#[derive(Clone)]
pub struct AuthToken(String);

impl AuthToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the HMAC key and for REST basic auth. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(***)")
    }
}

impl fmt::Display for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Outcome of a check, with a human reason when invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub verdict: Verdict,
    pub reason: Option<String>,
}

impl Check {
    fn of(verdict: Verdict) -> Self {
        Self {
            verdict,
            reason: None,
        }
    }

    fn invalid(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Invalid,
            reason: Some(reason.into()),
        }
    }
}

/// The exact string Twilio signs: `url`, then for each name in byte-wise order its distinct
/// values in byte-wise order, each appended as `name` + `value` with no separators.
///
/// Sorting is by name only, so `Reason` comes before `ReasonConferenceEnded` whatever the values
/// (twilio-go issue 139). Useful to show in the inspector when a signature does not match.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut grouped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        grouped.entry(name).or_default().insert(value);
    }
    let mut out = String::with_capacity(
        url.len() + params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>(),
    );
    out.push_str(url);
    for (name, values) in grouped {
        for value in values {
            out.push_str(name);
            out.push_str(value);
        }
    }
    out
}

/// Base64 HMAC-SHA1 over `url` followed by the sorted form params: sort by key (byte-wise), and for
/// each key its values sorted and de-duplicated (twilio-python/node rule), appending key+value for
/// each. `url` is signed exactly as given; see [`signing_string`].
pub fn compute(token: &AuthToken, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(hmac_sha1(token, signing_string(url, params).as_bytes()))
}

fn hmac_sha1(token: &AuthToken, message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length (longer ones are hashed), so this cannot fail.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(token.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex SHA-256 of a raw body (the `bodySHA256` query parameter for JSON bodies).
pub fn body_sha256(body: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(body))
}

/// Verify a captured request.
/// - `token`: None → Unchecked.
/// - `header`: the X-Twilio-Signature value; None → Missing.
/// - `url`: the full URL Twilio requested (`scheme://host[:port]/path?query`), as the caller
///   reconstructed it. A `#…` fragment and `user:pass@` are dropped, as Twilio does before signing.
/// - `content_type` + `body`: if the URL's query has `bodySHA256`, the signature covers the URL
///   only and the body's SHA-256 must equal that parameter (else Invalid with reason "body does
///   not match bodySHA256"); otherwise, if the body is form-encoded (content type
///   application/x-www-form-urlencoded, or absent and method POST) its params are included;
///   otherwise no params.
/// - Tries the URL candidates: as given, with the port removed, and with the default port added
///   (443 for https, 80 for http) when there is none; Valid if any matches (constant-time compare).
pub fn verify(
    token: Option<&AuthToken>,
    header: Option<&[u8]>,
    url: &str,
    content_type: Option<&[u8]>,
    body: &[u8],
    method: &str,
) -> Check {
    let Some(token) = token else {
        return Check::of(Verdict::Unchecked);
    };
    let Some(header) = header else {
        return Check::of(Verdict::Missing);
    };
    let header = header.trim_ascii();
    if header.is_empty() {
        return Check::invalid(format!("{HEADER} is empty"));
    }

    let url = signed_url(url);
    let body_hash = query_param(&url, BODY_SHA256_PARAM);
    let params = signed_params(body_hash.is_some(), content_type, body, method);
    let candidates = url_candidates(&url);
    // Every candidate is computed and compared, so timing does not say which one matched.
    let matched = candidates.iter().fold(Choice::from(0), |acc, candidate| {
        acc | compute(token, candidate, &params).as_bytes().ct_eq(header)
    });
    if !bool::from(matched) {
        return Check::invalid(mismatch_reason(
            header,
            &url,
            &candidates,
            &params,
            body_hash.is_some(),
        ));
    }
    if let Some(expected) = body_hash {
        let actual = body_sha256(body);
        let expected = expected.trim().to_ascii_lowercase();
        if !bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
            return Check::invalid("body does not match bodySHA256");
        }
    }
    Check::of(Verdict::Valid)
}

/// Sign for a replay / a simulated callback: signature header value for `url` and a form body
/// (parsed from `body`), or, when the URL has bodySHA256, the URL alone. The URL is signed as
/// given (less any `#…` fragment and `user:pass@`), so [`verify`] with the same arguments is Valid.
/// For a JSON body, build the URL with [`url_with_body_sha256`] first.
pub fn sign_request(
    token: &AuthToken,
    url: &str,
    content_type: Option<&[u8]>,
    body: &[u8],
    method: &str,
) -> String {
    let url = signed_url(url);
    let has_body_hash = query_param(&url, BODY_SHA256_PARAM).is_some();
    compute(
        token,
        &url,
        &signed_params(has_body_hash, content_type, body, method),
    )
}

/// `url` with its `bodySHA256` query parameter set to the SHA-256 of `body` (any existing one is
/// replaced; other query bytes and a `#…` fragment are kept as they are), for simulating a JSON
/// callback the way Twilio sends it.
pub fn url_with_body_sha256(url: &str, body: &[u8]) -> String {
    let (without_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (base, query) = match without_fragment.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (without_fragment, None),
    };
    let mut out = String::with_capacity(url.len() + BODY_SHA256_PARAM.len() + 66);
    out.push_str(base);
    out.push('?');
    for piece in query.into_iter().flat_map(|q| q.split('&')) {
        let is_hash = form_urlencoded::parse(piece.as_bytes())
            .next()
            .is_some_and(|(name, _)| name == BODY_SHA256_PARAM);
        if !piece.is_empty() && !is_hash {
            out.push_str(piece);
            out.push('&');
        }
    }
    out.push_str(BODY_SHA256_PARAM);
    out.push('=');
    out.push_str(&body_sha256(body));
    out.push_str(fragment);
    out
}

/// True when the body is signed as form parameters: content type
/// `application/x-www-form-urlencoded` (any parameters, any case), or no content type and POST.
pub fn is_form(content_type: Option<&[u8]>, method: &str) -> bool {
    match content_type {
        Some(ct) => {
            let media_type = ct.split(|&b| b == b';').next().unwrap_or_default();
            media_type
                .trim_ascii()
                .eq_ignore_ascii_case(FORM_MEDIA_TYPE)
        }
        None => method.eq_ignore_ascii_case("POST"),
    }
}

/// Form parameters of a body, in order. Total: invalid UTF-8 is replaced lossily, a bad `%`
/// escape is kept literally, `a=b=c` is `("a", "b=c")`, `a` is `("a", "")`.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The parameters that go into the signed string for this request.
fn signed_params(
    has_body_hash: bool,
    content_type: Option<&[u8]>,
    body: &[u8],
    method: &str,
) -> Vec<(String, String)> {
    if !has_body_hash && is_form(content_type, method) {
        parse_form(body)
    } else {
        Vec::new()
    }
}

/// First value of `name` in the URL's query string (before any `#`).
fn query_param(url: &str, name: &str) -> Option<String> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let (_, query) = without_fragment.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// An absolute URL split just enough to move its port; every piece borrows the original bytes.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: &'a str,
    /// Host as written, with brackets for IPv6 literals.
    host: &'a str,
    /// Text after the host's `:` (possibly empty), or None when there is no `:`.
    port: Option<&'a str>,
    /// Path and query, from the first `/` or `?` after the authority; no fragment.
    rest: &'a str,
}

impl UrlParts<'_> {
    fn join(&self, port: Option<&str>) -> String {
        let mut out =
            String::with_capacity(self.scheme.len() + self.host.len() + self.rest.len() + 10);
        out.push_str(self.scheme);
        out.push_str("://");
        out.push_str(self.host);
        if let Some(port) = port {
            out.push(':');
            out.push_str(port);
        }
        out.push_str(self.rest);
        out
    }

    fn default_port(&self) -> Option<&'static str> {
        if self.scheme.eq_ignore_ascii_case("https") {
            Some("443")
        } else if self.scheme.eq_ignore_ascii_case("http") {
            Some("80")
        } else {
            None
        }
    }
}

/// Splits `scheme://[userinfo@]host[:port]rest`, dropping userinfo and any fragment. None when
/// `url` is not of that shape (then it is only ever signed as given).
fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let url = url.split('#').next().unwrap_or_default();
    let (scheme, after) = url.split_once("://")?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return None;
    }
    let authority_end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(authority_end);
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']')?;
        let (host, tail) = host_port.split_at(close + 1);
        if tail.is_empty() {
            (host, None)
        } else {
            (host, Some(tail.strip_prefix(':')?))
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    Some(UrlParts {
        scheme,
        host,
        port,
        rest,
    })
}

/// The URL as Twilio signs it: without `#…` and `user:pass@`, otherwise byte-for-byte as given.
fn signed_url(url: &str) -> String {
    match split_url(url) {
        Some(parts) => parts.join(parts.port),
        None => url.split('#').next().unwrap_or_default().to_owned(),
    }
}

/// The URLs to try (reference §4.2): as given, without the port, and with the scheme's default
/// port when there is none. Path and query bytes are never touched.
fn url_candidates(url: &str) -> Vec<String> {
    let mut candidates = vec![signed_url(url)];
    if let Some(parts) = split_url(url) {
        let other = match parts.port {
            Some(_) => Some(parts.join(None)),
            None => parts.default_port().map(|port| parts.join(Some(port))),
        };
        candidates.extend(other.filter(|c| !candidates.contains(c)));
    }
    candidates
}

fn mismatch_reason(
    header: &[u8],
    url: &str,
    candidates: &[String],
    params: &[(String, String)],
    has_body_hash: bool,
) -> String {
    let well_formed =
        header.len() == SIGNATURE_LEN && BASE64.decode(header).is_ok_and(|raw| raw.len() == 20);
    if !well_formed {
        return format!(
            "{HEADER} is not a Base64 HMAC-SHA1 ({} bytes; expected {SIGNATURE_LEN} characters)",
            header.len()
        );
    }
    let signed = if has_body_hash {
        "URL only, bodySHA256 present".to_owned()
    } else {
        match params.len() {
            0 => "URL only".to_owned(),
            1 => "URL and 1 form parameter".to_owned(),
            n => format!("URL and {n} form parameters"),
        }
    };
    let also = candidates
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let also = if also.is_empty() {
        String::new()
    } else {
        format!(", also tried {also}")
    };
    format!(
        "signature does not match {url} ({signed}{also}); is --public-url set to the URL Twilio \
         calls, and is the token the primary Auth Token of the account that owns the workspace?"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const FORM_CT: &[u8] = b"application/x-www-form-urlencoded; charset=UTF-8";

    fn token() -> AuthToken {
        AuthToken::new("12345")
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The parameters of the twilio-python vectors.
    fn call_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    fn form_body(params: &[(String, String)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
            .into_bytes()
    }

    fn check_form(header: &str, url: &str, params: &[(String, String)]) -> Check {
        verify(
            Some(&token()),
            Some(header.as_bytes()),
            url,
            Some(FORM_CT),
            &form_body(params),
            "POST",
        )
    }

    // --- Reference §4.5 vectors -------------------------------------------------------------

    #[test]
    fn vector_base() {
        assert_eq!(
            compute(&token(), BASE_URL, &call_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        let check = check_form("RSOYDt4T1cUTdK1PDd93/VVr8B8=", BASE_URL, &call_params());
        assert_eq!(check, Check::of(Verdict::Valid));
    }

    #[test]
    fn vector_port_443() {
        let url = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            compute(&token(), url, &call_params()),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            check_form("kvajT1Ptam85bY51eRf/AJRuM3w=", url, &call_params()).verdict,
            Verdict::Valid
        );
    }

    #[test]
    fn vector_http_port_1234() {
        let url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        let sig = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";
        assert_eq!(compute(&token(), url, &call_params()), sig);
        assert_eq!(check_form(sig, url, &call_params()).verdict, Verdict::Valid);
        // A non-default port is never guessed: without it (or with :80) the URL differs.
        let bare = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            check_form(sig, bare, &call_params()).verdict,
            Verdict::Invalid
        );
    }

    #[test]
    fn vector_http_port_80() {
        let url = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
        let sig = "0ZXoZLH/DfblKGATFgpif+LLRf4=";
        assert_eq!(compute(&token(), url, &call_params()), sig);
        assert_eq!(check_form(sig, url, &call_params()).verdict, Verdict::Valid);
        // Signed with :80, received without a port: the default port is added.
        let bare = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            check_form(sig, bare, &call_params()).verdict,
            Verdict::Valid
        );
    }

    #[test]
    fn vector_repeated_values_sorted_and_deduplicated() {
        let params = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signing_string(BASE_URL, &params),
            format!("{BASE_URL}Digits1234Digits5678SidCA123SidAccountAC123")
        );
        let sig = "IK+Dwps556ElfBT0I3Rgjkr1wJU=";
        assert_eq!(compute(&token(), BASE_URL, &params), sig);
        // The same through a real form body with the repeated key.
        assert_eq!(check_form(sig, BASE_URL, &params).verdict, Verdict::Valid);
    }

    #[test]
    fn vector_json_body_sha256() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let url = format!("{BASE_URL}&bodySHA256={hash}");
        let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
        assert_eq!(body_sha256(body), hash);
        assert_eq!(compute(&token(), &url, &[]), sig);
        assert_eq!(url_with_body_sha256(BASE_URL, body), url);

        let json = Some(&b"application/json"[..]);
        let ok = verify(
            Some(&token()),
            Some(sig.as_bytes()),
            &url,
            json,
            body,
            "POST",
        );
        assert_eq!(ok, Check::of(Verdict::Valid));
        // bodySHA256 wins over the content type: the body is never read as form params.
        let untyped = verify(
            Some(&token()),
            Some(sig.as_bytes()),
            &url,
            None,
            body,
            "POST",
        );
        assert_eq!(untyped.verdict, Verdict::Valid);
        assert_eq!(sign_request(&token(), &url, json, body, "POST"), sig);

        let tampered = br#"{"property": "value", "boolean": false}"#;
        let bad = verify(
            Some(&token()),
            Some(sig.as_bytes()),
            &url,
            json,
            tampered,
            "POST",
        );
        assert_eq!(bad, Check::invalid("body does not match bodySHA256"));
    }

    #[test]
    fn vector_twilio_docs() {
        let url = "https://example.com/myapp.php?foo=1&bar=2";
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]);
        let sig = "L/OH5YylLD5NRKLltdqwSvS0BnU=";
        assert_eq!(compute(&token(), url, &params), sig);
        assert_eq!(check_form(sig, url, &params).verdict, Verdict::Valid);
    }

    #[test]
    fn vector_sha256_hex() {
        assert_eq!(
            body_sha256(br#"{"CallSid":"CA1234567890ABCDE","Caller":"+12349013030"}"#),
            "5ccde7145dfb8f56479710896586cb9d5911809d83afbe34627818790db0aec9"
        );
        assert_eq!(
            body_sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    // --- Ports and URL handling ------------------------------------------------------------

    #[test]
    fn port_443_signature_verifies_against_url_without_port() {
        let sig = "kvajT1Ptam85bY51eRf/AJRuM3w="; // made with :443
        assert_eq!(
            check_form(sig, BASE_URL, &call_params()).verdict,
            Verdict::Valid
        );
    }

    #[test]
    fn portless_signature_verifies_against_url_with_443() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8="; // made without a port
        let url = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(check_form(sig, url, &call_params()).verdict, Verdict::Valid);
    }

    #[test]
    fn fragment_and_credentials_are_dropped() {
        let url = "https://user:pa@ss@mycompany.com/myapp.php?foo=1&bar=2#rc=5&ct=2000";
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert_eq!(check_form(sig, url, &call_params()).verdict, Verdict::Valid);
        assert_eq!(
            sign_request(
                &token(),
                url,
                Some(FORM_CT),
                &form_body(&call_params()),
                "POST"
            ),
            sig
        );
    }

    #[test]
    fn candidates_keep_path_and_query_bytes() {
        assert_eq!(
            url_candidates("https://h.example/a%2Fb/'x'?q=%27&r='&s=a+b&t=%zz"),
            [
                "https://h.example/a%2Fb/'x'?q=%27&r='&s=a+b&t=%zz",
                "https://h.example:443/a%2Fb/'x'?q=%27&r='&s=a+b&t=%zz",
            ]
        );
        assert_eq!(
            url_candidates("HTTP://Host.Example:8080?x=1"),
            ["HTTP://Host.Example:8080?x=1", "HTTP://Host.Example?x=1"]
        );
        assert_eq!(
            url_candidates("https://[::1]:8443/cb"),
            ["https://[::1]:8443/cb", "https://[::1]/cb"]
        );
        assert_eq!(
            url_candidates("https://[::1]/cb"),
            ["https://[::1]/cb", "https://[::1]:443/cb"]
        );
        assert_eq!(url_candidates("ftp://h/x"), ["ftp://h/x"]);
        assert_eq!(
            url_candidates("/relative?u=http://h/x"),
            ["/relative?u=http://h/x"]
        );
        assert_eq!(
            url_candidates("https://h:/x"),
            ["https://h:/x", "https://h/x"]
        );
    }

    #[test]
    fn url_with_body_sha256_replaces_existing_parameter() {
        let hash = body_sha256(b"{}");
        assert_eq!(
            url_with_body_sha256("https://h/cb", b"{}"),
            format!("https://h/cb?bodySHA256={hash}")
        );
        assert_eq!(
            url_with_body_sha256("https://h/cb?a=%27&bodySHA256=old&b=2#rc=1", b"{}"),
            format!("https://h/cb?a=%27&b=2&bodySHA256={hash}#rc=1")
        );
    }

    // --- Sorting ---------------------------------------------------------------------------

    #[test]
    fn key_only_sort_puts_reason_before_reason_conference_ended() {
        // twilio-go issue 139: sorting "name+value" strings would put ReasonConferenceEnded first
        // ("ReasonC…" < "ReasonP…"); sorting by name puts Reason first.
        let url = "https://h.example/cb";
        let params = pairs(&[
            (
                "ReasonConferenceEnded",
                "participant-with-end-conference-on-exit-left",
            ),
            ("Reason", "Participant CA123 with EndConferenceOnExit left"),
        ]);
        let expected = format!(
            "{url}ReasonParticipant CA123 with EndConferenceOnExit left\
             ReasonConferenceEndedparticipant-with-end-conference-on-exit-left"
        );
        assert_eq!(signing_string(url, &params), expected);
        assert_eq!(
            compute(&token(), url, &params),
            compute(&token(), &expected, &[])
        );
    }

    #[test]
    fn names_sort_byte_wise_case_sensitive() {
        let params = pairs(&[("b", "1"), ("B", "2"), ("a", "3"), ("_", "4")]);
        assert_eq!(signing_string("u", &params), "uB2_4a3b1");
    }

    // --- Verdicts --------------------------------------------------------------------------

    #[test]
    fn tampered_form_value_is_invalid_with_helpful_reason() {
        let mut params = call_params();
        params[1].1 = "1235".to_owned();
        let check = check_form("RSOYDt4T1cUTdK1PDd93/VVr8B8=", BASE_URL, &params);
        assert_eq!(check.verdict, Verdict::Invalid);
        let reason = check.reason.unwrap_or_default();
        assert!(
            reason.starts_with(&format!("signature does not match {BASE_URL} ")),
            "{reason}"
        );
        assert!(reason.contains("5 form parameters"), "{reason}");
        assert!(
            reason.contains("https://mycompany.com:443/myapp.php"),
            "{reason}"
        );
        assert!(reason.contains("--public-url"), "{reason}");
    }

    #[test]
    fn wrong_token_is_invalid() {
        let other = AuthToken::new("54321");
        let body = form_body(&call_params());
        let sig = sign_request(&other, BASE_URL, Some(FORM_CT), &body, "POST");
        let check = verify(
            Some(&token()),
            Some(sig.as_bytes()),
            BASE_URL,
            Some(FORM_CT),
            &body,
            "POST",
        );
        assert_eq!(check.verdict, Verdict::Invalid);
    }

    #[test]
    fn malformed_or_empty_header_is_invalid() {
        let body = form_body(&call_params());
        for header in [
            &b"not base64!"[..],
            b"\xff\xfe",
            b"RSOYDt4T1cUTdK1PDd93/VVr8B8",
            b"   ",
        ] {
            let check = verify(
                Some(&token()),
                Some(header),
                BASE_URL,
                Some(FORM_CT),
                &body,
                "POST",
            );
            assert_eq!(check.verdict, Verdict::Invalid, "{header:?}");
            let reason = check.reason.unwrap_or_default();
            assert!(reason.starts_with(HEADER), "{reason}");
        }
        // Surrounding whitespace is tolerated.
        let padded = b" RSOYDt4T1cUTdK1PDd93/VVr8B8= ";
        let check = verify(
            Some(&token()),
            Some(padded),
            BASE_URL,
            Some(FORM_CT),
            &body,
            "POST",
        );
        assert_eq!(check.verdict, Verdict::Valid);
    }

    #[test]
    fn no_header_is_missing_and_no_token_is_unchecked() {
        let body = form_body(&call_params());
        assert_eq!(
            verify(Some(&token()), None, BASE_URL, Some(FORM_CT), &body, "POST"),
            Check::of(Verdict::Missing)
        );
        let sig = Some(&b"RSOYDt4T1cUTdK1PDd93/VVr8B8="[..]);
        assert_eq!(
            verify(None, sig, BASE_URL, Some(FORM_CT), &body, "POST"),
            Check::of(Verdict::Unchecked)
        );
        assert_eq!(
            verify(None, None, BASE_URL, Some(FORM_CT), &body, "POST"),
            Check::of(Verdict::Unchecked)
        );
    }

    #[test]
    fn verdict_strings_round_trip() {
        for (verdict, s) in [
            (Verdict::Valid, "valid"),
            (Verdict::Invalid, "invalid"),
            (Verdict::Missing, "missing"),
            (Verdict::Unchecked, "unchecked"),
        ] {
            assert_eq!(verdict.as_str(), s);
            assert_eq!(verdict.to_string(), s);
            assert_eq!(s.parse::<Verdict>(), Ok(verdict));
        }
        assert!("Valid".parse::<Verdict>().is_err());
    }

    #[test]
    fn auth_token_is_never_printed() {
        let secret = "s3cr3t-auth-token-0123456789abcdef";
        let token = AuthToken::new(secret);
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Settings {
            token: Option<AuthToken>,
        }
        let settings = Settings {
            token: Some(token.clone()),
        };
        for printed in [
            format!("{token:?}"),
            format!("{token:#?}"),
            format!("{token}"),
            format!("{settings:?}"),
            format!("{settings:#?}"),
        ] {
            assert!(!printed.contains(secret), "{printed}");
            assert!(!printed.contains("s3cr3t"), "{printed}");
        }
        assert_eq!(format!("{token:?}"), "AuthToken(***)");
        assert_eq!(format!("{token}"), "***");
        assert_eq!(token.expose(), secret);
    }

    // --- Content types and sign_request ----------------------------------------------------

    #[test]
    fn form_detection() {
        assert!(is_form(Some(b"application/x-www-form-urlencoded"), "GET"));
        assert!(is_form(
            Some(b" Application/X-WWW-Form-Urlencoded ;charset=utf-8"),
            "POST"
        ));
        assert!(is_form(None, "POST"));
        assert!(is_form(None, "post"));
        assert!(!is_form(None, "GET"));
        assert!(!is_form(Some(b"application/json"), "POST"));
        assert!(!is_form(Some(b""), "POST"));
        assert!(!is_form(
            Some(b"application/x-www-form-urlencodedX"),
            "POST"
        ));
    }

    #[test]
    fn sign_request_output_verifies() {
        let t = token();
        let form = form_body(&call_params());
        let json = br#"{"EventType":"task.created"}"#.to_vec();
        let json_url = url_with_body_sha256(BASE_URL, &json);
        // (url, content type, body, method)
        type Case<'a> = (&'a str, Option<&'a [u8]>, &'a [u8], &'a str);
        let cases: [Case; 6] = [
            (BASE_URL, Some(FORM_CT), &form, "POST"),
            (BASE_URL, None, &form, "POST"),
            (
                "http://localhost:8080/cb?x=%27",
                Some(FORM_CT),
                &form,
                "POST",
            ),
            (BASE_URL, None, b"", "GET"),
            (&json_url, Some(b"application/json"), &json, "POST"),
            (BASE_URL, Some(b"text/plain"), b"ignored", "POST"),
        ];
        for (url, ct, body, method) in cases {
            let sig = sign_request(&t, url, ct, body, method);
            let check = verify(Some(&t), Some(sig.as_bytes()), url, ct, body, method);
            assert_eq!(check, Check::of(Verdict::Valid), "{url} {method}");
        }
        // A form body signed as form params is rejected when the same bytes are declared JSON.
        let sig = sign_request(&t, BASE_URL, Some(FORM_CT), &form, "POST");
        let json_ct = Some(&b"application/json"[..]);
        let check = verify(
            Some(&t),
            Some(sig.as_bytes()),
            BASE_URL,
            json_ct,
            &form,
            "POST",
        );
        assert_eq!(check.verdict, Verdict::Invalid);
        assert!(check.reason.unwrap_or_default().contains("(URL only"));
    }

    // --- Hostile input ---------------------------------------------------------------------

    #[test]
    fn parse_form_is_total() {
        assert_eq!(
            parse_form(b"a=b=c&&=x&k&%zz=%&%41%4=1+2&n=\0"),
            pairs(&[
                ("a", "b=c"),
                ("", "x"),
                ("k", ""),
                ("%zz", "%"),
                ("A%4", "1 2"),
                ("n", "\0"),
            ])
        );
        assert_eq!(parse_form(b"\xff=\xc3"), pairs(&[("\u{fffd}", "\u{fffd}")]));
        assert!(parse_form(b"").is_empty());
    }

    /// Small deterministic generator so the fuzz cases are reproducible.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as usize
        }
    }

    #[test]
    fn hostile_bodies_never_panic_and_round_trip() {
        let t = token();
        let mut bodies: Vec<Vec<u8>> = [
            &b"%"[..],
            b"%zz",
            b"=",
            b"&&&",
            b"a=b=c",
            b"=value",
            b"\0=\0",
            b"\xff\xfe\xfd",
            b"%ff%fe=%c3",
            b"a=%",
            b"a=%4",
            b"++=++",
            b"bodySHA256=0",
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect();
        let alphabet = b"%=&+a2Zf\0\xff\xc3\xa9;#?";
        let mut rng = Lcg(7);
        for _ in 0..500 {
            let len = rng.next() % 40;
            bodies.push(
                (0..len)
                    .map(|_| alphabet[rng.next() % alphabet.len()])
                    .collect(),
            );
        }
        for body in &bodies {
            for (ct, method) in [
                (Some(FORM_CT), "POST"),
                (None, "POST"),
                (Some(&b"\xff;\0"[..]), "PUT"),
            ] {
                let sig = sign_request(&t, BASE_URL, ct, body, method);
                let check = verify(Some(&t), Some(sig.as_bytes()), BASE_URL, ct, body, method);
                assert_eq!(check.verdict, Verdict::Valid, "{body:?}");
                let garbage = verify(Some(&t), Some(body), BASE_URL, ct, body, method);
                assert_ne!(garbage.verdict, Verdict::Valid, "{body:?}");
            }
        }
    }

    #[test]
    fn hostile_urls_never_panic_and_round_trip() {
        let t = token();
        let mut urls: Vec<String> = [
            "",
            "://",
            "https://",
            "https://[",
            "https://[::1",
            "https://[::1]x/",
            "https://h:/",
            "http://@",
            "https://a@b@c:99999/x#frag",
            "https://hôst:443/ä?x=%zz&bodySHA256",
            "https://h/p?bodySHA256=%zz#",
            "#only-fragment",
            "1http://h/",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let alphabet = [
            ":", "/", "?", "#", "@", "[", "]", "a", "1", "é", "%", "&", "=", "https://",
        ];
        let mut rng = Lcg(11);
        for _ in 0..500 {
            let len = rng.next() % 16;
            urls.push(
                (0..len)
                    .map(|_| alphabet[rng.next() % alphabet.len()])
                    .collect(),
            );
        }
        let body = form_body(&call_params());
        for url in &urls {
            let candidates = url_candidates(url);
            assert!(!candidates.is_empty() && candidates.len() <= 2, "{url}");
            let sig = sign_request(&t, url, Some(FORM_CT), &body, "POST");
            let check = verify(
                Some(&t),
                Some(sig.as_bytes()),
                url,
                Some(FORM_CT),
                &body,
                "POST",
            );
            // A URL whose query has bodySHA256 also needs a matching body; anything else is Valid.
            if query_param(url, BODY_SHA256_PARAM).is_none() {
                assert_eq!(check.verdict, Verdict::Valid, "{url}");
            }
            let _ = url_with_body_sha256(url, &body);
        }
    }
}
