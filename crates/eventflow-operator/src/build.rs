//! Desired objects, built by pure functions that cannot fail.
//!
//! Every function here takes validated domain values (see [`crate::validate`])
//! and returns the complete object the operator server-side-applies. Nothing
//! a user controls can reach a namespace, a security context, a service
//! account name, tolerations or a node selector: user input only lands in
//! the image, env, command, args, port, replica counts, resource quantities
//! and the names of the tenant's own secrets (env references and read-only
//! secret volumes in the same namespace, at fixed paths), all of which were
//! validated by `eventflow-core` first.
//! Tolerations and a node selector come only from the operator's own
//! settings ([`FunctionSettings`]).

use std::collections::BTreeMap;

use eventflow_core::secret::SECRET_FILES_DIR;
use eventflow_core::{FunctionName, FunctionSpec, QuotaSpec, SecretName, TenantId};
use eventflow_crd::{
    FUNCTION_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PULL_SECRET, TENANT_LABEL,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, Lifecycle,
    LifecycleHandler, LimitRange, LimitRangeItem, LimitRangeSpec, LocalObjectReference, Namespace,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceQuota, ResourceQuotaSpec,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext,
    Service, ServiceAccount, ServicePort, ServiceSpec, SleepAction, TCPSocketAction, Volume,
    VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::placement::{NodeSelectorLabel, PlacementError, PodToleration};

/// Pod Security Standards level every tenant namespace enforces.
pub const PSA_LEVEL: &str = "restricted";
/// The Pod Security Standards version pinned on tenant namespaces.
pub const PSA_VERSION: &str = "v1.33";
/// UID (and GID) function containers run as: "nonroot" of distroless images.
pub const RUN_AS_USER: i64 = 65532;
/// Name of the function container in the pod.
pub const CONTAINER_NAME: &str = "function";
/// Name of the container port (the Service and probes refer to it).
pub const PORT_NAME: &str = "http";
/// Port the function's Service listens on; it forwards to the function's port.
pub const SERVICE_PORT: i32 = 80;
/// Size limit of the writable `/tmp` emptyDir.
pub const TMP_SIZE_LIMIT: &str = "64Mi";
/// Seconds a function container keeps running after its pod is deleted
/// and before it gets SIGTERM (preStop sleep).
pub const PRE_STOP_SLEEP_SECONDS: i64 = 2;
/// Seconds without progress before the Deployment reports ProgressDeadlineExceeded.
pub const PROGRESS_DEADLINE_SECONDS: i32 = 300;
/// On a function's pod template: the server's mark of the versions of the
/// secrets it reads.
pub const SECRETS_REVISION_ANNOTATION: &str = "eventflow.io/secrets-revision";

/// Names of the tenant namespace's fixed objects.
pub const QUOTA_NAME: &str = eventflow_kube::TENANT_QUOTA_NAME;
pub const LIMIT_RANGE_NAME: &str = "eventflow-limits";
pub const NETPOL_DEFAULT_DENY: &str = "eventflow-default-deny";
pub const NETPOL_ALLOW_INGRESS: &str = "eventflow-allow-ingress";
pub const NETPOL_ALLOW_EGRESS: &str = "eventflow-allow-egress";
/// The RoleBinding that lets the server read the tenant's pods and logs.
pub const SERVER_ROLE_BINDING: &str = "eventflow-server";
/// The ClusterRole it binds (deploy/k8s/10-rbac.yaml); never bound
/// cluster-wide.
pub const SERVER_TENANT_ROLE: &str = "eventflow-server-tenant";

/// Destinations excluded from the "internet" egress rule by default: the
/// private (RFC 1918) ranges that pod and service CIDRs normally live in,
/// shared address space (RFC 6598), loopback and link-local (which includes
/// the cloud metadata endpoint 169.254.169.254).
pub const DEFAULT_EGRESS_EXCEPT: [&str; 6] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
];

