//! Kubernetes-side tests against the real control plane from testenv/
//! (`testenv/up`). They fail, never skip, when it is not running.
//!
//! No operator runs here, so where the operator would create the tenant's
//! namespace from the Tenant resource, the test creates it.

use std::{future::Future, sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use eventflow_crd::{
    Function, Tenant, CATALOG_GENERATION_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
};
use eventflow_server::{auth::AuthMode, sync::KubeSource};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
    Api, Client,
};
use serde_json::json;
use tokio::sync::watch;

use crate::helpers::{fresh_database, Db, DbGuard, TestApp};

fn unique_tenant() -> String {
    format!("kt-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn testenv_source() -> KubeSource {
    KubeSource::File(eventflow_testenv::kubeconfig_path())
}

async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the app's sync loop until the returned sender is dropped.
fn start_sync(app: &TestApp) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(app.state.sync.clone().run(rx));
    tx
}

/// Installs the CRDs (as the sync does on connect) for tests that read CRs
/// before any sync has run, and waits until they are served.
async fn ensure_crds(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::CustomResourceExt;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [Tenant::crd(), Function::crd()] {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(
            &name,
            &PatchParams::apply(eventflow_crd::API_FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        let crds = &crds;
        let name = &name;
        eventually("the CRD to be established", || async move {
            crds.get(name)
                .await
                .ok()?
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await;
    }
}

/// A kubeconfig (in a temporary directory, kept alive by the guard) for an
/// API server at `server` that is never really there.
fn kubeconfig_for(server: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: x\n"),
    )
    .unwrap();
    (dir, kubeconfig)
}

/// Stands in for the operator: creates `tenant-{id}`.
async fn create_namespace(client: &Client, tenant: &str) {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(format!("tenant-{tenant}")),
            ..Default::default()
        },
        ..Default::default()
    };
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(ae)) if ae.code == 409 => {}
        Err(e) => panic!("create namespace: {e}"),
    }
}

async fn cleanup(client: &Client, tenant: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&format!("tenant-{tenant}"), &DeleteParams::background())
        .await;
    let _ = Api::<Tenant>::all(client.clone())
        .delete(tenant, &DeleteParams::default())
        .await;
}

