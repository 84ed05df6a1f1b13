//! EventFlow's custom resources.
//!
//! * [`Function`] (namespaced, in `tenant-{id}`): the desired state of one
//!   function, written by the API server, reconciled by the operator.
//! * [`Tenant`] (cluster-scoped): a tenant and its quota/limit overrides; the
//!   operator turns it into a namespace with quota, limits and isolation.
//!
//! The YAML in `deploy/crds/` is generated from these types by
//! `eventflow crds`; a test fails when the two drift apart.

use std::collections::BTreeMap;

use eventflow_core as core;
use eventflow_core::{FunctionName, TenantId};
use kube::{api::ObjectMeta, CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "eventflow.io";
/// Label carrying the tenant id on every object EventFlow creates.
pub const TENANT_LABEL: &str = "eventflow.io/tenant";
/// Label carrying the function name on the Function CR and its children.
pub const FUNCTION_LABEL: &str = "eventflow.io/function";
/// Marks objects the platform manages (and may delete as orphans).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "eventflow";
/// The pull Secret (`kubernetes.io/dockerconfigjson`) in every tenant
/// namespace: the server writes it from the tenant's registry credentials,
/// every function pod names it in `imagePullSecrets`.
pub const PULL_SECRET: &str = "eventflow-registry";
/// Server-side-apply field manager of the API server.
pub const API_FIELD_MANAGER: &str = "eventflow-api";
/// The catalog generation (database row version) a CR was applied from.
pub const CATALOG_GENERATION_ANNOTATION: &str = "eventflow.io/catalog-generation";

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "eventflow.io",
    version = "v1alpha1",
    kind = "Function",
    plural = "functions",
    shortname = "efn",
    namespaced,
    status = "FunctionStatus",
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSpec {
    pub image: String,
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: i32,
    /// Environment variables from keys of Secrets in this namespace
    /// (`eventflow-secret-{secret}`, written by the EventFlow server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<SecretEnvVar>,
    /// Secrets mounted read-only at `/var/eventflow/secrets/{secret}/{key}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_files: Vec<String>,
    /// Set by the EventFlow server: changes whenever a secret the function
    /// reads changes, so that its pods roll onto the new values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_revision: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretEnvVar {
    pub name: String,
    pub secret: String,
    pub key: String,
}

// Defaults, the same as the API's (`eventflow-core`). They are in the CRD's
// schema too, so the API server fills them in for a Function written by
// hand (`kubectl apply` with only `image`), as it does for the API.
fn default_replicas() -> i32 {
    1
}

fn default_port() -> i32 {
    i32::from(eventflow_core::spec::DEFAULT_PORT)
}

fn default_timeout_seconds() -> i32 {
    i32::try_from(eventflow_core::spec::DEFAULT_TIMEOUT_SECONDS).unwrap_or(i32::MAX)
}

fn default_requests() -> ResourceList {
    ResourceList {
        cpu: eventflow_core::spec::DEFAULT_REQUEST_CPU.into(),
        memory: eventflow_core::spec::DEFAULT_REQUEST_MEMORY.into(),
    }
}

fn default_limits() -> ResourceList {
    ResourceList {
        cpu: eventflow_core::spec::DEFAULT_LIMIT_CPU.into(),
        memory: eventflow_core::spec::DEFAULT_LIMIT_MEMORY.into(),
    }
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            requests: default_requests(),
            limits: default_limits(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Resources {
    #[serde(default = "default_requests")]
    pub requests: ResourceList,
    #[serde(default = "default_limits")]
    pub limits: ResourceList,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ResourceList {
    pub cpu: String,
    pub memory: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// The HPA's CPU target; unused with `targetConcurrency`.
    pub target_cpu_percent: i32,
    /// Request-based scaling by EventFlow's scaler (no HPA): in-flight
    /// requests per replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_concurrency: Option<i32>,
    /// With `minReplicas` 0: seconds without requests before scaling to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum Phase {
    #[default]
    Pending,
    Deploying,
    Running,
    Failed,
    // Scaled to zero for want of requests; the next invocation wakes it.
    Idle,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Deploying => "Deploying",
            Phase::Running => "Running",
            Phase::Failed => "Failed",
            Phase::Idle => "Idle",
        }
    }
}

/// A status condition in the shape Kubernetes uses (`metav1.Condition`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default)]
    pub replicas: i32,
    #[serde(default)]
    pub ready_replicas: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// In-cluster URL of the function's Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The image digest (`sha256:…`) the node resolved for `spec.image`,
    /// when every ready pod of the current spec runs the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "eventflow.io",
    version = "v1alpha1",
    kind = "Tenant",
    plural = "tenants",
    status = "TenantStatus",
    printcolumn = r#"{"name":"Namespace","type":"string","jsonPath":".status.namespace"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Overrides of the default ResourceQuota; absent fields keep the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaOverrides>,
    /// Overrides of the LimitRange defaults applied to containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitOverrides>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits_cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits_memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claims: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_maps: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_request_cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_request_memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_limit_cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_limit_memory: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl From<&core::FunctionSpec> for FunctionSpec {
    fn from(s: &core::FunctionSpec) -> Self {
        let list = |l: &core::ResourceList| ResourceList {
            cpu: l.cpu.to_string(),
            memory: l.memory.to_string(),
        };
        Self {
            image: s.image.clone(),
            replicas: to_i32(s.replicas),
            env: s
                .env
                .iter()
                .map(|e| EnvVar {
                    name: e.name.clone(),
                    value: e.value.clone(),
                })
                .collect(),
            resources: Resources {
                requests: list(&s.resources.requests),
                limits: list(&s.resources.limits),
            },
            port: i32::from(s.port),
            command: s.command.clone(),
            args: s.args.clone(),
            autoscaling: s.autoscaling.as_ref().map(|a| Autoscaling {
                min_replicas: to_i32(a.min_replicas),
                max_replicas: to_i32(a.max_replicas),
                target_cpu_percent: to_i32(a.target_cpu_percent),
                target_concurrency: a.target_concurrency.map(to_i32),
                idle_seconds: a.idle_seconds.map(to_i32),
            }),
            timeout_seconds: to_i32(s.timeout_seconds),
            secret_env: s
                .secret_env
                .iter()
                .map(|e| SecretEnvVar {
                    name: e.name.clone(),
                    secret: e.secret.clone(),
                    key: e.key.clone(),
                })
                .collect(),
            secret_files: s.secret_files.iter().map(|n| n.to_string()).collect(),
            secrets_revision: None,
        }
    }
}

fn labels(tenant: &TenantId, function: Option<&FunctionName>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (TENANT_LABEL.to_string(), tenant.to_string()),
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
    ]);
    if let Some(f) = function {
        l.insert(FUNCTION_LABEL.to_string(), f.to_string());
    }
    l
}

