//! The operator's error type. Each variant is a metric label and says
//! whether retrying can help.

use crate::validate::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The custom resource cannot be turned into objects; waits for a change.
    #[error("invalid resource: {0}")]
    Invalid(#[from] Invalid),
    /// Adding, running or removing the Tenant finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// No usable cluster configuration (kubeconfig or in-cluster).
    #[error("kubernetes configuration: {0}")]
    Config(#[from] eventflow_kube::ClientError),
    /// The leader-election Lease cannot be created: its namespace is missing.
    #[error("the lease namespace {0:?} does not exist: create it (`kubectl create namespace {0}`; deploy/k8s/00-namespace.yaml and the Helm chart do) or give --lease-namespace an existing namespace")]
    LeaseNamespaceMissing(String),
    /// `tenant-{id}` exists but was not created for this tenant; the
    /// operator neither adopts nor deletes it.
    #[error("namespace {0} already exists and is not a tenant namespace of EventFlow (it lacks the labels app.kubernetes.io/managed-by=eventflow and eventflow.io/tenant); the operator will not take it over: delete or rename it, or choose another tenant id")]
    NamespaceTaken(String),
    /// The Function controller's watches have not listed their objects yet
    /// (they retry on their own); the reconcile is retried.
    #[error("the watches of Deployments, Services, ServiceAccounts, HPAs and pods have not listed them yet")]
    NotSynced,
    /// The metrics listener could not be started.
    #[error("metrics listener on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The metric label of this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 403 => "forbidden",
            Error::Kube(kube::Error::Api(s)) if s.code == 422 => "rejected",
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "transport",
            Error::Invalid(_) => "invalid",
            Error::NamespaceTaken(_) => "namespace_taken",
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.kind(),
                _ => "finalizer",
            },
            Error::Listen { .. } => "listen",
            Error::NotSynced => "not_synced",
            Error::Config(_) | Error::LeaseNamespaceMissing(_) => "config",
        }
    }

    /// Permanent errors cannot be fixed by retrying: the object has to change.
    /// A 422 means the API server rejected what the spec produced.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Invalid(_) | Error::NamespaceTaken(_) => true,
            Error::Kube(kube::Error::Api(s)) => s.code == 422,
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.is_permanent(),
                _ => false,
            },
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
