//! Gateway overhead: the same loopback upstream called directly and through
//! the gateway, small bodies, at 1, 16 and 64 concurrent connections.
//! Prints requests/s, p50 and p99 latency and the ratios. Run with
//! `cargo bench -p eventflow-server --bench gateway` (figures in
//! docs/PERFORMANCE.md). Client, gateway and upstream share this machine's
//! cores, so absolute numbers are lower than on separate hosts.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

mod common;

use std::time::{Duration, Instant};

use axum::{routing::any, Router};
use common::{platform, serve};
use eventflow_server::store::Store;

const PER_LEVEL: Duration = Duration::from_secs(4);

struct Run {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(url: &str, token: Option<&str>, concurrency: usize) -> Run {
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    // Warm up connections.
    for _ in 0..concurrency * 4 {
        let mut r = client.post(url).body("ping");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap().bytes().await.unwrap();
    }
    let deadline = Instant::now() + PER_LEVEL;
    let mut tasks = vec![];
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_string();
        let token = token.map(str::to_string);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            while Instant::now() < deadline {
                let start = Instant::now();
                let mut r = client.post(&url).body("ping");
                if let Some(t) = &token {
                    r = r.bearer_auth(t);
                }
                let resp = r.send().await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                resp.bytes().await.unwrap();
                lat.push(start.elapsed());
            }
            lat
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Run {
        rps: all.len() as f64 / PER_LEVEL.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

#[tokio::main]
async fn main() {
    let upstream = serve(Router::new().fallback(any(|| async { "pong" }))).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!(
        "sqlite:{}?mode=rwc",
        dir.path().join("b.db").display()
    ))
    .await
    .unwrap();
    let (_state, gateway, token) = platform(&store, &upstream, Default::default()).await;

    println!("gateway benchmark: small POST bodies on loopback, {PER_LEVEL:?} per level");
    println!(
        "{:>5} | {:>10} {:>9} {:>9} | {:>10} {:>9} {:>9} | {:>9} {:>10}",
        "conc", "direct r/s", "p50", "p99", "gw r/s", "p50", "p99", "gw/direct", "p50 added"
    );
    for c in [1usize, 16, 64] {
        let direct = load(&format!("{upstream}/"), None, c).await;
        let via = load(
            &format!("{gateway}/v1/functions/echo/invoke"),
            Some(&token),
            c,
        )
        .await;
        println!(
            "{c:>5} | {:>10.0} {:>9.3?} {:>9.3?} | {:>10.0} {:>9.3?} {:>9.3?} | {:>8.0}% {:>10.3?}",
            direct.rps,
            direct.p50,
            direct.p99,
            via.rps,
            via.p50,
            via.p99,
            100.0 * via.rps / direct.rps,
            via.p50.saturating_sub(direct.p50),
        );
    }
}