/// Cloud metadata and host-agent addresses outside the ranges above,
/// excluded whatever `--egress-except` says: Azure's WireServer
/// (168.63.129.16). (AWS, GCP, Oracle and OpenStack answer on
/// 169.254.169.254, Alibaba on 100.100.100.200: both in the defaults; a
/// custom `--egress-except` must keep them.)
pub const ALWAYS_EGRESS_EXCEPT: [&str; 1] = ["168.63.129.16/32"];

/// Cluster-level settings the tenant builders need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    /// Namespace of the platform (API server, ingress); may reach every function.
    pub platform_namespace: String,
    /// CIDRs functions may not reach through the internet rule.
    pub egress_except: Vec<String>,
    /// Where cluster DNS answers besides kube-system's pods (e.g. a
    /// node-local DNS cache, or a DNS server on the node): functions may send
    /// DNS (port 53) there.
    pub dns_cidrs: Vec<String>,
    /// The Kubernetes API server's addresses (`/32`), excluded from the
    /// internet rule: on a managed cluster its endpoint is often public.
    /// Read from the `default/kubernetes` EndpointSlices at each tenant
    /// reconcile.
    pub api_server_cidrs: Vec<String>,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            platform_namespace: "eventflow-system".into(),
            egress_except: DEFAULT_EGRESS_EXCEPT
                .iter()
                .map(|s| s.to_string())
                .collect(),
            dns_cidrs: Vec::new(),
            api_server_cidrs: Vec::new(),
        }
    }
}

/// The cluster's DNS domain unless set otherwise.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// Cluster-level settings the function builders need: where function pods
/// may be scheduled (`--pod-toleration`, `--pod-node-selector`), e.g. on a
/// dedicated, tainted node pool, and the cluster's DNS domain. Default:
/// nothing added, pods go wherever the scheduler puts them; domain
/// [`DEFAULT_CLUSTER_DOMAIN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSettings {
    /// Added to every function pod's tolerations.
    pub tolerations: Vec<PodToleration>,
    /// Every function pod's `nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// The cluster's DNS domain, in the function URL
    /// `http://fn-{name}.tenant-{id}.svc.{cluster_domain}`.
    pub cluster_domain: String,
}

impl Default for FunctionSettings {
    fn default() -> Self {
        Self {
            tolerations: Vec::new(),
            node_selector: BTreeMap::new(),
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.into(),
        }
    }
}

impl FunctionSettings {
    /// From the parsed flags; a node label key given twice must have the
    /// same value both times. The cluster domain is the default one.
    pub fn new(
        tolerations: Vec<PodToleration>,
        node_selector: &[NodeSelectorLabel],
    ) -> Result<Self, PlacementError> {
        Ok(Self {
            tolerations,
            node_selector: crate::placement::node_selector(node_selector)?,
            ..Self::default()
        })
    }

    /// From flag values as text (`KEY[=VALUE]:EFFECT`, `KEY=VALUE`).
    pub fn parse<T: AsRef<str>, S: AsRef<str>>(
        tolerations: &[T],
        node_selector: &[S],
    ) -> Result<Self, PlacementError> {
        let tolerations = tolerations
            .iter()
            .map(|t| t.as_ref().parse())
            .collect::<Result<Vec<PodToleration>, _>>()?;
        let labels = node_selector
            .iter()
            .map(|l| l.as_ref().parse())
            .collect::<Result<Vec<NodeSelectorLabel>, _>>()?;
        Self::new(tolerations, &labels)
    }
}

/// LimitRange defaults for containers in a tenant namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitDefaults {
    pub request_cpu: String,
    pub request_memory: String,
    pub limit_cpu: String,
    pub limit_memory: String,
}

impl Default for LimitDefaults {
    fn default() -> Self {
        use eventflow_core::spec::*;
        Self {
            request_cpu: DEFAULT_REQUEST_CPU.into(),
            request_memory: DEFAULT_REQUEST_MEMORY.into(),
            limit_cpu: DEFAULT_LIMIT_CPU.into(),
            limit_memory: DEFAULT_LIMIT_MEMORY.into(),
        }
    }
}

