//! The real `eventflow` binary, driven the way a user drives it.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::{bash, testenv_kubeconfig, Server};

/// The seed README's "Test Multi-Tenancy" commands, verbatim but for the port.
const SEED_FLOW: &str = r#"
TOKEN_ALICE=$(curl -s -X POST http://localhost:8080/auth/token \
  -H "Content-Type: application/json" \
  -d '{"user_id":"alice","username":"alice","email":"alice@company.com"}' \
  | jq -r .token)

curl -X POST http://localhost:8080/v1/functions \
  -H "Authorization: Bearer $TOKEN_ALICE" \
  -H "Content-Type: application/json" \
  -d '{"name":"alice-app","image":"nginx:alpine","replicas":1}'

TOKEN_BOB=$(curl -s -X POST http://localhost:8080/auth/token \
  -H "Content-Type: application/json" \
  -d '{"user_id":"bob","username":"bob","email":"bob@company.com"}' \
  | jq -r .token)

curl -X POST http://localhost:8080/v1/functions \
  -H "Authorization: Bearer $TOKEN_BOB" \
  -H "Content-Type: application/json" \
  -d '{"name":"bob-app","image":"nginx:alpine","replicas":1}'

echo
echo "ALICE $(curl -s http://localhost:8080/v1/functions -H "Authorization: Bearer $TOKEN_ALICE" | jq -c '[.items[].name]')"
echo "BOB $(curl -s http://localhost:8080/v1/functions -H "Authorization: Bearer $TOKEN_BOB" | jq -c '[.items[].name]')"
"#;

#[test]
fn seed_quick_start_works_verbatim_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--kubernetes", "off"]);
    let out = bash(&SEED_FLOW.replace("localhost:8080", &format!("localhost:{}", server.port)));
    assert!(out.contains("ALICE [\"alice-app\"]"), "{out}");
    assert!(out.contains("BOB [\"bob-app\"]"), "{out}");
    server.signal("-TERM");

    let server = Server::start(dir.path(), &["--kubernetes", "off"]);
    let list = bash(&format!(
        r#"T=$(curl -s -X POST http://localhost:{p}/auth/token -H "Content-Type: application/json" -d '{{"user_id":"alice"}}' | jq -r .token)
           curl -s http://localhost:{p}/v1/functions -H "Authorization: Bearer $T" | jq -c '[.items[].name]'"#,
        p = server.port
    ));
    assert_eq!(list.trim(), "[\"alice-app\"]");
}

#[test]
fn production_mode_refuses_to_start_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eventflow"))
        .args(["server", "--listen", "127.0.0.1:0", "--kubernetes", "off"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("EVENTFLOW_JWT_SECRET")
        .env_remove("EVENTFLOW_DEV")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT secret"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_eventflow"))
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--kubernetes",
            "off",
            "--jwt-secret",
            "short",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32 bytes"));
}

/// The process is SIGKILLed after the catalog commit and before any apply;
/// the next start (now with a cluster) still creates the CR.
#[test]
fn sigkill_between_commit_and_apply_loses_nothing() {
    let kubeconfig = testenv_kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let tenant = format!("kb-{}", std::process::id());
    let kubectl = |args: &str| {
        bash(&format!(
            "kubectl --kubeconfig {} {args}",
            kubeconfig.display()
        ))
    };
    // Without a cluster the function can only be committed, never applied.
    let mut server = Server::start(dir.path(), &["--kubernetes", "off"]);
    bash(&format!(
        r#"T=$(curl -s -X POST http://localhost:{p}/auth/token -H "Content-Type: application/json" -d '{{"user_id":"{tenant}"}}' | jq -r .token)
           curl -sf -X POST http://localhost:{p}/v1/functions -H "Authorization: Bearer $T" -H "Content-Type: application/json" -d '{{"name":"durable","image":"nginx"}}' >/dev/null"#,
        p = server.port
    ));
    server.signal("-KILL");
    // The operator would create the namespace from the Tenant; stand in for it.
    kubectl(&format!("create namespace tenant-{tenant}"));
    let kc = kubeconfig.to_string_lossy().into_owned();
    let _server = Server::start(
        dir.path(),
        &[
            "--kubeconfig",
            &kc,
            "--install-crds",
            "--resync-seconds",
            "1",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let image = common::kubectl(
            &kubeconfig,
            &[
                "-n",
                &format!("tenant-{tenant}"),
                "get",
                "functions.eventflow.io",
                "durable",
                "-o",
                "jsonpath={.spec.image}",
            ],
            None,
        );
        if image.as_deref() == Some("nginx") {
            break;
        }
        assert!(Instant::now() < deadline, "the Function CR never appeared");
        std::thread::sleep(Duration::from_millis(250));
    }
    kubectl(&format!("get tenants.eventflow.io {tenant}"));
    kubectl(&format!("delete namespace tenant-{tenant} --wait=false"));
    kubectl(&format!(
        "delete tenants.eventflow.io {tenant} --wait=false"
    ));
}
