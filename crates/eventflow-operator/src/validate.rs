//! Validation of custom resources into domain values (pure).
//!
//! The API server validates before it writes a CR, but anyone with RBAC on
//! the CRs can write one by hand, so the operator validates again with the
//! same rules (`eventflow-core`) and reports a bad object in its status
//! instead of applying it.

use eventflow_core::spec::{RawAutoscaling, RawResourceList, RawResources};
use eventflow_core::{
    FunctionName, FunctionSpec, Quantity, QuotaSpec, RawFunctionSpec, SpecLimits, TenantId,
};
use eventflow_crd::{Function, Tenant};
use kube::ResourceExt;

use crate::build::LimitDefaults;

/// Highest replica count the operator accepts; tighter per-tenant limits are
/// the API server's and the ResourceQuota's job.
pub const MAX_REPLICAS: u32 = 1000;

/// Why a CR cannot be turned into objects. Permanent until the CR changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A Function CR, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidFunction {
    pub tenant: TenantId,
    pub name: FunctionName,
    pub spec: FunctionSpec,
    /// `spec.secretsRevision`: the server's mark of the secrets' versions,
    /// carried onto the pod template so that a change rolls the pods.
    pub secrets_revision: Option<String>,
}

/// A Tenant CR, validated, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTenant {
    pub id: TenantId,
    pub quota: QuotaSpec,
    pub limits: LimitDefaults,
}

/// Turns the CR's spec back into the raw form `eventflow-core` validates.
pub fn raw_spec(s: &eventflow_crd::FunctionSpec) -> RawFunctionSpec {
    let list = |l: &eventflow_crd::ResourceList| RawResourceList {
        cpu: Some(l.cpu.clone()),
        memory: Some(l.memory.clone()),
    };
    RawFunctionSpec {
        image: Some(s.image.clone()),
        replicas: Some(i64::from(s.replicas)),
        env: Some(
            s.env
                .iter()
                .map(|e| eventflow_core::EnvVar {
                    name: e.name.clone(),
                    value: e.value.clone(),
                })
                .collect(),
        ),
        resources: Some(RawResources {
            requests: Some(list(&s.resources.requests)),
            limits: Some(list(&s.resources.limits)),
        }),
        port: Some(i64::from(s.port)),
        command: s.command.clone(),
        args: s.args.clone(),
        autoscaling: s.autoscaling.as_ref().map(|a| RawAutoscaling {
            min_replicas: Some(i64::from(a.min_replicas)),
            max_replicas: Some(i64::from(a.max_replicas)),
            // Request-based scaling ignores the CPU target (the API
            // refuses both at once).
            target_cpu_percent: a
                .target_concurrency
                .is_none()
                .then_some(i64::from(a.target_cpu_percent)),
            target_concurrency: a.target_concurrency.map(i64::from),
            idle_seconds: a.idle_seconds.map(i64::from),
        }),
        timeout_seconds: Some(i64::from(s.timeout_seconds)),
        // Retries are the server's business (asynchronous invocations);
        // the custom resource does not carry them.
        retry: None,
        schedules: None,
        public_invoke: None,
        secret_env: (!s.secret_env.is_empty()).then(|| {
            s.secret_env
                .iter()
                .map(|e| eventflow_core::SecretEnvVar {
                    name: e.name.clone(),
                    secret: e.secret.clone(),
                    key: e.key.clone(),
                })
                .collect()
        }),
        secret_files: (!s.secret_files.is_empty()).then(|| s.secret_files.clone()),
    }
}

/// Validates a Function CR: it must live in a `tenant-{id}` namespace, have a
/// valid function name and a spec `eventflow-core` accepts.
pub fn function(f: &Function) -> Result<ValidFunction, Invalid> {
    let ns = f.namespace().unwrap_or_default();
    let tenant = TenantId::from_namespace(&ns).ok_or_else(|| {
        Invalid::new(
            "metadata.namespace",
            format!("{ns:?} is not a tenant namespace (tenant-{{id}})"),
        )
    })?;
    let name = FunctionName::parse(&f.name_any())
        .map_err(|e| Invalid::new("metadata.name", e.to_string()))?;
    let spec = FunctionSpec::parse(
        raw_spec(&f.spec),
        SpecLimits {
            max_replicas: MAX_REPLICAS,
            // Schedules are the server's; the custom resource has none.
            min_schedule_interval_seconds: 0,
        },
    )
    .map_err(|e| Invalid::new(format!("spec.{}", e.field), e.message.clone()))?;
    Ok(ValidFunction {
        tenant,
        name,
        spec,
        secrets_revision: f.spec.secrets_revision.clone(),
    })
}

fn quantity(field: &str, value: &Option<String>, default: &str) -> Result<String, Invalid> {
    match value {
        None => Ok(default.to_string()),
        Some(v) => Quantity::parse(v)
            .map(|q| q.to_string())
            .map_err(|e| Invalid::new(field, e.to_string())),
    }
}

fn count(field: &str, value: Option<i32>, default: u32) -> Result<u32, Invalid> {
    match value {
        None => Ok(default),
        Some(v) => u32::try_from(v).map_err(|_| Invalid::new(field, "must not be negative")),
    }
}

/// Validates a Tenant CR: its name is a tenant id, overrides are quantities
/// and non-negative counts.
pub fn tenant(t: &Tenant) -> Result<ValidTenant, Invalid> {
    let id =
        TenantId::parse(&t.name_any()).map_err(|e| Invalid::new("metadata.name", e.to_string()))?;
    let d = QuotaSpec::default();
    let o = t.spec.quota.clone().unwrap_or_default();
    let quota = QuotaSpec {
        requests_cpu: quantity("spec.quota.requestsCpu", &o.requests_cpu, &d.requests_cpu)?,
        requests_memory: quantity(
            "spec.quota.requestsMemory",
            &o.requests_memory,
            &d.requests_memory,
        )?,
        limits_cpu: quantity("spec.quota.limitsCpu", &o.limits_cpu, &d.limits_cpu)?,
        limits_memory: quantity(
            "spec.quota.limitsMemory",
            &o.limits_memory,
            &d.limits_memory,
        )?,
        pods: count("spec.quota.pods", o.pods, d.pods)?,
        persistent_volume_claims: count(
            "spec.quota.persistentVolumeClaims",
            o.persistent_volume_claims,
            d.persistent_volume_claims,
        )?,
        services: count("spec.quota.services", o.services, d.services)?,
        config_maps: count("spec.quota.configMaps", o.config_maps, d.config_maps)?,
        secrets: count("spec.quota.secrets", o.secrets, d.secrets)?,
        functions: count("spec.quota.functions", o.functions, d.functions)?,
    };
    let dl = LimitDefaults::default();
    let l = t.spec.limits.clone().unwrap_or_default();
    let limits = LimitDefaults {
        request_cpu: quantity(
            "spec.limits.defaultRequestCpu",
            &l.default_request_cpu,
            &dl.request_cpu,
        )?,
        request_memory: quantity(
            "spec.limits.defaultRequestMemory",
            &l.default_request_memory,
            &dl.request_memory,
        )?,
        limit_cpu: quantity(
            "spec.limits.defaultLimitCpu",
            &l.default_limit_cpu,
            &dl.limit_cpu,
        )?,
        limit_memory: quantity(
            "spec.limits.defaultLimitMemory",
            &l.default_limit_memory,
            &dl.limit_memory,
        )?,
    };
    Ok(ValidTenant { id, quota, limits })
}
