//! `eventflow operator`: flags and start-up of the Kubernetes operator
//! (the controllers live in the `eventflow-operator` crate).

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct OperatorArgs {
    /// Address of the /metrics and /healthz listener.
    #[arg(
        long,
        env = "EVENTFLOW_OPERATOR_METRICS_LISTEN",
        default_value = "127.0.0.1:9090"
    )]
    metrics_listen: SocketAddr,
    /// Kubeconfig file; default: KUBECONFIG, ~/.kube/config or in-cluster.
    #[arg(long, env = "EVENTFLOW_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace of the leader-election Lease.
    #[arg(
        long,
        env = "EVENTFLOW_OPERATOR_LEASE_NAMESPACE",
        default_value = "eventflow-system"
    )]
    lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "EVENTFLOW_OPERATOR_LEASE_NAME",
        default_value = "eventflow-operator"
    )]
    lease_name: String,
    /// Identity in the Lease; default: hostname and pid.
    #[arg(long, env = "EVENTFLOW_OPERATOR_IDENTITY")]
    identity: Option<String>,
    /// Run the controllers without leader election (one replica only!).
    #[arg(long, env = "EVENTFLOW_OPERATOR_NO_LEADER_ELECTION")]
    no_leader_election: bool,
    /// Namespace of the platform: its pods may reach every function.
    #[arg(
        long,
        env = "EVENTFLOW_PLATFORM_NAMESPACE",
        default_value = "eventflow-system"
    )]
    platform_namespace: String,
    /// CIDRs functions may not reach (comma-separated); default: private,
    /// shared, loopback and link-local ranges (see docs/OPERATOR.md).
    #[arg(long, env = "EVENTFLOW_OPERATOR_EGRESS_EXCEPT", value_delimiter = ',')]
    egress_except: Vec<String>,
    /// Only reconcile Tenants and Functions matching this label selector.
    #[arg(long, env = "EVENTFLOW_OPERATOR_LABEL_SELECTOR")]
    label_selector: Option<String>,
    /// Reconciliations run at once per controller.
    #[arg(long, env = "EVENTFLOW_OPERATOR_CONCURRENCY", default_value_t = 8)]
    concurrency: u16,
    /// Log format.
    #[arg(long, env = "EVENTFLOW_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: super::LogFormat,
}

pub async fn run(args: OperatorArgs) -> Result<()> {
    super::init_logging(args.log_format);
    let client = eventflow_operator::client(args.kubeconfig.as_deref())
        .await
        .context("cannot configure the Kubernetes client")?;
    let mut config = eventflow_operator::Config::new(client);
    config.metrics_listen = Some(args.metrics_listen);
    config.network.platform_namespace = args.platform_namespace;
    if !args.egress_except.is_empty() {
        config.network.egress_except = args.egress_except;
    }
    config.label_selector = args.label_selector;
    config.concurrency = args.concurrency.max(1);
    if args.no_leader_election {
        tracing::warn!("leader election is off: run exactly one operator replica");
    } else {
        let identity = args
            .identity
            .unwrap_or_else(eventflow_operator::default_identity);
        config.lease = Some(eventflow_operator::LeaseConfig::new(
            args.lease_namespace,
            args.lease_name,
            identity,
        ));
    }
    tracing::info!(config = ?config, "starting the EventFlow operator");
    eventflow_operator::run(config).await?;
    Ok(())
}
