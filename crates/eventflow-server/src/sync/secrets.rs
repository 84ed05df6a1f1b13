//! A tenant's secret as a Kubernetes Secret in its namespace.

use std::collections::BTreeMap;

use eventflow_core::{SecretData, SecretName, TenantId};
use eventflow_crd::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, TENANT_LABEL};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::ObjectMeta;

/// Label naming the EventFlow secret a Kubernetes Secret holds.
pub const SECRET_LABEL: &str = "eventflow.io/secret";

/// Secret `eventflow-secret-{name}` (type `Opaque`) in the tenant's
/// namespace, one data entry per key. Pure.
pub fn tenant_secret(tenant: &TenantId, name: &SecretName, data: &SecretData) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.k8s_name()),
            namespace: Some(tenant.namespace()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
                (TENANT_LABEL.to_string(), tenant.to_string()),
                (SECRET_LABEL.to_string(), name.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_an_opaque_secret_named_after_it_in_the_tenants_namespace() {
        let data = SecretData::parse(BTreeMap::from([
            ("password".to_string(), "hunter2".to_string()),
            ("user".to_string(), "app".to_string()),
        ]))
        .unwrap();
        let s = tenant_secret(
            &TenantId::parse("acme").unwrap(),
            &SecretName::parse("db").unwrap(),
            &data,
        );
        assert_eq!(s.metadata.name.as_deref(), Some("eventflow-secret-db"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("tenant-acme"));
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert_eq!(s.metadata.labels.as_ref().unwrap()[SECRET_LABEL], "db");
        let d = s.data.unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d["password"].0, b"hunter2");
    }
}
