//! The real `eventflow` binary, driven the way a user drives it.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::{bash, free_port, http, testenv_kubeconfig, Server};

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
    // A good JWT secret is not enough: secrets need their key too.
    let out = Command::new(env!("CARGO_BIN_EXE_eventflow"))
        .args(["server", "--listen", "127.0.0.1:0", "--kubernetes", "off"])
        .args(["--jwt-secret", "0123456789abcdef0123456789abcdef-test"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("EVENTFLOW_SECRETS_KEY")
        .env_remove("EVENTFLOW_SECRETS_KEY_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a secrets key"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_eventflow"))
        .args(["server", "--listen", "127.0.0.1:0", "--kubernetes", "off"])
        .args(["--jwt-secret", "0123456789abcdef0123456789abcdef-test"])
        .args(["--secrets-key", "c2hvcnQ="])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("32 bytes in standard base64"), "{stderr}");
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

/// `--sample-image` (repeatable) and `EVENTFLOW_SAMPLE_IMAGES`
/// (comma-separated) reach `GET /v1/samples`; bad entries stop the start.
#[test]
fn sample_images_from_flags_and_environment() {
    let token = |port: u16| {
        let (s, body) = http(port, "POST", "/auth/token", None, r#"{"user_id":"alice"}"#);
        assert_eq!(s, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["token"].as_str().unwrap().to_string()
    };
    let names = |port: u16| {
        let (s, body) = http(port, "GET", "/v1/samples", Some(&token(port)), "");
        assert_eq!(s, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "{}={}",
                    i["name"].as_str().unwrap(),
                    i["image"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--kubernetes",
            "off",
            "--sample-image",
            "echo=127.0.0.1:26450/samples/echo:v1",
            "--sample-image",
            "hello-rust=127.0.0.1:26450/samples/hello-rust:v1",
        ],
    );
    assert_eq!(
        names(server.port),
        [
            "echo=127.0.0.1:26450/samples/echo:v1",
            "hello-rust=127.0.0.1:26450/samples/hello-rust:v1"
        ]
    );
    drop(server);

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventflow"))
        .args(["server", "--dev", "--kubernetes", "off"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .env(
            "EVENTFLOW_SAMPLE_IMAGES",
            "echo=nginx:alpine, other=ghcr.io/acme/other:1",
        )
        .env_remove("EVENTFLOW_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(port, "GET", "/readyz", None, "").0 != 200 {
        assert!(Instant::now() < deadline, "server did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = names(port);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, ["echo=nginx:alpine", "other=ghcr.io/acme/other:1"]);

    let refused = |env: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eventflow"));
        cmd.args([
            "server",
            "--dev",
            "--kubernetes",
            "off",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args(args)
        .env_remove("EVENTFLOW_SAMPLE_IMAGES");
        if let Some(v) = env {
            cmd.env("EVENTFLOW_SAMPLE_IMAGES", v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = refused(None, &["--sample-image", "Echo=nginx"]);
    assert!(e.contains("\"Echo\" is not a valid function name"), "{e}");
    let e = refused(None, &["--sample-image", "echo=Registry/UPPER:v1"]);
    assert!(e.contains("is not a valid image reference"), "{e}");
    let e = refused(None, &["--sample-image", "echo"]);
    assert!(e.contains("is not NAME=IMAGE"), "{e}");
    let e = refused(Some("echo=nginx,echo=busybox"), &[]);
    assert!(e.contains("sample echo is configured twice"), "{e}");
}

/// `/metrics` names every tenant and function: it is served on its own
/// listener (`--metrics-listen`), and the API listener does not answer it.
#[test]
fn metrics_are_served_apart_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let server = Server::start(
        dir.path(),
        &[
            "--kubernetes",
            "off",
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ],
    );
    assert_eq!(http(server.port, "GET", "/readyz", None, "").0, 200);
    let (status, body) = http(server.port, "GET", "/metrics", None, "");
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("eventflow_"), "{body}");
    let (status, body) = http(metrics_port, "GET", "/metrics", None, "");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(
            r#"eventflow_http_requests_total{method="GET",route="/readyz",status="200"}"#
        ),
        "{body}"
    );
}
