//! 50 MB through the real gateway binary in both directions, with the
//! server's peak memory (VmHWM) checked to stay far below the body size.

mod common;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use axum::{body::Body, routing::any, Router};
use common::bash;
use futures::StreamExt;

const SIZE: u64 = 50 * 1024 * 1024;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

async fn upstream() -> std::net::SocketAddr {
    let app = Router::new()
        .route(
            "/sink",
            any(|body: Body| async move {
                let mut n = 0u64;
                let mut s = body.into_data_stream();
                while let Some(chunk) = s.next().await {
                    n += chunk.unwrap().len() as u64;
                }
                n.to_string()
            }),
        )
        .route(
            "/big",
            any(|| async {
                let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                let count = SIZE / chunk.len() as u64;
                let s = futures::stream::iter(
                    (0..count).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                );
                Body::from_stream(s)
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

/// [`bash`], without the trailing newline.
fn sh(script: &str) -> String {
    bash(script).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_stream_both_ways_without_buffering() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventflow"))
        .args([
            "server",
            "--dev",
            "--kubernetes",
            "off",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--invoke-static", &format!("alice/big=http://{up}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Command::new("curl")
        .args(["-sf", &format!("http://127.0.0.1:{port}/readyz")])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "server not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base = format!("http://127.0.0.1:{port}");
    let token = sh(&format!(
        r#"curl -s -X POST {base}/auth/token -H 'Content-Type: application/json' -d '{{"user_id":"alice"}}' | jq -r .token"#
    ));
    sh(&format!(
        r#"curl -sf -X POST {base}/v1/functions -H "Authorization: Bearer {token}" -H 'Content-Type: application/json' -d '{{"name":"big","image":"nginx","timeoutSeconds":60}}' >/dev/null"#
    ));
    let before = peak_rss_kib(pid);
    let script_base = base.clone();
    let tok = token.clone();
    let (uploaded, downloaded) = tokio::task::spawn_blocking(move || {
        let up = sh(&format!(
            r#"head -c {SIZE} /dev/zero | curl -sf -X POST --data-binary @- -H "Authorization: Bearer {tok}" -H 'Content-Type: application/octet-stream' {script_base}/v1/functions/big/invoke/sink"#
        ));
        let down = sh(&format!(
            r#"curl -sf -H "Authorization: Bearer {tok}" {script_base}/v1/functions/big/invoke/big | wc -c"#
        ));
        (up, down)
    })
    .await
    .unwrap();
    let after = peak_rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        uploaded,
        SIZE.to_string(),
        "the upstream received every byte"
    );
    assert_eq!(
        downloaded,
        SIZE.to_string(),
        "the client received every byte"
    );
    let grew_kib = after.saturating_sub(before);
    eprintln!(
        "server peak RSS: {before} KiB before, {after} KiB after 2 × 50 MiB (grew {grew_kib} KiB)"
    );
    assert!(
        grew_kib < 16 * 1024,
        "peak RSS grew by {grew_kib} KiB while streaming 50 MiB each way: bodies are being buffered"
    );
}
