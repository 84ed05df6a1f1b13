//! The API server goes away for a minute (a TCP proxy between operator and
//! testenv drops every connection and refuses new ones): the operator keeps
//! running, loses and regains the lease, and converges on what changed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy to `upstream` that can be switched off (all connections
/// dropped, new ones closed at once) and on again.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<Mutex<bool>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(Mutex::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !*up2.lock().unwrap() {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                conns2.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                }));
            }
        });
        Self {
            addr,
            up,
            conns,
            accept,
        }
    }

    fn down(&self) {
        *self.up.lock().unwrap() = false;
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn up(&self) {
        *self.up.lock().unwrap() = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
        self.accept.abort();
    }
}

#[tokio::test]
async fn operator_rides_out_a_minute_without_the_api_server() {
    let admin = setup().await;
    let lease_ns = eventflow_testenv::fresh_namespace(&admin, "opoutage").await;
    bind_leader_election(&admin, lease_ns.name()).await;
    install_operator_rbac(&admin).await;
    let scope = suffix();

    // The operator's client goes through the proxy (same TLS, same identity).
    let kc = kube::config::Kubeconfig::read_from(eventflow_testenv::kubeconfig_path()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let upstream = format!(
        "{}:{}",
        config.cluster_url.host().unwrap(),
        config.cluster_url.port_u16().unwrap()
    );
    let proxy = Proxy::start(upstream).await;
    config.cluster_url = format!("https://{}", proxy.addr).parse().unwrap();
    config.connect_timeout = Some(Duration::from_secs(2));
    if std::env::var("EVENTFLOW_OPERATOR_TEST_IDENTITY").as_deref() != Ok("admin") {
        config.auth_info.impersonate = Some(format!(
            "system:serviceaccount:{OPERATOR_SA_NAMESPACE}:{OPERATOR_SA}"
        ));
        config.auth_info.impersonate_groups = Some(vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{OPERATOR_SA_NAMESPACE}"),
            "system:authenticated".into(),
        ]);
    }
    let client = eventflow_kube::build_client(config).unwrap();
    let mut cfg = TestOperator::config_with_client(client, &scope);
    cfg.lease = Some(fast_lease(lease_ns.name(), "eventflow-operator", "outage"));
    let op = TestOperator::start_with(cfg);

    let tenant = TestTenant::create(&admin, &scope, None).await;
    tenant.wait_ready().await;
    tenant.create_function("steady", 1).await;
    tenant.wait_running("steady", 1).await;

    // A minute without the API server; meanwhile the function is scaled.
    proxy.down();
    tenant.set_replicas("steady", 2).await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(!op.metrics.is_leader(), "leadership must be given up");
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert!(!op.is_finished(), "the operator must not exit");
    proxy.up();

    tenant.wait_running("steady", 2).await;
    assert!(op.metrics.is_leader());
    tenant.delete_and_wait().await;
    op.stop().await;
    lease_ns.cleanup().await;
}
