//! The inspector guard (`taskhook::inspector::guard::guard`, the middleware in front of every
//! inspector route), driven through its public surface: a Router with the guard layer and a
//! handler that answers 200. Host, Origin, Sec-Fetch-*, Cookie, Authorization and the query
//! come from the fuzzer; the answer is checked against an independent statement of the rules.
#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use axum::Router;
use axum::body::Body;
use axum::routing::any;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use taskhook::inspector::guard::{CONTENT_SECURITY_POLICY, GuardConfig, InspectorToken, guard};
use tower::ServiceExt;

const TOKEN: &str = "0123456789abcdef0123";
const PORT: u16 = 4040;
const ALLOWED: [&str; 4] = [
    "localhost:4040",
    "127.0.0.1:4040",
    "[::1]:4040",
    "dev.test:4040",
];

#[derive(Arbitrary, Debug)]
enum Name<'a> {
    Host,
    Origin,
    Cookie,
    Authorization,
    SecFetchSite,
    SecFetchMode,
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Value<'a> {
    Allowed(u8),
    Token,
    Bearer,
    TokenCookie,
    OwnOrigin(u8),
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: u8,
    custom_method: &'a str,
    path_and_query: &'a str,
    query_token: bool,
    headers: Vec<(Name<'a>, Value<'a>)>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fn router() -> Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER
        .get_or_init(|| {
            let config = Arc::new(GuardConfig::new(
                InspectorToken::fixed(TOKEN).unwrap(),
                PORT,
                &["dev.test".to_owned()],
            ));
            Router::new()
                .fallback(any(|| async { "inner" }))
                .layer(axum::middleware::from_fn_with_state(config, guard))
        })
        .clone()
}

fn value_bytes(value: &Value<'_>) -> Vec<u8> {
    match value {
        Value::Allowed(i) => ALLOWED[*i as usize % ALLOWED.len()].as_bytes().to_vec(),
        Value::Token => TOKEN.as_bytes().to_vec(),
        Value::Bearer => format!("Bearer {TOKEN}").into_bytes(),
        Value::TokenCookie => format!("a=b; taskhook_{PORT}={TOKEN}").into_bytes(),
        Value::OwnOrigin(i) => {
            format!("http://{}", ALLOWED[*i as usize % ALLOWED.len()]).into_bytes()
        }
        Value::Raw(bytes) => bytes.to_vec(),
    }
}

fuzz_target!(|input: Input<'_>| {
    let method = match input.method % 5 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::HEAD,
        3 => Method::DELETE,
        _ => match Method::from_bytes(input.custom_method.as_bytes()) {
            Ok(m) => m,
            Err(_) => return,
        },
    };
    let mut target = format!("/{}", input.path_and_query);
    if input.query_token {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str("token=");
        target.push_str(TOKEN);
    }
    let Ok(uri) = target.parse::<http::Uri>() else {
        return;
    };
    let mut request = Request::builder().method(method.clone()).uri(uri.clone());
    let mut sent: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::Host => header::HOST,
            Name::Origin => header::ORIGIN,
            Name::Cookie => header::COOKIE,
            Name::Authorization => header::AUTHORIZATION,
            Name::SecFetchSite => HeaderName::from_static("sec-fetch-site"),
            Name::SecFetchMode => HeaderName::from_static("sec-fetch-mode"),
            Name::Other(raw) => match HeaderName::from_bytes(raw.as_bytes()) {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        let Ok(value) = HeaderValue::from_bytes(&value_bytes(value)) else {
            continue;
        };
        request = request.header(name.clone(), value.clone());
        sent.push((name, value));
    }
    let Ok(request) = request.body(Body::empty()) else {
        return;
    };

    let response = runtime()
        .block_on(router().oneshot(request))
        .expect("infallible");
    let status = response.status();

    // Every answer carries the security headers, whatever happened.
    let h = response.headers();
    assert_eq!(
        h.get(header::CONTENT_SECURITY_POLICY).unwrap(),
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
    assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert!(
        matches!(
            status,
            StatusCode::OK
                | StatusCode::SEE_OTHER
                | StatusCode::BAD_REQUEST
                | StatusCode::FORBIDDEN
        ),
        "{status}"
    );

    let all = |n: &HeaderName| -> Vec<&[u8]> {
        sent.iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.as_bytes())
            .collect()
    };
    let hosts = all(&header::HOST);
    let host_ok = hosts.len() == 1 && ALLOWED.iter().any(|a| a.as_bytes() == hosts[0]);
    if !host_ok {
        assert_eq!(status, StatusCode::FORBIDDEN, "Host {hosts:?} let through");
        return;
    }
    let host = std::str::from_utf8(hosts[0]).unwrap();
    let origins = all(&header::ORIGIN);
    let origin_ok = origins
        .first()
        .is_none_or(|o| *o == format!("http://{host}").as_bytes());

    if status == StatusCode::OK || status == StatusCode::SEE_OTHER {
        assert!(origin_ok, "foreign Origin {origins:?} let through");
        let site = all(&HeaderName::from_static("sec-fetch-site"));
        let site_ok = site
            .first()
            .is_none_or(|s| *s == b"same-origin" || *s == b"none");
        let navigate = all(&HeaderName::from_static("sec-fetch-mode"))
            .first()
            .is_some_and(|m| *m == b"navigate");
        assert!(
            site_ok || (navigate && matches!(method, Method::GET | Method::HEAD)),
            "cross-site {site:?} let through"
        );
    }
    if status == StatusCode::OK {
        let bearer = all(&header::AUTHORIZATION)
            .first()
            .is_some_and(|a| *a == format!("Bearer {TOKEN}").as_bytes());
        let cookie = all(&header::COOKIE).iter().any(|c| {
            c.split(|&b| b == b';')
                .any(|pair| pair.trim_ascii() == format!("taskhook_{PORT}={TOKEN}").as_bytes())
        });
        assert!(bearer || cookie, "no token, yet 200");
    }
    if status == StatusCode::SEE_OTHER {
        assert_eq!(method, Method::GET);
        let location = h.get(header::LOCATION).unwrap().as_bytes();
        let query = location
            .splitn(2, |&b| b == b'?')
            .nth(1)
            .unwrap_or_default();
        assert!(
            !form_urlencoded::parse(query).any(|(k, _)| k == "token"),
            "token left in Location: {location:?}"
        );
        assert!(
            location.starts_with(b"/"),
            "redirect leaves the origin: {location:?}"
        );
        assert!(
            !location.starts_with(b"//") && !location.starts_with(b"/\\"),
            "protocol-relative redirect: {location:?}"
        );
        let cookie = h.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    }
});
