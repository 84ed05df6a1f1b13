//! Asynchronous invocations against real HTTP upstreams on loopback, with
//! the worker running, on SQLite and PostgreSQL.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::Request,
    http::{Method, StatusCode},
    routing::any,
    Router,
};
use eventflow_server::{
    auth::AuthMode,
    gateway::{GatewayConfig, Resolver},
    invocations::{callback::CallbackPolicy, AsyncConfig},
    sync::KubeSource,
    Config,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::both_databases;
use crate::helpers::{assert_error, config, fresh_database, Db, TestApp};

/// What an upstream saw: attempts per invocation id, and the last request.
#[derive(Default)]
struct Seen {
    attempts: Mutex<HashMap<String, u32>>,
    last: Mutex<Option<Value>>,
    /// Invocations in the order of their first attempt.
    arrivals: AtomicUsize,
    failing: AtomicBool,
}

/// An upstream that answers 503 to the first attempt of every tenth, third
/// and sixth invocation to arrive (30 %), 500 to everything while
/// `failing`, 404 on `/missing`, and 200 with the body otherwise.
async fn flaky_upstream(seen: Arc<Seen>) -> SocketAddr {
    let app = Router::new().fallback(any(move |req: Request| {
        let seen = seen.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let id = parts
                .headers
                .get("x-eventflow-invocation-id")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let attempt = {
                let mut a = seen.attempts.lock().unwrap();
                let n = a.entry(id.clone()).or_insert(0);
                *n += 1;
                *n
            };
            let headers: HashMap<String, String> = parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            *seen.last.lock().unwrap() = Some(json!({
                "method": parts.method.as_str(), "path": parts.uri.path(),
                "query": parts.uri.query(), "headers": headers,
            }));
            let status = if parts.uri.path() == "/missing" {
                404
            } else if seen.failing.load(Ordering::SeqCst) {
                500
            } else if attempt == 1 {
                let k = seen.arrivals.fetch_add(1, Ordering::SeqCst);
                if matches!(k % 10, 0 | 3 | 6) {
                    503
                } else {
                    200
                }
            } else {
                200
            };
            axum::response::Response::builder()
                .status(status)
                .header("x-upstream-attempt", attempt.to_string())
                .body(Body::from(bytes))
                .unwrap()
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn async_config() -> AsyncConfig {
    AsyncConfig {
        workers: 32,
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(5),
        retry_base: Duration::from_millis(10),
        retry_cap: Duration::from_millis(50),
        ..AsyncConfig::default()
    }
}

fn app_config(up: SocketAddr, functions: &[&str], inv: AsyncConfig) -> Config {
    let mut cfg = config(AuthMode::Dev, KubeSource::Disabled);
    cfg.gateway = GatewayConfig {
        resolver: Resolver::Static(
            functions
                .iter()
                .map(|f| (f.to_string(), format!("http://{up}")))
                .collect(),
        ),
        concurrency_per_tenant: 64,
        rate_per_tenant: 1_000_000,
    };
    cfg.invocations = inv;
    cfg
}

async fn app_with(db: Db, cfg: Config) -> TestApp {
    let (url, guard) = fresh_database(db).await;
    TestApp::on_with(url, Arc::new(guard), cfg).await
}

/// Starts the app's worker; it stops when the sender drops.
fn start_worker(app: &TestApp) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(eventflow_server::invocations::run(
        app.state.clone(),
        rx,
        Duration::from_secs(1),
    ));
    tx
}

/// `POST /v1/functions/{name}/invoke{path}` with `Prefer: respond-async`.
async fn invoke_async(
    app: &TestApp,
    token: &str,
    name_and_path: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/functions/{name_and_path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("prefer", "respond-async");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let (s, h, b) = app
        .raw(req.body(Body::from(body.to_string())).unwrap())
        .await;
    let v = serde_json::from_slice(&b).unwrap_or(Value::Null);
    (s, h, v)
}

/// Polls an invocation until `done` holds (60 s at most).
async fn wait_for(app: &TestApp, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (s, v) = app
            .call(
                Method::GET,
                &format!("/v1/invocations/{id}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if done(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "invocation {id} never got there: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every invocation of `name`, through the paged list.
async fn all_invocations(app: &TestApp, token: &str, name: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = format!("/v1/functions/{name}/invocations?limit=200");
    loop {
        let (s, v) = app.call(Method::GET, &path, Some(token), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        out.extend(v["items"].as_array().unwrap().iter().cloned());
        match v["nextCursor"].as_str() {
            Some(c) => path = format!("/v1/functions/{name}/invocations?limit=200&cursor={c}"),
            None => return out,
        }
    }
}

both_databases! {
    a_thousand_async_invocations_against_a_flaky_upstream_all_succeed => |db| async move {
        let seen = Arc::new(Seen::default());
        let up = flaky_upstream(seen.clone()).await;
        let app = app_with(db, app_config(up, &["alice/flaky"], async_config())).await;
        let t = app.token("alice").await;
        let (s, v) = app.create(&t, json!({"name": "flaky", "image": "nginx"})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let _worker = start_worker(&app);
        let mut ids = Vec::new();
        for i in 0..1000 {
            let (s, h, v) = invoke_async(&app, &t, "flaky/invoke/job?n=1", &format!("job {i}"), &[("x-trace", "t1")]).await;
            assert_eq!(s, StatusCode::ACCEPTED, "{v}");
            assert_eq!(h["location"], format!("/v1/invocations/{}", v["id"].as_str().unwrap()));
            assert_eq!(h["preference-applied"], "respond-async");
            ids.push(v["id"].as_str().unwrap().to_string());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let all = loop {
            let all = all_invocations(&app, &t, "flaky").await;
            if all.len() == 1000 && all.iter().all(|v| v["status"] == "succeeded") {
                break all;
            }
            assert!(tokio::time::Instant::now() < deadline, "not all succeeded: {:?}",
                all.iter().filter(|v| v["status"] != "succeeded").take(3).collect::<Vec<_>>());
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // Newest first, each once.
        let listed: Vec<&str> = all.iter().map(|v| v["id"].as_str().unwrap()).collect();
        let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
        expected.reverse();
        assert_eq!(listed, expected);
        // The attempts the records show are the attempts the upstream saw:
        // two for the 30 % that failed first, one for the rest.
        let upstream = seen.attempts.lock().unwrap().clone();
        let mut twice = 0;
        for v in &all {
            let id = v["id"].as_str().unwrap();
            assert_eq!(v["attempts"], json!(upstream[id]), "{v}");
            if upstream[id] == 2 { twice += 1; }
        }
        assert_eq!(twice, 300, "30 % failed their first attempt");
        // One record in full: the request as sent, each attempt.
        let one = wait_for(&app, &t, &ids[0], |v| v["status"] == "succeeded").await;
        assert_eq!(one["method"], "POST");
        assert_eq!(one["path"], "/job?n=1");
        assert_eq!(one["response"]["status"], 200);
        assert_eq!(one["response"]["body"], "job 0");
        assert_eq!(one["response"]["truncated"], false);
        assert_eq!(one["attemptLog"].as_array().unwrap().len(), upstream[&ids[0]] as usize, "{one}");
        // One that failed once (which ones depends on the order the workers
        // reach the upstream in): both attempts in its log.
        let retried = ids.iter().find(|id| upstream[id.as_str()] == 2).unwrap();
        let retried = wait_for(&app, &t, retried, |v| v["status"] == "succeeded").await;
        let log = retried["attemptLog"].as_array().unwrap();
        assert_eq!(log.len(), 2, "{retried}");
        assert_eq!((log[0]["status"].clone(), log[0]["outcome"].clone()), (json!(503), json!("retry")));
        assert_eq!((log[1]["status"].clone(), log[1]["outcome"].clone()), (json!(200), json!("succeeded")));
        // What the function saw: the kept headers and the attempt's identity.
        let last = seen.last.lock().unwrap().clone().unwrap();
        assert_eq!(last["path"], "/job");
        assert_eq!(last["query"], "n=1");
        assert_eq!(last["headers"]["x-trace"], "t1");
        assert!(last["headers"]["x-eventflow-invocation-id"].is_string());
        assert!(last["headers"].get("authorization").is_none(), "{last}");
        assert!(last["headers"].get("prefer").is_none(), "{last}");
        let m = app.metrics().await;
        assert!(m.contains("eventflow_async_attempts_total{outcome=\"retry\"} 300"), "{m}");
        assert!(m.contains("eventflow_async_attempts_total{outcome=\"succeeded\"} 1000"), "{m}");
    };

    failing_invocations_end_dead_or_failed_and_are_redriven => |db| async move {
        let seen = Arc::new(Seen::default());
        seen.failing.store(true, Ordering::SeqCst);
        let up = flaky_upstream(seen.clone()).await;
        let app = app_with(db, app_config(up, &["alice/down"], async_config())).await;
        let t = app.token("alice").await;
        let (s, v) = app.create(&t, json!({"name": "down", "image": "nginx", "retry": {"maxAttempts": 3}})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["spec"]["retry"]["maxAttempts"], 3);
        let _worker = start_worker(&app);
        let (s, _, v) = invoke_async(&app, &t, "down/invoke", "payload", &[]).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        assert_eq!(v["status"], "queued");
        assert_eq!(v["maxAttempts"], 3);
        let id = v["id"].as_str().unwrap().to_string();
        let dead = wait_for(&app, &t, &id, |v| v["status"] == "dead").await;
        assert_eq!(dead["attempts"], 3);
        assert_eq!(dead["response"]["status"], 500);
        let outcomes: Vec<&str> = dead["attemptLog"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["retry", "retry", "failed"]);
        // A 4xx is final at once.
        let (_, _, v) = invoke_async(&app, &t, "down/invoke/missing", "", &[]).await;
        let failed = wait_for(&app, &t, v["id"].as_str().unwrap(), |v| v["status"] == "failed").await;
        assert_eq!(failed["attempts"], 1);
        assert_eq!(failed["response"]["status"], 404);
        // Filters.
        let (_, l) = app.call(Method::GET, "/v1/functions/down/invocations?status=dead", Some(&t), None).await;
        assert_eq!(l["items"].as_array().unwrap().len(), 1, "{l}");
        assert_eq!(l["items"][0]["id"], json!(id));
        let r = app.call(Method::GET, "/v1/functions/down/invocations?status=gone", Some(&t), None).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("status"));
        // The function is back: re-drive the dead one.
        seen.failing.store(false, Ordering::SeqCst);
        let (s, v) = app.call(Method::POST, &format!("/v1/invocations/{id}/redrive"), Some(&t), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "queued");
        assert_eq!(v["maxAttempts"], 6);
        let ok = wait_for(&app, &t, &id, |v| v["status"] == "succeeded").await;
        assert_eq!(ok["attempts"], 4);
        assert_eq!(ok["response"]["body"], "payload");
        assert_eq!(ok["attemptLog"].as_array().unwrap().len(), 4);
        let r = app.call(Method::POST, &format!("/v1/invocations/{id}/redrive"), Some(&t), None).await;
        assert_error(&r, StatusCode::CONFLICT, "conflict", None);
        // The re-drive is audited.
        let admin = app.admin_token().await;
        let (_, audit) = app.call(Method::GET, "/v1/admin/audit", Some(&admin), None).await;
        assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "invocation.redrive"), "{audit}");
    };

    async_invocations_are_tenant_scoped_and_bounded => |db| async move {
        let seen = Arc::new(Seen::default());
        let up = flaky_upstream(seen.clone()).await;
        let inv = AsyncConfig { queue_per_tenant: 2, body_limit: 16, ..async_config() };
        let app = app_with(db, app_config(up, &["alice/f"], inv)).await;
        let alice = app.token("alice").await;
        let bob = app.token("bob").await;
        app.create(&alice, json!({"name": "f", "image": "nginx"})).await;
        app.create(&bob, json!({"name": "f", "image": "nginx"})).await;
        // No worker: what is queued stays queued.
        let (s, _, v) = invoke_async(&app, &alice, "f/invoke", "one", &[]).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let (s, _, _) = invoke_async(&app, &alice, "f/invoke", "two", &[]).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let (s, h, v) = invoke_async(&app, &alice, "f/invoke", "three", &[]).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
        assert!(h.contains_key("retry-after"));
        // Bob's queue is his own; Alice's invocations are not his to see.
        let (s, _, v) = invoke_async(&app, &bob, "f/invoke", "bob", &[]).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let r = app.call(Method::GET, &format!("/v1/invocations/{id}"), Some(&bob), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        let r = app.call(Method::POST, &format!("/v1/invocations/{id}/redrive"), Some(&bob), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        let (_, l) = app.call(Method::GET, "/v1/functions/f/invocations", Some(&bob), None).await;
        assert_eq!(l["items"].as_array().unwrap().len(), 1, "{l}");
        assert_eq!(l["items"][0]["status"], "queued");
        let r = app.call(Method::GET, "/v1/functions/nope/invocations", Some(&bob), None).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
        // Limits and bad input name what is wrong.
        let (s, _, v) = invoke_async(&app, &bob, "f/invoke", "seventeen bytes!!", &[]).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
        let (s, _, v) = invoke_async(&app, &bob, "nope/invoke", "", &[]).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        for bad in ["http://hooks.example.com/x", "https://127.0.0.1/x", "https://[::1]/x", "https://10.0.0.8/x", "not a url"] {
            let (s, _, v) = invoke_async(&app, &bob, "f/invoke", "", &[("eventflow-callback", bad)]).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
            assert_eq!(v["error"]["field"], "EventFlow-Callback", "{bad}: {v}");
        }
        let r = app.call(Method::GET, "/v1/functions/f/invocations?cursor=x", Some(&bob), None).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request", Some("cursor"));
        // Nothing reached the upstream without a worker.
        assert!(seen.attempts.lock().unwrap().is_empty());
    };

    completion_callbacks_reach_allowed_destinations_only => |db| async move {
        let seen = Arc::new(Seen::default());
        let up = flaky_upstream(seen.clone()).await;
        // A callback receiver on loopback.
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = got.clone();
        let receiver = Router::new().fallback(any(move |req: Request| {
            let sink = sink.clone();
            async move {
                let b = req.into_body().collect().await.unwrap().to_bytes();
                sink.lock().unwrap().push(serde_json::from_slice(&b).unwrap());
                "thanks"
            }
        }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, receiver).await.unwrap() });
        let loopback = AsyncConfig {
            callbacks: CallbackPolicy { allow_http: true, allowed_nets: vec!["127.0.0.0/8".parse().unwrap()] },
            ..async_config()
        };
        let app = app_with(db, app_config(up, &["alice/f"], loopback)).await;
        let t = app.token("alice").await;
        app.create(&t, json!({"name": "f", "image": "nginx"})).await;
        let _worker = start_worker(&app);
        let url = format!("http://{hook}/done");
        let (s, _, v) = invoke_async(&app, &t, "f/invoke", "hello", &[("eventflow-callback", &url)]).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let done = wait_for(&app, &t, &id, |v| v["callbackStatus"].is_string()).await;
        assert_eq!(done["callbackStatus"], "delivered: 200", "{done}");
        let calls = got.lock().unwrap().clone();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["id"], json!(id));
        assert_eq!(calls[0]["status"], "succeeded");
        assert_eq!(calls[0]["response"]["body"], "hello");
        drop(_worker);

        // The default policy: a name that resolves to loopback is refused
        // at delivery, and nothing is sent.
        let strict = app.restart_with(app_config(up, &["alice/f"], async_config())).await;
        let _worker = start_worker(&strict);
        let url = format!("https://localhost:{}/done", hook.port());
        let (s, _, v) = invoke_async(&strict, &t, "f/invoke", "again", &[("eventflow-callback", &url)]).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let done = wait_for(&strict, &t, v["id"].as_str().unwrap(), |v| v["callbackStatus"].is_string()).await;
        let status = done["callbackStatus"].as_str().unwrap();
        assert!(status.starts_with("refused:") && status.contains("not an allowed destination"), "{done}");
        assert_eq!(got.lock().unwrap().len(), 1, "the refused callback sent nothing");
    };
}

/// An upstream that records the `x-eventflow-scheduled-time` of each call.
async fn schedule_upstream(times: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let app = Router::new().fallback(any(move |req: Request| {
        let times = times.clone();
        async move {
            if let Some(t) = req.headers().get("x-eventflow-scheduled-time") {
                times.lock().unwrap().push(t.to_str().unwrap().to_string());
            }
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn start_scheduler(app: &TestApp) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(eventflow_server::invocations::scheduler::run(
        app.state.clone(),
        rx,
    ));
    tx
}

both_databases! {
    schedules_are_validated_and_show_their_runs => |db| async move {
        let up = schedule_upstream(Arc::default()).await;
        let app = app_with(db, app_config(up, &["alice/cron"], async_config())).await;
        let t = app.token("alice").await;
        // The default minimum interval is 60 s.
        let r = app.create(&t, json!({"name": "cron", "image": "nginx",
            "schedules": [{"name": "fast", "cron": "*/5 * * * * *"}]})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("schedules[0].cron"));
        let r = app.create(&t, json!({"name": "cron", "image": "nginx",
            "schedules": [{"name": "x", "cron": "0 3 * * *", "timeZone": "Nowhere/Else"}]})).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("schedules[0].timeZone"));
        let (s, f) = app.create(&t, json!({"name": "cron", "image": "nginx",
            "schedules": [{"name": "nightly", "cron": "0 3 * * *", "timeZone": "Europe/Paris", "body": "{\"report\":1}"}]})).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        assert_eq!(f["spec"]["schedules"][0]["cron"], "0 3 * * *");
        let st = &f["status"]["schedules"][0];
        assert_eq!(st["name"], "nightly");
        assert!(st["nextRunTime"].as_str().unwrap().contains("T0"), "{st}");
        assert!(st["lastRunTime"].is_null());
        // Removing the schedule removes its state.
        let (s, f) = app.call(Method::PUT, "/v1/functions/cron", Some(&t), Some(json!({"image": "nginx"}))).await;
        assert_eq!(s, StatusCode::OK, "{f}");
        assert!(f["status"].get("schedules").is_none(), "{f}");
        let due = app.state.store.due_slots(i64::MAX, 10).await.unwrap();
        assert!(due.is_empty(), "{due:?}");
    };

    a_schedule_fires_once_per_slot_across_two_replicas => |db| async move {
        let times: Arc<Mutex<Vec<String>>> = Arc::default();
        let up = schedule_upstream(times.clone()).await;
        let inv = AsyncConfig { min_schedule_interval_seconds: 1, ..async_config() };
        let cfg = app_config(up, &["alice/tick"], inv);
        let (url, guard) = fresh_database(db).await;
        let guard = Arc::new(guard);
        let a = TestApp::on_with(url.clone(), guard.clone(), cfg.clone()).await;
        let b = TestApp::on_with(url, guard, cfg).await;
        let t = a.token("alice").await;
        let (s, f) = a.create(&t, json!({"name": "tick", "image": "nginx",
            "schedules": [{"name": "every-second", "cron": "* * * * * *", "body": "tick"}]})).await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
        let _workers = (start_worker(&a), start_worker(&b));
        let schedulers = (start_scheduler(&a), start_scheduler(&b));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while times.lock().unwrap().len() < 12 {
            assert!(tokio::time::Instant::now() < deadline, "{:?}", times.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(schedulers);
        // Let the last fired ones finish.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seen = times.lock().unwrap().clone();
        let mut slots = seen.clone();
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), seen.len(), "a slot fired twice: {seen:?}");
        // Consecutive seconds: none skipped while both ran.
        let ms: Vec<i64> = slots.iter().map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()).collect();
        for w in ms.windows(2) {
            assert_eq!(w[1] - w[0], 1000, "{slots:?}");
        }
        let (_, l) = a.call(Method::GET, "/v1/functions/tick/invocations?limit=200", Some(&t), None).await;
        let items = l["items"].as_array().unwrap();
        assert_eq!(items.len(), seen.len(), "one invocation per slot: {l}");
        assert!(items.iter().all(|i| i["source"] == "schedule:every-second"), "{l}");
        let (_, f) = a.call(Method::GET, "/v1/functions/tick", Some(&t), None).await;
        let st = &f["status"]["schedules"][0];
        assert!(st["lastRunTime"].is_string() && st["lastInvocationId"].is_string(), "{f}");

        // Down for 11 slots (longer than the 10 s a late slot is caught
        // up within): on return the missed slots fire once, not eleven
        // times.
        let before = seen.len();
        tokio::time::sleep(Duration::from_millis(11_200)).await;
        let restarted_at = chrono::Utc::now().timestamp_millis();
        let _scheduler = start_scheduler(&b);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let after = times.lock().unwrap().clone();
        let missed: Vec<&String> = after[before..]
            .iter()
            .filter(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis() < restarted_at - 1000)
            .collect();
        assert_eq!(missed.len(), 1, "missed slots fire once on return: {:?}", &after[before..]);
    };
}
