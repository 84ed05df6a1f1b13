//! Asynchronous invocations: how fast the server accepts them (`202`s per
//! second: each one a durable write to the catalog) and how fast its worker
//! completes them against a trivial loopback upstream, on SQLite and on
//! PostgreSQL (`EVENTFLOW_TEST_DATABASE_URL`, as the tests use), beside the
//! same server's synchronous invocations of the same upstream. Run with
//! `cargo bench -p eventflow-server --bench async_invocations` (figures in
//! docs/PERFORMANCE.md). Client, server, database and upstream share this
//! machine's cores.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

mod common;

use std::time::{Duration, Instant};

use axum::{routing::any, Router};
use common::{platform, serve};
use eventflow_server::{invocations::AsyncConfig, store::Store};
use tokio::sync::watch;

const ENQUEUE_FOR: Duration = Duration::from_secs(5);
const CONCURRENCY: usize = 16;

/// Requests per second and p50/p99 of `CONCURRENCY` clients for
/// `ENQUEUE_FOR`, each request expecting `want`.
async fn load(url: &str, token: &str, asynchronous: bool) -> (usize, f64, Duration, Duration) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let deadline = Instant::now() + ENQUEUE_FOR;
    let mut tasks = vec![];
    for _ in 0..CONCURRENCY {
        let client = client.clone();
        let (url, token) = (url.to_string(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                let mut r = client.post(&url).bearer_auth(&token).body("ping");
                if asynchronous {
                    r = r.header("prefer", "respond-async");
                }
                let resp = r.send().await.unwrap();
                let want = if asynchronous { 202 } else { 200 };
                assert_eq!(resp.status().as_u16(), want);
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
    (
        all.len(),
        all.len() as f64 / ENQUEUE_FOR.as_secs_f64(),
        pct(0.5),
        pct(0.99),
    )
}

async fn postgres_url() -> Option<String> {
    let admin = std::env::var("EVENTFLOW_TEST_DATABASE_URL").ok()?;
    sqlx::any::install_default_drivers();
    let name = format!("ef_bench_async_{}", std::process::id());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

async fn run(label: &str, url: &str, upstream: &str) {
    let store = Store::connect(url).await.unwrap();
    let (state, server, token) = platform(
        &store,
        upstream,
        AsyncConfig {
            queue_per_tenant: 10_000_000,
            ..AsyncConfig::default()
        },
    )
    .await;
    let invoke = format!("{server}/v1/functions/echo/invoke");

    let (_, sync_rps, sync_p50, sync_p99) = load(&invoke, &token, false).await;
    // Accepting, with no worker running: every 202 is a committed row.
    let (n, rps, p50, p99) = load(&invoke, &token, true).await;
    // Working the queue off: the worker alone.
    let (stop, rx) = watch::channel(false);
    let started = Instant::now();
    let worker = tokio::spawn(eventflow_server::invocations::run(
        state.clone(),
        rx,
        Duration::from_secs(5),
    ));
    loop {
        let s = store.queue_stats().await.unwrap();
        if s.queued == 0 && s.running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = started.elapsed();
    let _ = stop.send(true);
    let _ = worker.await;
    println!(
        "{label:>10} | {sync_rps:>8.0} {sync_p50:>9.2?} {sync_p99:>9.2?} | {rps:>8.0} {p50:>9.2?} {p99:>9.2?} | {n:>7} in {:>6.2?} = {:>6.0}/s | {:>5.0}%",
        drained,
        n as f64 / drained.as_secs_f64(),
        100.0 * rps / sync_rps,
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let upstream = serve(Router::new().fallback(any(|| async { "pong" }))).await;
    println!(
        "asynchronous invocations: {CONCURRENCY} clients for {ENQUEUE_FOR:?}, small bodies, loopback upstream, {} workers",
        AsyncConfig::default().workers
    );
    println!(
        "{:>10} | {:>8} {:>9} {:>9} | {:>8} {:>9} {:>9} | {:>28} | {:>6}",
        "catalog", "sync r/s", "p50", "p99", "202/s", "p50", "p99", "completed", "async/sync"
    );
    let dir = tempfile::tempdir().unwrap();
    run(
        "SQLite",
        &format!("sqlite:{}?mode=rwc", dir.path().join("b.db").display()),
        &upstream,
    )
    .await;
    match postgres_url().await {
        Some(url) => run("PostgreSQL", &url, &upstream).await,
        None => println!(
            "PostgreSQL: not measured, set EVENTFLOW_TEST_DATABASE_URL (e.g. scripts/pg up; see docs/DEVELOPMENT.md)"
        ),
    }
}
