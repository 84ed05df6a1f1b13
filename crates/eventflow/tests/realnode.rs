//! Functions really run: the `eventflow server` and `eventflow operator`
//! binaries against testenv's real node (kubelet, containerd, CNI,
//! kube-proxy, kube-router, CoreDNS), with the sample image `echo` from the
//! loopback registry (`examples/functions/build`). Everything goes through the
//! public API and the gateway; kubectl only looks.
//!
//! One test, in steps, so that the two processes and the tenants are set up
//! once and the steps run one after another (they load a 2-core machine).
//! Missing parts fail loudly: no testenv, no real node, no sample image.

mod common;

use std::{
    collections::HashSet,
    process::Command,
    time::{Duration, Instant},
};

use common::{kubectl, testenv_kubeconfig, Operator, Server};
use serde_json::{json, Value};

const REAL_NODE: &str = "testenv-node-1";
const REGISTRY: &str = "127.0.0.1:26450";
/// testenv's private registry: the same images behind a login (a test
/// fixture, testenv/node.sh).
const PRIVATE_REGISTRY: &str = "127.0.0.1:26452";
const PRIVATE_LOGIN: (&str, &str) = ("eventflow-pull", "testenv-private-pull");
/// CoreDNS of testenv's node answers on the node's bridge address.
const NODE_DNS_CIDR: &str = "10.246.0.1/32";
/// testenv's last-resort chain: drops pod traffic that would leave the
/// machine (testenv/node.sh). Its DROP counter shows what got past policies.
const SAFETY_CHAIN: &str = "EVENTFLOW-TESTENV-EGRESS";

/// echo keeps serving this long after SIGTERM, while the pod's removal from
/// the Service's endpoints reaches the API server's proxy (a loaded 2-core
/// machine can take more than echo's default 2 s).
fn endpoint_drain() -> Value {
    json!({"name": "SHUTDOWN_DELAY_SECONDS", "value": "5"})
}

