//! The whole platform on the local control plane: the real `eventflow
//! server` and `eventflow operator` binaries against testenv. A function
//! created through the API reaches Running, and the API shows it.

mod common;

use std::time::{Duration, Instant};

use common::{http, testenv_kubeconfig, Operator, Server};
use serde_json::Value;

fn poll<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_function_created_through_the_api_runs_and_the_api_shows_it() {
    let kubeconfig = testenv_kubeconfig();
    let kc = kubeconfig.to_string_lossy().into_owned();
    let kubectl = |args: &[&str]| common::kubectl(&kubeconfig, args, None);
    let tenant = format!("e2e-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    // CRDs first, as in a deployment (docs/DEPLOYMENT.md).
    let crds = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/crds/eventflow.io.yaml"
    );
    kubectl(&["apply", "--server-side", "--force-conflicts", "-f", crds]).expect("apply the CRDs");
    poll("the CRDs to be established", 30, || {
        kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd/functions.eventflow.io",
            "crd/tenants.eventflow.io",
            "--timeout=5s",
        ])
    });
    // nginx:alpine only "runs" on testenv's simulated node.
    let _operator = Operator::start(
        &kubeconfig,
        &format!("eventflow.io/tenant={tenant}"),
        &eventflow_testenv::SIMULATED_NODE_OPERATOR_ARGS,
        &dir.path().join("operator.log"),
    );
    let data = dir.path().join("server");
    let server = Server::start(
        &data,
        &[
            "--kubeconfig",
            &kc,
            "--install-crds",
            "--resync-seconds",
            "2",
        ],
    );
    let port = server.port;
    let (s, body) = http(
        port,
        "POST",
        "/auth/token",
        None,
        &format!(r#"{{"user_id":"{tenant}"}}"#),
    );
    assert_eq!(s, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = || {
        let (s, b) = http(port, "GET", "/v1/functions/hello", Some(&token), "");
        assert_eq!(s, 200, "{b}");
        serde_json::from_str::<Value>(&b).unwrap()
    };

    let started = Instant::now();
    let (s, body) = http(
        port,
        "POST",
        "/v1/functions",
        Some(&token),
        r#"{"name":"hello","image":"nginx:alpine","replicas":2}"#,
    );
    assert_eq!(s, 201, "{body}");
    let running = poll("phase Running with 2 ready replicas", 120, || {
        let f = get();
        (f["status"]["phase"] == "Running" && f["status"]["readyReplicas"] == 2).then_some(f)
    });
    eprintln!(
        "create → Running (2 replicas) seen through the API in {:?}",
        started.elapsed()
    );
    assert_eq!(running["status"]["synced"], true);
    assert_eq!(
        running["status"]["url"],
        format!("http://fn-hello.tenant-{tenant}.svc.cluster.local")
    );
    // The workload is really there, isolated in the tenant's namespace.
    let ns = format!("tenant-{tenant}");
    let pods = kubectl(&[
        "-n",
        &ns,
        "get",
        "pods",
        "-l",
        "eventflow.io/function=hello",
        "-o",
        "name",
    ])
    .unwrap();
    assert_eq!(pods.lines().count(), 2, "{pods}");
    let psa = kubectl(&[
        "get",
        "namespace",
        &ns,
        "-o",
        "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}",
    ])
    .unwrap();
    assert_eq!(psa, "restricted");

    // Scaling through the API reaches the pods and comes back as status.
    let (s, body) = http(
        port,
        "PATCH",
        "/v1/functions/hello",
        Some(&token),
        r#"{"replicas":1}"#,
    );
    assert_eq!(s, 200, "{body}");
    poll("1 ready replica", 120, || {
        let f = get();
        (f["status"]["replicas"] == 1 && f["status"]["readyReplicas"] == 1).then_some(())
    });

    // Deleting through the API removes the workload.
    let (s, _) = http(port, "DELETE", "/v1/functions/hello", Some(&token), "");
    assert_eq!(s, 204);
    poll("the Deployment to be garbage-collected", 120, || {
        kubectl(&["-n", &ns, "get", "deployment", "fn-hello"])
            .is_none()
            .then_some(())
    });
    // The operator's finalizer removes the namespace with the Tenant (the
    // server goes first, or its resync would put the Tenant back).
    drop(server);
    kubectl(&["delete", "tenants.eventflow.io", &tenant, "--wait=false"]);
    poll("the tenant namespace to go", 120, || {
        kubectl(&["get", "namespace", &ns, "-o", "jsonpath={.status.phase}"])
            .is_none_or(|p| p == "Terminating")
            .then_some(())
    });
}
