//! Kubernetes and process plumbing shared by the EventFlow server and the
//! operator, so both answer the same way: building a client from a
//! kubeconfig, treating "not found" as done, waiting for a shutdown signal,
//! naming this replica, and logging ([`logging`]).

pub mod logging;

use std::{
    fmt::Debug,
    path::{Path, PathBuf},
    time::Duration,
};

use hyper_util::{
    client::legacy::connect::HttpConnector,
    rt::{TokioExecutor, TokioTimer},
};

use kube::{api::DeleteParams, Api, Client, Resource};
use serde::de::DeserializeOwned;

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read kubeconfig {}: {source}", .path.display())]
    ReadKubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("invalid kubeconfig {}: {source}", .path.display())]
    InvalidKubeconfig {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    /// Neither `KUBECONFIG`, `~/.kube/config` nor an in-cluster
    /// ServiceAccount gave a configuration.
    #[error("no Kubernetes configuration found: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("cannot build a Kubernetes client: {0}")]
    Build(#[from] kube::Error),
}

/// A client from `kubeconfig`, else inferred (`KUBECONFIG`,
/// `~/.kube/config`, in-cluster ServiceAccount). Does not contact the API
/// server.
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, ClientError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|source| {
                ClientError::ReadKubeconfig {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|source| ClientError::InvalidKubeconfig {
                    path: path.to_path_buf(),
                    source,
                })?
        }
        None => kube::Config::infer().await?,
    };
    Ok(build_client(config)?)
}

/// kube's client stack (API server address, authentication, extra headers
/// from the kubeconfig) over a connection that speaks HTTP/2 when the API
/// server offers it in the TLS handshake (ALPN), HTTP/1.1 otherwise.
///
/// kube's own builder enables HTTP/1.1 only, so every watch and every
/// request in flight holds a TLS connection of its own: an operator
/// reconciling 500 Functions opened 732 and held about 75 at once, each
/// with its buffers in both processes. Over HTTP/2 they are streams of one
/// connection. Dead connections are found by HTTP/2 pings (every 30 s, 10 s
/// to answer) rather than kube's 295 s read timeout, which would apply to
/// the whole shared connection.
///
/// Not carried over from kube's builder: its debug-level request spans and
/// the expiry of a client certificate an exec plugin returns.
pub fn build_client(config: kube::Config) -> Result<Client, kube::Error> {
    use kube::client::ConfigExt;
    use tower::{BoxError, ServiceBuilder};

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let tls = config.rustls_client_config()?;
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = config.tls_server_name.as_deref() {
        let name = rustls_pki_types::ServerName::try_from(name.to_string()).map_err(|e| {
            kube::Error::Service(format!("invalid tls-server-name {name:?}: {e}").into())
        })?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let https = https.enable_http1().enable_http2().wrap_connector(http);
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .http2_keep_alive_while_idle(true)
        // Large lists arrive at the link's speed, not one 64 KiB window
        // per round trip.
        .http2_adaptive_window(true)
        .build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(client);
    Ok(kube::client::ClientBuilder::new(service, config.default_namespace).build())
}

/// Whether the API server answered 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Deletes `name`; an object that is already gone counts as deleted.
pub async fn delete_if_exists<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `host-pid`: the pod name in Kubernetes (`HOSTNAME`), else the kernel's
/// hostname, else `fallback`; then this process id. Names this replica in
/// leases.
pub fn replica_identity(fallback: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| fallback.to_string());
    format!("{host}-{}", std::process::id())
}

/// The ResourceQuota the operator writes in each tenant's namespace (the
/// server's scaler reads its status to know how many more pods fit).
pub const TENANT_QUOTA_NAME: &str = "eventflow-quota";

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::ErrorResponse {
            status: "Failure".into(),
            message: "m".into(),
            reason: "r".into(),
            code,
        })
    }

    #[test]
    fn only_a_404_is_not_found() {
        assert!(is_not_found(&api_error(404)));
        assert!(!is_not_found(&api_error(403)));
        assert!(!is_not_found(&api_error(410)));
    }

    #[tokio::test]
    async fn kubeconfig_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let Err(e) = client(Some(&missing)).await else {
            panic!("a missing kubeconfig");
        };
        assert!(matches!(e, ClientError::ReadKubeconfig { .. }), "{e:?}");
        assert!(e.to_string().contains("missing"), "{e}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
        let Err(e) = client(Some(&empty)).await else {
            panic!("a kubeconfig without a context");
        };
        assert!(matches!(e, ClientError::InvalidKubeconfig { .. }), "{e:?}");
    }

    #[test]
    fn the_identity_ends_with_the_pid() {
        let id = replica_identity("x");
        assert!(id.ends_with(&format!("-{}", std::process::id())), "{id}");
        assert!(id.len() > format!("-{}", std::process::id()).len());
    }
}
