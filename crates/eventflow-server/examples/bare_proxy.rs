//! A bare reverse proxy built from the gateway's own HTTP libraries and
//! nothing else: hyper's HTTP/1 server on a multi-threaded tokio runtime,
//! hyper-util's pooled client (the gateway's `HttpClient`), `TCP_NODELAY`
//! on both sides, the request's method, path, headers and body passed on
//! and the response streamed back. No routing, auth, limits, metrics or
//! logs. `bench/gateway-vs-nginx` runs it beside nginx and the gateway, so
//! that the gap to nginx splits into what the HTTP stack costs and what
//! EventFlow's own layers cost. Not a product; a yardstick.
//!
//! ```text
//! cargo run --release -p eventflow-server --example bare_proxy -- LISTEN UPSTREAM
//! ```

use std::convert::Infallible;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = Client<HttpConnector, Incoming>;

async fn proxy(
    client: Upstream,
    upstream: &'static str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = format!("{upstream}{path}").parse().expect("valid URI");
    *req.uri_mut() = uri;
    Ok(match client.request(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => Response::builder()
            .status(502)
            .body(Body::from(e.to_string()))
            .expect("valid response"),
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (listen, upstream) = match args.as_slice() {
        [_, l, u] => (l.clone(), u.trim_end_matches('/').to_string()),
        _ => {
            panic!("usage: bare_proxy LISTEN UPSTREAM (e.g. 127.0.0.1:8080 http://127.0.0.1:9000)")
        }
    };
    let upstream: &'static str = Box::leak(upstream.into_boxed_str());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .expect("bind the listen address");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let client = client.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| proxy(client.clone(), upstream, req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}
