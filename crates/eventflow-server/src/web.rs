//! Serves the dashboard's built assets with an SPA fallback: unknown paths
//! get `index.html`. Hashed files under `/assets/` are cached for a year;
//! everything else must be revalidated.

use std::{path::Path, sync::Arc};

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::{self, Next},
    response::Response,
    Router,
};
use tower_http::services::{ServeDir, ServeFile};

use crate::AppState;

async fn cache_headers(req: Request, next: Next) -> Response {
    let immutable = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let value = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    resp
}

/// The dashboard's Content-Security-Policy: only its own scripts, styles
/// and API; data: images (the inline icon); no framing, no plugins, no
/// `<base>` tricks, forms only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every response of the platform's own (dashboard and
/// API; not on a function's response passed through the invoke gateway,
/// which keeps the headers the function sets): CSP, no framing, no MIME
/// sniffing, no referrer.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

pub fn router(dir: &Path) -> Router<Arc<AppState>> {
    let index = dir.join("index.html");
    let files = ServeDir::new(dir).fallback(ServeFile::new(index));
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers))
}
