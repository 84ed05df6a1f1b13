//! Asynchronous invocations survive a server killed mid-work: the real
//! binary is SIGKILLed while it works off a queue, started again over the
//! same catalog, and every invocation ends `succeeded`, on SQLite and on
//! PostgreSQL. At-least-once: the attempts that were under way when it died
//! run again (counted and printed).

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::Request, routing::any, Router};
use common::Server;
use serde_json::{json, Value};

const N: usize = 300;

/// A database URL for a fresh catalog: SQLite in `dir`, or a new
/// PostgreSQL database on the test server.
async fn catalog(postgres: bool, dir: &std::path::Path) -> String {
    if !postgres {
        return format!("sqlite:{}?mode=rwc", dir.join("catalog.db").display());
    }
    let admin = std::env::var("EVENTFLOW_TEST_DATABASE_URL")
        .expect("EVENTFLOW_TEST_DATABASE_URL is not set: this test needs PostgreSQL (make pg-up)");
    sqlx::any::install_default_drivers();
    let name = format!("ef_crash_{}", std::process::id());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to PostgreSQL");
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

async fn json_call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn killed_mid_work_loses_nothing(postgres: bool) {
    // An upstream that takes 150 ms per call and counts the calls per id
    // as they arrive. From the HOLD-th call on it answers nothing until
    // released: when the server is killed, the calls it has under way are
    // known to be under way (not a matter of timing).
    const HOLD: usize = N / 4;
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let arrived = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let (counter, arrivals) = (seen.clone(), arrived.clone());
    let app = Router::new().fallback(any(move |req: Request| {
        let (counter, arrivals, mut released) =
            (counter.clone(), arrivals.clone(), released.clone());
        async move {
            let id = req.headers()["x-eventflow-invocation-id"]
                .to_str()
                .unwrap()
                .to_string();
            *counter.lock().unwrap().entry(id).or_insert(0) += 1;
            let n = arrivals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n >= HOLD {
                let _ = released.wait_for(|r| *r).await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            "done"
        }
    }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let db = catalog(postgres, dir.path()).await;
    let upstream = format!("alice/work=http://{up}");
    let args = [
        "--kubernetes",
        "off",
        "--database-url",
        db.as_str(),
        "--invoke-static",
        upstream.as_str(),
        "--async-lease-seconds",
        "2",
        "--async-workers",
        "4",
        "--async-retry-base-ms",
        "50",
        "--invoke-rate",
        "100000",
    ];
    let mut server = Server::start(dir.path(), &args);
    let http = reqwest::Client::new();
    let base = server.url();
    let (_, v) = json_call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/auth/token"),
        None,
        Some(json!({"user_id": "alice"})),
    )
    .await;
    let token = v["token"].as_str().unwrap().to_string();
    let (s, v) = json_call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/v1/functions"),
        Some(&token),
        Some(json!({"name": "work", "image": "nginx"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    for i in 0..N {
        let resp = http
            .post(format!("{base}/v1/functions/work/invoke"))
            .bearer_auth(&token)
            .header("prefer", "respond-async")
            .body(format!("job {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202, "invocation {i}");
    }
    // Kill it while it works: some done, every worker waiting on the
    // function, the rest queued.
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived.load(std::sync::atomic::Ordering::SeqCst) < HOLD + 4 {
        assert!(Instant::now() < deadline, "the worker did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.signal("-KILL");
    let before = seen.lock().unwrap().len();
    eprintln!("killed with {before} of {N} invocations begun, 4 of them under way");
    release.send_replace(true);

    // Start again over the same catalog.
    let server = Server::start(dir.path(), &args);
    let base = server.url();
    let deadline = Instant::now() + Duration::from_secs(120);
    let statuses = loop {
        let mut statuses: HashMap<String, Value> = HashMap::new();
        let mut path = format!("{base}/v1/functions/work/invocations?limit=200");
        loop {
            let (s, v) = json_call(&http, reqwest::Method::GET, &path, Some(&token), None).await;
            assert_eq!(s, 200, "{v}");
            for item in v["items"].as_array().unwrap() {
                statuses.insert(item["id"].as_str().unwrap().to_string(), item.clone());
            }
            match v["nextCursor"].as_str() {
                Some(c) => {
                    path = format!("{base}/v1/functions/work/invocations?limit=200&cursor={c}")
                }
                None => break,
            }
        }
        if statuses.len() == N && statuses.values().all(|v| v["status"] == "succeeded") {
            break statuses;
        }
        assert!(
            Instant::now() < deadline,
            "not all succeeded after the restart: {} of {} listed, {} succeeded",
            statuses.len(),
            N,
            statuses
                .values()
                .filter(|v| v["status"] == "succeeded")
                .count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), N, "every invocation reached the function");
    let twice = seen.values().filter(|n| **n > 1).count();
    // Attempts under way when it died: their records show a second attempt
    // (the function may or may not have finished the first).
    let retried: Vec<&String> = statuses
        .iter()
        .filter(|(_, v)| v["attempts"].as_u64() > Some(1))
        .map(|(id, _)| id)
        .collect();
    eprintln!(
        "{}: {N} of {N} succeeded after SIGKILL; {} were under way when it died and were tried again; {twice} of those reached the function twice",
        if postgres { "PostgreSQL" } else { "SQLite" },
        retried.len(),
    );
    // The 4 under way when it died, at least.
    assert!(retried.len() >= 4, "{retried:?}");
    assert!(retried.len() >= twice);
    for id in &retried {
        let (_, v) = json_call(
            &http,
            reqwest::Method::GET,
            &format!("{base}/v1/invocations/{id}"),
            Some(&token),
            None,
        )
        .await;
        let outcomes: Vec<&str> = v["attemptLog"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["outcome"].as_str().unwrap_or("none"))
            .collect();
        assert_eq!(outcomes, ["lost", "succeeded"], "{v}");
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_work_loses_no_invocation_sqlite() {
    killed_mid_work_loses_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_work_loses_no_invocation_postgres() {
    killed_mid_work_loses_nothing(true).await;
}
