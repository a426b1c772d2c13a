//! The tunnel in front of the capture port, found without flags: TaskRouter signs the URL it
//! calls — the tunnel's public URL — so signatures can only be judged once that URL is known.
//!
//! Two agents say where they tunnel to, on loopback:
//! - **ngrok**'s agent API on 127.0.0.1:4040–4050: `GET /api/endpoints` (`endpoints[].url`,
//!   `upstream.url`), or the older `GET /api/tunnels` (`tunnels[].public_url`, `config.addr`).
//!   The endpoint whose upstream is the capture port is chosen, https first.
//! - **cloudflared**'s metrics server on 127.0.0.1:20241–20245: `GET /quicktunnel` →
//!   `{"hostname": "…"}` (a quick tunnel is always https; it does not say its upstream).
//!
//! [`watch`] keeps looking every [`POLL`] — either side may start first, and a restarted agent
//! gets a new URL — and publishes what it finds on a `watch` channel read by the capture
//! service (signatures), the inspector (top bar) and `serve` (the `public:` line).

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

/// How often the agents are asked again.
pub const POLL: Duration = Duration::from_secs(2);
/// ngrok's agent API: 4040, then the next free port when several agents run.
pub const NGROK_PORTS: RangeInclusive<u16> = 4040..=4050;
/// cloudflared's metrics server: 20241, then up to 20245.
pub const CLOUDFLARED_PORTS: RangeInclusive<u16> = 20241..=20245;

/// A public URL and where it came from (said in signature reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// Scheme and host (and port), no trailing slash.
    pub url: String,
    pub via: Via,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// `--public-url`.
    Flag,
    /// An ngrok agent API at this address.
    Ngrok(String),
    /// A cloudflared metrics server at this address.
    Cloudflared(String),
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Flag => f.write_str("--public-url"),
            Via::Ngrok(at) => write!(f, "the ngrok agent at {at}"),
            Via::Cloudflared(at) => write!(f, "the cloudflared tunnel at {at}"),
        }
    }
}

/// Where to look.
#[derive(Debug, Clone)]
pub struct Detector {
    client: reqwest::Client,
    /// The capture port: the upstream an ngrok endpoint must point at.
    capture_port: u16,
    /// Agent API base URLs to ask, in order.
    agents: Vec<String>,
}

