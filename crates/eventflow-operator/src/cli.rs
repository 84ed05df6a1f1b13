//! The operator's command line: the flags of `eventflow-operator` (the
//! operator's own, smaller binary, which the manifests run) and of
//! `eventflow operator` (the same flags in the all-in-one binary), and
//! start-up from them.

use std::{net::SocketAddr, path::PathBuf};

use eventflow_kube::logging::LogFormat;

use crate::{FunctionSettings, NodeSelectorLabel, PodToleration, ServiceAccountRef};

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
    /// CIDRs where cluster DNS also answers, besides kube-system's pods (a
    /// node-local DNS cache, or testenv's CoreDNS on its node: 10.246.0.1/32);
    /// functions may send DNS there. Comma-separated.
    #[arg(
        long = "dns-cidr",
        env = "EVENTFLOW_OPERATOR_DNS_CIDRS",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = parse_cidr
    )]
    dns_cidrs: Vec<String>,
    /// Toleration added to every function pod, e.g. for a dedicated, tainted
    /// node pool: KEY=VALUE:EFFECT (operator Equal) or KEY:EFFECT (Exists);
    /// EFFECT is NoSchedule, PreferNoSchedule or NoExecute. Repeatable; the
    /// variable takes a comma-separated list.
    #[arg(
        long = "pod-toleration",
        env = "EVENTFLOW_POD_TOLERATIONS",
        value_name = "KEY[=VALUE]:EFFECT",
        value_delimiter = ','
    )]
    pod_tolerations: Vec<PodToleration>,
    /// Node label every function pod requires (nodeSelector): KEY=VALUE.
    /// Repeatable; the variable takes a comma-separated list.
    #[arg(
        long = "pod-node-selector",
        env = "EVENTFLOW_POD_NODE_SELECTOR",
        value_name = "KEY=VALUE",
        value_delimiter = ','
    )]
    pod_node_selector: Vec<NodeSelectorLabel>,
    /// Cluster DNS domain in the function URLs the operator reports
    /// (`http://fn-NAME.tenant-ID.svc.DOMAIN`); the server's --cluster-domain
    /// takes the same variable.
    #[arg(
        long,
        env = "EVENTFLOW_CLUSTER_DOMAIN",
        default_value = crate::build::DEFAULT_CLUSTER_DOMAIN
    )]
    cluster_domain: String,
    /// The server's ServiceAccount (NAMESPACE/NAME): bound in every tenant
    /// namespace to ClusterRole eventflow-server-tenant, so the server reads
    /// that tenant's pods and logs and nothing cluster-wide.
    #[arg(
        long,
        env = "EVENTFLOW_SERVER_SERVICE_ACCOUNT",
        value_name = "NAMESPACE/NAME",
        default_value = "eventflow-system/eventflow-server"
    )]
    server_service_account: ServiceAccountRef,
    /// Where function Services' ClusterIPs come from: `auto` (picked by the
    /// operator in the dynamic band of the ServiceCIDR `kubernetes`, which
    /// spares the API server's one-at-a-time allocation; the API server
    /// allocates if that cannot be read), `apiserver`, or a CIDR inside the
    /// cluster's Service range to pick from.
    #[arg(
        long,
        env = "EVENTFLOW_OPERATOR_SERVICE_IPS",
        value_name = "auto|apiserver|CIDR",
        default_value = "auto"
    )]
    service_ips: crate::ServiceIpMode,
    /// Only reconcile Tenants and Functions matching this label selector.
    #[arg(long, env = "EVENTFLOW_OPERATOR_LABEL_SELECTOR")]
    label_selector: Option<String>,
    /// Reconciliations run at once per controller.
    #[arg(long, env = "EVENTFLOW_OPERATOR_CONCURRENCY", default_value_t = 8)]
    concurrency: u16,
    /// Log format.
    #[arg(long, env = "EVENTFLOW_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: LogFormat,
}