fn q(s: &str) -> Quantity {
    Quantity(s.to_string())
}

/// Labels on every object a tenant owns.
pub fn tenant_labels(tenant: &TenantId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TENANT_LABEL.to_string(), tenant.to_string()),
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
    ])
}

/// Labels on every object a function owns (and on its pods).
pub fn function_labels(tenant: &TenantId, function: &FunctionName) -> BTreeMap<String, String> {
    let mut l = tenant_labels(tenant);
    l.insert(FUNCTION_LABEL.to_string(), function.to_string());
    l.insert("app.kubernetes.io/name".to_string(), function.k8s_name());
    l
}

/// The label selector of a function's pods (immutable on the Deployment).
pub fn function_selector(function: &FunctionName) -> BTreeMap<String, String> {
    BTreeMap::from([(FUNCTION_LABEL.to_string(), function.to_string())])
}

fn meta(
    name: String,
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    owner: &OwnerReference,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace,
        labels: Some(labels),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
}

/// The in-cluster URL of a function (its Service on port 80), in the
/// cluster domain of `settings`.
pub fn function_url(
    tenant: &TenantId,
    function: &FunctionName,
    settings: &FunctionSettings,
) -> String {
    format!(
        "http://{}.{}.svc.{}",
        function.k8s_name(),
        tenant.namespace(),
        settings.cluster_domain
    )
}

// ---------------------------------------------------------------- tenant ---

/// Namespace `tenant-{id}` with the tenant label and restricted Pod Security.
pub fn namespace(tenant: &TenantId, owner: &OwnerReference) -> Namespace {
    let mut labels = tenant_labels(tenant);
    for mode in ["enforce", "warn", "audit"] {
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            PSA_LEVEL.to_string(),
        );
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            PSA_VERSION.to_string(),
        );
    }
    Namespace {
        metadata: meta(tenant.namespace(), None, labels, owner),
        ..Namespace::default()
    }
}

/// Whether an existing namespace is `tenant`'s: it carries the platform's
/// label and the tenant's. The operator takes over (applies to, deletes)
/// only such a namespace, never one that merely has the name `tenant-{id}`;
/// deploy/k8s/15-admission.yaml holds the operator to the same rule.
pub fn is_tenant_namespace(ns: &Namespace, tenant: &TenantId) -> bool {
    let labels = ns.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    ns.metadata.name.as_deref() == Some(tenant.namespace().as_str())
        && label(MANAGED_BY_LABEL) == Some(MANAGED_BY_VALUE)
        && label(TENANT_LABEL) == Some(tenant.as_str())
}

/// A ServiceAccount, `NAMESPACE/NAME` (the operator's
/// `--server-service-account`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRef {
    pub namespace: String,
    pub name: String,
}

impl Default for ServiceAccountRef {
    /// The server's ServiceAccount in deploy/k8s/10-rbac.yaml.
    fn default() -> Self {
        Self {
            namespace: "eventflow-system".into(),
            name: "eventflow-server".into(),
        }
    }
}

/// A `--server-service-account` value that is not `NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not NAMESPACE/NAME of a ServiceAccount (lowercase letters, digits, '-' and '.')")]
pub struct BadServiceAccountRef(String);

impl std::str::FromStr for ServiceAccountRef {
    type Err = BadServiceAccountRef;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 253
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                && n.starts_with(|c: char| c.is_ascii_alphanumeric())
                && n.ends_with(|c: char| c.is_ascii_alphanumeric())
        };
        match s.split_once('/') {
            Some((ns, name))
                if name_ok(ns) && !ns.contains('.') && ns.len() <= 63 && name_ok(name) =>
            {
                Ok(Self {
                    namespace: ns.into(),
                    name: name.into(),
                })
            }
            _ => Err(BadServiceAccountRef(s.into())),
        }
    }
}