impl Detector {
    /// The default places, skipping `own` (the inspector's port, which may be in ngrok's
    /// range), or only `api` when given (`--tunnel-api`).
    pub fn new(capture_port: u16, own: &[u16], api: Option<&str>) -> Self {
        let loopback = |port| format!("http://{}", SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        let agents = match api {
            Some(api) => vec![api.trim_end_matches('/').to_owned()],
            None => NGROK_PORTS
                .chain(CLOUDFLARED_PORTS)
                .filter(|port| !own.contains(port))
                .map(loopback)
                .collect(),
        };
        let client =
            crate::wire::client_builder(Duration::from_millis(300), Duration::from_secs(1))
                .no_proxy()
                .build()
                .expect("a client without TLS settings builds");
        Self {
            client,
            capture_port,
            agents,
        }
    }

    /// The first tunnel any agent reports for the capture port.
    pub async fn find(&self) -> Option<PublicUrl> {
        for agent in &self.agents {
            if let Some(found) = self.ask(agent).await {
                return Some(found);
            }
        }
        None
    }

    async fn ask(&self, agent: &str) -> Option<PublicUrl> {
        let via = || Via::Ngrok(agent.trim_start_matches("http://").to_owned());
        if let Some(endpoints) = self.get::<NgrokEndpoints>(agent, "/api/endpoints").await {
            let pairs = endpoints
                .endpoints
                .into_iter()
                .filter_map(|e| Some((e.url, e.upstream?.url)));
            if let Some(url) = choose(pairs, self.capture_port) {
                return Some(PublicUrl { url, via: via() });
            }
        }
        if let Some(tunnels) = self.get::<NgrokTunnels>(agent, "/api/tunnels").await {
            let pairs = tunnels
                .tunnels
                .into_iter()
                .map(|t| (t.public_url, t.config.addr));
            if let Some(url) = choose(pairs, self.capture_port) {
                return Some(PublicUrl { url, via: via() });
            }
        }
        let quick = self.get::<QuickTunnel>(agent, "/quicktunnel").await?;
        let host = quick.hostname.trim().trim_end_matches('/');
        is_host(host).then(|| PublicUrl {
            url: format!("https://{host}"),
            via: Via::Cloudflared(agent.trim_start_matches("http://").to_owned()),
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, agent: &str, path: &str) -> Option<T> {
        let response = self
            .client
            .get(format!("{agent}{path}"))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }
}

#[derive(Deserialize)]
struct NgrokEndpoints {
    endpoints: Vec<NgrokEndpoint>,
}

#[derive(Deserialize)]
struct NgrokEndpoint {
    url: String,
    upstream: Option<NgrokUpstream>,
}

#[derive(Deserialize)]
struct NgrokUpstream {
    url: String,
}

#[derive(Deserialize)]
struct NgrokTunnels {
    tunnels: Vec<NgrokTunnel>,
}

#[derive(Deserialize)]
struct NgrokTunnel {
    public_url: String,
    config: NgrokTunnelConfig,
}

#[derive(Deserialize)]
struct NgrokTunnelConfig {
    addr: String,
}

#[derive(Deserialize)]
struct QuickTunnel {
    hostname: String,
}

/// Among (public URL, upstream) pairs, the public URL whose upstream is `port`: https first.
fn choose(pairs: impl Iterator<Item = (String, String)>, port: u16) -> Option<String> {
    let mut matching: Vec<String> = pairs
        .filter(|(_, upstream)| upstream_port(upstream) == Some(port))
        .map(|(public, _)| public.trim_end_matches('/').to_owned())
        .filter(|public| {
            reqwest::Url::parse(public)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        })
        .collect();
    matching.sort_by_key(|public| !public.starts_with("https://"));
    matching.into_iter().next()
}

/// The port an ngrok upstream names: `http://localhost:8088`, `localhost:8088`, `8088`,
/// `https://host` (443).
fn upstream_port(upstream: &str) -> Option<u16> {
    let upstream = upstream.trim();
    if let Ok(port) = upstream.parse() {
        return Some(port);
    }
    let with_scheme = if upstream.contains("://") {
        upstream.to_owned()
    } else {
        format!("http://{upstream}")
    };
    reqwest::Url::parse(&with_scheme)
        .ok()?
        .port_or_known_default()
}

/// A DNS name as a quick tunnel reports it: nothing that could change the URL's meaning.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether an ngrok agent API answers at `addr` (to say what holds the inspector's port).
pub async fn is_ngrok_agent(addr: SocketAddr) -> bool {
    let detector = Detector::new(0, &[], None);
    let agent = format!("http://{addr}");
    detector
        .get::<NgrokEndpoints>(&agent, "/api/endpoints")
        .await
        .is_some()
        || detector
            .get::<NgrokTunnels>(&agent, "/api/tunnels")
            .await
            .is_some()
}

/// Asks `detector` every [`POLL`] until `stop` flips, publishing each new URL. A URL that
/// disappears stays published (an agent restarting is not a tunnel gone) until another comes.
pub async fn watch(
    detector: Detector,
    publish: watch::Sender<Option<PublicUrl>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Some(found) = detector.find().await {
            publish.send_if_modified(|current| {
                let changed = current.as_ref() != Some(&found);
                if changed {
                    tracing::info!(url = %found.url, via = %found.via, "tunnel found");
                    *current = Some(found);
                }
                changed
            });
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(public: &str, upstream: &str) -> (String, String) {
        (public.to_owned(), upstream.to_owned())
    }

    #[test]
    fn the_tunnel_to_the_capture_port_is_chosen_https_first() {
        let pairs = vec![
            pair("https://other.ngrok-free.app", "http://localhost:3000"),
            pair("http://abc.ngrok-free.app", "localhost:8088"),
            pair("https://abc.ngrok-free.app/", "http://127.0.0.1:8088"),
        ];
        assert_eq!(
            choose(pairs.clone().into_iter(), 8088).as_deref(),
            Some("https://abc.ngrok-free.app")
        );
        assert_eq!(
            choose(pairs.into_iter(), 3000).as_deref(),
            Some("https://other.ngrok-free.app")
        );
        assert_eq!(
            choose(vec![pair("https://x", "9999")].into_iter(), 8088),
            None
        );
    }

    #[test]
    fn upstreams_name_their_port_in_every_spelling_ngrok_uses() {
        assert_eq!(upstream_port("8088"), Some(8088));
        assert_eq!(upstream_port("localhost:8088"), Some(8088));
        assert_eq!(upstream_port("http://localhost:8088"), Some(8088));
        assert_eq!(upstream_port("https://localhost"), Some(443));
        assert_eq!(upstream_port("http://[::1]:8088"), Some(8088));
        assert_eq!(upstream_port("not a url"), None);
    }

    #[test]
    fn a_quick_tunnel_hostname_cannot_smuggle_a_path_or_credentials() {
        assert!(is_host("abc-def.trycloudflare.com"));
        for bad in ["", "evil.com/x", "a@b", "a b", "x:1", "h\r\n"] {
            assert!(!is_host(bad), "{bad:?}");
        }
    }
}