/// An IPv4 or IPv6 CIDR such as `10.246.0.1/32`, as Kubernetes accepts it.
fn parse_cidr(s: &str) -> Result<String, String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not a CIDR (ADDRESS/PREFIX, e.g. 10.246.0.1/32)"))?;
    let ip: std::net::IpAddr = ip
        .parse()
        .map_err(|_| format!("'{ip}' in '{s}' is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let plain = !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && (prefix == "0" || !prefix.starts_with('0'));
    match prefix.parse::<u8>() {
        Ok(p) if plain && p <= max => Ok(s.to_string()),
        _ => Err(format!("the prefix of '{s}' must be 0 to {max}")),
    }
}

impl OperatorArgs {
    /// The function pod settings of `--pod-toleration`,
    /// `--pod-node-selector` and `--cluster-domain`.
    fn function_settings(&self) -> Result<FunctionSettings, StartError> {
        let mut settings =
            FunctionSettings::new(self.pod_tolerations.clone(), &self.pod_node_selector)
                .map_err(StartError::NodeSelector)?;
        settings.cluster_domain.clone_from(&self.cluster_domain);
        Ok(settings)
    }
}

/// Why the operator did not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid --pod-node-selector: {0}")]
    NodeSelector(#[source] crate::PlacementError),
    #[error(transparent)]
    Operator(#[from] crate::Error),
}

/// Logs as `--log-format` says, then runs the operator until SIGTERM or
/// Ctrl-C: what both `eventflow-operator` and `eventflow operator` do.
pub async fn run(args: OperatorArgs) -> Result<(), StartError> {
    eventflow_kube::logging::init(args.log_format);
    let functions = args.function_settings()?;
    let client = crate::client(args.kubeconfig.as_deref()).await?;
    let mut config = crate::Config::new(client);
    config.metrics_listen = Some(args.metrics_listen);
    config.network.platform_namespace = args.platform_namespace;
    if !args.egress_except.is_empty() {
        config.network.egress_except = args.egress_except;
    }
    config.network.dns_cidrs = args.dns_cidrs;
    config.functions = functions;
    config.label_selector = args.label_selector;
    config.server_account = args.server_service_account;
    config.concurrency = args.concurrency.max(1);
    config.service_ips = args.service_ips;
    if args.no_leader_election {
        tracing::warn!("leader election is off: run exactly one operator replica");
    } else {
        let identity = args
            .identity
            .unwrap_or_else(|| eventflow_kube::replica_identity("eventflow-operator"));
        config.lease = Some(crate::LeaseConfig::new(
            args.lease_namespace,
            args.lease_name,
            identity,
        ));
    }
    tracing::info!(config = ?config, "starting the EventFlow operator");
    crate::run(config).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<OperatorArgs, clap::Error> {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            args: OperatorArgs,
        }
        Flags::try_parse_from(std::iter::once("eventflow-operator").chain(args.iter().copied()))
            .map(|f| f.args)
    }

    #[test]
    fn the_server_service_account_flag_is_checked_and_defaults_to_the_shipped_one() {
        assert_eq!(
            parse(&[]).unwrap().server_service_account,
            ServiceAccountRef::default()
        );
        let a = parse(&["--server-service-account", "platform/api"]).unwrap();
        assert_eq!(a.server_service_account.to_string(), "platform/api");
        let Err(e) = parse(&["--server-service-account", "api"]) else {
            panic!("a bare name is accepted")
        };
        assert!(e.to_string().contains("NAMESPACE/NAME"), "{e}");
    }

    #[test]
    fn pod_placement_flags_default_to_nothing() {
        let s = parse(&[]).unwrap().function_settings().unwrap();
        assert_eq!(s, FunctionSettings::default());
    }

    #[test]
    fn the_cluster_domain_reaches_the_function_settings() {
        let s = parse(&["--cluster-domain", "k.internal"])
            .unwrap()
            .function_settings()
            .unwrap();
        assert_eq!(s.cluster_domain, "k.internal");
        assert_eq!(
            FunctionSettings::default().cluster_domain,
            crate::build::DEFAULT_CLUSTER_DOMAIN
        );
    }

    #[test]
    fn pod_placement_flags_repeat_and_split_on_commas() {
        let a = parse(&[
            "--pod-toleration",
            "kwok.x-k8s.io/node=fake:NoSchedule",
            "--pod-toleration",
            "dedicated:NoExecute,spot=yes:PreferNoSchedule",
            "--pod-node-selector",
            "type=kwok",
            "--pod-node-selector",
            "example.com/pool=functions,type=kwok",
        ])
        .unwrap();
        let s = a.function_settings().unwrap();
        let tolerations: Vec<String> = s.tolerations.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            tolerations,
            [
                "kwok.x-k8s.io/node=fake:NoSchedule",
                "dedicated:NoExecute",
                "spot=yes:PreferNoSchedule"
            ]
        );
        assert_eq!(
            s.node_selector,
            std::collections::BTreeMap::from([
                ("example.com/pool".to_string(), "functions".to_string()),
                ("type".to_string(), "kwok".to_string()),
            ])
        );
    }

    #[test]
    fn bad_pod_placement_flags_are_refused_with_the_reason() {
        let e = parse(&["--pod-toleration", "dedicated=functions"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("--pod-toleration") && e.contains("expected KEY[=VALUE]:EFFECT"),
            "{e}"
        );
        let e = parse(&["--pod-toleration", "a=b:Sometimes"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("effect \"Sometimes\" is not one of"), "{e}");
        let e = parse(&["--pod-node-selector", "type"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("--pod-node-selector") && e.contains("expected KEY=VALUE"),
            "{e}"
        );
        let e = parse(&["--pod-node-selector", "type=kwok,type=real"])
            .unwrap()
            .function_settings()
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("already required to be \"kwok\""),
            "{e:#}"
        );
    }

    #[test]
    fn dns_cidrs_are_checked_and_split_on_commas() {
        let a = parse(&[
            "--dns-cidr",
            "10.246.0.1/32,fd00::53/128",
            "--dns-cidr",
            "169.254.20.10/32",
        ])
        .unwrap();
        assert_eq!(
            a.dns_cidrs,
            ["10.246.0.1/32", "fd00::53/128", "169.254.20.10/32"]
        );
        for bad in [
            "10.246.0.1",
            "10.246.0.300/32",
            "10.0.0.0/+8",
            "10.0.0.0/08",
            "10.0.0.0/33",
            "::1/129",
            "x/8",
        ] {
            let e = parse(&["--dns-cidr", bad]).err().expect(bad).to_string();
            assert!(e.contains(bad) || e.contains("prefix"), "{bad}: {e}");
        }
    }
}
