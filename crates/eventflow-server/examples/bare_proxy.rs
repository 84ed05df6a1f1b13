//! A bare reverse proxy built from the gateway's own HTTP libraries and
//! nothing else: hyper's HTTP/1 server on one single-threaded tokio runtime
//! per core (as the server's HTTP workers; `shared`: one multi-threaded
//! runtime), hyper-util's pooled client (the gateway's `HttpClient`, one
//! per thread), `TCP_NODELAY`
//! on both sides, the request's method, path, headers and body passed on
//! and the response streamed back. No routing, auth, limits, metrics or
//! logs. `bench/gateway-vs-nginx` runs it beside nginx and the gateway, so
//! that the gap to nginx splits into what the HTTP stack costs and what
//! EventFlow's own layers cost. Not a product; a yardstick.
//!
//! ```text
//! cargo run --release -p eventflow-server --example bare_proxy -- LISTEN UPSTREAM [per-core|shared]
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (listen, upstream, mode) = match args.as_slice() {
        [_, l, u] => (l.clone(), u.clone(), "per-core"),
        [_, l, u, m] => (l.clone(), u.clone(), m.as_str()),
        _ => panic!(
            "usage: bare_proxy LISTEN UPSTREAM [per-core|shared] (e.g. 127.0.0.1:8080 http://127.0.0.1:9000)"
        ),
    };
    let upstream: &'static str =
        Box::leak(upstream.trim_end_matches('/').to_string().into_boxed_str());
    let listener = std::net::TcpListener::bind(&listen).expect("bind the listen address");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking socket");
    match mode {
        // As the gateway (and nginx's worker processes): one single-threaded
        // runtime per core, all accepting from the same socket, each with its
        // own client pool, so no request's work moves between threads.
        "per-core" => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            let workers: Vec<_> = (0..n)
                .map(|_| {
                    let listener = listener.try_clone().expect("a socket");
                    std::thread::spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("a runtime")
                            .block_on(serve(listener, upstream))
                    })
                })
                .collect();
            for w in workers {
                w.join().expect("a worker");
            }
        }
        // One multi-threaded runtime, one client pool.
        "shared" => tokio::runtime::Runtime::new()
            .expect("a runtime")
            .block_on(serve(listener, upstream)),
        other => panic!("unknown mode {other}: per-core or shared"),
    }
}

async fn serve(listener: std::net::TcpListener, upstream: &'static str) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
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
