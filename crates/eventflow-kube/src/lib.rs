//! Kubernetes and process plumbing shared by the EventFlow server and the
//! operator, so both answer the same way: building a client from a
//! kubeconfig, treating "not found" as done, waiting for a shutdown signal
//! and naming this replica.

use std::{
    fmt::Debug,
    path::{Path, PathBuf},
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
    Ok(Client::try_from(config)?)
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
