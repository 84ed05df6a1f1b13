//! The invoke gateway against real HTTP servers on loopback, started here.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::Request,
    http::{Method, StatusCode},
    routing::any,
    Router,
};
use eventflow_core::{FunctionName, TenantId};
use eventflow_crd::{FunctionStatus, Phase};
use eventflow_server::gateway::{GatewayConfig, Resolver};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::helpers::TestApp;

/// An upstream that echoes what it received, sleeps on /slow, and waits on
/// a barrier on /hold.
pub(crate) async fn upstream(hold: Option<Arc<Barrier>>) -> SocketAddr {
    let app = Router::new().fallback(any(move |req: Request| {
        let hold = hold.clone();
        async move {
            let (parts, body) = req.into_parts();
            if parts.uri.path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            if parts.uri.path() == "/hold" {
                if let Some(b) = hold {
                    b.wait().await;
                }
            }
            let bytes = body.collect().await.unwrap().to_bytes();
            let headers: HashMap<String, String> = parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let echo = json!({
                "method": parts.method.to_string(),
                "path": parts.uri.path(),
                "query": parts.uri.query(),
                "headers": headers,
                "body": String::from_utf8_lossy(&bytes),
            });
            axum::response::Response::builder()
                .status(201)
                .header("content-type", "application/json")
                .header("x-upstream", "yes")
                .header("connection", "x-secret-hop")
                .header("x-secret-hop", "must not pass")
                .header("x-eventflow-error", "not_found")
                .header("set-cookie", "eventflow_session=forged; Path=/")
                .header("set-cookie", "Eventflow_Other=forged")
                .header("set-cookie", "theirs=1; Path=/")
                .body(Body::from(echo.to_string()))
                .unwrap()
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

pub(crate) async fn dead_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
    // dropped: nothing listens there any more
}

pub(crate) fn gateway(map: &[(&str, String)], concurrency: u32) -> GatewayConfig {
    GatewayConfig {
        resolver: Resolver::Static(
            map.iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        ),
        concurrency_per_tenant: concurrency,
        rate_per_tenant: 10_000,
    }
}

pub(crate) async fn set_ready(app: &TestApp, tenant: &str, name: &str, ready: i32) {
    let status = FunctionStatus {
        phase: Some(if ready > 0 {
            Phase::Running
        } else {
            Phase::Deploying
        }),
        replicas: 1,
        ready_replicas: ready,
        ..Default::default()
    };
    assert!(app
        .state
        .store
        .record_status(
            &TenantId::parse(tenant).unwrap(),
            &FunctionName::parse(name).unwrap(),
            &status
        )
        .await
        .unwrap());
}

pub(crate) async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.raw(req.body(Body::from(body.to_string())).unwrap())
        .await
}

#[tokio::test]
async fn passes_method_path_query_headers_and_body() {
    let up = upstream(None).await;
    let app = TestApp::with_gateway(gateway(&[("alice/echo", format!("http://{up}"))], 8)).await;
    let t = app.token("alice").await;
    app.create(&t, json!({"name":"echo","image":"nginx"})).await;
    set_ready(&app, "alice", "echo", 1).await;
    let (s, h, b) = send(
        &app,
        Method::PUT,
        "/v1/functions/echo/invoke/a/b%20c?x=1&y=two",
        &t,
        "hello",
        &[
            ("x-custom", "kept"),
            ("cookie", "eventflow_session=secret; theirs=1"),
            ("connection", "x-drop-me"),
            ("x-drop-me", "1"),
            ("x-request-id", "req-42"),
            ("impersonate-user", "system:admin"),
            ("impersonate-group", "system:masters"),
            ("impersonate-extra-scopes", "all"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let cookies: Vec<&str> = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        cookies,
        ["theirs=1; Path=/"],
        "a function sets its own cookies, never the platform's"
    );
    assert_eq!(h["x-upstream"], "yes");
    assert!(
        h.get("x-eventflow-error").is_none(),
        "the function's response is not marked as a platform error, even when the function sets the header"
    );
    assert!(
        h.get("x-secret-hop").is_none(),
        "hop-by-hop response headers are dropped"
    );
    assert!(
        h.get("content-security-policy").is_none() && h.get("x-frame-options").is_none(),
        "the dashboard's headers are not added to a function's response"
    );
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["path"], "/a/b%20c");
    assert_eq!(v["query"], "x=1&y=two");
    assert_eq!(v["body"], "hello");
    let hd = &v["headers"];
    assert_eq!(hd["x-custom"], "kept");
    assert!(
        hd.get("authorization").is_none(),
        "the platform token never reaches the function"
    );
    assert_eq!(
        hd["cookie"], "theirs=1",
        "platform cookies are removed, the caller's kept"
    );
    assert!(
        hd.get("x-drop-me").is_none(),
        "headers named in Connection are hop-by-hop"
    );
    assert_eq!(hd["x-request-id"], "req-42");
    for h in [
        "impersonate-user",
        "impersonate-group",
        "impersonate-extra-scopes",
    ] {
        assert!(hd.get(h).is_none(), "{h} never reaches the function: {hd}");
    }
    assert_eq!(hd["x-forwarded-proto"], "http");
    // Dot segments are refused, also percent-encoded; dots inside a name pass.
    for path in [
        "/a/../b",
        "/..",
        "/a/%2e%2e/b",
        "/a/..%2Fb",
        "/a/%2E%2E",
        "/./x",
        "/a/..%5cb",
    ] {
        let (s, h, b) = send(
            &app,
            Method::GET,
            &format!("/v1/functions/echo/invoke{path}"),
            &t,
            "",
            &[],
        )
        .await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            String::from_utf8_lossy(&b)
        );
        assert_eq!(h["x-eventflow-error"], "bad_request", "{path}");
    }
    let (s, _, b) = send(
        &app,
        Method::GET,
        "/v1/functions/echo/invoke/a..b/.well-known/x.y",
        &t,
        "",
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        serde_json::from_slice::<Value>(&b).unwrap()["path"],
        "/a..b/.well-known/x.y"
    );
    // The root path works too.
    let (s, _, b) = send(&app, Method::GET, "/v1/functions/echo/invoke", &t, "", &[]).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(serde_json::from_slice::<Value>(&b).unwrap()["path"], "/");
}

#[tokio::test]
async fn timeout_dead_upstream_and_no_replicas() {
    let up = upstream(None).await;
    let dead = dead_port().await;
    let app = TestApp::with_gateway(gateway(
        &[
            ("alice/slow", format!("http://{up}")),
            ("alice/dead", format!("http://{dead}")),
            ("alice/idle", format!("http://{up}")),
        ],
        8,
    ))
    .await;
    let t = app.token("alice").await;
    app.create(
        &t,
        json!({"name":"slow","image":"nginx","timeoutSeconds":1}),
    )
    .await;
    app.create(&t, json!({"name":"dead","image":"nginx"})).await;
    app.create(&t, json!({"name":"idle","image":"nginx"})).await;
    set_ready(&app, "alice", "slow", 1).await;
    set_ready(&app, "alice", "dead", 1).await;
    set_ready(&app, "alice", "idle", 0).await;
    let started = std::time::Instant::now();
    let (s, _, b) = send(
        &app,
        Method::GET,
        "/v1/functions/slow/invoke/slow",
        &t,
        "",
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the 1 s timeout cut the 5 s call"
    );
    let (s, h, _) = send(&app, Method::GET, "/v1/functions/dead/invoke", &t, "", &[]).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert_eq!(h["x-eventflow-error"], "bad_gateway");
    let (s, h, b) = send(&app, Method::GET, "/v1/functions/idle/invoke", &t, "", &[]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.contains_key("retry-after"));
    assert_eq!(
        serde_json::from_slice::<Value>(&b).unwrap()["error"]["code"],
        "no_ready_replicas"
    );
    // Scaled to zero is also "no ready replicas".
    app.call(
        Method::PATCH,
        "/v1/functions/slow",
        Some(&t),
        Some(json!({"replicas":0})),
    )
    .await;
    let (s, _, _) = send(&app, Method::GET, "/v1/functions/slow/invoke", &t, "", &[]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let m = app.metrics().await;
    assert!(
        m.contains(
            r#"eventflow_function_invocations_total{code="504",function="slow",tenant="alice"} 1"#
        ),
        "{m}"
    );
    assert!(
        m.contains(
            r#"eventflow_function_invocations_total{code="502",function="dead",tenant="alice"} 1"#
        ),
        "{m}"
    );
}

#[tokio::test]
async fn tenant_concurrency_limit_leaves_other_tenants_alone() {
    let barrier = Arc::new(Barrier::new(3)); // two held calls + the test
    let up = upstream(Some(barrier.clone())).await;
    let app = Arc::new(
        TestApp::with_gateway(gateway(
            &[
                ("alice/f", format!("http://{up}")),
                ("bob/f", format!("http://{up}")),
            ],
            2,
        ))
        .await,
    );
    let alice = app.token("alice").await;
    let bob = app.token("bob").await;
    app.create(&alice, json!({"name":"f","image":"nginx"}))
        .await;
    app.create(&bob, json!({"name":"f","image":"nginx"})).await;
    set_ready(&app, "alice", "f", 1).await;
    set_ready(&app, "bob", "f", 1).await;
    let mut held = vec![];
    for _ in 0..2 {
        let app = app.clone();
        let alice = alice.clone();
        held.push(tokio::spawn(async move {
            send(
                &app,
                Method::GET,
                "/v1/functions/f/invoke/hold",
                &alice,
                "",
                &[],
            )
            .await
            .0
        }));
    }
    // Wait until both calls are in flight at the upstream.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, h, _) = send(&app, Method::GET, "/v1/functions/f/invoke", &alice, "", &[]).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));
    let (s, _, _) = send(&app, Method::GET, "/v1/functions/f/invoke", &bob, "", &[]).await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "bob is served while alice is at her limit"
    );
    barrier.wait().await;
    for h in held {
        assert_eq!(h.await.unwrap(), StatusCode::CREATED);
    }
    let (s, _, _) = send(&app, Method::GET, "/v1/functions/f/invoke", &alice, "", &[]).await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "slots are released when responses finish"
    );
}

#[tokio::test]
async fn rate_limit_is_per_tenant() {
    let up = upstream(None).await;
    let mut cfg = gateway(
        &[
            ("alice/f", format!("http://{up}")),
            ("bob/f", format!("http://{up}")),
        ],
        64,
    );
    cfg.rate_per_tenant = 2; // burst 4
    let app = TestApp::with_gateway(cfg).await;
    let alice = app.token("alice").await;
    let bob = app.token("bob").await;
    for t in [&alice, &bob] {
        app.create(t, json!({"name":"f","image":"nginx"})).await;
    }
    set_ready(&app, "alice", "f", 1).await;
    set_ready(&app, "bob", "f", 1).await;
    let mut codes = vec![];
    for _ in 0..8 {
        codes.push(
            send(&app, Method::GET, "/v1/functions/f/invoke", &alice, "", &[])
                .await
                .0,
        );
    }
    assert!(codes.contains(&StatusCode::TOO_MANY_REQUESTS), "{codes:?}");
    assert_eq!(
        send(&app, Method::GET, "/v1/functions/f/invoke", &bob, "", &[])
            .await
            .0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn cross_tenant_invoke_is_404() {
    let up = upstream(None).await;
    let app = TestApp::with_gateway(gateway(&[("alice/private", format!("http://{up}"))], 8)).await;
    let alice = app.token("alice").await;
    let bob = app.token("bob").await;
    app.create(&alice, json!({"name":"private","image":"nginx"}))
        .await;
    set_ready(&app, "alice", "private", 1).await;
    for path in [
        "/v1/functions/private/invoke",
        "/v1/functions/private/invoke/x",
    ] {
        let (s, _, b) = send(&app, Method::POST, path, &bob, "x", &[]).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&b));
    }
    let (s, _, _) = send(
        &app,
        Method::POST,
        "/v1/functions/private/invoke",
        &alice,
        "x",
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = app
        .raw(
            axum::http::Request::builder()
                .uri("/v1/functions/private/invoke")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// The metrics API (embedded store): calls through the gateway show up at
/// once, by outcome, with latency percentiles; another tenant's function
/// is 404; ranges, steps and other parameters are refused naming them.
#[tokio::test]
async fn function_metrics_count_calls_by_outcome_for_their_tenant_only() {
    let up = upstream(None).await;
    let dead = dead_port().await;
    let app = TestApp::with_gateway(gateway(
        &[
            ("alice/ok", format!("http://{up}")),
            ("alice/dead", format!("http://{dead}")),
            ("alice/idle", format!("http://{up}")),
        ],
        8,
    ))
    .await;
    let t = app.token("alice").await;
    for f in ["ok", "dead", "idle"] {
        app.create(&t, json!({"name": f, "image": "nginx"})).await;
    }
    set_ready(&app, "alice", "ok", 1).await;
    set_ready(&app, "alice", "dead", 1).await;
    set_ready(&app, "alice", "idle", 0).await;
    for _ in 0..5 {
        let (s, _, _) = send(&app, Method::POST, "/v1/functions/ok/invoke", &t, "x", &[]).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    for _ in 0..3 {
        let (s, _, _) = send(
            &app,
            Method::POST,
            "/v1/functions/dead/invoke",
            &t,
            "x",
            &[],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_GATEWAY);
    }
    let (s, _, _) = send(
        &app,
        Method::POST,
        "/v1/functions/idle/invoke",
        &t,
        "x",
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);

    let metrics = |name: &str, q: &str| {
        let path = format!("/v1/functions/{name}/metrics{q}");
        let (app, t) = (&app, t.clone());
        async move { app.call(Method::GET, &path, Some(&t), None).await }
    };
    let (s, m) = metrics("ok", "?range=15m&step=10s").await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(
        (
            m["backend"].as_str(),
            m["rangeSeconds"].as_i64(),
            m["stepSeconds"].as_i64()
        ),
        (Some("embedded"), Some(900), Some(10))
    );
    assert_eq!(m["points"].as_array().unwrap().len(), 90);
    assert_eq!(
        m["summary"]["calls"],
        json!({"2xx": 5, "4xx": 0, "429": 0, "5xx": 0, "503": 0, "504": 0}),
        "{m}"
    );
    let lat = &m["summary"]["latencyMs"];
    assert!(
        lat["p50"].as_f64().unwrap() > 0.0 && lat["p50"].as_f64() <= lat["p99"].as_f64(),
        "{m}"
    );
    let busy: u64 = m["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["calls"]["2xx"].as_u64().unwrap())
        .sum();
    assert_eq!(busy, 5, "the points add up to the summary");
    assert_eq!(m["readyReplicas"], 1);
    let (_, d) = metrics("dead", "").await;
    assert_eq!(d["summary"]["calls"]["5xx"], 3, "{d}");
    assert_eq!(d["rangeSeconds"], 3600);
    let (_, i) = metrics("idle", "?range=24h").await;
    assert_eq!(i["summary"]["calls"]["503"], 1, "{i}");
    assert_eq!(i["summary"]["latencyMs"], Value::Null, "no call reached it");
    assert_eq!(i["stepSeconds"], 1800);

    // Another tenant's function is not there for bob.
    let b = app.token("bob").await;
    let r = app
        .call(Method::GET, "/v1/functions/ok/metrics", Some(&b), None)
        .await;
    crate::helpers::assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    // What is refused, naming the field.
    for (q, status, field) in [
        ("?range=5m", StatusCode::UNPROCESSABLE_ENTITY, "range"),
        ("?range=30d", StatusCode::UNPROCESSABLE_ENTITY, "range"),
        (
            "?range=1h&step=7s",
            StatusCode::UNPROCESSABLE_ENTITY,
            "step",
        ),
        (
            "?range=1h&step=1s",
            StatusCode::UNPROCESSABLE_ENTITY,
            "step",
        ),
        ("?query=up", StatusCode::BAD_REQUEST, "query"),
        ("?range=1h&tenant=bob", StatusCode::BAD_REQUEST, "tenant"),
    ] {
        let r = metrics("ok", q).await;
        let code = if status == StatusCode::BAD_REQUEST {
            "bad_request"
        } else {
            "validation_failed"
        };
        crate::helpers::assert_error(&r, status, code, Some(field));
    }
    // A deleted function's series goes with it.
    app.call(Method::DELETE, "/v1/functions/ok", Some(&t), None)
        .await;
    app.create(&t, json!({"name": "ok", "image": "nginx"}))
        .await;
    let (_, m) = metrics("ok", "?range=15m").await;
    assert_eq!(m["summary"]["calls"]["2xx"], 0, "{m}");
}
