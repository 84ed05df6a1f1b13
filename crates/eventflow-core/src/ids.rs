use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// Longest tenant id: `tenant-{id}` must stay a 63-character DNS-1123 label.
pub const TENANT_ID_MAX: usize = 63 - "tenant-".len();
/// Longest function name: `fn-{name}` must stay a 63-character DNS-1123 label.
pub const FUNCTION_NAME_MAX: usize = 63 - "fn-".len();
/// Longest secret name: volume `secret-{name}` must stay a 63-character label.
pub const SECRET_NAME_MAX: usize = 63 - "secret-".len();

/// Checks an RFC 1123 label: lowercase ASCII letters, digits and '-',
/// starting and ending with a letter or digit, 1..=max characters.
pub(crate) fn check_label(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    let err = |m: String| Err(ValidationError::new(field, m));
    if value.is_empty() {
        return err("must not be empty".into());
    }
    if value.len() > max {
        return err(format!("must be at most {max} characters"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return err(format!(
            "must consist of lowercase letters, digits and '-' (found {c:?})"
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return err("must start and end with a letter or digit".into());
    }
    Ok(())
}

macro_rules! label_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, ValidationError> {
                check_label($field, value, $max)?;
                Ok(Self(value.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The Kubernetes object name derived from this identifier.
            pub fn k8s_name(&self) -> String {
                format!(concat!($prefix, "{}"), self.0)
            }
        }

        /// Maps keyed by the identifier are looked up by `&str` (the
        /// derived `Hash` and `Eq` are the inner string's).
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

label_newtype!(
    /// A tenant: a user, team or customer. Owns namespace `tenant-{id}`.
    TenantId,
    "tenant",
    TENANT_ID_MAX,
    "tenant-"
);

label_newtype!(
    /// A function's name, unique within its tenant. Its Deployment and
    /// Service are called `fn-{name}`.
    FunctionName,
    "name",
    FUNCTION_NAME_MAX,
    "fn-"
);

label_newtype!(
    /// A tenant's secret, unique within its tenant. Its Kubernetes Secret
    /// is `eventflow-secret-{name}` in the tenant's namespace; a function
    /// mounts it as volume `secret-{name}` (a 63-character label).
    SecretName,
    "name",
    SECRET_NAME_MAX,
    "eventflow-secret-"
);

impl TenantId {
    /// The tenant's namespace, `tenant-{id}`.
    pub fn namespace(&self) -> String {
        self.k8s_name()
    }

    /// Recovers the tenant from a namespace name, if it is a tenant namespace.
    pub fn from_namespace(ns: &str) -> Option<Self> {
        ns.strip_prefix("tenant-")
            .and_then(|id| Self::parse(id).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_seed_users() {
        for u in ["alice", "bob", "charlie", "demo", "a", "team-1"] {
            assert_eq!(
                TenantId::parse(u).unwrap().namespace(),
                format!("tenant-{u}")
            );
        }
    }

    #[test]
    fn rejects_bad_names() {
        let long = "a".repeat(FUNCTION_NAME_MAX + 1);
        for bad in [
            "", "Alice", "../x", "-a", "a-", "a_b", "a.b", "héllo", "a b", &long,
        ] {
            let e = FunctionName::parse(bad).unwrap_err();
            assert_eq!(e.field, "name", "{bad:?}");
        }
        assert!(FunctionName::parse(&"a".repeat(FUNCTION_NAME_MAX)).is_ok());
        assert!(TenantId::parse(&"a".repeat(TENANT_ID_MAX + 1)).is_err());
    }

    #[test]
    fn namespace_round_trip() {
        let t = TenantId::parse("bob").unwrap();
        assert_eq!(TenantId::from_namespace(&t.namespace()), Some(t));
        assert_eq!(TenantId::from_namespace("kube-system"), None);
    }

    proptest! {
        #[test]
        fn every_accepted_name_is_a_dns_label_after_prefix(s in "\\PC{0,70}") {
            if let Ok(n) = FunctionName::parse(&s) {
                let k = n.k8s_name();
                prop_assert!(k.len() <= 63);
                prop_assert!(k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
                prop_assert!(!k.ends_with('-'));
            }
            if let Ok(t) = TenantId::parse(&s) {
                prop_assert!(t.namespace().len() <= 63);
            }
        }

        #[test]
        fn valid_labels_are_accepted(s in "[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?") {
            prop_assert!(FunctionName::parse(&s).is_ok());
            prop_assert!(TenantId::parse(&s).is_ok());
        }
    }
}
