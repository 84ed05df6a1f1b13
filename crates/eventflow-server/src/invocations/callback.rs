//! Completion callbacks: when an asynchronous invocation ends, its result
//! is POSTed to the URL the caller named (`EventFlow-Callback`), if the
//! platform's policy allows that destination.
//!
//! The policy keeps callbacks from reaching what the server can reach and
//! the caller cannot: by default only `https` URLs whose every address is a
//! public one (no loopback, private, link-local, shared, multicast or
//! otherwise special range, IPv4 or IPv6, including IPv4-mapped IPv6). The
//! name is resolved once at delivery and the connection goes to the
//! checked address (no second lookup to rebind). Redirects are not
//! followed and no proxy is used. An operator may allow plain `http` and
//! extra ranges (`--callback-allow-http`, `--callback-allow-cidr`), e.g.
//! loopback in tests.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use ipnet::IpNet;
use serde_json::json;

use crate::store::InvocationRow;
use crate::AppState;

#[derive(Debug, Clone, Default)]
pub struct CallbackPolicy {
    /// Allow `http://` callbacks (default: `https://` only).
    pub allow_http: bool,
    /// Ranges allowed although not public.
    pub allowed_nets: Vec<IpNet>,
}

/// Whether `ip` is an ordinary public address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                // 100.64.0.0/10, shared address space (carrier-grade NAT)
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // 192.0.0.0/24 protocol assignments
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                // 198.18.0.0/15 benchmarking
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                // 240.0.0.0/4 reserved
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                // fc00::/7 unique local
                || (s[0] & 0xfe00) == 0xfc00
                // fe80::/10 link local
                || (s[0] & 0xffc0) == 0xfe80
                // 64:ff9b::/96 and 64:ff9b:1::/48 translation
                || (s[0] == 0x64 && s[1] == 0xff9b)
                // 2001:db8::/32 documentation
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // ::/96 IPv4-compatible (deprecated)
                || s[..6].iter().all(|x| *x == 0))
        }
    }
}

impl CallbackPolicy {
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.allowed_nets.iter().any(|n| n.contains(&ip)) || is_public(ip)
    }

    /// Checks a callback URL when the invocation is accepted: absolute,
    /// `https` (or `http` when allowed), no user info, and an address
    /// literal must be allowed. Names are checked again at delivery.
    pub fn check_url(&self, text: &str) -> Result<String, String> {
        let uri: axum::http::Uri = text.parse().map_err(|_| "not a URL".to_string())?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.allow_http => {}
            Some("http") => return Err("only https callbacks are allowed".into()),
            _ => return Err("the URL must start with https://".into()),
        }
        let authority = uri.authority().ok_or("the URL has no host")?;
        if authority.as_str().contains('@') {
            return Err("user info in the URL is not allowed".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !self.allows_ip(ip) {
                return Err(format!("{ip} is not an allowed destination"));
            }
        }
        if text.len() > 2048 {
            return Err("the URL is longer than 2048 bytes".into());
        }
        Ok(text.to_string())
    }

    /// The address to connect to for `url`: every address its host resolves
    /// to must be allowed (one bad address refuses the whole name).
    pub async fn resolve(&self, url: &str) -> Result<(String, SocketAddr), String> {
        let uri: axum::http::Uri = url.parse().map_err(|_| "not a URL".to_string())?;
        let authority = uri.authority().ok_or("the URL has no host")?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            });
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("could not resolve {host}: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} has no address"));
        }
        if let Some(bad) = addrs.iter().find(|a| !self.allows_ip(a.ip())) {
            return Err(format!(
                "{host} resolves to {}, not an allowed destination",
                bad.ip()
            ));
        }
        Ok((host, addrs[0]))
    }
}

/// The JSON a callback receives.
fn payload(row: &InvocationRow) -> serde_json::Value {
    let response = row.response.as_ref().map(|r| {
        let mut v = json!({
            "status": r.status,
            "headers": r.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "truncated": r.truncated,
        });
        match std::str::from_utf8(&r.body) {
            Ok(text) => v["body"] = json!(text),
            Err(_) => {
                v["bodyBase64"] = json!(base64::engine::general_purpose::STANDARD.encode(&r.body))
            }
        }
        v
    });
    json!({
        "id": row.id,
        "function": row.name.as_str(),
        "status": row.status.as_str(),
        "attempts": row.attempts,
        "lastError": row.last_error,
        "response": response,
    })
}

/// Delivers the result of a finished invocation to its callback: up to 3
/// tries, 10 s each; records what happened on the invocation
/// (`callbackStatus`). Not durable: a server that stops meanwhile does not
/// deliver it (the result stays readable with `GET`).
pub async fn deliver(state: &AppState, row: &InvocationRow) {
    let Some(url) = &row.callback_url else {
        return;
    };
    let policy = &state.config.invocations.callbacks;
    let outcome = match policy.resolve(url).await {
        Err(why) => format!("refused: {why}"),
        Ok((host, addr)) => {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .resolve(&host, addr)
                .build();
            match client {
                Err(e) => format!("failed: {e}"),
                Ok(client) => {
                    let body = payload(row);
                    let mut last = String::new();
                    for n in 0..3u32 {
                        if n > 0 {
                            tokio::time::sleep(Duration::from_secs(u64::from(n) * 2)).await;
                        }
                        match client
                            .post(url)
                            .header("x-eventflow-invocation-id", &row.id)
                            .json(&body)
                            .send()
                            .await
                        {
                            Ok(r) if r.status().is_success() => {
                                last = format!("delivered: {}", r.status().as_u16());
                                break;
                            }
                            Ok(r) => {
                                last =
                                    format!("failed: the callback answered {}", r.status().as_u16())
                            }
                            Err(e) => last = format!("failed: {e}"),
                        }
                    }
                    last
                }
            }
        }
    };
    tracing::info!(invocation = %row.id, callback = %outcome, "completion callback");
    if let Err(e) = state.store.record_callback(row.seq, &outcome).await {
        tracing::warn!(error = %e, "could not record the callback's outcome");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "93.184.216.34"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn callback_urls_are_checked_against_the_policy() {
        let strict = CallbackPolicy::default();
        assert!(strict.check_url("https://hooks.example.com/done").is_ok());
        assert!(strict.check_url("http://hooks.example.com/done").is_err());
        assert!(strict.check_url("https://127.0.0.1/x").is_err());
        assert!(strict.check_url("https://[::1]:8443/x").is_err());
        assert!(strict.check_url("https://169.254.169.254/latest").is_err());
        assert!(strict
            .check_url("https://user:pw@hooks.example.com/")
            .is_err());
        assert!(strict.check_url("/relative").is_err());
        assert!(strict.check_url("ftp://hooks.example.com/").is_err());
        let loopback = CallbackPolicy {
            allow_http: true,
            allowed_nets: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(loopback.check_url("http://127.0.0.1:9/x").is_ok());
        assert!(loopback.check_url("http://10.0.0.1/x").is_err());
    }

    #[tokio::test]
    async fn a_name_is_refused_when_any_of_its_addresses_is() {
        let strict = CallbackPolicy::default();
        let e = strict
            .resolve("https://localhost:8443/x")
            .await
            .unwrap_err();
        assert!(e.contains("not an allowed destination"), "{e}");
        let loopback = CallbackPolicy {
            allow_http: true,
            allowed_nets: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        };
        let (host, addr) = loopback.resolve("http://localhost:8080/x").await.unwrap();
        assert_eq!(host, "localhost");
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), 8080);
    }
}
