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

pub fn router(dir: &Path) -> Router<Arc<AppState>> {
    let index = dir.join("index.html");
    let files = ServeDir::new(dir).fallback(ServeFile::new(index));
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers))
}
