//! The inspector trusts nobody by default (../shared/security-reference.md §1.9). Every request
//! passes [`guard`] before any handler runs:
//!
//! 1. **Host allowlist** — exactly `localhost:P`, `127.0.0.1:P`, `[::1]:P` or a name given with
//!    `--inspector-host`; anything else is 403 (DNS rebinding).
//! 2. **Token** — a per-run secret from `Authorization: Bearer`, the port-named cookie, or
//!    `?token=` (which is traded for an `HttpOnly; SameSite=Strict` cookie and removed from the
//!    URL by a redirect). Compared in constant time.
//! 3. **Cross-site refusal** — an `Origin` other than the inspector's own is refused on every
//!    request; `Sec-Fetch-Site` other than `same-origin`/`none` is refused except for top-level
//!    navigations (which still need the token, and the Strict cookie is not sent cross-site).
//! 4. **Headers** — a strict Content-Security-Policy (no inline script or style), `nosniff`,
//!    `Referrer-Policy: same-origin`, `no-store`, frame denial; never any CORS header.
//!
//! Every check is a total function over the raw header bytes: malformed values get 400/403.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use subtle::ConstantTimeEq;

/// `--inspector-token` is too short or has invisible characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("--inspector-token must be at least 16 visible ASCII characters")]
pub struct WeakToken;

/// The per-run inspector secret. Debug never shows it.
#[derive(Clone)]
pub struct InspectorToken(String);

impl InspectorToken {
    /// 192 random bits, hex-encoded.
    pub fn random() -> Self {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Self(hex::encode(bytes))
    }

    /// A fixed token (`--inspector-token`); must be at least 16 characters of visible ASCII.
    pub fn fixed(token: &str) -> Result<Self, WeakToken> {
        if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(WeakToken);
        }
        Ok(Self(token.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn matches(&self, candidate: &[u8]) -> bool {
        // ct_eq on unequal lengths returns false without leaking where they differ.
        bool::from(self.0.as_bytes().ct_eq(candidate))
    }
}

impl std::fmt::Debug for InspectorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InspectorToken(***)")
    }
}

/// What the guard checks against.
#[derive(Debug)]
pub struct GuardConfig {
    pub token: InspectorToken,
    /// Exact `Host` values accepted, port included.
    pub allowed_hosts: Vec<String>,
    /// Cookie carrying the token; named after the port because browsers share cookies
    /// across ports of one host (RFC 6265 §8.5).
    pub cookie_name: String,
}

impl GuardConfig {
    pub fn new(token: InspectorToken, port: u16, extra_hosts: &[String]) -> Self {
        let mut allowed_hosts = vec![
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ];
        for host in extra_hosts {
            if host.contains(':') && !host.ends_with(']') {
                allowed_hosts.push(host.clone());
            } else {
                allowed_hosts.push(format!("{host}:{port}"));
            }
        }
        Self {
            token,
            allowed_hosts,
            cookie_name: format!("taskhook_{port}"),
        }
    }
}

/// The response headers every inspector answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    form-action 'self'; base-uri 'none'";

fn refuse(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// The single Host header, if there is exactly one and it is allowlisted.
fn allowed_host<'a>(headers: &'a HeaderMap, config: &GuardConfig) -> Option<&'a str> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next()?;
    if hosts.next().is_some() {
        return None;
    }
    let host = host.to_str().ok()?;
    config
        .allowed_hosts
        .iter()
        .any(|allowed| allowed == host)
        .then_some(host)
}

/// A cookie's value from the Cookie header(s).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
        })
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)?
        .as_bytes()
        .strip_prefix(b"Bearer ")
}

/// `token` from the query string, and the query without it.
fn split_query_token(query: &str) -> (Option<String>, String) {
    let mut token = None;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "token" {
            token = Some(value.into_owned());
        } else {
            rest.append_pair(&key, &value);
        }
    }
    (token, rest.finish())
}

fn cross_site(headers: &HeaderMap, method: &Method, host: &str) -> bool {
    let site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = format!("http://{host}");
        // A browser sends `Origin: null` for a same-origin form post when the referrer policy
        // withholds the origin; `Sec-Fetch-Site` (set by the browser, never by a page) then
        // says whether it really came from here. A sandboxed or cross-site `null` does not.
        let opaque_but_same_origin = origin.as_bytes() == b"null" && site == Some(b"same-origin");
        if origin.as_bytes() != own.as_bytes() && !opaque_but_same_origin {
            return true;
        }
    }
    let navigate = headers
        .get("sec-fetch-mode")
        .is_some_and(|m| m.as_bytes() == b"navigate");
    let safe = matches!(*method, Method::GET | Method::HEAD);
    match site {
        None | Some(b"same-origin") | Some(b"none") => false,
        Some(_) => !(safe && navigate),
    }
}