/// The `Function` CR the API server applies for a catalog row. Pure.
pub fn build_function(
    tenant: &TenantId,
    name: &FunctionName,
    spec: &core::FunctionSpec,
    catalog_generation: i64,
) -> Function {
    Function {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(tenant.namespace()),
            labels: Some(labels(tenant, Some(name))),
            annotations: Some(BTreeMap::from([(
                CATALOG_GENERATION_ANNOTATION.to_string(),
                catalog_generation.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: FunctionSpec::from(spec),
        status: None,
    }
}

/// The `Tenant` CR for a tenant, carrying its overrides. Pure.
pub fn build_tenant(tenant: &TenantId, spec: TenantSpec) -> Tenant {
    Tenant {
        metadata: ObjectMeta {
            name: Some(tenant.to_string()),
            labels: Some(labels(tenant, None)),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

/// The CRD manifests as a multi-document YAML stream, as committed in
/// `deploy/crds/eventflow.io.yaml`.
pub fn crds_yaml() -> String {
    let docs = [Tenant::crd(), Function::crd()];
    docs.iter()
        .map(|c| serde_yaml::to_string(c).expect("CRDs serialize to YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_cr_lands_in_the_tenant_namespace() {
        let t = TenantId::parse("alice").unwrap();
        let n = FunctionName::parse("hello").unwrap();
        let spec = core::FunctionSpec::parse(
            core::RawFunctionSpec {
                image: Some("nginx:alpine".into()),
                ..Default::default()
            },
            core::SpecLimits::default(),
        )
        .unwrap();
        let f = build_function(&t, &n, &spec, 3);
        assert_eq!(f.metadata.namespace.as_deref(), Some("tenant-alice"));
        assert_eq!(f.metadata.name.as_deref(), Some("hello"));
        let labels = f.metadata.labels.unwrap();
        assert_eq!(labels[TENANT_LABEL], "alice");
        assert_eq!(f.spec.resources.limits.memory, "512Mi");
        assert_eq!(
            f.metadata.annotations.unwrap()[CATALOG_GENERATION_ANNOTATION],
            "3"
        );
    }

    /// A Function written by hand with only an image gets the API's
    /// defaults, both when deserialized and in the CRD schema (which the
    /// API server applies).
    #[test]
    fn a_minimal_function_gets_the_api_defaults() {
        let api = FunctionSpec::from(
            &core::FunctionSpec::parse(
                core::RawFunctionSpec {
                    image: Some("nginx".into()),
                    ..Default::default()
                },
                core::SpecLimits::default(),
            )
            .unwrap(),
        );
        let by_hand: FunctionSpec =
            serde_json::from_value(serde_json::json!({"image": "nginx"})).unwrap();
        assert_eq!(by_hand, api);
        let crd = serde_json::to_value(Function::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["required"], serde_json::json!(["image"]));
        let props = &spec["properties"];
        assert_eq!(props["replicas"]["default"], api.replicas);
        assert_eq!(props["port"]["default"], api.port);
        assert_eq!(props["timeoutSeconds"]["default"], api.timeout_seconds);
        assert_eq!(
            props["resources"]["default"],
            serde_json::to_value(&api.resources).unwrap()
        );
    }
}
