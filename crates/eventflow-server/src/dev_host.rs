//! Dev mode answers only requests addressed to a loopback host name.
//!
//! A dev server mints a token for anyone who asks. A web page the developer
//! visits could reach it anyway by DNS rebinding (its own name, resolved to
//! 127.0.0.1): the browser then sends the page's host name in `Host`. So in
//! dev mode a request whose `Host` is not `localhost`, `*.localhost`, a
//! 127.0.0.0/8 address or `[::1]` (or a name given with `--allowed-host`)
//! is refused with 403. Requests without a `Host` (not from a browser) pass.

use std::{net::IpAddr, sync::Arc};

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{auth::AuthMode, error::ApiError, AppState};

/// The host name of a `Host` header value: without the port, brackets,
/// trailing dot or case.
fn host_name(host: &str) -> String {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        },
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether dev mode answers a request with this `Host`.
pub fn host_allowed(host: &str, extra: &[String]) -> bool {
    let name = host_name(host);
    let loopback = name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback || extra.iter().any(|e| host_name(e) == name)
}

/// The middleware: a no-op in production mode.
pub async fn check(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if state.config.auth_mode == AuthMode::Dev {
        let host = req
            .headers()
            .get(header::HOST)
            .map(|h| h.to_str().unwrap_or("(not text)").to_string())
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        if let Some(host) = host.filter(|h| !host_allowed(h, &state.config.allowed_hosts)) {
            return ApiError::Forbidden(format!(
                "this dev-mode server answers only loopback host names, not {host:?} \
                 (add it with --allowed-host if you mean it)"
            ))
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn loopback_names_pass_and_others_do_not() {
        for h in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.",
            "app.localhost:3000",
            "127.0.0.1",
            "127.1.2.3:8080",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(host_allowed(h, &[]), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1",
            "[::2]:8080",
            "0.0.0.0",
            "",
        ] {
            assert!(!host_allowed(h, &[]), "{h}");
        }
        let extra = ["devbox.lan".to_string()];
        assert!(host_allowed("DevBox.lan:8080", &extra));
        assert!(!host_allowed("other.lan", &extra));
    }
}
