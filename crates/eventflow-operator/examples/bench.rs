//! Operator benchmark on testenv: N functions across M tenants created at
//! once; prints time-to-Running p50/p99 per function (timed as watches on
//! the Functions and Deployments deliver each change), reconciles per
//! second, the CPU time of the operator and of each control-plane process,
//! and the operator's peak RSS; then restarts the operator with everything
//! in place and prints its peak RSS until it has done as many reconciles as
//! there are Functions and Tenants (a start reconciles each once). Not a test; see docs/PERFORMANCE.md.
//!
//! ```text
//! cargo build --profile release-operator -p eventflow-operator --bin eventflow-operator --example bench
//! ./target/release-operator/examples/bench [functions] [tenants] [extra-nodes]
//! ```
//!
//! The operator is the shipped binary, `eventflow-operator`, run as a child
//! process (so its VmHWM is the operator's alone): by default the one in
//! this example's target directory (`target/PROFILE/eventflow-operator`,
//! built by the same `cargo build`), else `BENCH_OPERATOR_BIN`. testenv's kwok node
//! holds 250 pods; `extra-nodes` (default 2) temporary kwok nodes named
//! `eventflow-bench-*` are added for the run and deleted afterwards. They
//! carry the kwok node's taint and label, and the operator puts function
//! pods on those nodes only (`--pod-toleration`/`--pod-node-selector`, see
//! `eventflow_testenv::SIMULATED_NODE_OPERATOR_ARGS`): the bench's made-up
//! image never runs on testenv's real node.
//!
//! Environment: `BENCH_CONCURRENCY` (the operator's reconcile concurrency,
//! default 16), `BENCH_OPERATOR_BIN`, `BENCH_OPERATOR_WRAPPER` (a command the
//! operator runs under, e.g. `heaptrack -o /tmp/operator`), `EVENTFLOW_LOG`
//! (the operator's log filter on stderr, default `warn`).

#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventflow_crd::{Function, FunctionSpec, Phase, Tenant, TenantSpec};
use futures::{stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};

const SCOPE_LABEL: &str = "eventflow-bench/run";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let functions = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500usize);
    let tenants = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50usize);
    let nodes = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2usize);
    rt.block_on(bench(functions, tenants, nodes));
}

/// The operator binary the bench runs: `BENCH_OPERATOR_BIN`, else
/// `eventflow-operator` in this example's target directory.
fn operator_binary() -> std::path::PathBuf {
    if let Some(bin) = std::env::var_os("BENCH_OPERATOR_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("eventflow-operator"))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: build it with the bench, e.g. `cargo build --profile release-operator -p eventflow-operator --bin eventflow-operator --example bench`, or set BENCH_OPERATOR_BIN",
        bin.display()
    );
    bin
}

fn scoped(scope: &str) -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([(
        SCOPE_LABEL.to_string(),
        scope.to_string(),
    )]))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The operator's counters that matter here, summed over their labels:
/// reconciles, function reconciles that applied children, function status
/// writes, tenant reconciles, failed reconciles.
async fn counters() -> [f64; 5] {
    let Ok(out) = tokio::task::spawn_blocking(|| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect("127.0.0.1:19391").ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    })
    .await
    else {
        return [0.0; 5];
    };
    let out = out.unwrap_or_default();
    let sum = |name: &str| {
        out.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    [
        sum("eventflow_operator_reconciles_total"),
        sum("eventflow_operator_child_applies_total{controller=\"function\"}"),
        sum("eventflow_operator_status_writes_total{controller=\"function\"}"),
        sum("eventflow_operator_reconciles_total{controller=\"tenant\"}"),
        sum("eventflow_operator_reconcile_errors_total"),
    ]
}

/// One field of `/proc/{pid}/status`, in KiB (0 if the process is gone).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) process `pid` has used so far, in seconds
/// (`/proc/PID/stat` fields 14 and 15, in clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// CPU seconds used so far by each of testenv's control-plane processes
/// found by name.
fn control_plane_cpu() -> Vec<(&'static str, f64)> {
    let names = [
        "kube-apiserver",
        "etcd",
        "kube-controller",
        "kube-scheduler",
        "kwok",
    ];
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if let Some(name) = names.iter().find(|n| comm.trim() == **n) {
            out.push((*name, cpu_seconds(pid)));
        }
    }
    out.sort_by_key(|(n, _)| names.iter().position(|x| x == n));
    out
}

async fn add_nodes(client: &Client, n: usize) -> Vec<String> {
    let api = Api::<Node>::all(client.clone());
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("eventflow-bench-{i}");
        let node: Node = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    eventflow_testenv::SIMULATED_NODE_LABEL_KEY: eventflow_testenv::SIMULATED_NODE_LABEL_VALUE,
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
            "spec": {"taints": [eventflow_testenv::simulated_node_taint()]},
            "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "250"},
                       "capacity": {"cpu": "32", "memory": "128Gi", "pods": "250"}}
        }))
        .unwrap();
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("creating node {name}: {e}"),
        }
        names.push(name);
    }
    names
}

