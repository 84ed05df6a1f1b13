//! The embedded metrics store under 1,000 functions: memory at its worst
//! (every function called every 10 s for a day, so every bucket of both
//! tiers exists) against the documented bound, and the cost of recording
//! one call beside the peer the gateway already pays per call (a
//! Prometheus counter with tenant, function and code labels). Run with
//! `cargo bench -p eventflow-server --bench series` (figures in
//! docs/PERFORMANCE.md).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::Instant;

use eventflow_core::{FunctionName, TenantId};
use eventflow_server::series::{Series, FINE, MAX_BYTES_PER_FUNCTION};
use prometheus::{IntCounterVec, Opts};

const FUNCTIONS: usize = 1000;
const TENANTS: usize = 50;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let ids: Vec<(TenantId, FunctionName)> = (0..FUNCTIONS)
        .map(|i| {
            (
                TenantId::parse(&format!("t{}", i % TENANTS)).unwrap(),
                FunctionName::parse(&format!("f{i}")).unwrap(),
            )
        })
        .collect();
    let start = 1_800_000_000i64;
    let series = Series::default();
    let before = rss_kib();
    let t = Instant::now();
    let mut calls = 0u64;
    // A day and an hour of one call per function every 10 s (the oldest
    // hour already pruned), statuses and latencies varied.
    for step in 0..((25 * 3600) / FINE) {
        let at = start + step * FINE;
        for (i, (tenant, name)) in ids.iter().enumerate() {
            let status = [200, 200, 200, 404, 503][(i + step as usize) % 5];
            series.call(tenant, name, at, status, Some(0.001 * (i % 7) as f64), 1);
            calls += 1;
        }
    }
    let took = t.elapsed();
    let after = rss_kib();
    let (functions, bytes) = series.footprint();
    println!("embedded metrics store, {functions} functions after {calls} calls (one per function every 10 s for 25 h):");
    println!(
        "  buckets: {:.1} MiB = {:.1} KiB per function (bound {:.1} KiB: {})",
        bytes as f64 / 1048576.0,
        bytes as f64 / functions as f64 / 1024.0,
        MAX_BYTES_PER_FUNCTION as f64 / 1024.0,
        if bytes <= functions * MAX_BYTES_PER_FUNCTION {
            "within"
        } else {
            "EXCEEDED"
        }
    );
    println!(
        "  process RSS grew {:.1} MiB ({} → {} KiB)",
        after.saturating_sub(before) as f64 / 1024.0,
        before,
        after
    );
    let store_ns = took.as_nanos() as f64 / calls as f64;

    // The peer: the Prometheus counter the gateway increments per call.
    let counter =
        IntCounterVec::new(Opts::new("calls", "calls"), &["tenant", "function", "code"]).unwrap();
    let t = Instant::now();
    let mut n = 0u64;
    for step in 0..(3600 / FINE) {
        for (i, (tenant, name)) in ids.iter().enumerate() {
            let code = ["200", "200", "200", "404", "503"][(i + step as usize) % 5];
            counter
                .with_label_values(&[tenant.as_str(), name.as_str(), code])
                .inc();
            n += 1;
        }
    }
    let peer_ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "  recording a call: {store_ns:.0} ns; the Prometheus counter per call: {peer_ns:.0} ns; ratio {:.2}",
        store_ns / peer_ns
    );
}