impl std::fmt::Display for ServiceAccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// RoleBinding [`SERVER_ROLE_BINDING`]: the server's ServiceAccount may
/// read this tenant's pods and their logs (ClusterRole
/// [`SERVER_TENANT_ROLE`]), in this namespace only.
pub fn server_role_binding(
    tenant: &TenantId,
    server: &ServiceAccountRef,
    owner: &OwnerReference,
) -> RoleBinding {
    RoleBinding {
        metadata: meta(
            SERVER_ROLE_BINDING.into(),
            Some(tenant.namespace()),
            tenant_labels(tenant),
            owner,
        ),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: SERVER_TENANT_ROLE.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: server.name.clone(),
            namespace: Some(server.namespace.clone()),
            api_group: None,
        }]),
    }
}

/// The tenant's ResourceQuota: compute, pods, storage and object counts.
pub fn resource_quota(
    tenant: &TenantId,
    quota: &QuotaSpec,
    owner: &OwnerReference,
) -> ResourceQuota {
    let hard = BTreeMap::from([
        ("requests.cpu".to_string(), q(&quota.requests_cpu)),
        ("requests.memory".to_string(), q(&quota.requests_memory)),
        ("limits.cpu".to_string(), q(&quota.limits_cpu)),
        ("limits.memory".to_string(), q(&quota.limits_memory)),
        ("pods".to_string(), q(&quota.pods.to_string())),
        (
            "persistentvolumeclaims".to_string(),
            q(&quota.persistent_volume_claims.to_string()),
        ),
        ("services".to_string(), q(&quota.services.to_string())),
        ("configmaps".to_string(), q(&quota.config_maps.to_string())),
        ("secrets".to_string(), q(&quota.secrets.to_string())),
        (
            "count/functions.eventflow.io".to_string(),
            q(&quota.functions.to_string()),
        ),
    ]);
    ResourceQuota {
        metadata: meta(
            QUOTA_NAME.into(),
            Some(tenant.namespace()),
            tenant_labels(tenant),
            owner,
        ),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// The tenant's LimitRange: default requests and limits for containers.
pub fn limit_range(
    tenant: &TenantId,
    limits: &LimitDefaults,
    owner: &OwnerReference,
) -> LimitRange {
    LimitRange {
        metadata: meta(
            LIMIT_RANGE_NAME.into(),
            Some(tenant.namespace()),
            tenant_labels(tenant),
            owner,
        ),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(BTreeMap::from([
                    ("cpu".to_string(), q(&limits.limit_cpu)),
                    ("memory".to_string(), q(&limits.limit_memory)),
                ])),
                default_request: Some(BTreeMap::from([
                    ("cpu".to_string(), q(&limits.request_cpu)),
                    ("memory".to_string(), q(&limits.request_memory)),
                ])),
                ..LimitRangeItem::default()
            }],
        }),
    }
}

fn namespace_peer(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                name.to_string(),
            )])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn same_namespace_peer() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }
}

/// The tenant's NetworkPolicies:
/// * `eventflow-default-deny`: no ingress and no egress for any pod, unless
///   another policy allows it;
/// * `eventflow-allow-ingress`: from pods of the same namespace (tenant) and
///   from the platform namespace;
/// * `eventflow-allow-egress`: DNS (UDP/TCP 53) to kube-system and to the
///   `dns_cidrs`, pods of the
///   same namespace, and `0.0.0.0/0` except `egress_except` (private ranges,
///   link-local incl. 169.254.169.254), so other tenants' pods and the cloud
///   metadata endpoint are unreachable.
pub fn network_policies(
    tenant: &TenantId,
    net: &NetworkSettings,
    owner: &OwnerReference,
) -> Vec<NetworkPolicy> {
    let ns = tenant.namespace();
    let policy = |name: &str, spec: NetworkPolicySpec| NetworkPolicy {
        metadata: meta(name.into(), Some(ns.clone()), tenant_labels(tenant), owner),
        spec: Some(spec),
    };
    vec![
        policy(
            NETPOL_DEFAULT_DENY,
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ..NetworkPolicySpec::default()
            },
        ),
        policy(
            NETPOL_ALLOW_INGRESS,
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![
                        same_namespace_peer(),
                        namespace_peer(&net.platform_namespace),
                    ]),
                    ..NetworkPolicyIngressRule::default()
                }]),
                ..NetworkPolicySpec::default()
            },
        ),
        policy(
            NETPOL_ALLOW_EGRESS,
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Egress".into()]),
                egress: Some(vec![
                    dns_egress(net),
                    NetworkPolicyEgressRule {
                        to: Some(vec![same_namespace_peer()]),
                        ports: None,
                    },
                    internet_egress(net),
                ]),
                ..NetworkPolicySpec::default()
            },
        ),
    ]
}