/// When the bench's watches first saw each function (namespace, name)
/// with a status, `Running` with its replica ready, and its Deployment
/// with a ready replica.
#[derive(Default)]
struct Seen {
    first_status: HashMap<(String, String), Instant>,
    running: HashMap<(String, String), Instant>,
    deployment_ready: HashMap<(String, String), Instant>,
}

async fn watch_functions(client: Client, selector: String, seen: Arc<Mutex<Seen>>) {
    let api = Api::<Function>::all(client);
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default().labels(&selector))
        .default_backoff()
        .applied_objects());
    while let Some(f) = events.next().await {
        let Ok(f) = f else { continue };
        let now = Instant::now();
        let key = (f.namespace().unwrap_or_default(), f.name_any());
        let mut seen = seen.lock().unwrap();
        if f.status.is_some() {
            seen.first_status.entry(key.clone()).or_insert(now);
        }
        let running = f
            .status
            .as_ref()
            .is_some_and(|s| s.phase == Some(Phase::Running) && s.ready_replicas == 1);
        if running {
            seen.running.entry(key).or_insert(now);
        }
    }
}

async fn watch_deployments(client: Client, seen: Arc<Mutex<Seen>>) {
    let api = Api::<Deployment>::all(client);
    let wc = watcher::Config::default().labels("app.kubernetes.io/managed-by=eventflow");
    let mut events = std::pin::pin!(watcher(api, wc).default_backoff().applied_objects());
    while let Some(d) = events.next().await {
        let Ok(d) = d else { continue };
        let ready = d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        if ready >= 1 {
            let name = d.name_any().trim_start_matches("fn-").to_string();
            let key = (d.namespace().unwrap_or_default(), name);
            seen.lock()
                .unwrap()
                .deployment_ready
                .entry(key)
                .or_insert_with(Instant::now);
        }
    }
}

/// The operator under test, a child process in its own process group.
struct Operator {
    pid: u32,
    /// The largest anonymous (heap, stacks) and file-backed (the binary's
    /// pages) parts of its RSS sampled so far, in KiB.
    anon_max: u64,
    file_max: u64,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    exit: tokio::task::JoinHandle<()>,
}

impl Operator {
    /// Starts the operator on the run's Tenants and Functions.
    /// `BENCH_OPERATOR_WRAPPER="heaptrack -o /tmp/operator"` runs it under
    /// a profiler (the RSS printed is then the wrapper's).
    fn start(scope: &str) -> Self {
        let wrapper = std::env::var("BENCH_OPERATOR_WRAPPER").unwrap_or_default();
        let mut command: Vec<String> = wrapper.split_whitespace().map(String::from).collect();
        command.push(operator_binary().display().to_string());
        let concurrency = std::env::var("BENCH_CONCURRENCY").unwrap_or_else(|_| "16".into());
        let mut child = tokio::process::Command::new(&command[0])
            .args(&command[1..])
            .arg("--kubeconfig")
            .arg(eventflow_testenv::kubeconfig_path())
            .args(["--no-leader-election", "--log-format", "text"])
            .args(["--metrics-listen", "127.0.0.1:19391"])
            .arg("--label-selector")
            .arg(format!("{SCOPE_LABEL}={scope}"))
            .args(eventflow_testenv::SIMULATED_NODE_OPERATOR_ARGS)
            .args(["--concurrency", &concurrency])
            // The operator's log on stderr: warnings unless EVENTFLOW_LOG says.
            .env(
                "EVENTFLOW_LOG",
                std::env::var("EVENTFLOW_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own process group: stopping it stops a wrapper's child too.
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        // An operator that exits before it is stopped (a flag it refuses,
        // its metrics port taken) ends the run with its own error above,
        // not a wait forever.
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let exit = {
            let stopping = stopping.clone();
            tokio::spawn(async move {
                let status = child.wait().await;
                if !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    eprintln!("the operator exited during the run ({status:?}); see its log above");
                    std::process::exit(1);
                }
            })
        };
        Self {
            pid,
            anon_max: 0,
            file_max: 0,
            stopping,
            exit,
        }
    }

    /// Samples the parts of its RSS.
    fn sample_rss(&mut self) {
        self.anon_max = self.anon_max.max(status_kib(self.pid, "RssAnon"));
        self.file_max = self.file_max.max(status_kib(self.pid, "RssFile"));
    }

    /// Its peak RSS now, and the largest parts sampled.
    fn peak_rss(&self) -> String {
        format!(
            "operator peak RSS (VmHWM): {:.1} MiB (largest sampled: anonymous {:.1} MiB, file-backed {:.1} MiB)",
            status_kib(self.pid, "VmHWM") as f64 / 1024.0,
            self.anon_max as f64 / 1024.0,
            self.file_max as f64 / 1024.0
        )
    }

    /// SIGTERM to its process group, then waits for it to end.
    async fn stop(self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.pid)])
            .status();
        let _ = self.exit.await;
    }
}