#[tokio::test]
async fn function_lifecycle_reaches_the_cluster() {
    let client = eventflow_testenv::client().await;
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, testenv_source()).await;
    let _sync = start_sync(&app);
    let tenant = unique_tenant();
    let token = app.token(&tenant).await;
    let (s, v) = app
        .create(
            &token,
            json!({"name":"hello","image":"nginx:alpine","replicas":1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let tenants: Api<Tenant> = Api::all(client.clone());
    let t = tenant.clone();
    eventually("the Tenant CR", || {
        let tenants = tenants.clone();
        let t = t.clone();
        async move { tenants.get_opt(&t).await.ok().flatten() }
    })
    .await;
    // Until the namespace exists the API says why the function is pending.
    let app_ref = &app;
    let token_ref = &token;
    eventually("reason WaitingForNamespace", || async move {
        let (_, v) = app_ref
            .call(Method::GET, "/v1/functions/hello", Some(token_ref), None)
            .await;
        (v["status"]["reason"] == "WaitingForNamespace").then_some(())
    })
    .await;
    create_namespace(&client, &tenant).await;

    let functions: Api<Function> = Api::namespaced(client.clone(), &format!("tenant-{tenant}"));
    let cr = eventually("the Function CR", || {
        let functions = functions.clone();
        async move { functions.get_opt("hello").await.ok().flatten() }
    })
    .await;
    assert_eq!(cr.spec.image, "nginx:alpine");
    assert_eq!(cr.spec.resources.limits.memory, "512Mi");
    assert_eq!(
        cr.metadata.labels.as_ref().unwrap()[MANAGED_BY_LABEL],
        MANAGED_BY_VALUE
    );
    let v = eventually("status.synced in the API", || async move {
        let (_, v) = app_ref
            .call(Method::GET, "/v1/functions/hello", Some(token_ref), None)
            .await;
        (v["status"]["synced"] == true).then_some(v)
    })
    .await;
    assert_eq!(v["status"]["reason"], "AwaitingOperator", "{v}");

    // An update reaches the CR.
    let (s, _) = app
        .call(
            Method::PATCH,
            "/v1/functions/hello",
            Some(&token),
            Some(json!({"replicas": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    eventually("replicas 2 on the CR", || {
        let functions = functions.clone();
        async move {
            let f = functions.get("hello").await.ok()?;
            (f.spec.replicas == 2 && f.annotations()[CATALOG_GENERATION_ANNOTATION] == "2")
                .then_some(())
        }
    })
    .await;

    // Status written by the operator is copied back to the API.
    let status = json!({"status": {"phase": "Running", "replicas": 2, "readyReplicas": 2,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": ""}]}});
    functions
        .patch_status("hello", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("patch status");
    eventually("phase Running in the API", || async move {
        let (_, v) = app_ref
            .call(Method::GET, "/v1/functions/hello", Some(token_ref), None)
            .await;
        (v["status"]["phase"] == "Running" && v["status"]["readyReplicas"] == 2).then_some(())
    })
    .await;

    // Deleting the function removes the CR.
    let (s, _) = app
        .call(Method::DELETE, "/v1/functions/hello", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    eventually("the Function CR to go", || {
        let functions = functions.clone();
        async move {
            functions
                .get_opt("hello")
                .await
                .ok()
                .and_then(|f| f.is_none().then_some(()))
        }
    })
    .await;
    cleanup(&client, &tenant).await;
}

use kube::ResourceExt;

#[tokio::test]
async fn crash_between_commit_and_apply_converges_after_restart() {
    let client = eventflow_testenv::client().await;
    ensure_crds(&client).await;
    let tenant = unique_tenant();
    create_namespace(&client, &tenant).await;
    let (url, guard) = fresh_database(Db::Sqlite).await;
    let guard: Arc<DbGuard> = Arc::new(guard);
    // First life: the row and its outbox entry commit, and the process dies
    // before anything reaches Kubernetes (its sync never runs).
    let first = TestApp::on(url.clone(), guard.clone(), AuthMode::Dev, testenv_source()).await;
    let token = first.token(&tenant).await;
    let (s, _) = first
        .create(&token, json!({"name":"survivor","image":"busybox:1.36"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let functions: Api<Function> = Api::namespaced(client.clone(), &format!("tenant-{tenant}"));
    assert!(functions.get_opt("survivor").await.unwrap().is_none());
    drop(first);
    // Second life: the outbox is drained and the CR appears.
    let second = TestApp::on(url, guard, AuthMode::Dev, testenv_source()).await;
    let _sync = start_sync(&second);
    let cr = eventually("the Function CR after restart", || {
        let functions = functions.clone();
        async move { functions.get_opt("survivor").await.ok().flatten() }
    })
    .await;
    assert_eq!(cr.spec.image, "busybox:1.36");
    cleanup(&client, &tenant).await;
}

#[tokio::test]
async fn resync_restores_deleted_crs_and_removes_orphans() {
    let client = eventflow_testenv::client().await;
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, testenv_source()).await;
    let _sync = start_sync(&app);
    let tenant = unique_tenant();
    create_namespace(&client, &tenant).await;
    let token = app.token(&tenant).await;
    app.create(&token, json!({"name":"kept","image":"nginx"}))
        .await;
    let functions: Api<Function> = Api::namespaced(client.clone(), &format!("tenant-{tenant}"));
    eventually("the Function CR", || {
        let functions = functions.clone();
        async move { functions.get_opt("kept").await.ok().flatten() }
    })
    .await;
    // Someone deletes the CR behind the platform's back: it comes back.
    functions
        .delete("kept", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the deleted CR to be recreated", || {
        let functions = functions.clone();
        async move { functions.get_opt("kept").await.ok().flatten() }
    })
    .await;
    // A CR this catalog made, without a catalog row, is an orphan: it is removed.
    let catalog = app.state.store.catalog_id().await.unwrap();
    let mut orphan: Function = serde_json::from_value(json!({
        "apiVersion": "eventflow.io/v1alpha1", "kind": "Function",
        "metadata": {"name": "orphan", "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
                     "annotations": {eventflow_server::sync::CATALOG_ID_ANNOTATION: catalog}},
        "spec": {"image": "nginx", "replicas": 1, "port": 8080, "timeoutSeconds": 30,
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}}
    }))
    .unwrap();
    orphan.metadata.namespace = Some(format!("tenant-{tenant}"));
    functions
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();
    eventually("the orphan to be deleted", || {
        let functions = functions.clone();
        async move {
            functions
                .get_opt("orphan")
                .await
                .ok()
                .and_then(|f| f.is_none().then_some(()))
        }
    })
    .await;
    // An unmanaged CR (no label) is left alone.
    let mut foreign = orphan.clone();
    foreign.metadata.name = Some("foreign".into());
    foreign.metadata.labels = None;
    foreign.metadata.resource_version = None;
    functions
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        functions.get_opt("foreign").await.unwrap().is_some(),
        "unmanaged CRs are not touched"
    );
    cleanup(&client, &tenant).await;
}

#[tokio::test]
async fn unreachable_cluster_is_retried_with_backoff() {
    // A "cluster" that accepts TCP connections and drops them at once,
    // noting when each attempt came.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut attempts) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let _ = tx.send(tokio::time::Instant::now());
            drop(conn);
        }
    });
    let (_dir, kubeconfig) = kubeconfig_for(&format!("https://127.0.0.1:{port}"));
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, KubeSource::File(kubeconfig)).await;
    let _sync = start_sync(&app);
    let mut at = Vec::new();
    for _ in 0..3 {
        let t = tokio::time::timeout(Duration::from_secs(60), attempts.recv())
            .await
            .expect("a connection attempt within 60 s")
            .unwrap();
        at.push(t);
    }
    // The pauses grow (2 s, then 4 s); a loop without backoff retries every
    // second. Only lower bounds: a slow machine makes the gaps longer, not
    // shorter.
    let (first, second) = (at[1] - at[0], at[2] - at[1]);
    assert!(
        first >= Duration::from_millis(1500),
        "first pause {first:?}"
    );
    assert!(
        second >= Duration::from_millis(3500),
        "second pause {second:?}"
    );
    let (_, r) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r["checks"]["kubernetes"]["status"], "error", "{r}");
}

#[tokio::test]
async fn unreachable_cluster_keeps_the_api_working() {
    let (_dir, kubeconfig) = kubeconfig_for("https://127.0.0.1:1");
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, KubeSource::File(kubeconfig)).await;
    let _sync = start_sync(&app);
    let token = app.token("offline").await;
    let (s, _) = app
        .create(&token, json!({"name":"later","image":"nginx"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let app_ref = &app;
    let token_ref = &token;
    let v = eventually("a ClusterUnavailable reason", || async move {
        let (_, v) = app_ref
            .call(Method::GET, "/v1/functions/later", Some(token_ref), None)
            .await;
        (v["status"]["reason"] == "ClusterUnavailable").then_some(v)
    })
    .await;
    assert_eq!(v["status"]["phase"], "Pending");
    assert!(
        v["status"]["message"]
            .as_str()
            .unwrap()
            .contains("retrying"),
        "{v}"
    );
    let (s, r) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the API stays ready without a cluster: {r}"
    );
    assert_eq!(r["checks"]["kubernetes"]["status"], "error");
}

/// Creates a pod labelled as `function`'s on testenv's simulated node
/// (kwok runs it; the real node could not pull the image).
async fn create_pod(pods: &Api<k8s_openapi::api::core::v1::Pod>, name: &str, function: &str) {
    let mut pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"eventflow.io/function": function}},
        "spec": {"automountServiceAccountToken": false,
                 "containers": [{"name": "function", "image": "nginx"}]}
    }))
    .unwrap();
    eventflow_testenv::place_on_simulated_node(pod.spec.as_mut().unwrap());
    eventually("pod creation (default ServiceAccount)", || {
        let pods = pods.clone();
        let pod = pod.clone();
        async move {
            pods.create(&PostParams::default(), &pod)
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
}

/// Reads `body` into `seen` until it contains `needle` (60 s at most).
async fn read_until(body: &mut axum::body::Body, seen: &mut String, needle: &str) {
    use http_body_util::BodyExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen.contains(needle) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within 60 s; got {seen:?}"))
            .unwrap_or_else(|| panic!("stream ended before {needle:?}; got {seen:?}"))
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

/// `follow=true` keeps the response open and adds the log of a pod that
/// starts running after the request (here: kwok's error line for it, as
/// kwok serves no container logs), and only of the function's pods.
#[tokio::test]
async fn following_logs_picks_up_pods_that_start_later() {
    use tower::ServiceExt;
    let client = eventflow_testenv::client().await;
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, testenv_source()).await;
    let _sync = start_sync(&app);
    let tenant = unique_tenant();
    create_namespace(&client, &tenant).await;
    let token = app.token(&tenant).await;
    app.create(&token, json!({"name":"talker","image":"nginx"}))
        .await;
    let pods = Api::namespaced(client.clone(), &format!("tenant-{tenant}"));
    create_pod(&pods, "talker-early", "talker").await;
    let (app_ref, token_ref) = (&app, &token);
    let resp = eventually("logs to be served", || async move {
        let req = axum::http::Request::builder()
            .uri("/v1/functions/talker/logs?follow=true")
            .header("authorization", format!("Bearer {token_ref}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let r = app_ref.router.clone().oneshot(req).await.unwrap();
        (r.status() == StatusCode::OK).then_some(r)
    })
    .await;
    // The early pod is streamed from the list if it already ran, else it
    // joins through the watcher when it does.
    assert!(["0", "1"].contains(&resp.headers()["x-eventflow-pods"].to_str().unwrap()));
    let mut body = resp.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "[talker-early] ").await;
    // The early pod's log has ended; the stream stays open for new pods.
    create_pod(&pods, "other-late", "other").await;
    create_pod(&pods, "talker-late", "talker").await;
    read_until(&mut body, &mut seen, "[talker-late] ").await;
    assert!(!seen.contains("other-late"), "{seen}");
    // Shutting down ends the followed stream, so the graceful drain can end.
    app.state.begin_shutdown();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        use http_body_util::BodyExt;
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "the followed stream did not end at shutdown");
    cleanup(&client, &tenant).await;
}

/// Log streaming against the real API server. kwok serves no container
/// logs, so each pod contributes its error line: this proves discovery of
/// the function's pods (and only them), the per-pod prefix and that a
/// failing pod does not break the stream. Line merging itself is unit-tested
/// in `api::logs`.
#[tokio::test]
async fn logs_stream_covers_every_pod_of_the_function() {
    let client = eventflow_testenv::client().await;
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, testenv_source()).await;
    let _sync = start_sync(&app);
    let tenant = unique_tenant();
    create_namespace(&client, &tenant).await;
    let token = app.token(&tenant).await;
    app.create(&token, json!({"name":"talker","image":"nginx"}))
        .await;
    let ns = format!("tenant-{tenant}");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &ns);
    for (name, function) in [
        ("talker-a", "talker"),
        ("talker-b", "talker"),
        ("other-c", "other"),
    ] {
        create_pod(&pods, name, function).await;
    }
    let app_ref = &app;
    let token_ref = &token;
    // The sync loop connects asynchronously; wait until logs are served.
    let (status, headers, body) = eventually("logs to be served", || async move {
        let req = axum::http::Request::builder()
            .uri("/v1/functions/talker/logs?tailLines=10")
            .header("authorization", format!("Bearer {token_ref}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let r = app_ref.raw(req).await;
        (r.0 == StatusCode::OK).then_some(r)
    })
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["x-eventflow-pods"], "2",
        "only the function's own pods"
    );
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    for pod in ["talker-a", "talker-b"] {
        assert!(text.contains(&format!("[{pod}] ")), "{text}");
    }
    assert!(!text.contains("other-c"), "{text}");
    // Another tenant cannot read them.
    let other = app.token(&unique_tenant()).await;
    let r = app
        .call(Method::GET, "/v1/functions/talker/logs", Some(&other), None)
        .await;
    assert_eq!(r.0, StatusCode::NOT_FOUND);
    cleanup(&client, &tenant).await;
}

/// Two server replicas on one PostgreSQL catalog: only the holder of the
/// sync lease applies (a function created through the standby is applied by
/// the leader), and when the leader stops, the standby takes over at once.
#[tokio::test]
async fn only_the_sync_lease_holder_applies_and_a_standby_takes_over() {
    let client = eventflow_testenv::client().await;
    let (url, guard) = fresh_database(Db::Postgres).await;
    let guard = Arc::new(guard);
    let a = TestApp::on(url.clone(), guard.clone(), AuthMode::Dev, testenv_source()).await;
    let b = TestApp::on(url, guard, AuthMode::Dev, testenv_source()).await;
    let stop_a = start_sync(&a);
    let a_ref = &a;
    eventually("replica a to hold the sync lease", || async move {
        (a_ref.state.metrics.sync_leader.get() == 1).then_some(())
    })
    .await;
    let _stop_b = start_sync(&b);
    let applied = |app: &TestApp| {
        app.state
            .metrics
            .sync_applies
            .with_label_values(&["function", "ok"])
            .get()
    };
    let tenant = unique_tenant();
    create_namespace(&client, &tenant).await;
    let token = b.token(&tenant).await;
    let (s, v) = b
        .create(&token, json!({"name":"one","image":"nginx"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let functions: Api<Function> = Api::namespaced(client.clone(), &format!("tenant-{tenant}"));
    eventually("the Function CR written through the standby", || {
        let functions = functions.clone();
        async move { functions.get_opt("one").await.ok().flatten() }
    })
    .await;
    // The CR is visible a moment before the leader counts its apply (it
    // records the apply in the catalog first).
    let a_ref = &a;
    eventually("the leader to count its apply", || async move {
        (applied(a_ref) >= 1).then_some(())
    })
    .await;
    assert_eq!(b.state.metrics.sync_leader.get(), 0, "b stands by");
    assert_eq!(applied(&b), 0, "the standby applied nothing");

    // The leader stops and releases the lease: b takes over and applies.
    stop_a.send(true).unwrap();
    let b_ref = &b;
    eventually("replica b to take the sync lease", || async move {
        (b_ref.state.metrics.sync_leader.get() == 1).then_some(())
    })
    .await;
    let (s, _) = b
        .create(&token, json!({"name":"two","image":"nginx"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    eventually("the Function CR applied by the new leader", || {
        let functions = functions.clone();
        async move { functions.get_opt("two").await.ok().flatten() }
    })
    .await;
    // As above: the apply is counted a moment after the CR shows.
    let b_ref = &b;
    eventually("b to count its apply after taking over", || async move {
        (applied(b_ref) >= 1).then_some(())
    })
    .await;
    cleanup(&client, &tenant).await;
}

/// `PUT /v1/admin/tenants/{id}` reaches the Tenant resource (from which the
/// operator updates the namespace's quota).
#[tokio::test]
async fn tenant_overrides_reach_the_tenant_resource() {
    let client = eventflow_testenv::client().await;
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, testenv_source()).await;
    let _sync = start_sync(&app);
    let tenant = unique_tenant();
    app.token(&tenant).await;
    let (admin, _) = app.state.jwt.mint(
        "test-admin",
        None,
        None,
        eventflow_server::store::Role::Admin,
        None,
    );
    let (s, v) = app
        .call(
            Method::PUT,
            &format!("/v1/admin/tenants/{tenant}"),
            Some(&admin),
            Some(json!({"quota": {"pods": 9}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let tenants: Api<Tenant> = Api::all(client.clone());
    let t = tenant.clone();
    eventually("the new quota on the Tenant CR", || {
        let tenants = tenants.clone();
        let t = t.clone();
        async move {
            let cr = tenants.get_opt(&t).await.ok().flatten()?;
            (serde_json::to_value(&cr.spec).ok()?["quota"]["pods"] == 9).then_some(())
        }
    })
    .await;
    cleanup(&client, &tenant).await;
}

/// Followed log streams are bounded: at most `follows_per_tenant` open at
/// once per tenant (429 beyond, the place freed when one closes), and each
/// ends after `max_follow`.
#[tokio::test]
async fn followed_log_streams_are_limited_per_tenant_and_in_time() {
    let client = eventflow_testenv::client().await;
    let (url, guard) = fresh_database(Db::Sqlite).await;
    let mut config = crate::helpers::config(AuthMode::Dev, testenv_source());
    config.logs.follows_per_tenant = 2;
    config.logs.max_follow = Duration::from_secs(3);
    let app = TestApp::on_with(url, Arc::new(guard), config).await;
    let _sync = start_sync(&app);
    let tenant = unique_tenant();
    create_namespace(&client, &tenant).await;
    let token = app.token(&tenant).await;
    app.create(&token, json!({"name":"quiet","image":"nginx"}))
        .await;
    let follow = || {
        axum::http::Request::builder()
            .uri("/v1/functions/quiet/logs?follow=true")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let open = || async {
        let resp = tower::ServiceExt::oneshot(app.router.clone(), follow())
            .await
            .unwrap();
        (resp.status() == StatusCode::OK).then_some(resp)
    };
    let first = eventually("a followed stream", open).await;
    let second = open().await.expect("a second stream fits the limit");
    let second_opened = std::time::Instant::now();
    let third = tower::ServiceExt::oneshot(app.router.clone(), follow())
        .await
        .unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.headers()["x-eventflow-error"], "too_many_requests");
    // Another tenant has its own places.
    let other = app.token(&unique_tenant()).await;
    let r = app
        .call(
            Method::GET,
            "/v1/functions/quiet/logs?follow=true",
            Some(&other),
            None,
        )
        .await;
    assert_eq!(
        r.0,
        StatusCode::NOT_FOUND,
        "its own (missing) function, not 429"
    );
    // Closing one frees its place.
    drop(first);
    let fourth = open().await.expect("a place was freed");
    // A followed stream ends after max_follow, freeing its place too.
    let body = tokio::time::timeout(
        Duration::from_secs(20),
        http_body_util::BodyExt::collect(second.into_body()),
    )
    .await
    .expect("the stream ends by itself");
    assert!(body.is_ok());
    assert!(
        second_opened.elapsed() >= Duration::from_secs(2),
        "not before its time (the cap runs from the request): {:?}",
        second_opened.elapsed()
    );
    drop(fourth);
    cleanup(&client, &tenant).await;
}

/// A tenant's secret becomes `eventflow-secret-{name}` in its namespace; a
/// function that reads it gets a `secretsRevision` that moves when the
/// secret is replaced (its pods roll); a deleted secret's Secret goes; one
/// deleted by hand comes back with the resync.
#[tokio::test]
async fn secrets_become_the_tenants_secrets_and_roll_their_functions() {
    use k8s_openapi::api::core::v1::Secret;
    let client = eventflow_testenv::client().await;
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, testenv_source()).await;
    let _sync = start_sync(&app);
    let tenant = unique_tenant();
    let token = app.token(&tenant).await;
    create_namespace(&client, &tenant).await;
    let ns = format!("tenant-{tenant}");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let functions: Api<eventflow_crd::Function> = Api::namespaced(client.clone(), &ns);
    let value = |secrets: Api<Secret>| async move {
        let s = secrets
            .get_opt("eventflow-secret-db")
            .await
            .ok()
            .flatten()?;
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        String::from_utf8(s.data?.get("password")?.0.clone()).ok()
    };
    let revision = |functions: Api<eventflow_crd::Function>| async move {
        functions
            .get_opt("api")
            .await
            .ok()
            .flatten()?
            .spec
            .secrets_revision
    };
    let put = |v: &str| {
        app.call(
            Method::PUT,
            "/v1/secrets/db",
            Some(&token),
            Some(json!({"data": {"password": v}})),
        )
    };
    assert_eq!(put("one").await.0, StatusCode::CREATED);
    let (s, f) = app
        .create(
            &token,
            json!({"name": "api", "image": "nginx:1",
            "secretEnv": [{"name": "P", "secret": "db", "key": "password"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    eventually("the Secret with its value", || {
        let secrets = secrets.clone();
        async move { (value(secrets).await? == "one").then_some(()) }
    })
    .await;
    let first = eventually("the function's secretsRevision", || {
        let functions = functions.clone();
        async move { revision(functions).await }
    })
    .await;

    assert_eq!(put("two").await.0, StatusCode::OK);
    eventually("the new value", || {
        let secrets = secrets.clone();
        async move { (value(secrets).await? == "two").then_some(()) }
    })
    .await;
    eventually("a new secretsRevision", || {
        let functions = functions.clone();
        let first = first.clone();
        async move { revision(functions).await.filter(|r| *r != first) }
    })
    .await;

    secrets
        .delete("eventflow-secret-db", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the resync to restore the Secret", || {
        let secrets = secrets.clone();
        async move { (value(secrets).await? == "two").then_some(()) }
    })
    .await;

    let (s, _) = app
        .call(Method::DELETE, "/v1/functions/api", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = app
        .call(Method::DELETE, "/v1/secrets/db", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    eventually("the Secret deleted", || {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_opt("eventflow-secret-db")
                .await
                .ok()
                .and_then(|s| s.is_none().then_some(()))
        }
    })
    .await;
    cleanup(&client, &tenant).await;
}

/// The tenant's registry credentials become its pull Secret
/// (`eventflow-registry`, `kubernetes.io/dockerconfigjson`): an empty one
/// once the namespace exists, the logins after a PUT, empty again after
/// the DELETE; a Secret deleted by hand comes back with the resync.
#[tokio::test]
async fn registry_credentials_become_the_tenants_pull_secret() {
    use k8s_openapi::api::core::v1::Secret;
    let client = eventflow_testenv::client().await;
    let app = TestApp::with(Db::Sqlite, AuthMode::Dev, testenv_source()).await;
    let _sync = start_sync(&app);
    let tenant = unique_tenant();
    let token = app.token(&tenant).await;
    create_namespace(&client, &tenant).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &format!("tenant-{tenant}"));
    let auths = |secrets: Api<Secret>| async move {
        let s = secrets
            .get_opt(eventflow_crd::PULL_SECRET)
            .await
            .ok()
            .flatten()?;
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
        let config: serde_json::Value =
            serde_json::from_slice(&s.data?.get(".dockerconfigjson")?.0).ok()?;
        Some(config["auths"].clone())
    };
    eventually("the empty pull Secret", || {
        let secrets = secrets.clone();
        async move { (auths(secrets).await? == json!({})).then_some(()) }
    })
    .await;

    let (s, v) = app
        .call(
            Method::PUT,
            "/v1/registry-credentials/registry.example:5000",
            Some(&token),
            Some(json!({"username": "robot", "password": "s3cret"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let expected = json!({"registry.example:5000": {
        "username": "robot", "password": "s3cret", "auth": "cm9ib3Q6czNjcmV0"}});
    eventually("the login in the pull Secret", || {
        let secrets = secrets.clone();
        let expected = expected.clone();
        async move { (auths(secrets).await? == expected).then_some(()) }
    })
    .await;

    secrets
        .delete(eventflow_crd::PULL_SECRET, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the resync to restore the pull Secret", || {
        let secrets = secrets.clone();
        let expected = expected.clone();
        async move { (auths(secrets).await? == expected).then_some(()) }
    })
    .await;

    let (s, _) = app
        .call(
            Method::DELETE,
            "/v1/registry-credentials/registry.example:5000",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    eventually("the pull Secret emptied", || {
        let secrets = secrets.clone();
        async move { (auths(secrets).await? == json!({})).then_some(()) }
    })
    .await;
    cleanup(&client, &tenant).await;
}

/// The scaler on testenv (no operator: the test makes the Deployment). Two
/// server replicas share one catalog; the invocations in flight on *both*
/// gateways are summed by the replica holding the sync lease, which sets
/// the Deployment's scale: bounded by `maxReplicas` (reason recorded), held
/// through the scale-down window when the load falls, one replica while
/// recently used, zero after the idle period.
/// The Deployment `fn-busy` with one replica, as the operator would have
/// made it for function `busy` (the scaler only sets its scale).
async fn busy_deployment(client: &Client, ns: &str) -> Api<k8s_openapi::api::apps::v1::Deployment> {
    use k8s_openapi::api::apps::v1::Deployment;
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "fn-busy", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "busy"}},
                 "template": {"metadata": {"labels": {"app": "busy"}},
                              "spec": {"containers": [{"name": "f", "image": "registry.example/busy:1"}]}}}
    }))
    .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    deployments
}

#[tokio::test]
async fn the_lease_holder_scales_on_the_load_of_every_replica() {
    use eventflow_server::scaler::ScalerConfig;
    let client = eventflow_testenv::client().await;
    let (url, guard) = fresh_database(Db::Postgres).await;
    let guard = Arc::new(guard);
    let mut cfg = crate::helpers::config(AuthMode::Dev, testenv_source());
    cfg.scaling = ScalerConfig {
        interval: Duration::from_millis(200),
        idle_default: Duration::from_secs(60),
        scale_down_window: Duration::from_secs(3),
        queue_limit: 100,
    };
    let a = TestApp::on_with(url.clone(), guard.clone(), cfg.clone()).await;
    let b = TestApp::on_with(url, guard, cfg).await;
    let _stop_a = start_sync(&a);
    let a_ref = &a;
    eventually("replica a to hold the sync lease", || async move {
        (a_ref.state.metrics.sync_leader.get() == 1).then_some(())
    })
    .await;
    let _stop_b = start_sync(&b);
    let mut scalers = Vec::new();
    for app in [&a, &b] {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(eventflow_server::scaler::run(app.state.clone(), rx));
        scalers.push(tx);
    }
    let tenant = unique_tenant();
    create_namespace(&client, &tenant).await;
    let token = b.token(&tenant).await;
    let (s, v) = b
        .create(
            &token,
            json!({"name": "busy", "image": "registry.example/busy:1",
                   "autoscaling": {"minReplicas": 0, "maxReplicas": 3, "targetConcurrency": 2, "idleSeconds": 10}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ns = format!("tenant-{tenant}");
    let deployments = busy_deployment(&client, &ns).await;
    let replicas = |want: i32| {
        let deployments = deployments.clone();
        async move {
            // A Scale omits `replicas` when it is 0.
            let scale = deployments.get_scale("fn-busy").await.ok()?;
            let r = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
            (r == want).then_some(())
        }
    };
    let t = eventflow_core::TenantId::parse(&tenant).unwrap();
    let n = eventflow_core::FunctionName::parse("busy").unwrap();
    let reason = |app: &TestApp| {
        let store = app.state.store.clone();
        let (t, n) = (t.clone(), n.clone());
        async move {
            store
                .tenant(&t)
                .get(&n)
                .await
                .ok()
                .flatten()
                .and_then(|f| f.scaling.reason)
        }
    };

    // 4 in flight on a, 3 on b: 7 / 2 → 4, held at maxReplicas 3.
    let on_a: Vec<_> = (0..4).map(|_| a.state.load.start(&t, &n)).collect();
    let on_b: Vec<_> = (0..3).map(|_| b.state.load.start(&t, &n)).collect();
    eventually("3 replicas for 7 in flight on two replicas", || replicas(3)).await;
    assert_eq!(reason(&a).await.as_deref(), Some("MaxReplicas"));
    assert!(
        a.metrics()
            .await
            .contains("eventflow_function_desired_replicas{"),
        "the leader decides"
    );
    assert!(
        !b.metrics()
            .await
            .contains("eventflow_function_desired_replicas{"),
        "the standby decides nothing"
    );

    // b's load ends: 4 / 2 → 2, but only after the scale-down window.
    drop(on_b);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(replicas(3).await.is_some(), "held through the window");
    eventually("2 replicas after the window", || replicas(2)).await;

    // Nothing in flight: one replica while recently used, then zero.
    drop(on_a);
    eventually("1 replica once idle-but-recent", || replicas(1)).await;
    eventually("0 replicas after the idle period", || replicas(0)).await;
    assert_eq!(reason(&a).await.as_deref(), Some("Idle"));
    cleanup(&client, &tenant).await;
}

#[tokio::test]
async fn the_scaler_adds_only_the_replicas_the_tenants_quota_has_room_for() {
    use eventflow_server::scaler::ScalerConfig;
    use k8s_openapi::api::core::v1::ResourceQuota;
    let client = eventflow_testenv::client().await;
    let (url, guard) = fresh_database(Db::Sqlite).await;
    let mut cfg = crate::helpers::config(AuthMode::Dev, testenv_source());
    cfg.scaling = ScalerConfig {
        interval: Duration::from_millis(200),
        ..ScalerConfig::default()
    };
    let app = TestApp::on_with(url, Arc::new(guard), cfg).await;
    let _stop_sync = start_sync(&app);
    let (tx, rx) = watch::channel(false);
    tokio::spawn(eventflow_server::scaler::run(app.state.clone(), rx));
    let _stop_scaler = tx;
    let tenant = unique_tenant();
    create_namespace(&client, &tenant).await;
    let ns = format!("tenant-{tenant}");
    // Room for 3 pods; another function's pod takes one of them.
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
    let quota: ResourceQuota = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "eventflow-quota", "namespace": ns},
        "spec": {"hard": {"pods": "3"}}
    }))
    .unwrap();
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &ns);
    create_pod(&pods, "other-0", "other").await;
    let token = app.token(&tenant).await;
    let (s, v) = app
        .create(
            &token,
            json!({"name": "busy", "image": "registry.example/busy:1",
                   "autoscaling": {"minReplicas": 1, "maxReplicas": 10, "targetConcurrency": 1}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let deployments = busy_deployment(&client, &ns).await;
    // The quota counts both pods before the load arrives.
    let quotas_ref = &quotas;
    eventually("the quota to count 2 pods", || async move {
        let q = quotas_ref.get("eventflow-quota").await.ok()?;
        let used = q.status?.used?.get("pods")?.0.clone();
        (used == "2").then_some(())
    })
    .await;
    let t = eventflow_core::TenantId::parse(&tenant).unwrap();
    let n = eventflow_core::FunctionName::parse("busy").unwrap();
    // 6 in flight at 1 each ask for 6 replicas; the quota has room for one
    // more pod, so 2, and the status says why.
    let _load: Vec<_> = (0..6).map(|_| app.state.load.start(&t, &n)).collect();
    let store = app.state.store.clone();
    let (t_ref, n_ref) = (&t, &n);
    let scaling = eventually("the scaler to hit the quota", || {
        let store = store.clone();
        async move {
            let f = store.tenant(t_ref).get(n_ref).await.ok().flatten()?;
            (f.scaling.reason.as_deref() == Some("Quota")).then_some(f.scaling)
        }
    })
    .await;
    assert_eq!(scaling.desired_replicas, Some(2));
    let scale = deployments.get_scale("fn-busy").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    // Room appears: the other pod goes, and the scaler takes it.
    pods.delete(
        "other-0",
        &kube::api::DeleteParams::default().grace_period(0),
    )
    .await
    .unwrap();
    let deployments_ref = &deployments;
    eventually("3 replicas once the room is there", || async move {
        let scale = deployments_ref.get_scale("fn-busy").await.ok()?;
        (scale.spec?.replicas? == 3).then_some(())
    })
    .await;
    cleanup(&client, &tenant).await;
}