/// Packets testenv's safety chain dropped so far.
fn safety_drops() -> u64 {
    let out = common::bash(&format!("iptables -t mangle -L {SAFETY_CHAIN} -v -x -n"));
    out.lines()
        .find(|l| l.contains("DROP"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no DROP rule in {SAFETY_CHAIN}: {out}"))
}

/// The operator (only `tenants`' objects, DNS to the node's CoreDNS) and a
/// dev-mode server, both against testenv, with state and logs in `dir`.
fn platform(
    kubeconfig: &std::path::Path,
    tenants: &[&str],
    dir: &std::path::Path,
) -> (Operator, Server) {
    platform_with(kubeconfig, tenants, dir, &[])
}

/// [`platform`] with more server flags.
fn platform_with(
    kubeconfig: &std::path::Path,
    tenants: &[&str],
    dir: &std::path::Path,
    server_flags: &[&str],
) -> (Operator, Server) {
    let operator = Operator::start(
        kubeconfig,
        &format!("eventflow.io/tenant in ({})", tenants.join(",")),
        &["--dns-cidr", NODE_DNS_CIDR],
        &dir.join("operator.log"),
    );
    let kc = kubeconfig.to_string_lossy();
    let server = Server::start(
        &dir.join("server"),
        &[
            &[
                "--kubeconfig",
                kc.as_ref(),
                "--install-crds",
                "--resync-seconds",
                "2",
            ],
            server_flags,
        ]
        .concat(),
    );
    (operator, server)
}

/// Deletes the test's Tenants (their finalizer, run by the test's operator,
/// removes the namespaces), so that no later operator recreates them.
fn delete_tenants(kubeconfig: &std::path::Path, tenants: &[&String]) {
    for t in tenants {
        let _ = kubectl(
            kubeconfig,
            &[
                "delete",
                "tenants.eventflow.io",
                t.as_str(),
                "--timeout=90s",
            ],
            None,
        );
    }
}

fn step(what: &str) {
    eprintln!("[realnode {:?}] {what}", std::time::SystemTime::now());
}

/// The API as one tenant sees it.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn login(http: &reqwest::Client, base: &str, user: &str) -> Self {
        let r: Value = http
            .post(format!("{base}/auth/token"))
            .json(
                &json!({"user_id": user, "username": user, "email": format!("{user}@example.com")}),
            )
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token json");
        Self {
            http: http.clone(),
            base: base.to_string(),
            token: r["token"].as_str().expect("a token").to_string(),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("API request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn function(&self, name: &str) -> Value {
        let (s, f) = self
            .json(reqwest::Method::GET, &format!("/v1/functions/{name}"), None)
            .await;
        assert_eq!(s, 200, "GET {name}: {f}");
        f
    }

    /// Polls the function until `pred` holds; the last state in the panic.
    async fn wait_for(
        &self,
        name: &str,
        what: &str,
        secs: u64,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let f = self.function(name).await;
            if pred(&f) {
                return f;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {secs}s waiting for {name} to be {what}; last: {}",
                f["status"]
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn wait_running(&self, name: &str, replicas: i64) -> Value {
        self.wait_for(name, &format!("Running with {replicas} ready"), 180, |f| {
            f["status"]["phase"] == "Running"
                && f["status"]["readyReplicas"].as_i64() == Some(replicas)
                && f["status"]["synced"] == true
        })
        .await
    }

    /// `POST …/invoke{path}`: status, `X-Pod-Name`, body.
    async fn invoke(&self, name: &str, path: &str, body: &str) -> (u16, String, String) {
        let resp = self
            .req(
                reqwest::Method::POST,
                &format!("/v1/functions/{name}/invoke{path}"),
            )
            .header("content-type", "text/plain")
            .body(body.to_string())
            .send()
            .await
            .expect("invoke request");
        let status = resp.status().as_u16();
        let pod = resp
            .headers()
            .get("x-pod-name")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, pod, resp.text().await.unwrap_or_default())
    }

    async fn get_invoke(&self, name: &str, path_and_query: &str) -> (u16, String) {
        let resp = self
            .req(
                reqwest::Method::GET,
                &format!("/v1/functions/{name}/invoke{path_and_query}"),
            )
            .send()
            .await
            .expect("invoke request");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }

    /// `/fetch?url=U` from inside the function's pod: Ok(status) or Err(network error).
    async fn fetch_from(&self, name: &str, url: &str) -> Result<u16, String> {
        let q = format!("/fetch?url={}", urlencode(url));
        let (s, body) = self.get_invoke(name, &q).await;
        assert_eq!(s, 200, "fetch through {name}: {body}");
        let v: Value = serde_json::from_str(&body).expect("fetch answers JSON");
        match v["status"].as_u64() {
            Some(code) => Ok(code as u16),
            None => Err(v["error"].as_str().unwrap_or("?").to_string()),
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn echo_image() -> String {
    format!("{REGISTRY}/samples/echo:v1")
}

/// The real node is there and Ready, and the sample image is in the registry.
fn require_real_node_and_samples(kubeconfig: &std::path::Path) {
    let ready = kubectl(
        kubeconfig,
        &[
            "get",
            "node",
            REAL_NODE,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        None,
    );
    assert_eq!(
        ready.as_deref(),
        Some("True"),
        "testenv's real node {REAL_NODE} is not Ready: start testenv with its node (testenv/up; see docs/DEVELOPMENT.md)"
    );
    let tags = common::bash(&format!(
        "curl -sS --max-time 5 http://{REGISTRY}/v2/samples/echo/tags/list || true"
    ));
    assert!(
        tags.contains("\"v1\""),
        "the sample image {} is not in the registry ({tags}): run examples/functions/build",
        echo_image()
    );
}

fn pods_of(kubeconfig: &std::path::Path, ns: &str, name: &str) -> Vec<Value> {
    let out = kubectl(
        kubeconfig,
        &[
            "-n",
            ns,
            "get",
            "pods",
            "-l",
            &format!("eventflow.io/function={name}"),
            "-o",
            "json",
        ],
        None,
    )
    .unwrap_or_default();
    serde_json::from_str::<Value>(&out)
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn functions_really_run_on_the_real_node() {
    let _serial = SERIAL.lock().await;
    let kubeconfig = testenv_kubeconfig();
    require_real_node_and_samples(&kubeconfig);
    let id = std::process::id();
    let (alice, bob) = (format!("rn{id}a"), format!("rn{id}b"));
    let dir = tempfile::tempdir().unwrap();

    step("starting the operator and the server");
    let crds = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/crds/eventflow.io.yaml"
    );
    kubectl(
        &kubeconfig,
        &["apply", "--server-side", "--force-conflicts", "-f", crds],
        None,
    )
    .expect("apply the CRDs");
    let (_operator, server) = platform(&kubeconfig, &[&alice, &bob], dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let a = Api::login(&http, &server.url(), &alice).await;
    let b = Api::login(&http, &server.url(), &bob).await;
    let (ns_a, ns_b) = (format!("tenant-{alice}"), format!("tenant-{bob}"));

    step("deploy echo → Running with a real container");
    let (s, f) = a
        .json(
            reqwest::Method::POST,
            "/v1/functions",
            Some(json!({"name": "echo", "image": echo_image(), "replicas": 1, "env": [endpoint_drain()]})),
        )
        .await;
    assert_eq!(s, 201, "create: {f}");
    a.wait_running("echo", 1).await;
    let pods = pods_of(&kubeconfig, &ns_a, "echo");
    assert_eq!(pods.len(), 1, "one pod: {pods:?}");
    assert_eq!(
        pods[0]["spec"]["nodeName"], REAL_NODE,
        "the pod runs on the real node"
    );
    let cid = pods[0]["status"]["containerStatuses"][0]["containerID"]
        .as_str()
        .unwrap_or_default();
    assert!(
        cid.starts_with("containerd://"),
        "a real container: {cid:?}"
    );

    step("invoke through the gateway");
    let (s, pod, body) = a.invoke("echo", "/hello", "ping from the test").await;
    assert_eq!(s, 200, "invoke: {body}");
    assert_eq!(body, "ping from the test");
    assert_eq!(
        pod,
        pods[0]["metadata"]["name"].as_str().unwrap(),
        "X-Pod-Name is the pod's name"
    );

    step("an asynchronous invocation: 202, poll, the function's answer kept");
    let resp = a
        .req(reqwest::Method::POST, "/v1/functions/echo/invoke/async")
        .header("prefer", "respond-async")
        .header("content-type", "text/plain")
        .body("ping, later")
        .send()
        .await
        .expect("async invoke");
    assert_eq!(resp.status().as_u16(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let accepted: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/invocations/{}", accepted["id"].as_str().unwrap())
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let (s, v) = a.json(reqwest::Method::GET, &location, None).await;
        assert_eq!(s, 200, "{v}");
        if v["status"] != "queued" && v["status"] != "running" {
            break v;
        }
        assert!(Instant::now() < deadline, "still {}: {v}", v["status"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 1, "{done}");
    assert_eq!(done["response"]["status"], 200, "{done}");
    assert_eq!(done["response"]["body"], "ping, later", "{done}");
    let pod_header = done["response"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-pod-name")
        .map(|h| h[1].clone());
    assert_eq!(
        pod_header,
        Some(pods[0]["metadata"]["name"].clone()),
        "{done}"
    );

    step("logs show the line the invocation printed");
    let (s, logs) = a
        .json(
            reqwest::Method::GET,
            "/v1/functions/echo/logs?tailLines=100",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let logs = logs.as_str().unwrap_or_default().to_string();
    assert!(logs.contains("echo: POST /hello"), "logs: {logs}");

    step("logs?follow=true streams a line printed after it began");
    let mut follow = a
        .req(
            reqwest::Method::GET,
            "/v1/functions/echo/logs?follow=true&tailLines=0",
        )
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("follow logs");
    assert_eq!(follow.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, _, _) = a.invoke("echo", "/followed", "x").await;
    assert_eq!(s, 200);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains("echo: POST /followed") {
        assert!(
            Instant::now() < deadline,
            "follow did not show the line; got: {seen}"
        );
        match tokio::time::timeout(Duration::from_secs(5), follow.chunk()).await {
            Ok(Ok(Some(c))) => seen.push_str(&String::from_utf8_lossy(&c)),
            Ok(Ok(None)) => panic!("follow stream ended; got: {seen}"),
            Ok(Err(e)) => panic!("follow stream failed: {e}; got: {seen}"),
            Err(_) => {}
        }
    }
    drop(follow);

    step("scale to 3 → invocations reach several pods");
    let (s, f) = a
        .json(
            reqwest::Method::PATCH,
            "/v1/functions/echo",
            Some(json!({"replicas": 3})),
        )
        .await;
    assert_eq!(s, 200, "scale: {f}");
    a.wait_running("echo", 3).await;
    let mut pods_seen = HashSet::new();
    for i in 0..30 {
        let (s, pod, body) = a.invoke("echo", "", &format!("call {i}")).await;
        assert_eq!((s, body.as_str()), (200, format!("call {i}").as_str()));
        pods_seen.insert(pod);
    }
    assert!(pods_seen.len() >= 2, "30 calls reached only {pods_seen:?}");
    let (s, f) = a
        .json(
            reqwest::Method::PATCH,
            "/v1/functions/echo",
            Some(json!({"replicas": 1})),
        )
        .await;
    assert_eq!(s, 200, "scale down: {f}");

    step("isolation: a second function of alice's, and bob's echo");
    for (api, name) in [(&a, "echo2"), (&b, "echo")] {
        let (s, f) = api
            .json(
                reqwest::Method::POST,
                "/v1/functions",
                Some(json!({"name": name, "image": echo_image()})),
            )
            .await;
        assert_eq!(s, 201, "create {name}: {f}");
    }
    a.wait_running("echo2", 1).await;
    b.wait_running("echo", 1).await;
    a.wait_running("echo", 1).await;
    let bob_pod_ip = pods_of(&kubeconfig, &ns_b, "echo")[0]["status"]["podIP"]
        .as_str()
        .expect("bob's pod has an IP")
        .to_string();
    // Own function by Service DNS name: DNS and the same-tenant rule work.
    let own = format!("http://fn-echo2.{ns_a}.svc.cluster.local/healthz");
    let mut last = Err(String::new());
    for _ in 0..20 {
        // A new pod's allow rules take a moment (kube-router's ipset sync).
        last = a.fetch_from("echo", &own).await;
        if last == Ok(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        last,
        Ok(200),
        "alice's echo reaches alice's echo2 by DNS name"
    );
    let drops_before = safety_drops();
    for url in [
        format!("http://fn-echo.{ns_b}.svc.cluster.local/healthz"),
        format!("http://{bob_pod_ip}:8080/healthz"),
        // The node itself (its kubelet answers plain HTTP with a 400 when
        // reachable); the API server listens only on 127.0.0.1 in testenv.
        "http://10.246.0.1:10250/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let r = a.fetch_from("echo", &url).await;
        assert!(r.is_err(), "alice's echo must not reach {url}: {r:?}");
    }
    // The tenant's NetworkPolicy refused these, not testenv's safety chain.
    assert_eq!(
        safety_drops(),
        drops_before,
        "a packet got past the NetworkPolicies to testenv's last-resort chain"
    );
    // The gateway reaches every tenant's functions.
    let (s, _, body) = b.invoke("echo", "", "bob here").await;
    assert_eq!((s, body.as_str()), (200, "bob here"));

    step("failures say why: crash loop, missing image, OOM kill");
    for (name, body) in [
        ("crashy", json!({"name": "crashy", "image": echo_image()})),
        (
            "ghost",
            json!({"name": "ghost", "image": format!("{REGISTRY}/samples/does-not-exist:v1")}),
        ),
        (
            "hungry",
            json!({"name": "hungry", "image": echo_image(),
                   "resources": {"requests": {"memory": "32Mi"}, "limits": {"memory": "64Mi"}}}),
        ),
    ] {
        let (s, f) = a
            .json(reqwest::Method::POST, "/v1/functions", Some(body))
            .await;
        assert_eq!(s, 201, "create {name}: {f}");
    }
    let f = a
        .wait_for("ghost", "ImagePullBackOff", 120, |f| {
            f["status"]["reason"] == "ImagePullBackOff"
        })
        .await;
    let m = f["status"]["message"].as_str().unwrap_or_default();
    assert!(m.contains("not found"), "the registry's answer: {m}");
    a.wait_running("crashy", 1).await;
    a.wait_running("hungry", 1).await;
    // Each /crash ends the container (the call itself fails: 502).
    let deadline = Instant::now() + Duration::from_secs(150);
    let crashed = loop {
        let _ = a.get_invoke("crashy", "/crash").await;
        let f = a.function("crashy").await;
        if f["status"]["reason"] == "CrashLoopBackOff" {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "crashy never showed CrashLoopBackOff: {}",
            f["status"]
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let m = crashed["status"]["message"].as_str().unwrap_or_default();
    assert!(
        m.contains("last exit: code 1 (Error)"),
        "the container's last exit: {m}"
    );
    let cli = Command::new(env!("CARGO_BIN_EXE_eventflow"))
        .args(["fn", "get", "crashy"])
        .env("EVENTFLOW_URL", server.url())
        .env("EVENTFLOW_TOKEN", &a.token)
        .env("HOME", dir.path())
        .output()
        .expect("run the CLI");
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(out.contains("CrashLoopBackOff"), "the CLI shows it: {out}");
    let (s, body) = a.get_invoke("hungry", "/alloc?mb=256").await;
    assert_ne!(s, 200, "allocating 256 MiB under a 64 MiB limit: {body}");
    let f = a
        .wait_for("hungry", "shown as OOMKilled", 90, |f| {
            // Failed while it waits to restart; Running afterwards, with the
            // restart in the Ready condition's message.
            f["status"]["reason"] == "OOMKilled"
                || f["status"]["conditions"][0]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("(OOMKilled)")
        })
        .await;
    eprintln!("hungry: {}", f["status"]);
    for name in ["crashy", "ghost", "hungry"] {
        let (s, f) = a
            .json(
                reqwest::Method::DELETE,
                &format!("/v1/functions/{name}"),
                None,
            )
            .await;
        assert_eq!(s, 204, "delete {name}: {f}");
    }

    step("rolling update under load: no failed invocation");
    let (s, f) = a
        .json(
            reqwest::Method::PATCH,
            "/v1/functions/echo",
            Some(json!({"env": [{"name": "GREETING", "value": "v2"}, endpoint_drain()]})),
        )
        .await;
    assert_eq!(s, 200, "update: {f}");
    let load = {
        let a = a.clone();
        tokio::spawn(async move {
            let mut results = Vec::new();
            let start = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(40)); // 25 req/s
            loop {
                tick.tick().await;
                let (s, _, body) = a.invoke("echo", "/rollout", "r").await;
                results.push((s, body));
                let (_, v) = a.get_invoke("echo", "/env?name=GREETING").await;
                let done = v == "v2";
                if done && start.elapsed() > Duration::from_secs(3)
                    || start.elapsed() > Duration::from_secs(150)
                {
                    return (results, done);
                }
            }
        })
    };
    let (results, rolled) = load.await.unwrap();
    assert!(rolled, "the new env never answered within 150 s");
    a.wait_running("echo", 1).await;
    eprintln!("{} invocations during the rollout", results.len());
    let failed: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} invocations failed during the rollout: {failed:?}",
        failed.len(),
        results.len()
    );

    step("a new image, then a rollback under load: the previous image again, no failed invocation");
    // The same sample under a second tag: another image reference to roll
    // between.
    common::bash(&format!(
        "m=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://{REGISTRY}/v2/samples/echo/manifests/v1) && \
         curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary \"$m\" \
           http://{REGISTRY}/v2/samples/echo/manifests/v1-rollback-test >/dev/null"
    ));
    let (_, before) = a
        .json(reqwest::Method::GET, "/v1/functions/echo", None)
        .await;
    let good = before["generation"].as_i64().unwrap();
    let other = format!("{REGISTRY}/samples/echo:v1-rollback-test");
    let (s, f) = a
        .json(
            reqwest::Method::PATCH,
            "/v1/functions/echo",
            Some(json!({"image": other})),
        )
        .await;
    assert_eq!(s, 200, "new image: {f}");
    let images = |kubeconfig: &std::path::Path| -> Vec<String> {
        pods_of(kubeconfig, &ns_a, "echo")
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                p["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(150);
    while images(&kubeconfig) != [other.clone()] {
        assert!(
            Instant::now() < deadline,
            "the new image never ran alone: {:?}",
            images(&kubeconfig)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    a.wait_running("echo", 1).await;
    let (s, f) = a
        .json(
            reqwest::Method::POST,
            "/v1/functions/echo/rollback",
            Some(json!({"revision": good})),
        )
        .await;
    assert_eq!(s, 200, "rollback: {f}");
    assert_eq!(f["spec"]["image"], json!(echo_image()), "{f}");
    let load = {
        let a = a.clone();
        let kubeconfig = kubeconfig.clone();
        let ns = ns_a.clone();
        let images = move || {
            pods_of(&kubeconfig, &ns, "echo")
                .iter()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .map(|p| {
                    p["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect::<Vec<_>>()
        };
        tokio::spawn(async move {
            let mut results = Vec::new();
            let start = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(40));
            let (mut done, mut checked) = (false, Instant::now());
            loop {
                tick.tick().await;
                let (s, _, body) = a.invoke("echo", "/rollback", "r").await;
                results.push((s, body));
                // kubectl is slow: look at the pods twice a second.
                if checked.elapsed() > Duration::from_millis(500) {
                    done = images() == [echo_image()];
                    checked = Instant::now();
                }
                if done && start.elapsed() > Duration::from_secs(3)
                    || start.elapsed() > Duration::from_secs(150)
                {
                    return (results, done);
                }
            }
        })
    };
    let (results, rolled) = load.await.unwrap();
    assert!(
        rolled,
        "the previous image never ran alone again within 150 s"
    );
    a.wait_running("echo", 1).await;
    let failed: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
    eprintln!(
        "{} invocations during the rollback, {} failed",
        results.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed during the rollback: {failed:?}");
    let (_, revs) = a
        .json(
            reqwest::Method::GET,
            "/v1/functions/echo/revisions?limit=1",
            None,
        )
        .await;
    assert_eq!(revs["items"][0]["rollbackOf"], json!(good), "{revs}");

    step("a secret: echo reads it from its env and its file; a new value rolls the pod");
    let value = |v: u32| format!("tok-{v}-{}", std::process::id());
    let put_secret = |v: u32| {
        a.json(
            reqwest::Method::PUT,
            "/v1/secrets/creds",
            Some(json!({"data": {"token": value(v), "region": "eu-1"}})),
        )
    };
    let (s, sec) = put_secret(1).await;
    assert_eq!(s, 201, "secret: {sec}");
    let (s, f) = a
        .json(
            reqwest::Method::POST,
            "/v1/functions",
            Some(
                json!({"name": "vault", "image": echo_image(), "replicas": 1,
                "env": [endpoint_drain()],
                "secretEnv": [{"name": "TOKEN", "secret": "creds", "key": "token"}],
                "secretFiles": ["creds"]}),
            ),
        )
        .await;
    assert_eq!(s, 201, "create vault: {f}");
    a.wait_running("vault", 1).await;
    assert_eq!(
        a.get_invoke("vault", "/env?name=TOKEN").await,
        (200, value(1))
    );
    assert_eq!(
        a.get_invoke("vault", "/secret?name=creds&key=token").await,
        (200, value(1))
    );
    assert_eq!(
        a.get_invoke("vault", "/secret?name=creds&key=region").await,
        (200, "eu-1".to_string())
    );
    let k8s_secret = kubectl(
        &kubeconfig,
        &[
            "get",
            "secret",
            "eventflow-secret-creds",
            "-n",
            &ns_a,
            "-o",
            "json",
        ],
        None,
    )
    .expect("the Secret is in alice's namespace");
    assert!(k8s_secret.contains("\"type\": \"Opaque\""), "{k8s_secret}");
    let (s, _) = put_secret(2).await;
    assert_eq!(s, 200);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (s, env) = a.get_invoke("vault", "/env?name=TOKEN").await;
        if (s, env.as_str()) == (200, value(2).as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pod did not roll onto the new value: {s} {env}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        a.get_invoke("vault", "/secret?name=creds&key=token").await,
        (200, value(2))
    );
    let (s, err) = a
        .json(reqwest::Method::DELETE, "/v1/secrets/creds", None)
        .await;
    assert_eq!(s, 409, "a secret in use stays: {err}");

    step("delete → pods gone");
    for (api, name) in [(&a, "echo"), (&a, "echo2"), (&a, "vault"), (&b, "echo")] {
        let (s, f) = api
            .json(
                reqwest::Method::DELETE,
                &format!("/v1/functions/{name}"),
                None,
            )
            .await;
        assert_eq!(s, 204, "delete {name}: {f}");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = pods_of(&kubeconfig, &ns_a, "echo").len()
            + pods_of(&kubeconfig, &ns_a, "echo2").len()
            + pods_of(&kubeconfig, &ns_a, "vault").len()
            + pods_of(&kubeconfig, &ns_b, "echo").len();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} pods still there after delete"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    delete_tenants(&kubeconfig, &[&alice, &bob]);
}

/// One real-node test at a time: each starts its own operator and loads the
/// 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The README's quick start, verbatim but for the port, against a server and
/// an operator on the real node: alice's call comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_quick_start_runs_verbatim_on_the_real_node() {
    let _serial = SERIAL.lock().await;
    let kubeconfig = testenv_kubeconfig();
    require_real_node_and_samples(&kubeconfig);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Quick start")
        .nth(1)
        .expect("README has a Quick start section");
    let block = section
        .split("```bash\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the Quick start has a bash block");
    assert!(
        block.contains("samples/echo:v1"),
        "the quick start uses the sample image"
    );
    // The tenants are the README's own (alice, bob): start from nothing.
    for ns in ["tenant-alice", "tenant-bob"] {
        let _ = kubectl(
            &kubeconfig,
            &["delete", "functions.eventflow.io", "--all", "-n", ns],
            None,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (_operator, server) = platform(&kubeconfig, &["alice", "bob"], dir.path());
    let script = block.replace("localhost:8080", &format!("127.0.0.1:{}", server.port));
    let out = common::bash(&format!(
        "timeout 180 bash -euo pipefail <<'QUICKSTART'\n{script}\nQUICKSTART"
    ));
    assert!(
        out.contains("hello from alice"),
        "alice's call did not come back:\n{out}"
    );
    assert!(out.contains("echo: POST"), "the logs show the call:\n{out}");
    let http = reqwest::Client::new();
    for user in ["alice", "bob"] {
        let api = Api::login(&http, &server.url(), user).await;
        let name = format!("{user}-app");
        let (s, f) = api
            .json(
                reqwest::Method::DELETE,
                &format!("/v1/functions/{name}"),
                None,
            )
            .await;
        assert_eq!(s, 204, "delete {name}: {f}");
    }
}

/// Item 10 of the security issue, on the real node: a private image runs
/// for the tenant that attached the registry's login, and not for another
/// tenant, even with the image already on the node (`imagePullPolicy:
/// Always` makes the node ask the registry each time); once that tenant
/// attaches the login too, its function runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_images_need_the_tenants_registry_credentials() {
    let _serial = SERIAL.lock().await;
    let kubeconfig = testenv_kubeconfig();
    require_real_node_and_samples(&kubeconfig);
    let anonymous = common::bash(&format!(
        "curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 http://{PRIVATE_REGISTRY}/v2/samples/echo/tags/list || true"
    ));
    assert_eq!(
        anonymous.trim(),
        "401",
        "testenv's private registry {PRIVATE_REGISTRY} must be up and ask for a login (testenv/up)"
    );
    let id = std::process::id();
    let (carol, dave) = (format!("rn{id}c"), format!("rn{id}d"));
    let dir = tempfile::tempdir().unwrap();
    let (_operator, server) = platform(&kubeconfig, &[&carol, &dave], dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let c = Api::login(&http, &server.url(), &carol).await;
    let d = Api::login(&http, &server.url(), &dave).await;
    let image = format!("{PRIVATE_REGISTRY}/samples/echo:v1");
    let login = json!({"username": PRIVATE_LOGIN.0, "password": PRIVATE_LOGIN.1});
    let credential = format!("/v1/registry-credentials/{PRIVATE_REGISTRY}");

    step("carol attaches the login and runs the private image");
    let (s, v) = c
        .json(reqwest::Method::PUT, &credential, Some(login.clone()))
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(!v.to_string().contains(PRIVATE_LOGIN.1), "{v}");
    let (s, f) = c
        .json(
            reqwest::Method::POST,
            "/v1/functions",
            Some(json!({"name": "priv", "image": image})),
        )
        .await;
    assert_eq!(s, 201, "create: {f}");
    c.wait_running("priv", 1).await;
    let (s, _, body) = c.invoke("priv", "", "private hello").await;
    assert_eq!((s, body.as_str()), (200, "private hello"));

    step("dave, without the login, cannot run it although the node has it");
    let (s, f) = d
        .json(
            reqwest::Method::POST,
            "/v1/functions",
            Some(json!({"name": "priv", "image": image})),
        )
        .await;
    assert_eq!(s, 201, "create: {f}");
    let f = d
        .wait_for("priv", "refused by the registry", 120, |f| {
            matches!(
                f["status"]["reason"].as_str(),
                Some("ImagePullBackOff" | "ErrImagePull")
            )
        })
        .await;
    let m = f["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        m.contains("401") || m.contains("unauthorized") || m.contains("authorization"),
        "the registry's refusal: {m}"
    );
    assert!(
        pods_of(&kubeconfig, &format!("tenant-{dave}"), "priv")
            .iter()
            .all(|p| p["status"]["containerStatuses"][0]["state"]["running"].is_null()),
        "dave's pod must not run the private image"
    );

    step("dave attaches the login: the next pull succeeds");
    let (s, v) = d.json(reqwest::Method::PUT, &credential, Some(login)).await;
    assert_eq!(s, 201, "{v}");
    d.wait_running("priv", 1).await;
    let (s, _, body) = d.invoke("priv", "", "now mine").await;
    assert_eq!((s, body.as_str()), (200, "now mine"));

    for api in [&c, &d] {
        let (s, f) = api
            .json(reqwest::Method::DELETE, "/v1/functions/priv", None)
            .await;
        assert_eq!(s, 204, "delete: {f}");
    }
    delete_tenants(&kubeconfig, &[&carol, &dave]);
}

/// Load against one function from `concurrency` callers, each calling
/// `/sleep?ms={ms}` in a loop until `stop` turns true: every status seen.
fn load(
    api: &Api,
    name: &str,
    concurrency: usize,
    ms: u64,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<(u16, String)>> {
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (api, name, stop) = (api.clone(), name.to_string(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !*stop.borrow() {
                    let (s, body) = api.get_invoke(&name, &format!("/sleep?ms={ms}")).await;
                    seen.push((s, body));
                }
                seen
            })
        })
        .collect();
    tokio::spawn(async move {
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.expect("load worker"));
        }
        all
    })
}

fn failures(results: &[(u16, String)]) -> Vec<&(u16, String)> {
    results.iter().filter(|(s, _)| *s != 200).collect()
}

/// Issue 12 on the real node: a `minReplicas: 0` function goes to zero
/// after its idle period; a burst of 50 invocations at zero all succeed
/// (held while it wakes); steady load scales it up, and when the load
/// falls it scales down and then to zero again, with no failed
/// invocation on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn functions_scale_to_zero_wake_on_request_and_follow_the_load() {
    let _serial = SERIAL.lock().await;
    let kubeconfig = testenv_kubeconfig();
    require_real_node_and_samples(&kubeconfig);
    let tenant = format!("rn{}z", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = format!("127.0.0.1:{}", common::free_port());
    let (_operator, server) = platform_with(
        &kubeconfig,
        &[&tenant],
        dir.path(),
        &[
            "--scale-down-window-seconds",
            "5",
            "--metrics-listen",
            &metrics_addr,
        ],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let api = Api::login(&http, &server.url(), &tenant).await;
    let ns = format!("tenant-{tenant}");

    step("deploy with minReplicas 0: it starts with one replica");
    let (s, f) = api
        .json(
            reqwest::Method::POST,
            "/v1/functions",
            Some(json!({"name": "zero", "image": echo_image(), "env": [endpoint_drain()],
                "autoscaling": {"minReplicas": 0, "maxReplicas": 4, "targetConcurrency": 2, "idleSeconds": 10}})),
        )
        .await;
    assert_eq!(s, 201, "create: {f}");
    assert_eq!(f["spec"]["autoscaling"]["targetConcurrency"], 2, "{f}");
    api.wait_running("zero", 1).await;
    let (s, _, body) = api.invoke("zero", "", "warm").await;
    assert_eq!((s, body.as_str()), (200, "warm"));

    step("idle for its idle period: scaled to zero");
    let f = api
        .wait_for("zero", "Idle", 90, |f| f["status"]["phase"] == "Idle")
        .await;
    assert_eq!(
        f["status"]["scaling"]["lastScaleReason"], "Idle",
        "{}",
        f["status"]
    );
    assert_eq!(
        f["status"]["scaling"]["desiredReplicas"], 0,
        "{}",
        f["status"]
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pods_of(&kubeconfig, &ns, "zero").is_empty() {
        assert!(Instant::now() < deadline, "pods still there at zero");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    step("a burst of 50 invocations at zero: all served");
    let started = Instant::now();
    let burst: Vec<_> = (0..50)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move { api.invoke("zero", "/burst", &format!("call {i}")).await })
        })
        .collect();
    let mut first_done = None;
    for (i, b) in burst.into_iter().enumerate() {
        let (s, _, body) = b.await.unwrap();
        assert_eq!(
            (s, body.clone()),
            (200, format!("call {i}")),
            "call {i} of the burst"
        );
        first_done.get_or_insert(started.elapsed());
    }
    eprintln!(
        "burst of 50 at zero: all 200 in {:?} (first in {:?})",
        started.elapsed(),
        first_done.unwrap_or_default()
    );
    let f = api
        .wait_for("zero", "showing its cold start", 30, |f| {
            f["status"]["scaling"]["lastColdStartMs"].is_i64()
        })
        .await;
    eprintln!(
        "cold start recorded: {} ms",
        f["status"]["scaling"]["lastColdStartMs"]
    );
    // The 50 calls shared one cold start.
    let metrics = http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cold_starts = |outcome: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("eventflow_function_cold_starts_total{")
                    && l.contains(&format!("tenant=\"{tenant}\""))
                    && l.contains("function=\"zero\"")
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(cold_starts("ready"), 1.0, "{metrics}");
    assert_eq!(cold_starts("failed"), 0.0, "{metrics}");

    // The burst itself asked for more replicas; they go again after the
    // stabilisation window, back to one (the function was called just now).
    api.wait_for("zero", "back to 1 after the burst", 120, |f| {
        f["status"]["replicas"] == 1 && f["status"]["readyReplicas"] == 1
    })
    .await;

    step("steady load of 8 slow callers: scaled up to 4");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let heavy = load(&api, "zero", 8, 400, stop_rx);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = pods_of(&kubeconfig, &ns, "zero")
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .count();
        let f = api.function("zero").await;
        if ready == 4 && f["status"]["readyReplicas"] == 4 {
            assert_eq!(
                f["status"]["scaling"]["desiredReplicas"], 4,
                "{}",
                f["status"]
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not scaled up to 4 under load: {} pods, {}",
            ready,
            f["status"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop_tx.send(true).unwrap();
    let heavy = heavy.await.unwrap();

    step("the load falls to one caller: scaled down, no invocation fails");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let light = load(&api, "zero", 1, 200, stop_rx);
    api.wait_for("zero", "scaled down to 1", 120, |f| {
        f["status"]["replicas"] == 1 && f["status"]["readyReplicas"] == 1
    })
    .await;
    // Until the removed replicas have finished draining.
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop_tx.send(true).unwrap();
    let light = light.await.unwrap();
    eprintln!(
        "{} invocations under load, {} while scaling down",
        heavy.len(),
        light.len()
    );
    assert!(
        failures(&heavy).is_empty(),
        "failed under load: {:?}",
        failures(&heavy)
    );
    assert!(
        failures(&light).is_empty(),
        "failed while scaling down: {:?}",
        failures(&light)
    );

    step("idle again: back to zero");
    api.wait_for("zero", "Idle again", 90, |f| f["status"]["phase"] == "Idle")
        .await;
    let (s, _) = api
        .json(reqwest::Method::DELETE, "/v1/functions/zero", None)
        .await;
    assert_eq!(s, 204);
    delete_tenants(&kubeconfig, &[&tenant]);
}

/// Issue 15 on the real node: a real Prometheus scrapes the server's
/// metrics listener and the real node's kubelet (`/metrics/resource`,
/// through the API server's node proxy, with testenv's admin credentials:
/// the containers' CPU and memory from the CRI, as metrics-server reads
/// them), and the server answers
/// the tenant metrics API from it: the echo sample's calls counted by
/// outcome, its ready replica, and its pod's CPU and memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_metrics_come_from_prometheus_scraping_the_server_and_the_node() {
    let _serial = SERIAL.lock().await;
    let kubeconfig = testenv_kubeconfig();
    require_real_node_and_samples(&kubeconfig);
    let id = std::process::id();
    let tenant = format!("rn{id}m");
    let dir = tempfile::tempdir().unwrap();

    step("Prometheus scraping the server and the node's kubelet");
    let view = |path: &str| {
        kubectl(
            &kubeconfig,
            &[
                "config",
                "view",
                "--raw",
                "--minify",
                "-o",
                &format!("jsonpath={{{path}}}"),
            ],
            None,
        )
        .unwrap_or_else(|| panic!("kubeconfig has no {path}"))
    };
    let api_server = view(".clusters[0].cluster.server");
    let host = api_server.trim_start_matches("https://").to_string();
    for (file, path) in [
        ("ca.crt", ".clusters[0].cluster.certificate-authority-data"),
        ("client.crt", ".users[0].user.client-certificate-data"),
        ("client.key", ".users[0].user.client-key-data"),
    ] {
        use base64::Engine;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(view(path).trim())
            .unwrap_or_else(|e| panic!("{path} is not base64: {e}"));
        std::fs::write(dir.path().join(file), pem).unwrap();
    }
    let metrics_port = common::free_port();
    let d = dir.path().display();
    let prom = eventflow_testenv::prometheus::Prometheus::start(&format!(
        "global:
  scrape_interval: 2s
scrape_configs:
  - job_name: eventflow-server
    scrape_interval: 1s
    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]
  - job_name: kubelet-resource
    scheme: https
    metrics_path: /api/v1/nodes/{REAL_NODE}/proxy/metrics/resource
    tls_config: {{ca_file: '{d}/ca.crt', cert_file: '{d}/client.crt', key_file: '{d}/client.key'}}
    static_configs: [{{targets: ['{host}']}}]
"
    ));
    let (_operator, server) = platform_with(
        &kubeconfig,
        &[&tenant],
        dir.path(),
        &[
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
            "--metrics-prometheus-url",
            &prom.url,
        ],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let a = Api::login(&http, &server.url(), &tenant).await;
    // Dropped before the operator, which removes the namespace: also when
    // an assertion fails.
    let _cleanup = DeleteTenants(&kubeconfig, vec![tenant.clone()]);

    step("deploy echo, call it: 12 answered, 3 refused by echo (400)");
    let (s, f) = a
        .json(
            reqwest::Method::POST,
            "/v1/functions",
            Some(json!({"name": "echo", "image": echo_image(), "replicas": 1})),
        )
        .await;
    assert_eq!(s, 201, "create: {f}");
    a.wait_running("echo", 1).await;
    for i in 0..12 {
        let (s, _, body) = a.invoke("echo", "/hello", &format!("call {i}")).await;
        assert_eq!(s, 200, "invoke: {body}");
    }
    for _ in 0..3 {
        let (s, _) = a.get_invoke("echo", "/secret").await;
        assert_eq!(s, 400, "echo's /secret without its parameters");
    }

    step("the metrics API answers from Prometheus");
    let deadline = Instant::now() + Duration::from_secs(120);
    let m = loop {
        let (s, m) = a
            .json(
                reqwest::Method::GET,
                "/v1/functions/echo/metrics?range=15m&step=10s",
                None,
            )
            .await;
        assert_eq!(s, 200, "{m}");
        let points = m["points"].as_array().unwrap();
        let known = |k: &str| {
            points
                .iter()
                .any(|p| p[k].as_f64().is_some_and(|v| v > 0.0))
        };
        if m["summary"]["calls"]["2xx"].as_u64() >= Some(12)
            && m["summary"]["calls"]["4xx"].as_u64() >= Some(3)
            && known("readyReplicas")
            && known("cpuCores")
            && known("memoryBytes")
        {
            break m;
        }
        if Instant::now() > deadline {
            let targets = http
                .get(format!("{}/api/v1/targets", prom.url))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let last: Vec<&Value> = points.iter().rev().take(6).collect();
            panic!(
                "the metrics never showed the calls, replicas, CPU and memory: summary {}, last points {last:?}\nPrometheus' targets: {targets}",
                m["summary"]
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(m["backend"], "prometheus");
    assert_eq!(
        m["summary"]["calls"],
        json!({"2xx": 12, "4xx": 3, "429": 0, "5xx": 0, "503": 0, "504": 0}),
        "{m}"
    );
    let memory = m["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["memoryBytes"].as_f64())
        .fold(0.0, f64::max);
    assert!(
        memory > 1e6 && memory < 512.0 * 1024.0 * 1024.0,
        "echo's working set is some MiB, within its limit: {memory}"
    );
    let (s, o) = a
        .json(reqwest::Method::GET, "/v1/metrics?range=15m", None)
        .await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["functions"][0]["name"], "echo", "{o}");
    assert_eq!(o["functions"][0]["calls"]["2xx"], 12, "{o}");

    let (s, _) = a
        .json(reqwest::Method::DELETE, "/v1/functions/echo", None)
        .await;
    assert_eq!(s, 204);
    step("clean up");
}

/// Deletes its tenants when dropped ([`delete_tenants`]).
struct DeleteTenants<'a>(&'a std::path::Path, Vec<String>);

impl Drop for DeleteTenants<'_> {
    fn drop(&mut self) {
        delete_tenants(self.0, &self.1.iter().collect::<Vec<_>>());
    }
}