async fn bench(n_functions: usize, n_tenants: usize, n_nodes: usize) {
    let client = eventflow_testenv::client().await;
    let scope = format!("b{}", std::process::id());
    let nodes = add_nodes(&client, n_nodes).await;
    let mut operator = Operator::start(&scope);

    // Tenants first (namespaces, quota, policies), then all functions at once.
    let tenants_api = Api::<Tenant>::all(client.clone());
    let ids: Vec<String> = (0..n_tenants).map(|i| format!("{scope}t{i}")).collect();
    let t0 = Instant::now();
    for id in &ids {
        let mut t = Tenant::new(id, TenantSpec::default());
        t.metadata.labels = scoped(&scope);
        tenants_api
            .create(&PostParams::default(), &t)
            .await
            .unwrap();
    }
    loop {
        let ready = tenants_api
            .list(&ListParams::default().labels(&format!("{SCOPE_LABEL}={scope}")))
            .await
            .unwrap()
            .items
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Ready"))
            .count();
        if ready == n_tenants {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tenants_ready = t0.elapsed();
    // Right after the CRDs are installed, the quota controller has not yet
    // discovered Functions: until each tenant's quota shows their count,
    // creating one is refused ("status unknown for quota"). Wait for that
    // instead of failing (testenv resyncs quotas every 20 s).
    let quotas = Api::<k8s_openapi::api::core::v1::ResourceQuota>::all(client.clone());
    let namespaces: std::collections::HashSet<String> =
        ids.iter().map(|id| format!("tenant-{id}")).collect();
    let quota_deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let counted = quotas
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|q| q.namespace().is_some_and(|ns| namespaces.contains(&ns)))
            .filter(|q| {
                q.status
                    .as_ref()
                    .and_then(|s| s.used.as_ref())
                    .is_some_and(|u| u.contains_key("count/functions.eventflow.io"))
            })
            .count();
        if counted >= n_tenants {
            break;
        }
        assert!(
            Instant::now() < quota_deadline,
            "the tenants' quotas never counted Functions ({counted} of {n_tenants})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let quotas_counting = t0.elapsed();

    let spec = eventflow_core::FunctionSpec::parse(
        serde_json::from_value(serde_json::json!({
            "image": "registry.example/bench:1",
            "replicas": 1,
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                          "limits": {"cpu": "20m", "memory": "32Mi"}}
        }))
        .unwrap(),
        eventflow_core::SpecLimits::default(),
    )
    .unwrap();
    let crd_spec = FunctionSpec::from(&spec);
    // What the operator and the cluster did, timed as the watches deliver
    // it (started before the first create, so nothing waits for a poll
    // and the bench adds no lists of 500 objects to the API server's load).
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watches = [
        tokio::spawn(watch_functions(
            client.clone(),
            format!("{SCOPE_LABEL}={scope}"),
            seen.clone(),
        )),
        tokio::spawn(watch_deployments(client.clone(), seen.clone())),
    ];
    let before = counters().await;
    let (op_cpu_before, cluster_cpu_before) = (cpu_seconds(operator.pid), control_plane_cpu());
    let start = Instant::now();
    let created: HashMap<(String, String), Instant> = stream::iter(0..n_functions)
        .map(|i| {
            let client = client.clone();
            let ns = format!("tenant-{}", ids[i % n_tenants]);
            let name = format!("f{i}");
            let mut f = Function::new(&name, crd_spec.clone());
            f.metadata = ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                labels: scoped(&scope),
                ..ObjectMeta::default()
            };
            async move {
                let sent = Instant::now();
                Api::<Function>::namespaced(client, &ns)
                    .create(&PostParams::default(), &f)
                    .await
                    .unwrap();
                ((ns, name), sent)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let all_created = start.elapsed();

    let deadline = Instant::now() + Duration::from_secs(900);
    while seen.lock().unwrap().running.len() < n_functions && Instant::now() < deadline {
        operator.sample_rss();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for w in watches {
        w.abort();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    // Each time from the create request sent to what the watch saw.
    let since_created =
        |map: &HashMap<(String, String), Instant>| -> HashMap<(String, String), Duration> {
            map.iter()
                .filter_map(|(k, at)| {
                    Some((k.clone(), at.saturating_duration_since(*created.get(k)?)))
                })
                .collect()
        };
    let running = since_created(&seen.running);
    let first_status = since_created(&seen.first_status);
    let deployment_ready = since_created(&seen.deployment_ready);
    let last = seen.running.values().max().copied().unwrap_or(start);
    let all_running = last.saturating_duration_since(start);
    let after = counters().await;
    let peak_rss = operator.peak_rss();
    let op_cpu = cpu_seconds(operator.pid) - op_cpu_before;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cluster_cpu: Vec<String> = control_plane_cpu()
        .into_iter()
        .map(|(name, now)| {
            let before = cluster_cpu_before
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0.0, |(_, b)| *b);
            format!("{name} {:.1}", now - before)
        })
        .collect();

    let mut times: Vec<Duration> = running.values().copied().collect();
    times.sort();
    println!("functions: {n_functions} across {n_tenants} tenants (1 replica each), extra kwok nodes: {n_nodes}");
    println!("tenants Ready (namespace+quota+limits+netpols): {tenants_ready:.2?}");
    println!("their quotas counting Functions: {quotas_counting:.2?}");
    println!("all Function CRs created: {all_created:.2?}");
    println!(
        "Running: {}/{} after {all_running:.2?}",
        running.len(),
        n_functions
    );
    if !times.is_empty() {
        println!(
            "time to Running per function: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1]
        );
    }
    for (what, map) in [
        ("first status written (operator reacted)", &first_status),
        (
            "Deployment ready (cluster: scheduler, controllers, kwok)",
            &deployment_ready,
        ),
    ] {
        let mut t: Vec<Duration> = map.values().copied().collect();
        t.sort();
        if !t.is_empty() {
            println!(
                "time to {what}: p50 {:.2?}, p99 {:.2?}",
                percentile(&t, 0.5),
                percentile(&t, 0.99)
            );
        }
    }
    let recs = after[0] - before[0];
    println!(
        "reconciles: {recs} in {all_running:.2?} = {:.1}/s (of Tenants: {})",
        recs / all_running.as_secs_f64(),
        after[3] - before[3]
    );
    let per_function = |i: usize| (after[i] - before[i]) / n_functions as f64;
    println!(
        "per function: {:.2} reconciles that applied its children, {:.2} status writes; failed reconciles: {}",
        per_function(1),
        per_function(2),
        after[4] - before[4]
    );
    println!(
        "CPU seconds from the first create to all Running: operator {op_cpu:.1}, {} ({cores} cores: {:.0} in all)",
        cluster_cpu.join(", "),
        cores as f64 * all_running.as_secs_f64()
    );
    println!("{peak_rss}");

    // A restart with every function in place: the new operator lists every
    // kind it watches (Functions, their children and pods, Tenants and
    // theirs) and reconciles each Function and Tenant once. Its peak RSS is
    // the other memory figure: a list arrives in pages of whole objects.
    operator.stop().await;
    let restarted = Instant::now();
    operator = Operator::start(&scope);
    let want = (n_functions + n_tenants) as f64;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut reconciled = 0.0;
    while reconciled < want && Instant::now() < deadline {
        operator.sample_rss();
        tokio::time::sleep(Duration::from_millis(250)).await;
        reconciled = counters().await[0];
    }
    let settled = restarted.elapsed();
    println!(
        "after a restart with all in place: {reconciled} of {want} reconciles in {settled:.2?}; {}",
        operator.peak_rss()
    );

    // Clean up: tenants (the operator removes the namespaces), operator, nodes.
    for id in &ids {
        let _ = tenants_api.delete(id, &DeleteParams::default()).await;
    }
    let t_del = Instant::now();
    while t_del.elapsed() < Duration::from_secs(300) {
        let left = tenants_api
            .list(&ListParams::default().labels(&format!("{SCOPE_LABEL}={scope}")))
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    operator.stop().await;
    // The namespaces (and their pods) terminate after their tenants are
    // gone; a run started before they have would compete with that
    // teardown. Wait for them, showing how many are left.
    let ns_api = Api::<Namespace>::all(client.clone());
    let mut shown = usize::MAX;
    while t_del.elapsed() < Duration::from_secs(900) {
        let mut left = 0;
        for id in &ids {
            if ns_api
                .get_opt(&format!("tenant-{id}"))
                .await
                .ok()
                .flatten()
                .is_some()
            {
                left += 1;
            }
        }
        if left == 0 {
            break;
        }
        if left != shown {
            println!(
                "  {left} tenant namespaces still terminating ({:.0?})",
                t_del.elapsed()
            );
            shown = left;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let node_api = Api::<Node>::all(client.clone());
    for n in nodes {
        let _ = node_api.delete(&n, &DeleteParams::default()).await;
    }
    println!(
        "cleaned up (tenants, namespaces, nodes) in {:.2?}",
        t_del.elapsed()
    );
}