/// DNS (UDP and TCP 53) to kube-system's pods and to `dns_cidrs`.
fn dns_egress(net: &NetworkSettings) -> NetworkPolicyEgressRule {
    let dns_ports = ["UDP", "TCP"]
        .iter()
        .map(|p| NetworkPolicyPort {
            port: Some(IntOrString::Int(53)),
            protocol: Some(p.to_string()),
            ..NetworkPolicyPort::default()
        })
        .collect();
    NetworkPolicyEgressRule {
        to: Some(
            std::iter::once(namespace_peer("kube-system"))
                .chain(net.dns_cidrs.iter().map(|cidr| NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: cidr.clone(),
                        except: None,
                    }),
                    ..NetworkPolicyPeer::default()
                }))
                .collect(),
        ),
        ports: Some(dns_ports),
    }
}

/// Everywhere (`0.0.0.0/0`) except `egress_except`, the
/// [`ALWAYS_EGRESS_EXCEPT`] addresses and the API server's (IPv4 ones: the
/// block is IPv4), each once.
fn internet_egress(net: &NetworkSettings) -> NetworkPolicyEgressRule {
    let mut except: Vec<String> = Vec::new();
    let all = net
        .egress_except
        .iter()
        .map(String::as_str)
        .chain(ALWAYS_EGRESS_EXCEPT)
        .chain(net.api_server_cidrs.iter().map(String::as_str));
    for cidr in all.filter(|c| !c.contains(':')) {
        if !except.iter().any(|e| e == cidr) {
            except.push(cidr.to_string());
        }
    }
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: "0.0.0.0/0".into(),
                except: Some(except),
            }),
            ..NetworkPolicyPeer::default()
        }]),
        ports: None,
    }
}

// -------------------------------------------------------------- function ---

/// Everything a Function owns, as its reconcile applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionChildren {
    pub service_account: ServiceAccount,
    pub deployment: Deployment,
    pub service: Service,
    /// Only with `spec.autoscaling`.
    pub hpa: Option<HorizontalPodAutoscaler>,
}

/// The objects of a Function: [`service_account`], [`deployment`],
/// [`service`] (naming `cluster_ip`, if given) and [`hpa`].
pub fn function_children(
    tenant: &TenantId,
    function: &FunctionName,
    spec: &FunctionSpec,
    settings: &FunctionSettings,
    owner: &OwnerReference,
    secrets_revision: Option<&str>,
    cluster_ip: Option<&str>,
) -> FunctionChildren {
    FunctionChildren {
        service_account: service_account(tenant, function, owner),
        deployment: deployment(tenant, function, spec, settings, owner, secrets_revision),
        service: service(tenant, function, owner, cluster_ip),
        hpa: hpa(tenant, function, spec, owner),
    }
}

/// The function's own ServiceAccount `fn-{name}`: no RoleBindings, no token.
pub fn service_account(
    tenant: &TenantId,
    function: &FunctionName,
    owner: &OwnerReference,
) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(
            function.k8s_name(),
            Some(tenant.namespace()),
            function_labels(tenant, function),
            owner,
        ),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

fn resource_map(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), q(cpu)),
        ("memory".to_string(), q(memory)),
    ])
}

