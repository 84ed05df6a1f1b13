//! The tenant-facing metrics API on its Prometheus backend (a real
//! Prometheus from Debian's `prometheus` package, scraping this server's
//! metrics listener every second), the tenant overview, and the usage
//! table for metering on both databases.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::{Method, StatusCode};
use eventflow_server::{auth::AuthMode, sync::KubeSource};
use eventflow_testenv::prometheus::Prometheus;
use serde_json::{json, Value};

use crate::{
    both_databases,
    gateway::{dead_port, gateway, send, set_ready, upstream},
    helpers::{assert_error, config, fresh_database, Db, TestApp},
};

/// A Prometheus scraping `target` every second.
fn prometheus(target: std::net::SocketAddr) -> Prometheus {
    Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: eventflow\n    static_configs:\n      - targets: ['{target}']\n"
    ))
}

/// Polls `path` until `done` holds (at most 30 s: Prometheus scrapes every
/// second), returning the last answer.
async fn until(app: &TestApp, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = app.call(Method::GET, path, Some(token), None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn sum_points(v: &Value, f: impl Fn(&Value) -> u64) -> u64 {
    v["points"].as_array().unwrap().iter().map(f).sum()
}

/// Calls through the gateway reach the API from Prometheus within a scrape,
/// counted exactly by outcome, with latency and replicas; the overview
/// ranks the tenant's functions; another tenant's function is 404; ranges
/// reach 7 days; bad ranges and steps are 422 naming the field; a
/// Prometheus that stops answering is 503.
#[tokio::test]
async fn calls_show_up_from_a_real_prometheus_counted_by_outcome() {
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let prom = prometheus(metrics_listener.local_addr().unwrap());
    let up = upstream(None).await;
    let dead = dead_port().await;
    let (url, guard) = fresh_database(Db::Sqlite).await;
    let mut cfg = config(AuthMode::Dev, KubeSource::Disabled);
    cfg.gateway = gateway(
        &[
            ("alice/ok", format!("http://{up}")),
            ("alice/dead", format!("http://{dead}")),
            ("alice/idle", format!("http://{up}")),
            ("bob/ok", format!("http://{up}")),
        ],
        8,
    );
    cfg.prometheus_url = Some(prom.url.clone());
    let app = TestApp::on_with(url, Arc::new(guard), cfg).await;
    let scraped = eventflow_server::metrics_app(app.state.clone());
    tokio::spawn(async move { axum::serve(metrics_listener, scraped).await });

    let t = app.token("alice").await;
    let b = app.token("bob").await;
    for f in ["ok", "dead", "idle"] {
        app.create(&t, json!({"name": f, "image": "nginx"})).await;
    }
    app.create(&b, json!({"name": "ok", "image": "nginx"}))
        .await;
    set_ready(&app, "alice", "ok", 1).await;
    set_ready(&app, "alice", "dead", 1).await;
    set_ready(&app, "alice", "idle", 0).await;
    set_ready(&app, "bob", "ok", 1).await;
    // The replicas gauge, as the sampler sets it every 10 s.
    eventflow_server::sampler::sample(&app.state, 10, true)
        .await
        .unwrap();
    let call = |path: &'static str, token: String| {
        let app = &app;
        async move { send(app, Method::POST, path, &token, "x", &[]).await.0 }
    };
    for _ in 0..5 {
        assert_eq!(
            call("/v1/functions/ok/invoke", t.clone()).await,
            StatusCode::CREATED
        );
    }
    for _ in 0..3 {
        assert_eq!(
            call("/v1/functions/dead/invoke", t.clone()).await,
            StatusCode::BAD_GATEWAY
        );
    }
    assert_eq!(
        call("/v1/functions/idle/invoke", t.clone()).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Bob's calls never count for alice's function of the same name.
    for _ in 0..7 {
        assert_eq!(
            call("/v1/functions/ok/invoke", b.clone()).await,
            StatusCode::CREATED
        );
    }

    let m = until(
        &app,
        &t,
        "/v1/functions/ok/metrics?range=15m&step=10s",
        |v| {
            v["summary"]["calls"]["2xx"].as_u64() >= Some(5)
                && sum_points(v, |p| p["readyReplicas"].as_u64().unwrap()) > 0
        },
    )
    .await;
    assert_eq!(m["backend"], "prometheus");
    assert_eq!(m["points"].as_array().unwrap().len(), 90);
    assert_eq!(
        m["summary"]["calls"],
        json!({"2xx": 5, "4xx": 0, "429": 0, "5xx": 0, "503": 0, "504": 0}),
        "exact counts, not extrapolated: {m}"
    );
    assert_eq!(sum_points(&m, |p| p["calls"]["2xx"].as_u64().unwrap()), 5);
    let lat = &m["summary"]["latencyMs"];
    assert!(
        lat["p50"].as_f64().unwrap() > 0.0 && lat["p50"].as_f64() <= lat["p99"].as_f64(),
        "{m}"
    );
    assert_eq!(
        m["summary"]["inFlightMax"],
        Value::Null,
        "not in Prometheus"
    );
    assert!(
        m["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["cpuCores"].is_null()),
        "nothing scrapes a kubelet here: {m}"
    );
    let d = until(&app, &t, "/v1/functions/dead/metrics?range=15m", |v| {
        v["summary"]["calls"]["5xx"].as_u64() >= Some(3)
    })
    .await;
    assert_eq!(d["summary"]["calls"]["5xx"], 3, "{d}");
    assert_eq!(d["summary"]["calls"]["2xx"], 0, "{d}");
    let i = until(&app, &t, "/v1/functions/idle/metrics?range=15m", |v| {
        v["summary"]["calls"]["503"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(i["summary"]["latencyMs"], Value::Null, "no call reached it");

    // The overview: the busiest first, every function, the quota.
    let o = until(&app, &t, "/v1/metrics?range=15m&step=10s", |v| {
        v["functions"][0]["calls"]["2xx"].as_u64() >= Some(5)
    })
    .await;
    let names: Vec<&str> = o["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ok", "dead", "idle"], "{o}");
    assert_eq!(o["functions"][1]["errors"], 3);
    assert_eq!(o["functions"][1]["errorRatio"], 1.0);
    assert_eq!(o["quota"]["pods"], 50);
    assert_eq!(
        sum_points(&o, |p| p["calls"]["2xx"].as_u64().unwrap()),
        5,
        "alice's calls only: {o}"
    );
    assert!(sum_points(&o, |p| p["pods"].as_u64().unwrap()) > 0, "{o}");
    // Bob sees his own 7 under the same name.
    let bm = until(&app, &b, "/v1/functions/ok/metrics?range=15m", |v| {
        v["summary"]["calls"]["2xx"].as_u64() >= Some(7)
    })
    .await;
    assert_eq!(bm["summary"]["calls"]["2xx"], 7, "{bm}");

    // Prometheus reaches a week; the rest is refused naming the field.
    let (s, w) = app
        .call(
            Method::GET,
            "/v1/functions/ok/metrics?range=7d",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(
        (w["rangeSeconds"].as_i64(), w["stepSeconds"].as_i64()),
        (Some(604800), Some(10800))
    );
    for (q, status, field) in [
        ("?range=8d", StatusCode::UNPROCESSABLE_ENTITY, "range"),
        (
            "?range=1h&step=15s",
            StatusCode::UNPROCESSABLE_ENTITY,
            "step",
        ),
        ("?query=up", StatusCode::BAD_REQUEST, "query"),
        (
            "?range=1h&function=dead",
            StatusCode::BAD_REQUEST,
            "function",
        ),
    ] {
        for path in ["/v1/functions/ok/metrics", "/v1/metrics"] {
            let r = app
                .call(Method::GET, &format!("{path}{q}"), Some(&t), None)
                .await;
            let code = if status == StatusCode::BAD_REQUEST {
                "bad_request"
            } else {
                "validation_failed"
            };
            assert_error(&r, status, code, Some(field));
        }
    }
    let r = app
        .call(Method::GET, "/v1/functions/dead/metrics", Some(&b), None)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);

    // Prometheus gone: 503, saying which backend.
    drop(prom);
    let r = app
        .call(Method::GET, "/v1/functions/ok/metrics", Some(&t), None)
        .await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None);
    assert!(
        r.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Prometheus"),
        "{}",
        r.1
    );
}

both_databases! {
    usage_adds_invocations_and_replica_seconds_per_tenant_per_day => |db| async move {
        let up = upstream(None).await;
        let (url, guard) = fresh_database(db).await;
        let mut cfg = config(AuthMode::Dev, KubeSource::Disabled);
        cfg.gateway = gateway(&[("alice/f", format!("http://{up}")), ("bob/f", format!("http://{up}"))], 8);
        let app = TestApp::on_with(url, Arc::new(guard), cfg).await;
        let t = app.token("alice").await;
        let b = app.token("bob").await;
        app.create(&t, json!({"name": "f", "image": "nginx"})).await;
        app.create(&b, json!({"name": "f", "image": "nginx"})).await;
        set_ready(&app, "alice", "f", 2).await;
        set_ready(&app, "bob", "f", 0).await;
        for _ in 0..4 {
            assert_eq!(send(&app, Method::POST, "/v1/functions/f/invoke", &t, "x", &[]).await.0, StatusCode::CREATED);
        }
        // Bob's call finds no ready replica: refused calls are not billed.
        assert_eq!(send(&app, Method::POST, "/v1/functions/f/invoke", &b, "x", &[]).await.0, StatusCode::SERVICE_UNAVAILABLE);
        let sampler = eventflow_server::sampler::sample;
        sampler(&app.state, 10, true).await.unwrap();
        // A replica that does not lead adds its invocations only.
        assert_eq!(send(&app, Method::POST, "/v1/functions/f/invoke", &t, "x", &[]).await.0, StatusCode::CREATED);
        sampler(&app.state, 10, false).await.unwrap();
        let admin = app.admin_token().await;
        let (s, u) = app.call(Method::GET, "/v1/admin/usage", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{u}");
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert_eq!(u["to"], today.as_str());
        assert_eq!(
            u["items"],
            json!([{"tenant": "alice", "day": today, "invocations": 5, "replicaSeconds": 20}]),
            "{u}"
        );
        // It is kept in the catalog: a restart loses none of it.
        let app = app.restart().await;
        let admin = app.admin_token().await;
        let (_, u) = app.call(Method::GET, &format!("/v1/admin/usage?from={today}&to={today}&tenant=alice"), Some(&admin), None).await;
        assert_eq!(u["items"][0]["invocations"], 5, "{u}");
        let (_, u) = app.call(Method::GET, "/v1/admin/usage?tenant=bob", Some(&admin), None).await;
        assert_eq!(u["items"], json!([]), "{u}");
        // Tenants cannot read it; bad days name the field.
        let t = app.token("alice").await;
        let r = app.call(Method::GET, "/v1/admin/usage", Some(&t), None).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden", None);
        for (q, status, field) in [
            ("?from=yesterday", StatusCode::UNPROCESSABLE_ENTITY, "from"),
            ("?to=2026-13-01", StatusCode::UNPROCESSABLE_ENTITY, "to"),
            ("?from=2026-02-01&to=2026-01-01", StatusCode::UNPROCESSABLE_ENTITY, "from"),
            ("?from=2020-01-01&to=2026-01-01", StatusCode::UNPROCESSABLE_ENTITY, "from"),
            ("?tenant=Not_A_Tenant", StatusCode::BAD_REQUEST, "tenant"),
            ("?sql=1", StatusCode::BAD_REQUEST, "sql"),
        ] {
            let r = app.call(Method::GET, &format!("/v1/admin/usage{q}"), Some(&admin), None).await;
            let code = if status == StatusCode::BAD_REQUEST { "bad_request" } else { "validation_failed" };
            assert_error(&r, status, code, Some(field));
        }
    };
}
