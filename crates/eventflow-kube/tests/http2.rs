//! The client `eventflow_kube::client` builds talks HTTP/2 to testenv's API
//! server: many watches and requests at once share one TLS connection
//! (kube's own builder opens one HTTP/1.1 connection per request in
//! flight). Needs testenv (`testenv/up`); fails, never skips, without it.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, WatchParams};

/// Socket inodes of this process's open file descriptors.
fn own_sockets() -> HashSet<u64> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// How many of this process's TCP connections to `port` are established
/// (from /proc/self/net/tcp and tcp6).
fn connections_to(port: u16) -> usize {
    let own = own_sockets();
    let mut n = 0;
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) = (f.get(2), f.get(3), f.get(9)) else {
                continue;
            };
            let remote_port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if remote_port == Some(port)
                && *state == "01"
                && inode.parse().is_ok_and(|i: u64| own.contains(&i))
            {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn one_connection_carries_every_watch_and_request() {
    let path = eventflow_testenv::kubeconfig_path();
    assert!(
        path.exists(),
        "testenv is not running ({} missing): start it with testenv/up",
        path.display()
    );
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let port = kc.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.server.as_deref())
        .and_then(|s| s.parse::<http::Uri>().ok())
        .and_then(|u| u.port_u16())
        .expect("the kubeconfig names the API server's port");
    let client = eventflow_kube::client(Some(&path)).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client);

    // 12 watches (each ends at its first event, or after 5 s) and 12
    // lists, all started at once. Connections the pool keeps after a
    // request ends are counted too, so HTTP/1.1 shows as many.
    let watches: Vec<_> = (0..12)
        .map(|_| {
            let api = namespaces.clone();
            tokio::spawn(async move {
                let events = api
                    .watch(&WatchParams::default().timeout(5), "0")
                    .await
                    .expect("watch starts");
                events.boxed().try_next().await.expect("watch event");
            })
        })
        .collect();
    let lists = futures::future::join_all((0..12).map(|_| {
        let api = namespaces.clone();
        async move { api.list(&ListParams::default()).await }
    }))
    .await;
    for l in lists {
        assert!(!l.expect("list").items.is_empty(), "namespaces listed");
    }
    let open = connections_to(port);
    for w in watches {
        w.await.unwrap();
    }
    assert_eq!(
        open, 1,
        "12 watches and 12 lists at once over one HTTP/2 connection to port {port}"
    );
}
