//! Graceful shutdown of the real binary: on SIGTERM readiness fails first,
//! the requests in flight finish (on every HTTP worker thread), then the
//! process exits 0.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use axum::{routing::any, Router};
use common::{http, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_then_drains_then_exits() {
    // An upstream that takes 2 s to answer.
    let app = Router::new().fallback(any(|| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        "done"
    }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[
            "--kubernetes",
            "off",
            "--shutdown-delay-seconds",
            "1",
            "--http-workers",
            "3",
            "--invoke-static",
            &format!("alice/slow=http://{up}"),
        ],
    );
    let port = server.port;
    let (token, pid) = tokio::task::spawn_blocking(move || {
        let (_, b) = http(port, "POST", "/auth/token", None, r#"{"user_id":"alice"}"#);
        let token = serde_json::from_str::<serde_json::Value>(&b).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, b) = http(
            port,
            "POST",
            "/v1/functions",
            Some(&token),
            r#"{"name":"slow","image":"nginx"}"#,
        );
        assert_eq!(s, 201, "{b}");
        token
    })
    .await
    .map(|t| (t, server.child.id()))
    .unwrap();

    // Connections are served by the threads asked for.
    let mut workers: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("http-worker-"))
        .collect();
    workers.sort();
    assert_eq!(
        workers,
        ["http-worker-0", "http-worker-1", "http-worker-2"],
        "--http-workers 3"
    );

    // Requests in flight, on connections of their own (spread over the
    // workers)...
    let in_flight: Vec<_> = (0..6)
        .map(|_| {
            let token = token.clone();
            tokio::task::spawn_blocking(move || {
                http(port, "POST", "/v1/functions/slow/invoke", Some(&token), "")
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...when SIGTERM arrives.
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = tokio::task::spawn_blocking(move || http(port, "GET", "/readyz", None, ""))
        .await
        .unwrap();
    assert_eq!(
        ready.0, 503,
        "readiness fails as soon as shutdown starts: {}",
        ready.1
    );
    for request in in_flight {
        let (status, body) = request.await.unwrap();
        assert_eq!(
            (status, body.as_str()),
            (200, "done"),
            "every in-flight request finished"
        );
    }
    let started = Instant::now();
    let exit = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        std::mem::forget(server);
        status
    })
    .await
    .unwrap();
    assert!(exit.success(), "exit status {exit}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
