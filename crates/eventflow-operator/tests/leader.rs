//! Leader election against testenv: two operators, one Lease.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

async fn holder(leases: &Api<Lease>, name: &str) -> Option<String> {
    leases
        .get_opt(name)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

#[tokio::test]
async fn only_the_lease_holder_reconciles_and_killing_it_fails_over() {
    let client = setup().await;
    let lease_ns = eventflow_testenv::fresh_namespace(&client, "oplease").await;
    let scope = suffix();
    let lease_name = format!("eventflow-operator-{scope}");
    let leases: Api<Lease> = Api::namespaced(client.clone(), lease_ns.name());
    bind_leader_election(&client, lease_ns.name()).await;

    let mut cfg = TestOperator::config(&client, &scope).await;
    cfg.lease = Some(fast_lease(lease_ns.name(), &lease_name, "first"));
    let first = TestOperator::start_with(cfg);
    wait_for("first holds the lease", LONG, || async {
        (first.metrics.is_leader()
            && holder(&leases, &lease_name).await.as_deref() == Some("first"))
        .then_some(())
    })
    .await;

    let mut cfg = TestOperator::config(&client, &scope).await;
    cfg.lease = Some(fast_lease(lease_ns.name(), &lease_name, "second"));
    let second = TestOperator::start_with(cfg);

    let tenant = TestTenant::create(&client, &scope, None).await;
    tenant.wait_ready().await;
    tenant.create_function("hello", 1).await;
    tenant.wait_running("hello", 1).await;
    // Several renewals later the second still waits and has reconciled nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(first.metrics.reconciles("tenant") > 0);
    assert!(first.metrics.reconciles("function") > 0);
    assert!(!second.metrics.is_leader());
    assert_eq!(second.metrics.reconciles("tenant"), 0);
    assert_eq!(second.metrics.reconciles("function"), 0);
    assert_eq!(holder(&leases, &lease_name).await.as_deref(), Some("first"));

    // Kill the holder (no release): the second takes over after the lease expires.
    first.kill();
    wait_for("second takes over", Duration::from_secs(30), || async {
        (second.metrics.is_leader()
            && holder(&leases, &lease_name).await.as_deref() == Some("second"))
        .then_some(())
    })
    .await;
    tenant.set_replicas("hello", 2).await;
    tenant.wait_running("hello", 2).await;
    assert!(second.metrics.reconciles("function") > 0);

    // A third candidate gets nothing while the second holds the lease; a
    // graceful stop of the second releases it at once.
    let mut cfg = TestOperator::config(&client, &scope).await;
    cfg.lease = Some(fast_lease(lease_ns.name(), &lease_name, "third"));
    let third = TestOperator::start_with(cfg);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!third.metrics.is_leader());
    tenant.delete_and_wait().await;
    second.stop().await;
    wait_for(
        "third takes over a released lease",
        Duration::from_secs(10),
        || async { third.metrics.is_leader().then_some(()) },
    )
    .await;
    third.stop().await;
    assert_eq!(
        holder(&leases, &lease_name).await,
        None,
        "released on shutdown"
    );
    lease_ns.cleanup().await;
}

#[tokio::test]
async fn operator_survives_an_unreachable_api_server_and_serves_health() {
    init_tracing();
    // A client pointing at a port nothing listens on: the operator must keep
    // retrying (no crash, no exit) and keep serving /healthz and /metrics.
    let config = kube::Config::new("https://127.0.0.1:9".parse().unwrap());
    let client = eventflow_kube::build_client(config).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut cfg = TestOperator::config_with_client(client, "unreachable");
    cfg.metrics_listen = Some(addr);
    cfg.lease = Some(fast_lease("eventflow-system", "unreachable", "me"));
    let op = TestOperator::start_with(cfg);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let health = http_get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let metrics = http_get(addr, "/metrics").await;
    assert!(metrics.contains("eventflow_operator_leader 0"), "{metrics}");
    op.stop().await;
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap()
}

/// Without its lease namespace the operator stops at once with a message
/// naming the fix, instead of retrying "cannot reach the lease" forever.
#[tokio::test]
async fn a_missing_lease_namespace_fails_fast_naming_the_fix() {
    let client = setup().await;
    let scope = suffix();
    let missing = format!("eventflow-missing-{scope}");
    let mut cfg = TestOperator::config(&client, &scope).await;
    cfg.lease = Some(fast_lease(&missing, "eventflow-operator", "lonely"));
    let run = eventflow_operator::Operator::new(cfg).run(std::future::pending());
    let result = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the operator gives up instead of retrying");
    let e = result.expect_err("no namespace, no lease");
    assert!(
        matches!(e, eventflow_operator::Error::LeaseNamespaceMissing(ref ns) if *ns == missing),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains(&format!("kubectl create namespace {missing}")),
        "{e}"
    );
}