/// The middleware. See the module docs for the order of checks.
pub async fn guard(State(config): State<Arc<GuardConfig>>, req: Request, next: Next) -> Response {
    let mut response = check(&config, req, next).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        // `same-origin`, not `no-referrer`: the latter makes Chromium send `Origin: null` on
        // the pages' own form posts. Nothing leaves: other origins still get no referrer, and
        // page URLs never hold the token (the `?token=` link redirects to the bare URL).
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn check(config: &GuardConfig, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let Some(host) = allowed_host(headers, config) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "taskhook inspector: this Host is not allowed\n",
        );
    };
    if cross_site(headers, req.method(), host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "taskhook inspector: cross-site request refused\n",
        );
    }
    let presented = bearer(headers).or_else(|| cookie(headers, &config.cookie_name));
    if presented.is_some_and(|t| config.token.matches(t)) {
        return next.run(req).await;
    }
    // ?token= on a page load: set the cookie and reload without the token in the URL, so it
    // does not stay in history or get copied along with links.
    if let Some(query) = req.uri().query() {
        let (token, rest) = split_query_token(query);
        if let Some(token) = token
            && config.token.matches(token.as_bytes())
            && req.method() == Method::GET
        {
            // Always a path on this origin: `//evil.example` or `/\evil.example` in the
            // request must not become an off-site Location (open redirect).
            let path = format!("/{}", req.uri().path().trim_start_matches(['/', '\\']));
            let location = if rest.is_empty() {
                path
            } else {
                format!("{path}?{rest}")
            };
            let cookie = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Strict",
                config.cookie_name,
                config.token.expose()
            );
            return match (
                HeaderValue::from_str(&location),
                HeaderValue::from_str(&cookie),
            ) {
                (Ok(location), Ok(cookie)) => (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
                )
                    .into_response(),
                _ => refuse(StatusCode::BAD_REQUEST, "taskhook inspector: bad URL\n"),
            };
        }
    }
    refuse(
        StatusCode::FORBIDDEN,
        "taskhook inspector: open the URL printed by `taskhook serve` (it carries ?token=...), \
         or send Authorization: Bearer <token>\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GuardConfig {
        GuardConfig::new(
            InspectorToken::fixed("0123456789abcdef").unwrap(),
            4040,
            &["dev.test".into()],
        )
    }

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_exact_allowlisted_hosts_pass() {
        let c = config();
        for ok in [
            "localhost:4040",
            "127.0.0.1:4040",
            "[::1]:4040",
            "dev.test:4040",
        ] {
            assert!(
                allowed_host(&headers(&[("host", ok.as_bytes())]), &c).is_some(),
                "{ok}"
            );
        }
        for bad in [
            "evil.example",
            "localhost.evil.example:4040",
            "127.0.0.1.nip.io:4040",
            "localhost:4040@evil",
            "LOCALHOST:4040",
            "localhost.:4040",
            "0.0.0.0:4040",
            "2130706433:4040",
            "localhost:4041",
            "localhost",
            "",
        ] {
            assert!(
                allowed_host(&headers(&[("host", bad.as_bytes())]), &c).is_none(),
                "{bad}"
            );
        }
        assert!(allowed_host(&headers(&[("host", b"caf\xe9:4040")]), &c).is_none());
        assert!(
            allowed_host(&HeaderMap::new(), &c).is_none(),
            "no Host (HTTP/1.0)"
        );
        let two = headers(&[("host", b"localhost:4040"), ("host", b"localhost:4040")]);
        assert!(allowed_host(&two, &c).is_none(), "two Host headers");
    }

    #[test]
    fn foreign_origins_and_cross_site_fetches_are_refused() {
        let host = "127.0.0.1:4040";
        let post = Method::POST;
        let get = Method::GET;
        assert!(!cross_site(
            &headers(&[("origin", b"http://127.0.0.1:4040")]),
            &post,
            host
        ));
        assert!(
            !cross_site(&HeaderMap::new(), &post, host),
            "scripts send no Origin"
        );
        assert!(
            !cross_site(
                &headers(&[("origin", b"null"), ("sec-fetch-site", b"same-origin")]),
                &post,
                host
            ),
            "a same-origin form post whose origin the browser withheld"
        );
        for origin in [
            &b"null"[..],
            b"http://localhost:3000",
            b"http://127.0.0.1:4041",
            b"http://192.168.1.5",
            b"https://127.0.0.1:4040",
            b"\xff",
        ] {
            assert!(cross_site(&headers(&[("origin", origin)]), &get, host));
            assert!(
                cross_site(
                    &headers(&[("origin", origin), ("sec-fetch-site", b"cross-site")]),
                    &post,
                    host
                ),
                "{origin:?} cross-site"
            );
        }
        assert!(cross_site(
            &headers(&[("sec-fetch-site", b"same-site")]),
            &post,
            host
        ));
        assert!(cross_site(
            &headers(&[
                ("sec-fetch-site", b"cross-site"),
                ("sec-fetch-mode", b"no-cors")
            ]),
            &get,
            host
        ));
        assert!(!cross_site(
            &headers(&[
                ("sec-fetch-site", b"cross-site"),
                ("sec-fetch-mode", b"navigate")
            ]),
            &get,
            host
        ));
        assert!(cross_site(
            &headers(&[
                ("sec-fetch-site", b"cross-site"),
                ("sec-fetch-mode", b"navigate")
            ]),
            &post,
            host
        ));
    }

    #[test]
    fn tokens_are_found_in_bearer_cookie_and_query() {
        let c = config();
        let h = headers(&[("cookie", b"a=b; taskhook_4040=0123456789abcdef; c=d")]);
        assert_eq!(cookie(&h, &c.cookie_name), Some(&b"0123456789abcdef"[..]));
        assert!(cookie(&headers(&[("cookie", b"taskhook_40400=x")]), &c.cookie_name).is_none());
        assert_eq!(
            bearer(&headers(&[("authorization", b"Bearer xyz")])),
            Some(&b"xyz"[..])
        );
        assert!(c.token.matches(b"0123456789abcdef"));
        assert!(!c.token.matches(b"0123456789abcde"));
        assert_eq!(
            split_query_token("kind=event&token=abc&q=x%20y"),
            (Some("abc".into()), "kind=event&q=x+y".into())
        );
        assert!(format!("{:?}", c.token).contains("***"));
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn random_tokens_have_at_least_128_bits() {
        let (a, b) = (InspectorToken::random(), InspectorToken::random());
        assert!(a.expose().len() >= 32);
        assert_ne!(a.expose(), b.expose());
        assert!(InspectorToken::fixed("short").is_err());
    }
}