/// The restricted-profile pod template of a function, with the operator's
/// tolerations and node selector (`settings`) if any.
pub fn pod_template(
    tenant: &TenantId,
    function: &FunctionName,
    spec: &FunctionSpec,
    settings: &FunctionSettings,
    secrets_revision: Option<&str>,
) -> PodTemplateSpec {
    let tolerations: Vec<_> = settings
        .tolerations
        .iter()
        .map(PodToleration::to_k8s)
        .collect();
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(function_labels(tenant, function)),
            // A new value (a secret the function reads has changed) is a
            // new pod template: the Deployment rolls its pods.
            annotations: secrets_revision.map(|r| {
                BTreeMap::from([(SECRETS_REVISION_ANNOTATION.to_string(), r.to_string())])
            }),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container(spec)],
            service_account_name: Some(function.k8s_name()),
            automount_service_account_token: Some(false),
            // The tenant's registry credentials (the server keeps this
            // Secret in the namespace, empty when there are none); with
            // `imagePullPolicy: Always` the node checks them on every pull.
            image_pull_secrets: Some(vec![LocalObjectReference {
                name: PULL_SECRET.into(),
            }]),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(30),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(RUN_AS_USER),
                run_as_group: Some(RUN_AS_USER),
                fs_group: Some(RUN_AS_USER),
                seccomp_profile: Some(runtime_default_seccomp()),
                ..PodSecurityContext::default()
            }),
            volumes: Some(
                std::iter::once(Volume {
                    name: "tmp".into(),
                    empty_dir: Some(EmptyDirVolumeSource {
                        size_limit: Some(q(TMP_SIZE_LIMIT)),
                        medium: None,
                    }),
                    ..Volume::default()
                })
                .chain(spec.secret_files.iter().map(|s| Volume {
                    name: secret_volume(s),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(s.k8s_name()),
                        // Readable by the function's group (fsGroup) only.
                        default_mode: Some(0o440),
                        optional: Some(false),
                        ..SecretVolumeSource::default()
                    }),
                    ..Volume::default()
                }))
                .collect(),
            ),
            tolerations: Some(tolerations).filter(|t| !t.is_empty()),
            node_selector: Some(settings.node_selector.clone()).filter(|n| !n.is_empty()),
            ..PodSpec::default()
        }),
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

/// A TCP probe on the named port.
fn tcp_probe(initial_delay_seconds: i32, period_seconds: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(PORT_NAME.into()),
            ..TCPSocketAction::default()
        }),
        initial_delay_seconds: Some(initial_delay_seconds),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(1),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

/// The function container: the user's image, command, args, env, port and
/// resources; everything else fixed.
fn container(spec: &FunctionSpec) -> Container {
    let env: Vec<EnvVar> = spec
        .env
        .iter()
        .map(|e| EnvVar {
            name: e.name.clone(),
            value: Some(e.value.clone()),
            ..EnvVar::default()
        })
        .chain(spec.secret_env.iter().map(|e| EnvVar {
            name: e.name.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    // Validated by the spec's parse: a secret name.
                    name: format!("eventflow-secret-{}", e.secret),
                    key: e.key.clone(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }))
        .collect();
    Container {
        name: CONTAINER_NAME.into(),
        image: Some(spec.image.clone()),
        // Every start asks the registry, so its credentials are checked: a
        // private image another tenant's pod left on the node is not
        // reused without them.
        image_pull_policy: Some("Always".into()),
        command: spec.command.clone(),
        args: spec.args.clone(),
        env: Some(env).filter(|e| !e.is_empty()),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: i32::from(spec.port),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(resource_map(
                spec.resources.requests.cpu.as_str(),
                spec.resources.requests.memory.as_str(),
            )),
            limits: Some(resource_map(
                spec.resources.limits.cpu.as_str(),
                spec.resources.limits.memory.as_str(),
            )),
            ..ResourceRequirements::default()
        }),
        // Every second: a new replica (a scale-up, a wake from zero) joins
        // its Service within about a second of listening.
        readiness_probe: Some(tcp_probe(0, 1)),
        liveness_probe: Some(tcp_probe(10, 10)),
        // Taken out of the Service's endpoints before SIGTERM: a replica
        // removed by a scale-down keeps serving what the endpoints still
        // send it while the removal spreads, then drains.
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: PRE_STOP_SLEEP_SECONDS,
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(restricted_container_security()),
        volume_mounts: Some(
            std::iter::once(VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..VolumeMount::default()
            })
            .chain(spec.secret_files.iter().map(|s| VolumeMount {
                name: secret_volume(s),
                mount_path: format!("{SECRET_FILES_DIR}/{s}"),
                read_only: Some(true),
                ..VolumeMount::default()
            }))
            .collect(),
        ),
        ..Container::default()
    }
}

