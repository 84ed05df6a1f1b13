//! Secrets: a tenant's named sets of keys and values (passwords, tokens,
//! certificates) that its functions read from environment variables or
//! files. Validated here; the server keeps the values encrypted in its
//! catalog and writes them to the tenant's namespace only.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

use crate::{SecretName, ValidationError};

/// Secrets a tenant may keep (the namespace's quota of 50 Kubernetes
/// Secrets leaves room for the pull Secret and the platform's own).
pub const MAX_SECRETS: u32 = 40;
/// Keys in one secret.
pub const MAX_SECRET_KEYS: usize = 64;
/// Longest key (a file name in the mounted directory).
pub const MAX_SECRET_KEY_LEN: usize = 253;
/// Sum of the keys and values of one secret.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// Secret references (env variables plus mounted secrets) of one function.
pub const MAX_SECRET_REFS: usize = 64;
/// Where a function finds a mounted secret: `{dir}/{secret}/{key}`.
pub const SECRET_FILES_DIR: &str = "/var/eventflow/secrets";

/// A secret's keys and values. `Debug` shows the keys only; the values
/// never leave through formatting.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretData(BTreeMap<String, String>);

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretData")
            .field("keys", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A key as Kubernetes allows it in a Secret (and as a file name): 1–253
/// of letters, digits, `-`, `_` and `.`, not `.` or `..`.
pub fn check_key(field: &str, key: &str) -> Result<(), ValidationError> {
    let err = |m: &str| Err(ValidationError::new(field, m));
    if key.is_empty() || key.len() > MAX_SECRET_KEY_LEN {
        return err("must be 1 to 253 characters");
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || key == "."
        || key == ".."
    {
        return err("must consist of letters, digits, '-', '_' and '.' (and not be '.' or '..')");
    }
    Ok(())
}

impl SecretData {
    /// Checks the keys (names only appear in errors, never values), the
    /// count and the total size. Values are any UTF-8 text, NUL excepted.
    pub fn parse(data: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        if data.is_empty() {
            return Err(ValidationError::new("data", "must hold at least one key"));
        }
        if data.len() > MAX_SECRET_KEYS {
            return Err(ValidationError::new(
                "data",
                format!("at most {MAX_SECRET_KEYS} keys are allowed"),
            ));
        }
        let mut total = 0usize;
        for (k, v) in &data {
            check_key("data", k)
                .map_err(|e| ValidationError::new(format!("data.{}", printable(k)), e.message))?;
            if v.contains('\0') {
                return Err(ValidationError::new(
                    format!("data.{k}"),
                    "must not contain NUL characters",
                ));
            }
            total += k.len() + v.len();
        }
        if total > MAX_SECRET_BYTES {
            return Err(ValidationError::new(
                "data",
                format!("keys and values must total at most {MAX_SECRET_BYTES} bytes"),
            ));
        }
        Ok(Self(data))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Bytes of keys and values.
    pub fn size(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// The whole map, for serialising into the encrypted catalog column.
    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }
}

/// A key shown in an error: at most 64 characters, control characters
/// escaped (a key is not secret, but it is user input).
fn printable(k: &str) -> String {
    let mut s: String = k.chars().take(64).flat_map(char::escape_default).collect();
    if k.chars().count() > 64 {
        s.push('…');
    }
    s
}

/// An environment variable whose value is one key of one of the tenant's
/// secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretEnvVar {
    /// The variable's name (the same rules as `env[].name`).
    pub name: String,
    /// The secret's name, in the function's tenant.
    pub secret: String,
    /// The key within the secret.
    pub key: String,
}

/// Validated references: `secretEnv` and `secretFiles` of a spec. Every
/// name is checked; whether the secrets exist is the server's to check.
pub(crate) fn parse_refs(
    env: Option<Vec<SecretEnvVar>>,
    files: Option<Vec<String>>,
    plain_env: &[crate::EnvVar],
) -> Result<(Vec<SecretEnvVar>, Vec<SecretName>), ValidationError> {
    let env = env.unwrap_or_default();
    let files = files.unwrap_or_default();
    if env.len() + files.len() > MAX_SECRET_REFS {
        return Err(ValidationError::new(
            "secretEnv",
            format!(
                "secretEnv and secretFiles may hold at most {MAX_SECRET_REFS} entries together"
            ),
        ));
    }
    let mut names: std::collections::HashSet<&str> =
        plain_env.iter().map(|e| e.name.as_str()).collect();
    for (i, var) in env.iter().enumerate() {
        crate::spec::check_env_name(&format!("secretEnv[{i}].name"), &var.name)?;
        if !names.insert(var.name.as_str()) {
            return Err(ValidationError::new(
                format!("secretEnv[{i}].name"),
                format!("{:?} is already set in env or secretEnv", var.name),
            ));
        }
        SecretName::parse(&var.secret)
            .map_err(|e| ValidationError::new(format!("secretEnv[{i}].secret"), e.message))?;
        check_key(&format!("secretEnv[{i}].key"), &var.key)?;
    }
    let mut seen = std::collections::HashSet::new();
    let mut parsed = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let name = SecretName::parse(f)
            .map_err(|e| ValidationError::new(format!("secretFiles[{i}]"), e.message))?;
        if !seen.insert(f.as_str()) {
            return Err(ValidationError::new(
                format!("secretFiles[{i}]"),
                format!("{f:?} is listed twice"),
            ));
        }
        parsed.push(name);
    }
    Ok((env, parsed))
}

/// Every secret a spec names (env references and mounts), once each, sorted.
pub fn referenced(env: &[SecretEnvVar], files: &[SecretName]) -> Vec<SecretName> {
    let mut all: Vec<SecretName> = env
        .iter()
        .filter_map(|e| SecretName::parse(&e.secret).ok())
        .chain(files.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secret_data_checks_keys_count_and_size_and_never_prints_values() {
        let d = SecretData::parse(data(&[("password", "hunter2"), ("tls.crt", "x")])).unwrap();
        assert_eq!(d.size(), "password".len() + 7 + "tls.crt".len() + 1);
        assert!(!format!("{d:?}").contains("hunter2"));
        assert_eq!(SecretData::parse(data(&[])).unwrap_err().field, "data");
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            let e = SecretData::parse(data(&[(bad, "v")])).unwrap_err();
            assert!(e.field.starts_with("data"), "{bad:?}: {e}");
        }
        let e = SecretData::parse(data(&[("k", "a\0b")])).unwrap_err();
        assert_eq!(e.field, "data.k");
        assert!(!e.to_string().contains("a\0b"));
        let big = "x".repeat(MAX_SECRET_BYTES);
        assert_eq!(
            SecretData::parse(data(&[("k", &big)])).unwrap_err().field,
            "data"
        );
        let many: BTreeMap<_, _> = (0..=MAX_SECRET_KEYS)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        assert_eq!(SecretData::parse(many).unwrap_err().field, "data");
    }

    #[test]
    fn references_name_valid_secrets_and_keys_and_do_not_clash_with_env() {
        let var = |n: &str, s: &str, k: &str| SecretEnvVar {
            name: n.into(),
            secret: s.into(),
            key: k.into(),
        };
        let plain = [crate::EnvVar {
            name: "A".into(),
            value: "1".into(),
        }];
        let (env, files) = parse_refs(
            Some(vec![var("DB", "db", "password"), var("T", "api", "token")]),
            Some(vec!["db".into(), "tls".into()]),
            &plain,
        )
        .unwrap();
        assert_eq!(env.len(), 2);
        assert_eq!(
            referenced(&env, &files)
                .iter()
                .map(SecretName::as_str)
                .collect::<Vec<_>>(),
            ["api", "db", "tls"]
        );
        for (env, files, field) in [
            (vec![var("A", "db", "k")], vec![], "secretEnv[0].name"),
            (
                vec![var("B", "db", "k"), var("B", "db", "k")],
                vec![],
                "secretEnv[1].name",
            ),
            (vec![var("1B", "db", "k")], vec![], "secretEnv[0].name"),
            (vec![var("B", "Db", "k")], vec![], "secretEnv[0].secret"),
            (vec![var("B", "db", "a/b")], vec![], "secretEnv[0].key"),
            (vec![], vec!["x".to_string(), "x".into()], "secretFiles[1]"),
            (vec![], vec!["-x".to_string()], "secretFiles[0]"),
        ] {
            let e = parse_refs(Some(env), Some(files), &plain).unwrap_err();
            assert_eq!(e.field, field);
        }
        let e = parse_refs(
            None,
            Some((0..=MAX_SECRET_REFS).map(|i| format!("s{i}")).collect()),
            &plain,
        )
        .unwrap_err();
        assert_eq!(e.field, "secretEnv");
    }
}
