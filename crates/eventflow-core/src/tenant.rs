//! Per-tenant quota and limits, with the platform defaults from the seed.

use serde::{Deserialize, Serialize};

use crate::SpecLimits;

/// Hard limits of a tenant's ResourceQuota. Strings are Kubernetes quantities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QuotaSpec {
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub pods: u32,
    pub persistent_volume_claims: u32,
    pub services: u32,
    pub config_maps: u32,
    pub secrets: u32,
    pub functions: u32,
}

impl Default for QuotaSpec {
    fn default() -> Self {
        Self {
            requests_cpu: "10".into(),
            requests_memory: "20Gi".into(),
            limits_cpu: "20".into(),
            limits_memory: "40Gi".into(),
            pods: 50,
            persistent_volume_claims: 10,
            services: 50,
            config_maps: 50,
            secrets: 50,
            functions: 50,
        }
    }
}

/// Everything a tenant may override; absent fields take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantLimits {
    pub quota: QuotaSpec,
    /// Highest `replicas` (and autoscaling max) one function may ask for.
    pub max_replicas: Option<u32>,
}

impl TenantLimits {
    pub fn spec_limits(&self) -> SpecLimits {
        SpecLimits {
            max_replicas: self
                .max_replicas
                .unwrap_or(SpecLimits::default().max_replicas),
            ..SpecLimits::default()
        }
    }
}

/// Checks that one function, at the most pods it may run (`replicas`, or
/// `autoscaling.maxReplicas`), fits in `quota`: its pods, and each of its
/// requests and limits times that count. The error names the field to
/// lower. The arithmetic is checked: a product that overflows does not fit.
/// (The sum over all of a tenant's functions is the cluster's ResourceQuota
/// to enforce; this refuses what could never run.)
pub fn check_fits_quota(
    spec: &crate::FunctionSpec,
    quota: &QuotaSpec,
) -> Result<(), crate::ValidationError> {
    let (pods, count_field) = match &spec.autoscaling {
        Some(a) if a.max_replicas > spec.replicas => (a.max_replicas, "autoscaling.maxReplicas"),
        _ => (spec.replicas, "replicas"),
    };
    if pods > quota.pods {
        return Err(crate::ValidationError::new(
            count_field,
            format!(
                "{pods} pods exceed the tenant's quota of {} pods",
                quota.pods
            ),
        ));
    }
    let r = &spec.resources;
    let checks = [
        (
            "resources.requests.cpu",
            &r.requests.cpu,
            &quota.requests_cpu,
        ),
        (
            "resources.requests.memory",
            &r.requests.memory,
            &quota.requests_memory,
        ),
        ("resources.limits.cpu", &r.limits.cpu, &quota.limits_cpu),
        (
            "resources.limits.memory",
            &r.limits.memory,
            &quota.limits_memory,
        ),
    ];
    for (field, each, hard) in checks {
        let Ok(hard_q) = crate::Quantity::parse(hard) else {
            continue; // an unparsable quota is refused when it is set
        };
        let total = each.nanos().checked_mul(u128::from(pods));
        if total.is_none_or(|t| t > hard_q.nanos()) {
            return Err(crate::ValidationError::new(
                field,
                format!(
                    "{each} × {pods} pod{} exceeds the tenant's quota of {hard}",
                    if pods == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod quota_fit_tests {
    use super::*;
    use crate::{FunctionSpec, RawFunctionSpec, SpecLimits};

    fn spec(raw: serde_json::Value) -> FunctionSpec {
        let raw: RawFunctionSpec = serde_json::from_value(raw).unwrap();
        FunctionSpec::parse(
            raw,
            SpecLimits {
                max_replicas: 1000,
                ..SpecLimits::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn a_function_that_fits_passes_and_one_that_cannot_names_its_field() {
        let q = QuotaSpec::default();
        assert_eq!(
            check_fits_quota(&spec(serde_json::json!({"image":"nginx","replicas":3})), &q),
            Ok(())
        );
        let huge = spec(serde_json::json!({"image":"nginx","resources":{
            "requests":{"cpu":"300000000000000000000000000000"},
            "limits":{"cpu":"300000000000000000000000000000"}}}));
        assert_eq!(
            check_fits_quota(&huge, &q).unwrap_err().field,
            "resources.requests.cpu"
        );
        let mem = spec(
            serde_json::json!({"image":"nginx","replicas":2,"resources":{"limits":{"memory":"30Gi"}}}),
        );
        let e = check_fits_quota(&mem, &q).unwrap_err();
        assert_eq!(e.field, "resources.limits.memory");
        assert!(e.message.contains("30Gi × 2 pods"), "{}", e.message);
        let pods = spec(serde_json::json!({"image":"nginx","replicas":51}));
        assert_eq!(check_fits_quota(&pods, &q).unwrap_err().field, "replicas");
        let scaled = spec(
            serde_json::json!({"image":"nginx","autoscaling":{"minReplicas":1,"maxReplicas":60}}),
        );
        assert_eq!(
            check_fits_quota(&scaled, &q).unwrap_err().field,
            "autoscaling.maxReplicas"
        );
        assert_eq!(
            check_fits_quota(&spec(serde_json::json!({"image":"nginx","replicas":0})), &q),
            Ok(())
        );
    }

    #[test]
    fn products_that_overflow_do_not_fit() {
        // The largest quantity the parser accepts, times many pods.
        let q = QuotaSpec {
            pods: u32::MAX,
            ..QuotaSpec::default()
        };
        let cpu = "300000000000000000000000000000";
        let big = spec(
            serde_json::json!({"image":"nginx","replicas":1000,"resources":{
            "requests":{"cpu":cpu},"limits":{"cpu":cpu}}}),
        );
        assert!(
            big.resources
                .requests
                .cpu
                .nanos()
                .checked_mul(1000)
                .is_none(),
            "the product overflows"
        );
        assert_eq!(
            check_fits_quota(&big, &q).unwrap_err().field,
            "resources.requests.cpu"
        );
    }
}