/// The pod volume of a mounted secret: `secret-{name}`.
fn secret_volume(s: &SecretName) -> String {
    format!("secret-{s}")
}

/// The restricted profile of the container: no privileges, no
/// capabilities, read-only root, a fixed non-root UID/GID.
fn restricted_container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_USER),
        run_as_group: Some(RUN_AS_USER),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..SecurityContext::default()
    }
}

/// Deployment `fn-{name}` in `tenant-{id}`. `secrets_revision` (the
/// server's `spec.secretsRevision`) goes onto the pod template, so a
/// change of a secret the function reads rolls its pods. With autoscaling the replica
/// count is left to the HPA or, request-based, to EventFlow's scaler (the
/// field is not applied; a new Deployment starts with one replica). `settings` place
/// the pods ([`pod_template`]).
pub fn deployment(
    tenant: &TenantId,
    function: &FunctionName,
    spec: &FunctionSpec,
    settings: &FunctionSettings,
    owner: &OwnerReference,
    secrets_revision: Option<&str>,
) -> Deployment {
    let replicas = match &spec.autoscaling {
        Some(_) => None,
        None => Some(i32::try_from(spec.replicas).unwrap_or(i32::MAX)),
    };
    Deployment {
        metadata: meta(
            function.k8s_name(),
            Some(tenant.namespace()),
            function_labels(tenant, function),
            owner,
        ),
        spec: Some(DeploymentSpec {
            replicas,
            selector: LabelSelector {
                match_labels: Some(function_selector(function)),
                ..LabelSelector::default()
            },
            template: pod_template(tenant, function, spec, settings, secrets_revision),
            progress_deadline_seconds: Some(PROGRESS_DEADLINE_SECONDS),
            revision_history_limit: Some(3),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                ..DeploymentStrategy::default()
            }),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// Service `fn-{name}`: port 80 forwards to the function's named port. Its
/// ClusterIP is `cluster_ip` when given (one the operator picked, or the
/// one the Service already has: see [`crate::service_ip`]), else the API
/// server allocates one.
pub fn service(
    tenant: &TenantId,
    function: &FunctionName,
    owner: &OwnerReference,
    cluster_ip: Option<&str>,
) -> Service {
    Service {
        metadata: meta(
            function.k8s_name(),
            Some(tenant.namespace()),
            function_labels(tenant, function),
            owner,
        ),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: cluster_ip.map(Into::into),
            selector: Some(function_selector(function)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: SERVICE_PORT,
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// HPA `fn-{name}` (autoscaling/v2, CPU utilization) when autoscaling is
/// set and CPU-based (request-based scaling has no HPA).
pub fn hpa(
    tenant: &TenantId,
    function: &FunctionName,
    spec: &FunctionSpec,
    owner: &OwnerReference,
) -> Option<HorizontalPodAutoscaler> {
    let a = spec.autoscaling.as_ref().filter(|a| !a.by_requests())?;
    let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    Some(HorizontalPodAutoscaler {
        metadata: meta(
            function.k8s_name(),
            Some(tenant.namespace()),
            function_labels(tenant, function),
            owner,
        ),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: function.k8s_name(),
            },
            min_replicas: Some(int(a.min_replicas)),
            max_replicas: int(a.max_replicas),
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(int(a.target_cpu_percent)),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: None,
        }),
        ..HorizontalPodAutoscaler::default()
    })
}
