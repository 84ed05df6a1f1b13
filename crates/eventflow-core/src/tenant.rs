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
        }
    }
}
