//! The tenant's pull Secret, built from its registry credentials.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD, Engine};
use eventflow_core::TenantId;
use eventflow_crd::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, PULL_SECRET, TENANT_LABEL};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::ObjectMeta;

use crate::store::RegistryAuth;

/// Secret [`PULL_SECRET`] of type `kubernetes.io/dockerconfigjson` in the
/// tenant's namespace: `{"auths": {REGISTRY: {username, password, auth}}}`
/// (`auth` is base64 of `username:password`, as `docker login` writes
/// it). With no credentials, `auths` is empty: the Secret exists anyway,
/// so the pods that name it never wait for it.
pub fn pull_secret(tenant: &TenantId, auths: &[RegistryAuth]) -> Secret {
    let entries: serde_json::Map<String, serde_json::Value> = auths
        .iter()
        .map(|a| {
            let basic = STANDARD.encode(format!("{}:{}", a.username, a.password));
            (
                a.registry.clone(),
                serde_json::json!({"username": a.username, "password": a.password, "auth": basic}),
            )
        })
        .collect();
    let config = serde_json::json!({ "auths": entries });
    Secret {
        metadata: ObjectMeta {
            name: Some(PULL_SECRET.into()),
            namespace: Some(tenant.namespace()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
                (TENANT_LABEL.to_string(), tenant.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(BTreeMap::from([(
            ".dockerconfigjson".to_string(),
            ByteString(config.to_string().into_bytes()),
        )])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pull_secret_is_a_docker_config_with_one_entry_per_registry() {
        let t = TenantId::parse("acme").unwrap();
        let empty = pull_secret(&t, &[]);
        assert_eq!(empty.metadata.namespace.as_deref(), Some("tenant-acme"));
        assert_eq!(
            empty.type_.as_deref(),
            Some("kubernetes.io/dockerconfigjson")
        );
        let config = |s: &Secret| -> serde_json::Value {
            serde_json::from_slice(&s.data.as_ref().unwrap()[".dockerconfigjson"].0).unwrap()
        };
        assert_eq!(config(&empty), serde_json::json!({"auths": {}}));
        let s = pull_secret(
            &t,
            &[RegistryAuth {
                registry: "ghcr.io".into(),
                username: "robot".into(),
                password: "p:w".into(),
            }],
        );
        assert_eq!(
            config(&s),
            serde_json::json!({"auths": {"ghcr.io": {
                "username": "robot", "password": "p:w", "auth": STANDARD.encode("robot:p:w")}}})
        );
    }
}
