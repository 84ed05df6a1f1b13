//! `GET /v1/me`: the caller's tenant, namespace, quota and usage.

use std::sync::Arc;

use axum::{extract::State, Json};
use eventflow_core::{Quantity, QuotaSpec};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::TenantAuth,
    error::{ApiResult, ErrorBody},
    AppState,
};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub tenant: String,
    pub namespace: String,
    pub subject: String,
    pub email: Option<String>,
    pub role: crate::store::Role,
    pub quota: QuotaUsage,
    /// Per-function limits this tenant's specs are checked against.
    pub limits: FunctionLimits,
}

/// Limits a single function spec must stay within (the dashboard's forms
/// read them instead of repeating the server's rules).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionLimits {
    /// Upper bound of `replicas` and `autoscaling.maxReplicas`.
    pub max_replicas: u32,
}

/// Used and hard values of the tenant's quota. Usage is what the catalog's
/// functions ask for (replicas × requests/limits).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaUsage {
    pub requests_cpu: Usage,
    pub requests_memory: Usage,
    pub limits_cpu: Usage,
    pub limits_memory: Usage,
    pub pods: Usage,
    pub functions: Usage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub used: String,
    pub hard: String,
    /// used / hard, 0 when hard is 0.
    pub ratio: f64,
}

fn ratio(used: u128, hard: u128) -> f64 {
    if hard == 0 {
        0.0
    } else {
        // Precision loss is irrelevant for a usage bar.
        #[expect(clippy::cast_precision_loss)]
        let r = used as f64 / hard as f64;
        r
    }
}

fn cpu_text(nanos: u128) -> String {
    format!("{}m", nanos.div_ceil(1_000_000))
}

fn memory_text(nanos: u128) -> String {
    let bytes = nanos.div_ceil(1_000_000_000);
    const MI: u128 = 1024 * 1024;
    if bytes.is_multiple_of(MI) {
        format!("{}Mi", bytes / MI)
    } else {
        bytes.to_string()
    }
}

fn usage(used: u128, hard: &str, text: fn(u128) -> String) -> Usage {
    let hard_nanos = Quantity::parse(hard).map(|q| q.nanos()).unwrap_or(0);
    Usage {
        used: text(used),
        hard: hard.to_string(),
        ratio: ratio(used, hard_nanos),
    }
}

fn count(used: u128, hard: u32) -> Usage {
    Usage {
        used: used.to_string(),
        hard: hard.to_string(),
        ratio: ratio(used, u128::from(hard)),
    }
}

pub fn compute_usage(quota: &QuotaSpec, specs: &[eventflow_core::FunctionSpec]) -> QuotaUsage {
    let mut totals = [0u128; 4];
    let mut pods = 0u128;
    // Saturating: a sum too large to count shows as full, never wraps.
    for s in specs {
        let n = u128::from(s.replicas);
        pods = pods.saturating_add(n);
        let r = &s.resources;
        let each = [
            r.requests.cpu.nanos(),
            r.requests.memory.nanos(),
            r.limits.cpu.nanos(),
            r.limits.memory.nanos(),
        ];
        for (total, q) in totals.iter_mut().zip(each) {
            *total = total.saturating_add(n.saturating_mul(q));
        }
    }
    QuotaUsage {
        requests_cpu: usage(totals[0], &quota.requests_cpu, cpu_text),
        requests_memory: usage(totals[1], &quota.requests_memory, memory_text),
        limits_cpu: usage(totals[2], &quota.limits_cpu, cpu_text),
        limits_memory: usage(totals[3], &quota.limits_memory, memory_text),
        pods: count(pods, quota.pods),
        functions: count(specs.len() as u128, quota.functions),
    }
}

/// Who am I, and how much of my quota is used.
#[utoipa::path(get, path = "/v1/me", tag = "tenant",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn me(State(state): State<Arc<AppState>>, auth: TenantAuth) -> ApiResult<Json<Me>> {
    let quota = state.tenant_quota(&auth.tenant).await?;
    let specs: Vec<_> = auth
        .functions(&state.store)
        .all()
        .await?
        .into_iter()
        .map(|r| r.spec)
        .collect();
    Ok(Json(Me {
        tenant: auth.tenant.to_string(),
        namespace: auth.tenant.namespace(),
        subject: auth.principal.claims.sub.clone(),
        email: auth.principal.claims.email.clone(),
        role: auth.principal.claims.role,
        quota: compute_usage(&quota, &specs),
        limits: FunctionLimits {
            max_replicas: crate::api::functions::spec_limits(&state, &auth)
                .await?
                .max_replicas,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventflow_core::{FunctionSpec, RawFunctionSpec, SpecLimits};

    #[test]
    fn usage_sums_replicas_times_requests() {
        let spec = FunctionSpec::parse(
            RawFunctionSpec {
                image: Some("nginx".into()),
                replicas: Some(3),
                ..Default::default()
            },
            SpecLimits::default(),
        )
        .unwrap();
        let u = compute_usage(&QuotaSpec::default(), &[spec]);
        assert_eq!(u.requests_cpu.used, "300m");
        assert_eq!(u.requests_memory.used, "384Mi");
        assert_eq!(u.pods.used, "3");
        assert!((u.requests_cpu.ratio - 0.03).abs() < 1e-9);
        assert_eq!(u.functions.hard, "50");
    }

    #[test]
    fn usage_saturates_instead_of_wrapping() {
        // Rows stored before quantities were checked against the quota.
        let huge = "300000000000000000000000000000";
        let raw: RawFunctionSpec = serde_json::from_value(serde_json::json!({
            "image": "nginx", "replicas": 3,
            "resources": {"requests": {"cpu": huge}, "limits": {"cpu": huge}}
        }))
        .unwrap();
        let spec = FunctionSpec::parse(raw, SpecLimits::default()).unwrap();
        let u = compute_usage(&QuotaSpec::default(), &[spec.clone(), spec]);
        assert!(
            u.requests_cpu.ratio > 1.0,
            "shown as over the quota, not wrapped"
        );
        assert_eq!(u.pods.used, "6");
    }
}
